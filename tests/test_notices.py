"""The daemon's own notices (digests, throttle summaries, source-health alerts) are not articles:
`monitor articles` (with or without --search) and `monitor rules backtest` leave them out, and
`monitor deliveries` lists them with the other alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import load_settings
from monitor.notify.flood import summary_text
from monitor.service.wiring import build_pipeline
from monitor.sources.feedstate import HealthEvent
from tests.test_cli import invoke

RULES = "rules:\n  - id: nato\n    query: NATO\n"
HEALTH = "feed Esteri has failed for 2.0 h (12 polls): NATO summit page gone"


def test_notices_are_left_out_of_articles_search_and_backtest_but_listed_as_deliveries(
    tmp_path: Path,
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: sqlite:///state/monitor.db\nrules: [rules.yaml]\nsources: {folders: []}\n"
        "channels: {desk: {type: console}}\ndefaults: {notify: [desk]}\n",
        encoding="utf-8",
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("NATO summit in Vilnius\n\nNATO leaders met in Vilnius.", encoding="utf-8")
    (inbox / "b.txt").write_text("NATO in Riga\n\nNATO ministers met in Riga.", encoding="utf-8")
    settings = load_settings(str(config), env={})
    pipeline = build_pipeline(settings)
    store = pipeline.store
    report = pipeline.scan_files(sorted(inbox.iterdir()), source="inbox")
    assert report.alerts == 2
    now = datetime.now(UTC)
    for delivery in store.deliveries():  # both held for a digest, then folded into one summary
        store.hold(delivery.key, now - timedelta(minutes=1), "digest")
    assert store.release_held(now, summary_text) == 1
    event = HealthEvent("failing", HEALTH)
    assert store.record_health("https://esteri.example/rss", "Esteri", event, "desk", now)
    store.engine.dispose()

    code, out, _ = invoke(config, "articles", "--format", "jsonl")
    assert code == 0
    assert sorted(json.loads(line)["title"] for line in out.splitlines()) == [
        "NATO in Riga",
        "NATO summit in Vilnius",
    ]
    code, out, _ = invoke(config, "articles", "--search", "NATO", "--format", "jsonl")
    assert code == 0 and {json.loads(line)["source"] for line in out.splitlines()} == {"inbox"}
    code, out, _ = invoke(config, "articles", "--search", "failed polls")  # only the notice has them
    assert "news-monitor" not in out and "failed" not in out
    code, out, err = invoke(config, "rules", "backtest", str(tmp_path / "rules.yaml"), "--json")
    assert code == 0, err
    assert "news-monitor" not in out and "summary" not in out and "failed" not in out
    assert out.count("NATO") >= 2  # the two real articles are matched

    code, out, _ = invoke(config, "deliveries", "--json")
    rules = sorted(json.loads(line)["rule"] for line in out.splitlines())
    assert rules == ["nato", "nato", "source-health", "summary"]
