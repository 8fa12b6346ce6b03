"""The rule language, one behaviour per test: fields, metadata, proximity, wildcards, lemmas, prominence."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher, explain_article
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rulefile import RuleSpec, load_rules
from monitor.models import make_article
from tests.conftest import rule


def fires(
    pipelines: LanguagePipelines,
    spec: RuleSpec,
    body: str = "",
    *,
    title: str = "",
    lang: str = "it",
    source: str = "ANSA",
    url: str | None = None,
    tags: tuple[str, ...] = (),
) -> bool:
    matcher = ArticleMatcher(RuleIndex([spec], pipelines))
    article = make_article(
        title=title, body=body, language=lang, source=source, origin="t", url=url, tags=tags
    )
    return any(m.rule_id == spec.id for m in matcher.match(article))


def test_title_field_matches_only_the_title(pipelines: LanguagePipelines) -> None:
    spec = rule("r", 'title:"cessate il fuoco"')
    assert fires(pipelines, spec, title="Gaza, cessate il fuoco in vista", body="Nessuna notizia.")
    assert not fires(pipelines, spec, title="Gaza", body="Si parla di cessate il fuoco.")


def test_field_group_scopes_every_term(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "body:(Finlandia OR Svezia) AND title:NATO")
    assert fires(pipelines, spec, title="La NATO cresce", body="La Svezia entra.")
    assert not fires(pipelines, spec, title="La Svezia e la NATO", body="Niente.")


def test_lang_source_and_url_test_metadata(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "NATO AND lang:en AND source:reuters* AND url:/world/")
    url = "https://www.reuters.com/world/europe/x"
    assert fires(pipelines, spec, "NATO allies met.", lang="en", source="Reuters World", url=url)
    assert not fires(pipelines, spec, "NATO allies met.", lang="it", source="Reuters World", url=url)
    assert not fires(pipelines, spec, "NATO allies met.", lang="en", source="ANSA", url=url)
    assert not fires(pipelines, spec, "NATO allies met.", lang="en", source="Reuters", url="https://x.org/a")


def test_tag_tests_the_tags_of_the_articles_source(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "NATO AND (tag:esteri OR tag:difesa*)")
    assert fires(pipelines, spec, "La NATO si riunisce.", tags=("Esteri", "agenzie"))
    assert fires(pipelines, spec, "La NATO si riunisce.", tags=("difesa-europea",))
    assert not fires(pipelines, spec, "La NATO si riunisce.", tags=("cronaca",))
    assert not fires(pipelines, spec, "La NATO si riunisce.")


@pytest.mark.parametrize("query", ['"Finlandia Nato"~4', "Finlandia NEAR/4 Nato", "Nato NEAR/4 Finlandia"])
def test_proximity_within_n_words_in_any_order(pipelines: LanguagePipelines, query: str) -> None:
    spec = rule("r", query)
    assert fires(pipelines, spec, "La Finlandia, dopo mesi, entra nella Nato.")  # 4 words between
    assert fires(pipelines, spec, "La Nato accoglie la Finlandia.")
    assert not fires(pipelines, spec, "La Finlandia ha votato ieri sera di entrare nella Nato.")


def test_proximity_counts_words_not_punctuation(pipelines: LanguagePipelines) -> None:
    spec = rule("r", '"Finlandia Nato"~0')
    assert fires(pipelines, spec, "Finlandia, «Nato»: sì.")
    assert not fires(pipelines, spec, "Finlandia e Nato.")


def test_proximity_stays_within_one_field(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "Finlandia NEAR/5 Nato")
    assert not fires(pipelines, spec, "Nato è al centro.", title="Finlandia")


def test_proximity_with_alternatives_on_one_side(pipelines: LanguagePipelines) -> None:
    spec = rule("r", '(Finlandia OR Finland OR "Suomi") NEAR/2 (NATO OR "Alleanza atlantica")')
    assert fires(pipelines, spec, "Finland joins the Alleanza atlantica today.", lang="en")


def test_prefix_wildcard_matches_every_ending(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "negozia*")
    for word in ("negoziato", "negoziati", "negoziazione", "Negoziare"):
        assert fires(pipelines, spec, f"Il {word} continua."), word
    assert not fires(pipelines, spec, "Il rinegoziato continua.")


def test_inner_wildcards_match_one_or_many_letters(pipelines: LanguagePipelines) -> None:
    assert fires(pipelines, rule("r", "tregu?"), "Le tregue reggono.")
    assert not fires(pipelines, rule("r", "tregu?"), "La treguaa.")
    assert fires(pipelines, rule("r", "att*co"), "Un attacco.")


def test_lemmas_find_inflected_forms_in_italian(pipelines: LanguagePipelines) -> None:
    spec = rule("r", '"attacco aereo"', lemmas=True)
    assert fires(pipelines, spec, "Nuovi attacchi aerei nella notte.")
    assert not fires(pipelines, rule("r", '"attacco aereo"'), "Nuovi attacchi aerei nella notte.")


def test_lemmas_find_inflected_forms_in_english(pipelines: LanguagePipelines) -> None:
    assert fires(pipelines, rule("r", "attack", lemmas=True), "Drones attacked the port.", lang="en")


def test_min_mentions_requires_repeated_mentions(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "NATO OR Alleanza", min_mentions=3)
    assert not fires(pipelines, spec, "La NATO si riunisce. L'Alleanza decide.")
    assert fires(pipelines, spec, "La NATO si riunisce. L'Alleanza decide. La NATO conferma.")


def test_in_title_requires_a_mention_in_the_title(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "Finlandia", in_title=True)
    assert not fires(pipelines, spec, "La Finlandia vota.", title="Esteri")
    assert fires(pipelines, spec, "Il voto.", title="Finlandia, il voto")


@pytest.mark.parametrize(
    "text", ["Subito un cessate-il-fuoco.", "Un cessate il\nfuoco subito.", "cessate  il fuoco"]
)
def test_hyphens_and_line_breaks_do_not_hide_a_phrase(pipelines: LanguagePipelines, text: str) -> None:
    assert fires(pipelines, rule("r", '"cessate il fuoco"'), text)


@pytest.mark.parametrize(
    ("query", "text"), [("Kyiv", "A Kyïv."), ("Sojgu", "Šojgu parla."), ("Šojgu", "Sojgu")]
)
def test_accents_fold_both_ways(pipelines: LanguagePipelines, query: str, text: str) -> None:
    assert fires(pipelines, rule("r", query), text)


def test_acronym_in_capitals_does_not_match_the_lowercase_word(pipelines: LanguagePipelines) -> None:
    spec = rule("r", "NATO")
    assert fires(pipelines, spec, "Il vertice Nato.")
    assert not fires(pipelines, spec, "Il bambino è nato ieri.")


def test_concepts_are_declared_once_and_used_in_any_rule(
    tmp_path: Path, pipelines: LanguagePipelines
) -> None:
    (tmp_path / "concepts.yaml").write_text(
        "concepts:\n  finland: [Finlandia, Finland, Suomi, 'finlandes*']\n", encoding="utf-8"
    )
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - id: fin-nato\n    query: '@finland AND NATO'\n"
        "  - id: fin-title\n    query: 'title:@finland'\n",
        encoding="utf-8",
    )
    result = load_rules([tmp_path], ["console"])
    assert result.errors == [] and len(result.rules) == 2
    by_id = {spec.id: spec for spec in result.rules}
    assert fires(pipelines, by_id["fin-nato"], "I finlandesi e la NATO.")
    assert not fires(pipelines, by_id["fin-title"], "I finlandesi e la NATO.", title="Esteri")
    assert fires(pipelines, by_id["fin-title"], "", title="Suomi al voto")


def test_explain_shows_each_clause_and_where_terms_matched(pipelines: LanguagePipelines) -> None:
    index = RuleIndex([rule("r", "Finlandia AND NOT calcio AND lang:it")], pipelines)
    article = make_article(title="", body="La Finlandia vota.", language="it", source="s", origin="o")
    [explanation] = explain_article(index, article)
    assert explanation.fired
    lines = explanation.tree.lines()
    assert lines[0] == "✓ AND"
    assert "  ✓ Finlandia  @ body[3:12]" in lines
    assert "  ✓ NOT" in lines and "    ✗ calcio" in lines and "  ✓ lang:it" in lines


def test_explain_names_what_stopped_a_true_query(pipelines: LanguagePipelines) -> None:
    index = RuleIndex([rule("r", "Finlandia", min_mentions=2)], pipelines)
    article = make_article(title="", body="La Finlandia vota.", language="it", source="s", origin="o")
    [explanation] = explain_article(index, article)
    assert explanation.tree.value and not explanation.fired
    assert "min_mentions: 2" in explanation.reason


@pytest.fixture(scope="module")
def trained_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline folder with its own lemmatizer, as a trained package would bring."""
    import spacy

    nlp = spacy.blank("it")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    path = tmp_path_factory.mktemp("it_pipeline")
    nlp.to_disk(path)
    return path


def test_lemmas_use_a_configured_pipelines_own_lemmatizer(trained_pipeline: Path) -> None:
    pipelines = LanguagePipelines({"it": str(trained_pipeline)}, "it")
    assert pipelines.trained_lemmatizer("it")
    spec = rule("r", '"attacco aereo"', lemmas=True)
    index = RuleIndex([spec], pipelines)
    assert index.for_language("it").lemma_phrases  # lemmatised in context, not expanded from a table
    assert fires(pipelines, spec, "Nuovi attacchi aerei nella notte.")
    assert fires(pipelines, spec, "Un attacco aereo.")
    assert not fires(pipelines, spec, "Un attacco informatico.")
    assert not fires(pipelines, rule("r", '"attacco aereo"'), "Nuovi attacchi aerei nella notte.")
