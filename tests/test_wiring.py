"""Assembling the service: what is built before the first article, and what waits for its language."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import Settings, load_settings
from monitor.models import make_article
from monitor.service.daemon import Daemon
from monitor.service.wiring import build_matcher, build_pipeline
from tests.conftest import REPO


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"rules: [{REPO / 'rules'}]\nsources: {{folders: []}}\n"
        "language_models: {it: blank, en: blank}\ndefault_language: it\n",
        encoding="utf-8",
    )
    return load_settings(str(config), env={})


AIRSTRIKES = make_article(
    title="Airstrikes hit the port",
    body="Two airstrikes hit the port overnight.",
    language="en",
    source="test",
    origin="a1",
)


def test_wiring_index_builds_only_the_default_language_before_the_first_article(settings: Settings) -> None:
    """The shipped lemma rule needs each language's lemma table: only the default one is read at
    start-up, so the first alert does not wait for English."""
    assert build_matcher(settings).index.languages == ("it",)


def test_wiring_another_language_is_built_by_its_first_article(settings: Settings) -> None:
    matcher = build_matcher(settings)
    found = {match.rule_id for match in matcher.match(AIRSTRIKES)}
    assert "attacchi-aerei" in found  # the lemma rule, expanded with the English table
    assert set(matcher.index.languages) == {"it", "en"}


def test_wiring_reload_builds_the_languages_the_running_index_met(settings: Settings) -> None:
    daemon = Daemon(settings, build_pipeline(settings))
    try:
        daemon.pipeline.matcher.match(AIRSTRIKES)
        before = daemon.pipeline.matcher.index
        daemon.reloader.reload_rules()
        assert daemon.pipeline.matcher.index is not before
        assert set(daemon.pipeline.matcher.index.languages) == {"it", "en"}
    finally:
        daemon.threads.shutdown()
