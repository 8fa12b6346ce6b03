"""The documentation keeps up with the code: every setting, channel type and command is documented,
every example is valid, and every link leads somewhere.

The README is the door (short, with the command table); the details live in docs/*.md.
"""

from __future__ import annotations

import io
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from monitor.config import CHANNEL_TYPES, Channel, Settings, load_settings
from monitor.matching.rulefile import load_rules
from monitor.notify.base import build_notifiers
from tests.docs_support import DOCS, README, REPO, anchors, code_blocks, page, readme_commands, section
from tests.test_cli import every_command

INTERNAL = {"config_path"}
PAGES = sorted(path.name for path in DOCS.glob("*.md"))
README_MAX_LINES = 400


def channel_models() -> list[type[BaseModel]]:
    """Every channel type's model, from the union ``channels.<name>`` is validated against."""
    union = typing.get_args(Channel)[0]
    return [model for model in typing.get_args(union) if issubclass(model, BaseModel)]


def setting_names(model: type[BaseModel]) -> Iterator[str]:
    for name, field in model.model_fields.items():
        if name in INTERNAL:
            continue
        yield field.alias or name
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                yield from setting_names(candidate)


def test_docs_every_setting_is_in_the_configuration_reference() -> None:
    reference = page("configuration.md")
    documented = {
        part
        for key in re.findall(r"`([a-z_][a-z_.<>\[\]]*)`", reference)
        for part in re.split(r"[.\[\]<>]+", key)
        if part
    }
    models = [Settings, *channel_models()]
    kinds = {typing.get_args(model.model_fields["type"].annotation)[0] for model in channel_models()}
    assert kinds == set(CHANNEL_TYPES)
    missing = {name for model in models for name in setting_names(model)} - documented
    assert not missing, f"settings missing from docs/configuration.md: {sorted(missing)}"


def test_docs_every_channel_type_has_its_section() -> None:
    channels = section(page("alerts.md"), "## Channels")
    for kind in CHANNEL_TYPES:
        assert f"\n### `{kind}`\n" in channels, f"docs/alerts.md → Channels has no section for {kind}"


def test_docs_shipped_config_mentions_only_real_settings() -> None:
    settings = load_settings(str(REPO / "monitor.yaml"), env={})
    assert settings.sources.folders[0].path == REPO / "seeds"
    assert list(settings.channels) == ["console"]


def test_docs_channel_and_template_examples_build(tmp_path: Path) -> None:
    """docs/alerts.md's channel and template examples are valid config and compile (probes included)."""
    env = {
        name: "https://hooks.example.org/x"
        for name in ("SLACK_WEBHOOK_URL", "SIEM_WEBHOOK_URL", "DISCORD_WEBHOOK_URL", "TEAMS_WORKFLOW_URL")
    }
    env |= {"SIEM_WEBHOOK_SECRET": "whsec_" + "a" * 44, "SIEM_TOKEN": "t", "SMTP_PASSWORD": "p"}
    alerts = page("alerts.md")
    channels = code_blocks(section(alerts, "## Channels"), "yaml")[0]
    templates = code_blocks(section(alerts, "## Templates"), "yaml")[0]
    templates = templates.replace("    # …\n", "    host: smtp.example.org\n")
    templates = templates.replace(
        "    templates:\n      subject",
        "    from: a@example.org\n    to: b@example.org\n    templates:\n      subject",
    )
    for block in (channels, templates):
        config = tmp_path / "monitor.yaml"
        config.write_text(block, encoding="utf-8")
        settings = load_settings(str(config), env=env)
        build_notifiers(settings.channels, httpx.AsyncClient(), out=io.StringIO())


@pytest.mark.parametrize("name", ["README.md", *PAGES])
def test_docs_yaml_examples_are_valid_config_or_rules(name: str, tmp_path: Path) -> None:
    """Every complete YAML example is a valid rule file (it has rules: or concepts:) or a valid
    monitor.yaml; examples cut short with ``# …`` and other tools' files are left out."""
    for block in code_blocks(page(name), "yaml"):
        if "# …" in block or block.startswith("scrape_configs:"):
            continue
        path = tmp_path / "example.yaml"
        path.write_text(block, encoding="utf-8")
        if re.search(r"^(rules|concepts):", block, re.MULTILINE):
            loaded = load_rules([path])
            assert not loaded.errors, f"{name}: {[str(p) for p in loaded.errors]}\n{block}"
        else:
            env = {var: "https://hooks.example.org/x" for var in re.findall(r"\$\{(\w+)", block)}
            load_settings(str(path), env=env)


def test_docs_readme_command_table_lists_every_command_once() -> None:
    table = readme_commands()
    commands = {" ".join(command) for command in every_command()}
    assert set(table) == commands, (
        f"missing from the README's table: {sorted(commands - set(table))}; "
        f"not a command: {sorted(set(table) - commands)}"
    )
    for command, example in table.items():
        assert example.startswith(f"monitor {command}"), f"README: the example of {command}: {example}"


def test_docs_readme_is_a_door() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail into docs/"
    readme = page("README.md")
    for name in PAGES:
        assert f"](docs/{name})" in readme, f"README.md does not link docs/{name}"


@pytest.mark.parametrize("name", ["README.md", *PAGES, "../bench/RESULTS.md", "../CHANGELOG.md"])
def test_docs_every_relative_link_resolves(name: str) -> None:
    here = README if name == "README.md" else (DOCS / name).resolve()
    text = here.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, fragment = target.partition("#")
        linked = (here.parent / path).resolve() if path else here
        assert linked.exists(), f"{name}: {target} leads nowhere"
        if fragment and linked.suffix == ".md":
            assert fragment in anchors(linked.read_text(encoding="utf-8")), f"{name}: no heading for {target}"


@pytest.mark.parametrize("name", ["README.md", *PAGES, "../bench/RESULTS.md"])
def test_docs_every_source_path_exists(name: str) -> None:
    """Code and deployment files the docs name (`monitor/…`, `deploy/…`, `bench/…`) are still there."""
    text = (README if name == "README.md" else DOCS / name).read_text(encoding="utf-8")
    for path in re.findall(r"`((?:monitor|deploy|bench|schema)/[\w./-]*)`", text):
        if "NNNN" in path:
            continue  # a name to choose
        assert (REPO / path).exists(), f"{name}: {path} does not exist"
