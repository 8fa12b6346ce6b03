"""`monitor feeds`: each feed's state, OPML import into the config, export, and re-enabling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_settings
from monitor.models import FeedState
from monitor.sources.opml import parse_opml
from monitor.store.engine import open_store
from tests.conftest import REPO

ANSA = "https://www.ansa.it/sito/notizie/mondo/mondo_rss.xml"
OPML = f"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Esteri</title></head><body>
<outline text="Esteri" title="Esteri">
  <outline text="Europa">
    <outline type="rss" text="ANSA Mondo &amp; Europa" xmlUrl="{ANSA}"/>
  </outline>
  <outline type="rss" text="BBC World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
</outline>
<outline type="rss" text="Locale" xmlUrl="file:///etc/passwd"/>
</body></opml>
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "# the desk's config: comments survive an import\n"
        f"database: sqlite:///{tmp_path}/monitor.db\nrules: [{REPO / 'rules'}]\n"
        "sources:\n  folders: []  # no folders\n",
        encoding="utf-8",
    )
    return path


def invoke(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_feeds_import_adds_opml_feeds_with_folders_as_tags_and_keeps_comments(
    config: Path, tmp_path: Path
) -> None:
    (tmp_path / "feeds.opml").write_text(OPML, encoding="utf-8")
    code, _, err = invoke(config, "feeds", "import", str(tmp_path / "feeds.opml"), "--interval", "15m")
    assert code == 0 and "added 2 feed(s)" in err
    assert "file:///etc/passwd" in err  # the skipped outline is named
    text = config.read_text(encoding="utf-8")
    assert "# the desk's config: comments survive an import" in text and "# no folders" in text
    feeds = load_settings(str(config), env={}).sources.feeds
    assert [(f.url, f.name, f.tags, f.interval) for f in feeds] == [
        (ANSA, "ANSA Mondo & Europa", ["Esteri", "Europa"], 900.0),
        ("https://feeds.bbci.co.uk/news/world/rss.xml", "BBC World", ["Esteri"], 900.0),
    ]
    code, _, err = invoke(config, "feeds", "import", str(tmp_path / "feeds.opml"))
    assert code == 0 and "0 feed(s) to add, 2 already configured" in err
    assert len(load_settings(str(config), env={}).sources.feeds) == 2


def test_feeds_import_dry_run_changes_nothing(config: Path, tmp_path: Path) -> None:
    (tmp_path / "feeds.opml").write_text(OPML, encoding="utf-8")
    before = config.read_text(encoding="utf-8")
    code, out, _ = invoke(config, "feeds", "import", str(tmp_path / "feeds.opml"), "--dry-run")
    urls = [json.loads(line)["url"] for line in out.splitlines()]
    assert code == 0 and urls == [ANSA, "https://feeds.bbci.co.uk/news/world/rss.xml"]
    assert config.read_text(encoding="utf-8") == before


def test_feeds_import_of_a_hostile_opml_is_refused(config: Path, tmp_path: Path) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><opml><body/></opml>'
    (tmp_path / "bomb.opml").write_text(bomb, encoding="utf-8")
    code, _, err = invoke(config, "feeds", "import", str(tmp_path / "bomb.opml"))
    assert code != 0 and "bomb.opml" in err


def test_feeds_export_round_trips_through_opml(config: Path, tmp_path: Path) -> None:
    (tmp_path / "feeds.opml").write_text(OPML, encoding="utf-8")
    invoke(config, "feeds", "import", str(tmp_path / "feeds.opml"))
    code, out, _ = invoke(config, "feeds", "export")
    assert code == 0
    exported = parse_opml(out.encode("utf-8"), origin="export")
    assert {(f.url, f.name, f.tags) for f in exported} == {
        (ANSA, "ANSA Mondo & Europa", ("Esteri", "Europa")),
        ("https://feeds.bbci.co.uk/news/world/rss.xml", "BBC World", ("Esteri",)),
    }


def test_feeds_shows_each_feeds_state_and_enable_clears_a_disabled_feed(config: Path, tmp_path: Path) -> None:
    (tmp_path / "feeds.opml").write_text(OPML, encoding="utf-8")
    invoke(config, "feeds", "import", str(tmp_path / "feeds.opml"))
    store = open_store(load_settings(str(config), env={}).database)
    now = datetime.now(UTC)
    store.save_feed_state(
        FeedState(ANSA, last_fetch_at=now - timedelta(minutes=5), last_status=410, disabled="HTTP 410 Gone")
    )
    code, out, _ = invoke(config, "feeds", "--json")
    rows = {row["url"]: row for row in map(json.loads, out.splitlines())}
    assert code == 0 and rows[ANSA]["state"] == "disabled" and rows[ANSA]["problem"] == "HTTP 410 Gone"
    assert rows["https://feeds.bbci.co.uk/news/world/rss.xml"]["state"] == "new"
    code, out, _ = invoke(config, "feeds")
    assert code == 0 and "disabled" in out and "410" in out
    code, _, _ = invoke(config, "feeds", "enable", ANSA)
    assert code == 0 and store.feed_state(ANSA).disabled is None
    code, _, err = invoke(config, "feeds", "enable", "https://unknown.example/rss")
    assert code == 1 and "not among the configured feeds" in err


def test_feeds_after_a_real_poll_shows_fetch_status_new_entries_and_next_fetch(
    config: Path, tmp_path: Path
) -> None:
    from tests.sources.feedserver import serve

    with serve() as live:
        text = config.read_text(encoding="utf-8").replace("sources:\n  folders: []  # no folders\n", "")
        config.write_text(
            text
            + "sources:\n  folders: []\n  feeds:\n"
            + f"    - {{url: '{live.url('/esteri.rss')}', name: Esteri}}\n"
            + f"    - {{url: '{live.url('/error')}', name: Rotto}}\n",
            encoding="utf-8",
        )
        code, _, _ = invoke(config, "run", "--once")
    assert code == 0
    code, out, _ = invoke(config, "feeds", "--json")
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    esteri, rotto = rows["Esteri"], rows["Rotto"]
    assert code == 0
    assert [esteri[key] for key in ("state", "status", "new_entries", "error_streak")] == ["ok", 200, 2, 0]
    assert esteri["last_fetch"] and esteri["next_fetch"]
    assert (rotto["state"], rotto["status"], rotto["error_streak"]) == ("failing", 500, 1)
    assert "HTTP 500" in rotto["problem"] and rotto["next_fetch"] > rotto["last_fetch"]
    code, out, _ = invoke(config, "feeds")
    assert code == 0 and "failing" in out and " 500 " in out and "new   2" in out
