"""Full-text search over the history, on SQLite (FTS5) and PostgreSQL (tsvector) alike."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update
from sqlmodel import col

from monitor.errors import ConfigError
from monitor.models import Article, Match, TermHit, make_article
from monitor.store.repo import Routed, Store
from monitor.store.schema import MIGRATIONS
from monitor.store.search import ArticleFilter, History, HitFilter
from monitor.store.tables import ArticleRow

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def nato(snippet: str = "…Nato") -> Match:
    return Match("nato", "NATO", (TermHit("NATO", "Nato", "body", 0, 4),), snippet)


def tregua() -> Match:
    return Match("tregua", "Tregua", (TermHit("ceasefire", "ceasefire", "body", 0, 9),), "…ceasefire")


FINLAND = make_article(
    title="La Finlandia entra nella Nato",
    body="Helsinki ha firmato: perché la neutralità è finita, dicono i negoziatori.",
    source="ANSA",
    origin="a1",
    language="it",
)
GAZA = make_article(
    title="Ceasefire in Gaza",
    body="The ceasefire talks resumed in Cairo; negotiations go on.",
    source="BBC",
    origin="a2",
    language="en",
)
WEATHER = make_article(
    title="Meteo a Roma",
    body="Pioggia su Roma, nessun negoziato con le nuvole. Cessate il fuoco, dice il vento.",
    source="ANSA",
    origin="a3",
    language="it",
)
SUMMIT = make_article(
    title="Vertice a Vilnius",
    body="I leader si incontrano a Vilnius. Si parla anche della Nato e dell’Ucraina.",
    source="Rai",
    origin="a4",
    language="it",
)


def fill(store: Store) -> None:
    store.record([Routed(FINLAND, [(nato(), [])])], [], NOW - timedelta(days=3))
    store.record([Routed(GAZA, [(tregua(), [])])], [], NOW - timedelta(days=2))
    store.record([Routed(WEATHER, [])], [], NOW - timedelta(days=1))
    store.record([Routed(SUMMIT, [(nato(), [])])], [], NOW)


def hit_titles(store: Store, **wanted: object) -> list[str]:
    return [found.hit.title for found in History(store).hits(HitFilter(**wanted))]  # type: ignore[arg-type]


def article_titles(store: Store, **wanted: object) -> list[str]:
    return [a.title for a in History(store).articles(ArticleFilter(**wanted))]  # type: ignore[arg-type]


def test_search_hits_finds_article_words_whatever_their_case(store: Store) -> None:
    fill(store)
    assert hit_titles(store, search="helsinki") == [FINLAND.title]
    assert hit_titles(store, search="HELSINKI firmato") == [FINLAND.title]
    assert hit_titles(store, search="Cairo") == [GAZA.title]
    assert hit_titles(store, search="Pioggia") == []  # an article without hits is no hit


def test_search_ranks_a_title_match_above_a_body_match(store: Store) -> None:
    fill(store)
    found = list(History(store).hits(HitFilter(search="nato")))
    assert [f.hit.title for f in found] == [FINLAND.title, SUMMIT.title]  # the older one, by relevance
    assert found[0].score is not None and found[1].score is not None
    assert found[0].score > found[1].score
    assert [f.hit.title for f in History(store).hits(HitFilter())] == [
        SUMMIT.title,
        GAZA.title,
        FINLAND.title,
    ]
    assert all(f.score is None for f in History(store).hits(HitFilter()))


def test_search_combines_with_rule_since_and_limit(store: Store) -> None:
    fill(store)
    assert hit_titles(store, search="nato", rule="tregua") == []
    assert hit_titles(store, search="nato OR ceasefire", rule="tregua") == [GAZA.title]
    assert hit_titles(store, search="nato", since=NOW - timedelta(days=1)) == [SUMMIT.title]
    assert hit_titles(store, search="nato", limit=1) == [FINLAND.title]


def test_search_reads_phrases_alternatives_and_exclusions(store: Store) -> None:
    fill(store)
    assert article_titles(store, search='"cessate il fuoco"') == [WEATHER.title]
    assert article_titles(store, search='"il fuoco cessate"') == []
    assert set(article_titles(store, search="helsinki OR cairo")) == {FINLAND.title, GAZA.title}
    assert article_titles(store, search="nato -helsinki") == [SUMMIT.title]
    assert article_titles(store, search='vilnius -"della nato"') == []


def test_search_articles_include_those_without_hits(store: Store) -> None:
    fill(store)
    [weather] = History(store).articles(ArticleFilter(search="pioggia"))
    assert (weather.title, weather.hits, weather.source, weather.body_kept) == (
        WEATHER.title,
        0,
        "ANSA",
        True,
    )
    assert weather.headline is not None and "**Pioggia**" in weather.headline
    assert article_titles(store, without_hits=True) == [WEATHER.title]
    assert article_titles(store, source="ANSA") == [WEATHER.title, FINLAND.title]  # newest first
    assert article_titles(store, language="en") == [GAZA.title]
    assert article_titles(store, search="roma", without_hits=True, since=NOW - timedelta(days=2)) == [
        WEATHER.title
    ]
    assert [a.hits for a in History(store).articles(ArticleFilter(search="nato"))] == [1, 1]


def test_search_is_blind_to_accents_as_matching_is(store: Store) -> None:
    fill(store)
    assert hit_titles(store, search="perche neutralita") == [FINLAND.title]
    assert hit_titles(store, search="NEUTRALITÀ") == [FINLAND.title]
    assert hit_titles(store, search="ucraina") == [SUMMIT.title]  # after a typographic apostrophe
    assert hit_titles(store, search="dell'ucraina") == [SUMMIT.title]


def test_search_prefix_on_sqlite(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL stems words instead (below)")
    fill(store)
    assert hit_titles(store, search="negoziator*") == [FINLAND.title]


def test_search_stems_words_in_the_article_language_on_postgresql(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's unicode61 tokenizer does not stem; use a prefix*")
    fill(store)
    # italian: negoziato, negoziatori
    assert set(article_titles(store, search="negoziati")) == {WEATHER.title, FINLAND.title}
    assert article_titles(store, search="negotiation") == [GAZA.title]  # english: negotiations
    assert hit_titles(store, search="neutralità") == [FINLAND.title]


HOSTILE = [
    '"',
    '"unbalanced',
    "NEAR(",
    "title:x",
    "a AND",
    "OR",
    "NOT nato",
    "'; DROP TABLE articles; --",
    "nato*",
    "***",
    "(nato",
    "nato)",
    "^nato",
    "nato\x00gaza",
    "-",
    "--nato",
    "a:b:c",
    "\\",
    "{nato}",
    "nato + gaza",
]


@pytest.mark.parametrize("search", HOSTILE)
def test_search_user_input_never_breaks_the_query(store: Store, search: str) -> None:
    fill(store)
    try:
        found = hit_titles(store, search=search)
    except ConfigError as exc:  # nothing to look for: said so, not a database error
        assert "no words to look for" in str(exc)
    else:
        assert set(found) <= {FINLAND.title, GAZA.title, SUMMIT.title}
    assert len(hit_titles(store)) == 3  # and the database is intact


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(search=st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_search_any_text_is_a_search_or_a_clear_error(store: Store, search: str) -> None:
    with contextlib.suppress(ConfigError):  # the error for nothing to look for; any other fails
        list(History(store).articles(ArticleFilter(search=search)))


def test_search_with_no_words_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ConfigError, match="no words to look for"):
        list(History(store).hits(HitFilter(search=" -- ** ")))


def test_search_index_follows_updates_and_deletes(store: Store) -> None:
    fill(store)
    with store.engine.begin() as db:
        db.execute(update(ArticleRow).where(col(ArticleRow.title) == WEATHER.title).values(body=""))
    assert article_titles(store, search="pioggia") == []
    assert article_titles(store, search="meteo") == [WEATHER.title]  # the title stays searchable
    with store.engine.begin() as db:
        db.execute(text("DELETE FROM articles WHERE title = :t"), {"t": WEATHER.title})
    assert article_titles(store, search="meteo") == []
    assert article_titles(store, search="vilnius") == [SUMMIT.title]


def migrate(store: Store, target: str) -> None:
    with store.engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        if target == "head":
            command.upgrade(config, target)
        else:
            command.downgrade(config, target)


def test_search_migration_indexes_the_articles_stored_before_it(store: Store) -> None:
    migrate(store, "0003")  # a database from before full-text search, articles and hits in it
    fill(store)
    migrate(store, "head")
    assert hit_titles(store, search="helsinki") == [FINLAND.title]
    assert article_titles(store, search="pioggia") == [WEATHER.title]
    store.record([Routed(make_article(title="Dopo", body="Pioggia", source="s", origin="z"), [])], [], NOW)
    assert set(article_titles(store, search="pioggia")) == {WEATHER.title, "Dopo"}  # and keeps up


def test_search_results_stream_in_chunks_in_order(store: Store) -> None:
    articles: list[Article] = [
        make_article(title=f"Nato {n}", body=f"testo numero {n}", source="s", origin=f"o{n}")
        for n in range(7)
    ]
    for n, article in enumerate(articles):
        store.record([Routed(article, [(nato(), [])])], [], NOW + timedelta(minutes=n))
    history = History(store, chunk=2)
    newest_first = [a.title for a in reversed(articles)]
    assert [f.hit.title for f in history.hits(HitFilter(limit=None))] == newest_first
    assert [a.title for a in history.articles(ArticleFilter(limit=None, search="nato"))] == newest_first
    assert [a.title for a in history.articles(ArticleFilter(limit=3))] == newest_first[:3]
