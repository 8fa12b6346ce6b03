"""Retention on SQLite and PostgreSQL: old history goes, nothing waiting to be sent does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from monitor.config import RetentionSettings, Settings
from monitor.models import Match, TermHit, make_article
from monitor.store.repo import Routed, Store, delivery_key
from monitor.store.retention import Cutoffs, PruneReport, Retention, cutoffs
from monitor.store.search import ArticleFilter, History, HitFilter, recent_hits
from monitor.store.tables import ARTICLES, DELIVERIES

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=100)
CUT = NOW - timedelta(days=90)


def routed(n: int, *, rule: bool = True, channels: tuple[str, ...] = ("console",)) -> Routed:
    article = make_article(
        title=f"Titolo {n} Vilnius",
        body=f"Il corpo numero {n} parla di Helsinki e della Nato.",
        source="ANSA",
        origin=f"f{n}",
        language="it",
    )
    match = Match("nato", "NATO", (TermHit("NATO", "Nato", "body", 0, 4),), "…della Nato")
    return Routed(article, [(match, list(channels))] if rule else [], signature=bytes([n]) * 8)


def bodies(store: Store) -> dict[str, str]:
    with store.engine.connect() as db:
        return {title: body for title, body in db.execute(select(ARTICLES.c.title, ARTICLES.c.body))}


def statuses(store: Store) -> list[str]:
    with store.engine.connect() as db:
        return sorted(db.execute(select(DELIVERIES.c.status)).scalars().all())


def test_retention_cutoffs_follow_the_policy() -> None:
    policy = RetentionSettings(article_bodies="90d", deliveries_sent="30d")  # type: ignore[arg-type]
    assert cutoffs(policy, NOW) == Cutoffs(
        article_bodies=NOW - timedelta(days=90), deliveries_sent=NOW - timedelta(days=30)
    )
    assert cutoffs(RetentionSettings(), NOW) == Cutoffs()
    assert not RetentionSettings().enabled and policy.enabled


def test_retention_settings_refuse_less_than_a_day_and_articles_younger_than_dedup() -> None:
    with pytest.raises(ValidationError, match="at least 1d"):
        RetentionSettings(article_bodies="12h")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="greater than or equal to 60"):
        RetentionSettings(interval="0s")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"dedup\.window"):
        Settings(retention={"articles": "1d"}, dedup={"window": "2d"})  # type: ignore[arg-type]
    assert Settings(retention={"articles": "30d", "hits": None}).retention.articles == 30 * 86400.0  # type: ignore[arg-type]


def test_retention_empties_old_bodies_keeping_titles_hits_dedup_and_a_true_index(store: Store) -> None:
    old, new = routed(1), routed(2)
    store.record([old], [], OLD)
    store.record([new], [], NOW)
    report = Retention(store.engine).prune(Cutoffs(article_bodies=CUT))
    assert report == PruneReport(bodies=1)
    assert bodies(store) == {old.article.title: "", new.article.title: new.article.body}
    assert {h.title for h in recent_hits(store)} == {old.article.title, new.article.title}
    assert store.unseen([old.article]) == []  # the same story is still known
    assert [s.article_id for s in store.recent_signatures(OLD, 10)] == [old.article.uid, new.article.uid]
    history = History(store)
    assert [a.title for a in history.articles(ArticleFilter(search="helsinki"))] == [new.article.title]
    assert {f.hit.title for f in history.hits(HitFilter(search="vilnius"))} == {
        old.article.title,
        new.article.title,
    }
    [pruned] = history.articles(ArticleFilter(search="titolo 1"))
    assert not pruned.body_kept
    assert Retention(store.engine).prune(Cutoffs(article_bodies=CUT)) == PruneReport()  # nothing twice


def test_retention_deletes_sent_alerts_but_never_pending_held_or_dead_ones(store: Store) -> None:
    item = routed(1, channels=("sent", "held", "dead", "pending"))
    store.record([item], [], OLD)
    uid = item.article.uid
    store.mark_sent(delivery_key("nato", uid, "sent"), OLD)
    store.hold(delivery_key("nato", uid, "held"), NOW + timedelta(hours=1), "digest")
    store.mark_dead(delivery_key("nato", uid, "dead"), "HTTP 404")
    recent = routed(2, channels=("sent",))
    store.record([recent], [], NOW)
    store.mark_sent(delivery_key("nato", recent.article.uid, "sent"), NOW)

    report = Retention(store.engine).prune(Cutoffs(deliveries_sent=CUT))
    assert report == PruneReport(deliveries=1)
    assert statuses(store) == ["dead", "held", "pending", "sent"]  # the recent one is still there


def test_retention_deletes_old_hits_unless_an_alert_still_waits(store: Store) -> None:
    waiting, done, recent = routed(1), routed(2), routed(3)
    store.record([waiting, done], [], OLD)
    store.record([recent], [], NOW)
    store.mark_sent(delivery_key("nato", done.article.uid, "console"), OLD)
    retention = Retention(store.engine)
    cut = Cutoffs(hits=CUT)
    assert retention.count(cut) == PruneReport(hits=1)
    assert retention.prune(cut) == PruneReport(hits=1)
    assert {h.title for h in recent_hits(store)} == {waiting.article.title, recent.article.title}
    assert statuses(store) == ["pending", "pending"]
    assert len(bodies(store)) == 3  # articles are kept (retention.articles is not set)


def test_retention_deletes_only_articles_left_without_hits(store: Store) -> None:
    quiet, matched, sent, recent = routed(1, rule=False), routed(2), routed(3), routed(4, rule=False)
    store.record([quiet, matched, sent], [], OLD)
    store.record([recent], [], NOW)
    store.mark_sent(delivery_key("nato", sent.article.uid, "console"), OLD)
    assert Retention(store.engine).prune(Cutoffs(articles=CUT)) == PruneReport(articles=1)
    assert set(bodies(store)) == {matched.article.title, sent.article.title, recent.article.title}
    assert [a.title for a in History(store).articles(ArticleFilter(search="corpo", limit=None))] == [
        recent.article.title,
        sent.article.title,
        matched.article.title,
    ]  # the index lost the deleted one
    # with hits expiring too, the article whose hit is gone follows it; the waiting one stays
    cut = Cutoffs(articles=CUT, hits=CUT, deliveries_sent=CUT)
    expected = PruneReport(deliveries=1, hits=1, articles=1)
    assert Retention(store.engine).count(cut) == expected
    assert Retention(store.engine).prune(cut) == expected
    assert set(bodies(store)) == {matched.article.title, recent.article.title}


def test_retention_dry_run_counts_exactly_what_a_prune_removes(store: Store) -> None:
    items = [routed(n, rule=n % 2 == 0) for n in range(9)]
    store.record(items, [], OLD)
    for item in items[:4]:
        if item.matches:
            store.mark_sent(delivery_key("nato", item.article.uid, "console"), OLD)
    store.record([routed(20)], [], NOW)
    retention = Retention(store.engine, chunk=2)  # several rounds
    cut = Cutoffs(article_bodies=CUT, articles=CUT, hits=CUT, deliveries_sent=CUT)
    forecast = retention.count(cut)
    assert retention.count(cut) == forecast  # counting changed nothing
    assert forecast.total > 0
    assert retention.prune(cut) == forecast
    assert retention.count(cut) == PruneReport()


def test_retention_works_in_rounds_of_at_most_chunk_rows(store: Store) -> None:
    store.record([routed(n) for n in range(5)], [], OLD)
    retention = Retention(store.engine, chunk=2)
    assert retention.prune_round(Cutoffs(article_bodies=CUT)) == PruneReport(bodies=2)
    rounds = iter([False, True])
    assert retention.prune(Cutoffs(article_bodies=CUT), stopping=lambda: next(rounds)) == PruneReport(
        bodies=2
    )
    assert retention.prune(Cutoffs(article_bodies=CUT)) == PruneReport(bodies=1)
