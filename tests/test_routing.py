"""Channels routed by source and tags: a desk's channel receives its own sources' alerts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import FolderSource, load_settings
from monitor.service.wiring import build_pipeline

CONFIG = """
database: sqlite:///{tmp}/monitor.db
rules: [{tmp}/rules.yaml]
channels:
  everything: {{type: console}}
  esteri: {{type: console, tags: [esteri*]}}
  agenzie: {{type: console, sources: ["ANSA*", Reuters]}}
"""


def test_channels_receive_only_the_sources_and_tags_they_ask_for(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    (tmp_path / "monitor.yaml").write_text(CONFIG.format(tmp=tmp_path), encoding="utf-8")
    pipeline = build_pipeline(load_settings(str(tmp_path / "monitor.yaml"), env={}))
    for name, tags in (("ANSA Esteri", ["esteri-europa"]), ("Cronaca locale", ["cronaca"])):
        inbox = tmp_path / name
        inbox.mkdir()
        (inbox / "a.txt").write_text(f"{name}: vertice NATO\n\nLa NATO si riunisce a Bruxelles.", "utf-8")
        pipeline.scan_folder(FolderSource(path=inbox, name=name, tags=tags))
    later = datetime.now(UTC) + timedelta(minutes=1)
    sources = {
        channel: sorted(a.source for a in pipeline.store.due_deliveries(later, 100, [channel]))
        for channel in ("everything", "esteri", "agenzie")
    }
    assert sources == {
        "everything": ["ANSA Esteri", "Cronaca locale"],
        "esteri": ["ANSA Esteri"],
        "agenzie": ["ANSA Esteri"],
    }
