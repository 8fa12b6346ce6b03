"""The store: idempotent writes, an outbox that loses nothing, clear errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.models import FeedState, Match, TermHit, make_article
from monitor.store.engine import make_engine, prepare_schema
from monitor.store.repo import FileRecord, Routed, Store, delivery_key
from monitor.store.search import recent_hits

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
URL = "https://example.org/esteri/storia"


def sample(n: int = 1, body: str = "La Finlandia nella Nato") -> Routed:
    art = make_article(title=f"Articolo {n}", body=body, source="test", origin=f"f{n}.txt", language="it")
    match = Match("nato", "NATO", (TermHit("NATO", "Nato", "body", 19, 23),), "…nella Nato")
    return Routed(art, [(match, ["console", "hook"])])


def test_repo_record_is_idempotent(store: Store) -> None:
    first = store.record([sample()], [], NOW)
    assert (first.articles, first.hits, first.deliveries) == (1, 1, 2)
    again = store.record([sample()], [], NOW)
    assert (again.articles, again.duplicates, again.hits, again.deliveries) == (0, 1, 0, 0)
    assert len(store.due_deliveries(NOW, 100, ["console", "hook"])) == 2


def test_repo_record_a_batch_larger_than_one_statement_keeps_every_row(store: Store) -> None:
    # articles, hits and deliveries each span two INSERT statements (SQLAlchemy's insertmanyvalues pages)
    count = store.engine.dialect.insertmanyvalues_page_size + 7
    result = store.record([sample(n) for n in range(count)], [], NOW)
    assert (result.articles, result.hits, result.deliveries) == (count, count, 2 * count)
    assert len(store.due_deliveries(NOW, 10 * count, ["console", "hook"])) == 2 * count
    again = store.record([sample(n) for n in range(count + 1)], [], NOW)
    assert (again.articles, again.duplicates, again.hits, again.deliveries) == (1, count, 1, 2)


def test_repo_records_a_large_batch_of_files_and_updates_them_all_when_they_change(store: Store) -> None:
    count = 1_207
    first = [FileRecord(f"/in/{n}.txt", n, 1, f"fp{n}", "ingested", None, 1) for n in range(count)]
    store.record([], first, NOW)
    changed = [FileRecord(f"/in/{n}.txt", n + 1, 2, f"fq{n}", "ingested", None, 1) for n in range(count)]
    store.record([], [*changed, FileRecord("/in/new.txt", 3, 3, "new", "failed", "empty", 0)], NOW)
    index = store.file_index("/in/")
    assert len(index) == count + 1
    assert all(index[f"/in/{n}.txt"] == (n + 1, 2) for n in range(count))


def test_repo_record_a_story_twice_in_one_batch_stores_it_and_its_alerts_once(store: Store) -> None:
    told = make_article(title="Articolo", body="La Finlandia nella Nato", url=URL, source="a", origin="a")
    first = Routed(told, sample().matches)
    retold = make_article(title="Articolo (aggiornato)", body="Altro testo", url=URL, source="a", origin="b")
    other_rule = Match("altro", "Altro", (TermHit("Altro", "Altro", "body", 0, 5),), "Altro testo")
    assert retold.uid == first.article.uid and retold.fingerprint != first.article.fingerprint
    result = store.record([first, Routed(retold, [(other_rule, ["console"])])], [], NOW)
    assert (result.articles, result.duplicates, result.hits, result.deliveries) == (1, 1, 1, 2)
    assert {h.rule_id for h in recent_hits(store)} == {"nato"}


def test_repo_unseen_filters_by_story_and_by_content(store: Store) -> None:
    store.record([sample(1)], [], NOW)
    same_text = make_article(
        title="Articolo 1", body="La Finlandia nella Nato", source="x", origin="copy.txt"
    )
    same_url = make_article(
        title="Altro", body="altro", url="https://ex.org/a?utm_source=x", source="x", origin="o"
    )
    store.record([Routed(same_url, [])], [], NOW)
    new = make_article(title="Nuovo", body="testo nuovo", source="x", origin="n")
    relinked = make_article(
        title="Ancora", body="diverso", url="https://EX.org/a#top", source="y", origin="p"
    )
    assert store.unseen([same_text, new, relinked, new]) == [new]


def test_repo_due_deliveries_respects_schedule_and_status(store: Store) -> None:
    routed = sample()
    store.record([routed], [], NOW)
    key_console = delivery_key("nato", routed.article.uid, "console")
    key_hook = delivery_key("nato", routed.article.uid, "hook")
    [alert] = store.due_deliveries(NOW, 100, ["console"])
    assert (alert.key, alert.rule_name, alert.terms, alert.attempt) == (key_console, "NATO", ("Nato",), 1)
    store.mark_retry(key_console, NOW + timedelta(minutes=5), "HTTP 500")
    assert store.due_deliveries(NOW, 100, ["console"]) == []
    [retry] = store.due_deliveries(NOW + timedelta(minutes=5), 100, ["console"])
    assert retry.attempt == 2
    store.mark_sent(key_console, NOW)
    store.mark_dead(key_hook, "HTTP 404")
    assert store.due_deliveries(NOW + timedelta(days=1), 100, ["console", "hook"]) == []
    assert store.delivery_counts() == {"sent": 1, "dead": 1}


def test_repo_delivery_key_is_stable_per_rule_article_channel() -> None:
    assert delivery_key("r", "a", "c") == delivery_key("r", "a", "c")
    assert len({delivery_key("r", "a", "c"), delivery_key("r", "a", "d"), delivery_key("s", "a", "c")}) == 3


def test_repo_files_are_remembered_by_path_and_fingerprint(store: Store) -> None:
    mtime_ns = 1_764_057_600_123_456_789  # a real st_mtime_ns: needs 64 bits
    record = FileRecord("/in/a.txt", 10, mtime_ns, "fp1", "ingested", None, 1)
    store.record([], [record], NOW)
    store.record([], [FileRecord("/in/b.txt", 5_000_000_000, 9, "fp2", "failed", "not UTF-8", 0)], NOW)
    assert store.file_index("/in/") == {"/in/a.txt": (10, mtime_ns), "/in/b.txt": (5_000_000_000, 9)}
    assert store.file_index("/other/") == {}
    assert store.fingerprint_seen(["fp1", "fp3"]) == {"fp1"}
    store.record([], [FileRecord("/in/a.txt", 11, 124, "fp4", "ingested", None, 1)], NOW)
    assert store.file_index("/in/")["/in/a.txt"] == (11, 124)
    twice = [
        FileRecord("/in/c.txt", 1, 1, "fp5", "failed", "x", 0),
        FileRecord("/in/c.txt", 2, 2, "fp6", "ingested"),
    ]
    store.record([], twice, NOW)  # the same path twice in one batch: the last word counts
    assert store.file_index("/in/")["/in/c.txt"] == (2, 2)


def test_repo_feed_state_round_trips_every_field(store: Store) -> None:
    url = "http://127.0.0.1/feed.xml"
    assert store.feed_state(url) == FeedState(url)
    state = FeedState(
        url,
        etag='W/"abc"',
        last_modified="Tue, 24 Nov 2026 10:00:00 GMT",
        last_fetch_at=NOW,
        last_status=503,
        error_streak=2,
        last_error="HTTP 503",
        entries_seen=40,
        fetch_url="https://example.org/new.xml",
        next_fetch_at=NOW + timedelta(hours=1),
        failing_since=NOW - timedelta(hours=2),
        last_new=3,
        last_new_at=NOW - timedelta(days=1),
        usual_gap=3600.0,
        health_alerted="failing",
    )
    store.save_feed_state(state)
    assert store.feed_state(url) == state
    store.save_feed_state(FeedState(url, disabled="HTTP 410 Gone"))
    assert store.feed_states() == {url: FeedState(url, disabled="HTTP 410 Gone")}


def test_repo_hits_filter_by_rule_and_time(store: Store) -> None:
    store.record([sample(1)], [], NOW - timedelta(days=2))
    store.record([sample(2, body="Finlandia Nato e altro")], [], NOW)
    assert len(recent_hits(store)) == 2
    assert [h.title for h in recent_hits(store, since=NOW - timedelta(hours=1))] == ["Articolo 2"]
    assert recent_hits(store, rule="other") == []
    [latest, _older] = recent_hits(store, rule="nato")
    assert latest.terms[0]["text"] == "Nato" and latest.created_at == NOW


def test_repo_locked_sqlite_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}", busy_timeout=0.1)
    prepare_schema(engine)
    store = Store(engine)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            store.record([sample()], [], NOW)
    finally:
        holder.rollback()
        holder.close()
    assert store.record([sample()], [], NOW).articles == 1  # nothing half-written, works once free
    engine.dispose()


def test_engine_rejects_a_malformed_url() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        make_engine("not a url")


def test_repo_save_signatures_replaces_the_stored_ones(store: Store) -> None:
    store.record([sample(1), sample(2)], [], NOW)
    uids = [sample(n).article.uid for n in (1, 2)]
    store.save_signatures({uids[0]: b"sig-1", uids[1]: b"sig-2"})
    stored = store.recent_signatures(NOW - timedelta(days=1), 10)
    assert {item.article_id: item.signature for item in stored} == {uids[0]: b"sig-1", uids[1]: b"sig-2"}
