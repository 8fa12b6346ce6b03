"""Not flooding, end to end: a throttled rule sends its quota, then one summary of the rest;
a digest channel sends one message for everything; each exactly once."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.notify.receivers import WebhookReceiver

CONFIG = """
database: sqlite:///{tmp}/monitor.db
rules: [{tmp}/rules.yaml]
sources: {{folders: [{{path: {tmp}/inbox}}]}}
channels:
  hook: {{type: webhook, url: "{url}"{extra}}}
"""


def run_once(config: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 0, result.output


def setup(tmp_path: Path, url: str, rule: str, extra: str = "", articles: int = 5) -> Path:
    (tmp_path / "rules.yaml").write_text(f"rules:\n  - id: nato\n    query: NATO\n{rule}", "utf-8")
    (tmp_path / "inbox").mkdir()
    for n in range(articles):
        (tmp_path / "inbox" / f"{n}.txt").write_text(f"NATO {n}\n\nLa NATO, notizia numero {n}.", "utf-8")
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG.format(tmp=tmp_path, url=url, extra=extra), encoding="utf-8")
    return config


@pytest.mark.slow
def test_a_throttled_rule_sends_its_quota_then_one_summary_of_the_rest(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        config = setup(tmp_path, hook.url, "    throttle: 2/2s\n")
        run_once(config)
        quota = sum(1 for _, body in hook.received if body["data"]["rule"]["id"] == "nato")
        assert 2 <= quota < 5  # the quota (a window may end during the run: then one more)
        time.sleep(2.1)  # the throttle window of the last hold has ended (or ended during the run)
        run_once(config)
        bodies = [body["data"] for _, body in hook.received]
        summaries = [d for d in bodies if d["rule"]["id"] == "summary"]
        assert len(summaries) == 1 and len(bodies) == quota + 1, bodies
        assert summaries[0]["article"]["title"].startswith(f"More alerts: {5 - quota} alert(s) for 1 rule(s)")
        run_once(config)
        assert len(hook.received) == quota + 1  # nothing twice


def test_a_throttle_counts_the_sends_of_the_round_not_yet_recorded(tmp_path: Path) -> None:
    """Outcomes wait in memory to be recorded in groups: the throttle's count must see them."""
    with WebhookReceiver() as hook:
        config = setup(tmp_path, hook.url, "    throttle: 2/1h\n")
        config.write_text(
            config.read_text(encoding="utf-8") + "delivery: {record_batch: 50, record_wait: 1h}\n", "utf-8"
        )
        run_once(config)
        assert len(hook.received) == 2
        result = CliRunner().invoke(main, ["--config", str(config), "deliveries", "--json"])
        statuses = sorted(json.loads(line)["status"] for line in result.stdout.splitlines())
        assert statuses == ["held", "held", "held", "sent", "sent"]


