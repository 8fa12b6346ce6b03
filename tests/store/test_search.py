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

from monitor.errors import SearchError
from monitor.models import Article, Match, TermHit, make_article
from monitor.store.repo import Routed, Store
from monitor.store.schema import MIGRATIONS
from monitor.store.search import ArticleFilter, History, HitFilter
from monitor.store.searchquery import MAX_DEPTH
from monitor.store.tables import ARTICLES

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


# -- the grammar: the rules' Lucene syntax, the same answers on both databases ----------------
FINLANDIA_EN = make_article(
    title="Finlandia and the sauna",
    body="Finlandia and Sibelius: a concert in Helsinki.",
    source="Reuters",
    origin="b1",
    language="en",
)
ALLIES = make_article(
    title="NATO and allies",
    body="NATO and its allies met in Brussels.",
    source="Reuters",
    origin="b2",
    language="en",
)
JOINS = make_article(
    title="Finland joins NATO",
    body="Helsinki completes its accession.",
    source="Reuters",
    origin="b3",
    language="en",
)
HOCKEY = make_article(
    title="Finland wins at hockey",
    body="A late goal in Tampere.",
    source="Reuters",
    origin="b4",
    language="en",
)


def fill_grammar(store: Store) -> None:
    fill(store)
    for n, article in enumerate((FINLANDIA_EN, ALLIES, JOINS, HOCKEY)):
        store.record([Routed(article, [])], [], NOW + timedelta(minutes=n))


def found(store: Store, search: str) -> set[str]:
    return set(article_titles(store, search=search, limit=None))


def test_search_and_is_an_operator_not_a_word(store: Store) -> None:
    fill_grammar(store)
    assert found(store, "Finlandia AND NATO") == {FINLAND.title}
    assert found(store, "Finlandia NATO") == {FINLAND.title}


def test_search_parentheses_group_alternatives(store: Store) -> None:
    fill_grammar(store)
    assert found(store, "(Finlandia OR Finland) NATO") == {FINLAND.title, JOINS.title}
    assert found(store, "NATO (Finlandia OR Finland)") == {FINLAND.title, JOINS.title}
    # as in rules (luqum): AND binds before OR, a juxtaposition after it
    assert found(store, "Finland OR Finlandia AND NATO") == {FINLAND.title, JOINS.title, HOCKEY.title}
    assert found(store, "Finland OR Finlandia NATO") == {FINLAND.title, JOINS.title}


def test_search_not_and_minus_exclude(store: Store) -> None:
    fill_grammar(store)
    assert found(store, "NATO NOT Finlandia") == {ALLIES.title, JOINS.title, SUMMIT.title}
    assert found(store, "NATO AND NOT Finlandia") == {ALLIES.title, JOINS.title, SUMMIT.title}
    assert found(store, "NATO -(Finlandia OR Finland)") == {ALLIES.title, SUMMIT.title}
    assert found(store, 'NATO -"Finland joins" -Brussels') == {FINLAND.title, SUMMIT.title}


def test_search_phrases_keep_word_order(store: Store) -> None:
    fill_grammar(store)
    assert found(store, '"Finland joins"') == {JOINS.title}
    assert found(store, '"joins Finland"') == set()
    assert found(store, "“Finland joins” OR “late goal”") == {JOINS.title, HOCKEY.title}


def test_search_prefix_finds_word_starts_on_both_databases(store: Store) -> None:
    fill_grammar(store)
    assert found(store, "Finl*") == {FINLAND.title, FINLANDIA_EN.title, JOINS.title, HOCKEY.title}
    assert found(store, "neutralit*") == {FINLAND.title}  # "neutralità", accents folded as indexed
    assert found(store, "Finl* -hockey") == {FINLAND.title, FINLANDIA_EN.title, JOINS.title}


def test_search_fields_narrow_to_title_summary_or_body(store: Store) -> None:
    fill_grammar(store)
    assert found(store, "title:nato") == {FINLAND.title, ALLIES.title, JOINS.title}
    assert found(store, "body:nato") == {ALLIES.title, SUMMIT.title}
    assert found(store, "body:nato -title:nato") == {SUMMIT.title}
    assert found(store, 'title:"joins NATO"') == {JOINS.title}
    assert found(store, "title:(sauna OR hockey)") == {FINLANDIA_EN.title, HOCKEY.title}
    assert found(store, "summary:nato") == set()  # these articles have no summary


