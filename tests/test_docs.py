"""The README is the user's door: every setting and channel type must be documented there."""

from __future__ import annotations

import re
from collections.abc import Iterator

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