def test_a_digest_channel_holds_everything_and_the_outbox_says_so(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        config = setup(tmp_path, hook.url, "", extra=', digest: "0 8 * * *", timezone: Europe/Rome')
        run_once(config)
        assert hook.received == []
        result = CliRunner().invoke(main, ["--config", str(config), "deliveries", "--json"])
        statuses = {json.loads(line)["status"] for line in result.stdout.splitlines()}
        assert statuses == {"held"}


def test_a_digest_names_the_other_outlets_that_carried_a_story(tmp_path: Path) -> None:
    """A near duplicate alerts no more; the digest that holds its story's alert lists its outlet."""
    from datetime import UTC, datetime, timedelta

    from monitor.config import Settings
    from monitor.models import Match, TermHit, make_article
    from monitor.notify.flood import summary_text
    from monitor.store.engine import open_store
    from monitor.store.repo import Routed

    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    store = open_store(Settings(database=f"sqlite:///{tmp_path / 'monitor.db'}").database)
    first = make_article(title="Vertice NATO a Vilnius", body="La NATO…", source="ANSA", origin="a.txt")
    retold = make_article(title="Vertice NATO, Vilnius", body="La NATO…!", source="Rai", origin="b.txt")
    match = Match("nato", "NATO", (TermHit("NATO", "NATO", "body", 3, 7),), "La NATO…")
    store.record([Routed(first, [(match, ["hook"])])], [], now)
    store.record([Routed(retold, [], story=first.uid)], [], now)  # grouped: no hit, no alert
    [held] = store.due_deliveries(now, 10, ["hook"])
    store.hold(held.key, now + timedelta(hours=1), "digest")
    assert store.release_held(now + timedelta(hours=1), summary_text) == 1
    [summary] = store.due_deliveries(now + timedelta(hours=1), 10, ["hook"])
    assert "• Vertice NATO a Vilnius (ANSA) — also reported by Rai" in summary.snippet


def test_alerts_held_for_quiet_hours_follow_the_hours_set_after_a_reload(tmp_path: Path) -> None:
    """Held under quiet hours ending in two hours; the channel's hours then end a minute ago: they go now."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    start, late_end, ended = now - timedelta(hours=1), now + timedelta(hours=2), now - timedelta(minutes=1)
    with WebhookReceiver() as hook:
        quiet = f', quiet_hours: "{start:%H:%M}-{late_end:%H:%M}"'
        config = setup(tmp_path, hook.url, "", extra=quiet, articles=3)
        run_once(config)
        assert hook.received == []
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace(f"{late_end:%H:%M}", f"{ended:%H:%M}"), encoding="utf-8")
        run_once(config)
        [(_, body)] = hook.received
        assert body["data"]["rule"]["id"] == "summary"
        assert body["data"]["article"]["title"] == "After quiet hours: 3 alert(s) for 1 rule(s)"
        run_once(config)
        assert len(hook.received) == 1  # nothing twice


SLACK_DIGEST_CONFIG = """
database: sqlite:///{tmp}/monitor.db
rules: [{tmp}/rules.yaml]
sources: {{folders: [{{path: {tmp}/inbox}}]}}
channels:
  slack: {{type: slack, url: "{url}", digest: "0 8 * * *", timezone: Europe/Rome}}
"""


def test_a_slack_digest_of_twenty_rules_is_one_message_slack_accepts(tmp_path: Path) -> None:
    """20 rules with 7 long-titled articles each: listed in full, about 26,000 characters of blocks."""
    import sqlite3

    from tests.notify.receivers import SlackReceiver, slack_blocks_too_long

    topics = [f"tema{n:02d}" for n in range(1, 21)]
    rules = "".join(f"  - id: {t}\n    name: Dossier {t}\n    query: {t}\n" for t in topics)
    (tmp_path / "rules.yaml").write_text(f"rules:\n{rules}", encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    records = [
        {
            "id": f"{t}-{n}",
            "title": f"{t}: il vertice di Vilnius si chiude con un accordo sulla difesa aerea, ma "
            f"restano aperte le questioni del bilancio e dei tempi dell'adesione (parte {n})",
            "url": f"https://www.example.org/esteri/2026/11/25/{t}-vertice-vilnius-accordo-difesa-{n}.html",
            "body": f"Notizia {n} sul {t}.",
        }
        for t in topics
        for n in range(7)
    ]
    (tmp_path / "inbox" / "export.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8"
    )
    with SlackReceiver() as slack:
        config = tmp_path / "monitor.yaml"
        config.write_text(SLACK_DIGEST_CONFIG.format(tmp=tmp_path, url=slack.url), encoding="utf-8")
        run_once(config)
        assert slack.requests == []  # all 140 held for the digest
        with sqlite3.connect(tmp_path / "monitor.db") as db:  # they came in yesterday: 08:00 has passed
            db.execute("UPDATE deliveries SET created_at = datetime(created_at, '-1 day')")
        run_once(config)
        run_once(config)
        assert slack.rejections == []
        [message] = slack.messages
    assert not slack_blocks_too_long(message)
    text = "\n".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    assert "Digest: 140 alert(s) for 20 rule(s)" in text
    for topic in topics:  # every rule is there with its count; what is not listed is counted
        assert f"Dossier {topic}: 7" in text
    assert text.count("  • ") + sum(int(n) for n in re.findall(r"… and (\d+) more", text)) == 140
