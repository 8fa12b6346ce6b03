"""The README is the user's door: every setting and channel type must be documented there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from monitor.config import CHANNEL_TYPES, ConsoleChannel, Settings, SlackChannel, WebhookChannel
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
CONFIG_SECTION = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
INTERNAL = {"config_path"}


def setting_names(model: type[BaseModel]) -> Iterator[str]:
    for name, field in model.model_fields.items():
        if name in INTERNAL:
            continue
        yield name
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                yield from setting_names(candidate)


def test_docs_every_setting_is_in_the_configuration_reference() -> None:
    models: list[type[BaseModel]] = [Settings, ConsoleChannel, WebhookChannel, SlackChannel]
    documented = {
        part
        for key in re.findall(r"`([a-z_][a-z_.<>\[\]]*)`", CONFIG_SECTION)
        for part in re.split(r"[.\[\]<>]+", key)
        if part
    }
    missing = {name for model in models for name in setting_names(model)} - documented
    assert not missing, f"settings missing from README → Configuration: {sorted(missing)}"


def test_docs_every_channel_type_is_documented() -> None:
    for kind in CHANNEL_TYPES:
        assert f"`{kind}`" in README.split("### Channels", 1)[1]


def test_docs_shipped_config_mentions_only_real_settings() -> None:
    from monitor.config import load_settings

    settings = load_settings(str(REPO / "monitor.yaml"), env={})
    assert settings.sources.folders[0].path == REPO / "seeds"
    assert list(settings.channels) == ["console"]


def _yaml_block_after(heading: str) -> str:
    return README.split(heading, 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]


def test_docs_channel_and_template_examples_build(tmp_path: Path) -> None:
    """The README's channel and template examples are valid config and compile (probes included)."""
    import io

    import httpx

    from monitor.config import load_settings
    from monitor.notify.base import build_notifiers

    env = {
        name: "https://hooks.example.org/x"
        for name in ("SLACK_WEBHOOK_URL", "SIEM_WEBHOOK_URL", "DISCORD_WEBHOOK_URL", "TEAMS_WORKFLOW_URL")
    }
    env |= {"SIEM_WEBHOOK_SECRET": "whsec_" + "a" * 44, "SIEM_TOKEN": "t", "SMTP_PASSWORD": "p"}
    channels = _yaml_block_after("### Channels\n")
    templates = _yaml_block_after("### Templates\n").replace("    # …\n", "    host: smtp.example.org\n")
    templates = templates.replace(
        "    templates:\n      subject",
        "    from: a@example.org\n    to: b@example.org\n    templates:\n      subject",
    )
    for block in (channels, templates):
        config = tmp_path / "monitor.yaml"
        config.write_text(block, encoding="utf-8")
        settings = load_settings(str(config), env=env)
        build_notifiers(settings.channels, httpx.AsyncClient(), out=io.StringIO())
