"""The web app's queries on both backends: keyset pages, filters, search, counts, folders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Match, TermHit, make_article
from monitor.store.repo import FileRecord, Routed, Store
from monitor.store.views import Cursor, HitQuery, Views

NOW = datetime(2024, 7, 10, 12, 0, tzinfo=UTC)


def _record(store: Store, title: str, rules: list[str], at: datetime, **extra: object) -> None:
    article = make_article(title=title, body=f"{title}: il testo.", origin="t", **extra)  # type: ignore[arg-type]
    matches = [
        (
            Match(
                rule, rule.upper(), (TermHit(rule, title.split()[0], "title", 0, 3),), title, (), ("esteri",)
            ),
            [],
        )
        for rule in rules
    ]
    store.record([Routed(article, matches)], [], at)


@pytest.fixture
def views(store: Store) -> Views:
    for n in range(5):
        _record(store, f"NATO {n}", ["nato"], NOW - timedelta(hours=5 - n), source="ANSA", language="it")
    _record(store, "Finland votes", ["finland", "nato"], NOW, source="Reuters", language="en")
    return Views(store)


def test_views_hits_page_by_cursor_newest_first(views: Views) -> None:
    seen: list[int] = []
    cursor: Cursor | None = None
    while True:
        page = views.hits(HitQuery(limit=2, before=cursor))
        seen += [hit.id for hit in page.items]
        if page.next is None:
            break
        cursor = Cursor.decode(page.next.encode())
    assert len(seen) == 7 and len(set(seen)) == 7
    times = [hit.created_at for hit in views.hits(HitQuery(limit=50)).items]
    assert times == sorted(times, reverse=True)


def test_views_hits_filter_by_source_language_tag_time_and_search(views: Views) -> None:
    def titles(**wanted: object) -> list[str]:
        return sorted({hit.title for hit in views.hits(HitQuery(limit=50, **wanted)).items})  # type: ignore[arg-type]

    assert titles(source="Reuters") == ["Finland votes"]
    assert titles(language="it", rule="nato") == [f"NATO {n}" for n in range(5)]
    assert len(titles(tag="esteri")) == 6 and titles(tag="sport") == []
    assert titles(since=NOW - timedelta(minutes=90)) == ["Finland votes", "NATO 4"]
    assert titles(until=NOW - timedelta(hours=4, minutes=30)) == ["NATO 0"]
    assert titles(search="Finland") == ["Finland votes"]
    assert titles(search="NATO -Finland", rule="nato") == [f"NATO {n}" for n in range(5)]


def test_views_hits_after_an_id_are_the_new_ones(views: Views) -> None:
    newest = views.newest_hit_id()
    assert views.hits(HitQuery(after_id=newest)).items == []
    assert len(views.hits(HitQuery(after_id=newest - 2)).items) == 2


def test_views_rule_stats_count_windows_and_days(views: Views) -> None:
    stats = views.rule_stats(NOW + timedelta(minutes=1))
    assert (stats["nato"].day, stats["nato"].week, stats["nato"].month) == (6, 6, 6)
    assert stats["nato"].last == NOW and stats["finland"].day == 1
    assert sum(stats["nato"].daily) == 6 and stats["nato"].daily[-1] == 6
    assert views.rule_stats(NOW + timedelta(days=2))["nato"].day == 0


def test_views_article_with_hits_and_story(views: Views) -> None:
    newest = views.hits(HitQuery(limit=1)).items[0]
    detail = views.article(newest.article_id)
    assert detail is not None and detail.article.title == "Finland votes"
    assert sorted(hit.rule_id for hit in detail.hits) == ["finland", "nato"]
    assert views.article(10**9) is None


def test_views_outbox_counts_and_folder_files(store: Store) -> None:
    article = make_article(title="NATO", origin="t", source="x")
    match = Match("nato", "NATO", (), "", (), ())
    store.record(
        [Routed(article, [(match, ["slack", "hook"])])],
        [
            FileRecord("/in/a.txt", 1, 1, "f1", "ingested", None, 1),
            FileRecord("/in/b.json", 1, 1, "f2", "failed", "/in/b.json: invalid JSON"),
            FileRecord("/inbox2/c.txt", 1, 1, "f3", "failed", "elsewhere"),
        ],
        NOW,
    )
    views = Views(store)
    assert views.outbox_counts() == {"slack": {"pending": 1}, "hook": {"pending": 1}}
    files = views.folder_files("/in")
    assert files.counts == {"ingested": 1, "failed": 1}
    assert [reason for _path, reason, _at in files.failed] == ["/in/b.json: invalid JSON"]
    page = views.deliveries(status="pending", limit=1)
    assert len(page.items) == 1 and page.next is not None


@pytest.mark.parametrize("text", ["", "xyz", "bm90fGE", "MjAyNC0wNy0xMHwtMQ"])
def test_views_cursor_refuses_what_it_did_not_hand_out(text: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        Cursor.decode(text)


def test_views_last_hit_of_a_rule_quiet_for_a_month(store: Store) -> None:
    _record(store, "NATO antica", ["nato"], NOW - timedelta(days=90), source="ANSA")
    views = Views(store)
    assert "nato" not in views.rule_stats(NOW)  # nothing in the month's pass
    assert views.last_hits(["nato", "never"]) == {"nato": NOW - timedelta(days=90)}
    assert views.last_hits([]) == {}


def test_views_a_page_never_splits_an_articles_hits(store: Store) -> None:
    _record(store, "NATO prima", ["a"], NOW, source="ANSA")
    _record(store, "NATO tre regole", ["a", "b", "c"], NOW, source="ANSA")
    _record(store, "NATO ultima", ["a"], NOW, source="ANSA")
    views = Views(store)
    pages: list[list[str]] = []
    cursor: Cursor | None = None
    while True:
        page = views.hits(HitQuery(limit=2, before=cursor))
        pages.append([hit.title for hit in page.items])
        if page.next is None:
            break
        cursor = page.next
    assert pages == [["NATO ultima"], ["NATO tre regole"] * 3, ["NATO prima"]]


def test_views_search_pages_newest_first_without_repeats(views: Views) -> None:
    seen: list[str] = []
    cursor: Cursor | None = None
    for _ in range(10):
        page = views.hits(HitQuery(search="NATO OR Finland", limit=2, before=cursor))
        seen += [f"{hit.title}/{hit.rule_id}" for hit in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert len(seen) == len(set(seen)) == 7
    assert seen[:2] == ["Finland votes/nato", "Finland votes/finland"]
    assert seen[2:] == [f"NATO {n}/nato" for n in (4, 3, 2, 1, 0)]