def test_search_of_a_stop_word_without_an_excluded_one_lists_nothing_else(store: Store) -> None:
    """PostgreSQL drops "della" (an Italian stop word): what is left must not be "not helsinki"."""
    fill_grammar(store)
    assert found(store, "della -helsinki") <= {SUMMIT.title}  # SQLite finds the word itself
    assert found(store, "della") <= {SUMMIT.title}


def test_search_at_the_deepest_nesting_runs_on_both_databases(store: Store) -> None:
    fill_grammar(store)
    alternating = "hockey"
    for n in range(MAX_DEPTH // 3):  # a group, a NOT and a group: three levels each
        alternating = f"(w{n} -(w{n} OR {alternating}))"  # no article has w{n}: nothing
    assert found(store, f"nato OR {alternating}") == found(store, "nato")
    nested = "(hockey OR " * MAX_DEPTH + "sauna" + ")" * MAX_DEPTH
    assert found(store, nested) == {HOCKEY.title, FINLANDIA_EN.title}


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
        pytest.skip("PostgreSQL compares a prefix with stems: negoziato is indexed as negoz")
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
    "NEAR(nato gaza)",
    "title:x",
    "x:y",
    "a AND",
    "AND",
    "OR",
    "NOT nato",
    "((",
    "*",
    "'; DROP TABLE articles; --",
    "nato'; DROP TABLE articles; --",
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
    "nato\\",
    "{nato}",
    "nato + gaza",
    "nato:*",
    "'",
    "''",
    "nato' | 'gaza",
    "nato') & !('gaza",
    "nato:A",
    "nato <-> gaza",
    "nato & !gaza",
    '"nato" * "gaza"',
    "{title body}:nato",
    "- nato",
    "nato ^",
    "nato " * 399,
    "(nato OR " * 30 + "gaza" + ")" * 30,
    "nato OR " * 300 + "gaza",
    "-" * 1000 + "nato",
    "\u200b",
    "nato \u0301",
    "\U0001f600 nato",
]


def test_search_user_input_gives_results_or_a_clean_error(store: Store) -> None:
    fill(store)
    wrong = []
    for search in HOSTILE:  # one database for them all: each is a query, not a schema
        try:
            found = hit_titles(store, search=search)
        except SearchError as exc:  # said in plain words, never the database's own error
            message = str(exc).lower()
            if (
                not message.startswith("search ")
                or len(message) > 300
                or any(word in message for word in ("fts5", "tsquery", "sqlite", "psycopg", "syntax"))
            ):
                wrong.append((search, str(exc)))
        else:
            if not set(found) <= {FINLAND.title, GAZA.title, SUMMIT.title}:
                wrong.append((search, found))
    assert wrong == []
    assert len(hit_titles(store)) == 3  # and the database is intact


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(search=st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_search_any_text_is_a_search_or_a_clear_error(store: Store, search: str) -> None:
    with contextlib.suppress(SearchError):  # a search that cannot be read, said so; any other error fails
        list(History(store).articles(ArticleFilter(search=search)))


OPERATOR_WORDS = ["nato", "NATO", "AND", "OR", "NOT", "-", "(", ")", '"', "*", "title:", "gaza", "x:", "~2"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(OPERATOR_WORDS), max_size=12), glue=st.sampled_from(["", " "]))
def test_search_any_mix_of_operators_is_a_search_or_a_clear_error(
    store: Store, words: list[str], glue: str
) -> None:
    with contextlib.suppress(SearchError):
        list(History(store).hits(HitFilter(search=glue.join(words))))


def test_search_with_no_words_is_a_clear_error(store: Store) -> None:
    with pytest.raises(SearchError, match="no words to look for"):
        list(History(store).hits(HitFilter(search=" -- ** ")))


def test_search_index_follows_updates_and_deletes(store: Store) -> None:
    fill(store)
    with store.engine.begin() as db:
        db.execute(update(ARTICLES).where(ARTICLES.c.title == WEATHER.title).values(body=""))
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


def test_search_filters_refuse_a_search_that_cannot_be_read_when_made() -> None:
    """Before any database is opened: the CLI and the web app answer a typo at once."""
    with pytest.raises(SearchError, match="fuzzy matching"):
        HitFilter(search="nato~2")
    with pytest.raises(SearchError, match="a '\\(' is never closed"):
        ArticleFilter(search="(nato")
    assert HitFilter(search="nato") == HitFilter(search="nato")
    assert "written" not in repr(ArticleFilter(search="nato"))
