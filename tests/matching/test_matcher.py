"""The matcher finds what a reader would find, in Italian and English, and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import MAX_HITS_PER_RULE, ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.models import Article, make_article
from tests.conftest import SEEDS, rule


def article(body: str, title: str = "", language: str = "it", summary: str = "") -> Article:
    return make_article(
        title=title, summary=summary, body=body, source="test", origin="test", language=language
    )


def fired(matcher: ArticleMatcher, art: Article) -> set[str]:
    return {m.rule_id for m in matcher.match(art)}


def test_matcher_phrase_across_line_break(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(cf='"cessate il fuoco"')
    art = article("Gli Usa chiedono il cessate il\nfuoco immediato e un altro cessate\r\n\r\n  il fuoco")
    [match] = matcher.match(art)
    assert [h.text for h in match.terms] == ["cessate il fuoco", "cessate il fuoco"]  # shown on one line
    first, second = match.terms
    assert art.body[first.start : first.end] == "cessate il\nfuoco"  # offsets point at the original
    assert art.body[second.start : second.end] == "cessate\r\n\r\n  il fuoco"


@pytest.mark.parametrize("text", ["appello al cessate-il-fuoco", "il Cessate-Il-Fuoco regge"])
def test_matcher_hyphenation_does_not_hide_a_phrase(
    make_matcher: Callable[..., ArticleMatcher], text: str
) -> None:
    assert fired(make_matcher(cf='"cessate il fuoco"'), article(text)) == {"cf"}


def test_matcher_hyphenated_query_matches_spaced_text(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(cf='"cessate-il-fuoco"', nato="anti-NATO")
    assert fired(matcher, article("il cessate il fuoco e le proteste anti NATO")) == {"cf", "nato"}
    assert fired(matcher, article("proteste anti-nato")) == set()  # the acronym still needs capitals


def test_matcher_phrase_words_must_be_adjacent(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(cf='"cessate il fuoco"')
    assert fired(matcher, article("cessate subito il fuoco")) == set()


def test_matcher_folds_accents_both_ways(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(kyiv="Kyiv", sojgu="Šojgu", citta="città")
    art = article("Da Kyïv, Sojgu e la citta", language="en")
    assert fired(matcher, art) == {"kyiv", "sojgu", "citta"}
    assert {h.text for m in matcher.match(art) for h in m.terms} == {"Kyïv", "Sojgu", "citta"}


def test_matcher_folds_letters_decomposition_keeps_both_ways(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    matcher = make_matcher(lodz="Lodz", lodz2="Łódź", strasse="strasse", gdansk="Gdańsk")
    written = "A Łódź e a Gdansk, la Straße e la ﬁnanza; poi Lodz."
    matches = {m.rule_id: m for m in matcher.match(article(written))}
    assert set(matches) == {"lodz", "lodz2", "strasse", "gdansk"}
    assert [h.text for h in matches["lodz"].terms] == ["Łódź", "Lodz"]
    assert [h.text for h in matches["lodz2"].terms] == ["Łódź", "Lodz"]
    [strasse] = matches["strasse"].terms
    assert (written[strasse.start : strasse.end], strasse.text) == ("Straße", "Straße")  # ß is one character


def test_matcher_finds_words_in_ligatures_and_full_width_letters(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    matcher = make_matcher(fin='"finanziamenti europei"', nato="NATO")
    written = "I ﬁnanziamenti europei e la ＮＡＴＯ"
    matches = {m.rule_id: m for m in matcher.match(article(written))}
    assert [h.text for h in matches["fin"].terms] == ["ﬁnanziamenti europei"]
    assert [h.text for h in matches["nato"].terms] == ["ＮＡＴＯ"]  # capitals, full width


def test_matcher_is_case_insensitive_for_ordinary_words(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(fin="finlandia")
    assert fired(matcher, article("FINLANDIA, la Finlandia e la finlandia")) == {"fin"}
    [match] = matcher.match(article("FINLANDIA, la Finlandia e la finlandia"))
    assert [h.text for h in match.terms] == ["FINLANDIA", "Finlandia", "finlandia"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("la guerra dell'Ucraina", "it"),
        ("la guerra dell’Ucraina", "it"),  # typographic apostrophe
        ("all'Ucraina e l’Ucraina", "en"),  # Italian elision inside an English article
        ("l'ucraina", "it"),
    ],
)
def test_matcher_elisions_do_not_hide_a_term(
    make_matcher: Callable[..., ArticleMatcher], text: str, language: str
) -> None:
    assert fired(make_matcher(ukr="Ucraina"), article(text, language=language)) == {"ukr"}


@pytest.mark.parametrize("language", ["en", "it"])
def test_matcher_possessives_do_not_hide_a_term(
    make_matcher: Callable[..., ArticleMatcher], language: str
) -> None:
    art = article("Finland's bid and Finland’s president", language=language)
    [match] = make_matcher(fin="Finland").match(art)
    assert [h.text for h in match.terms] == ["Finland", "Finland"]


def test_matcher_acronym_matches_capitals_not_the_italian_word(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    matcher = make_matcher(nato="NATO")
    assert fired(matcher, article("entrare nella Nato")) == {"nato"}
    assert fired(matcher, article("il vertice NATO di Vilnius")) == {"nato"}
    assert fired(matcher, article("È nato a Roma. Il bambino nato ieri.")) == set()
    assert fired(matcher, article("Una manifestazione anti-NATO")) == {"nato"}


def test_matcher_acronym_usa_is_not_the_verb(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(usa="USA")
    assert fired(matcher, article("Il governo usa la forza")) == set()
    assert fired(matcher, article("gli Usa e la Russia")) == {"usa"}


def test_matcher_lowercase_query_matches_any_case(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(nato="nato")
    assert fired(matcher, article("È nato a Roma")) == {"nato"}
    assert fired(matcher, article("nella NATO")) == {"nato"}


def test_matcher_not_excludes(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(fin="Finlandia NOT Svezia", fin2="Finlandia -calcio")
    assert fired(matcher, article("Finlandia e Svezia nella Nato")) == {"fin2"}
    assert fired(matcher, article("Finlandia nella Nato")) == {"fin", "fin2"}
    assert fired(matcher, article("Finlandia, il calcio")) == {"fin"}


def test_matcher_and_or_parentheses_and_juxtaposition(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(
        both='(Finlandia OR Finland) AND (NATO OR "Alleanza atlantica")', juxt="Finlandia NATO"
    )
    assert fired(matcher, article("Finland joins NATO", language="en")) == {"both"}
    assert fired(matcher, article("la Finlandia e l'Alleanza atlantica")) == {"both"}
    assert fired(matcher, article("la Finlandia nella Nato")) == {"both", "juxt"}
    assert fired(matcher, article("la Finlandia, da sola")) == set()


def test_matcher_does_not_match_inside_words(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(war="war", tregua="tregua")
    assert fired(matcher, article("the warden and the award", language="en")) == set()
    assert fired(matcher, article("tregue")) == set()


def test_matcher_reports_field_offsets_and_snippet(make_matcher: Callable[..., ArticleMatcher]) -> None:
    art = article("Un lungo testo. La tregua regge da ieri sera.", title="Tregua a Gaza")
    [match] = make_matcher(tregua="tregua").match(art)
    assert [(h.field, h.text) for h in match.terms] == [("title", "Tregua"), ("body", "tregua")]
    body_hit = match.terms[1]
    assert art.body[body_hit.start : body_hit.end] == "tregua"
    assert "tregua regge" in match.snippet


def test_matcher_rule_languages_filter(pipelines: object) -> None:
    from monitor.matching.compiler import RuleIndex
    from tests.conftest import rule

    matcher = ArticleMatcher(RuleIndex([rule("it-only", "Nato", languages=("it",))], pipelines))  # type: ignore[arg-type]
    assert fired(matcher, article("nella Nato", language="it")) == {"it-only"}
    assert fired(matcher, article("in the Nato", language="en")) == set()


def test_matcher_seed_article_fires_every_shipped_rule(pipelines: object) -> None:
    from pathlib import Path

    from monitor.matching.compiler import RuleIndex
    from monitor.matching.rulefile import load_rules
    from monitor.sources.files import read_article_file

    rules = load_rules([Path(__file__).resolve().parents[2] / "rules"])
    assert not rules.problems
    seed = next(SEEDS.glob("*.txt"))
    [art] = read_article_file(seed, seed.read_bytes(), source="seeds", language="it")
    matcher = ArticleMatcher(RuleIndex(rules.rules, pipelines))  # type: ignore[arg-type]
    assert fired(matcher, art) == {r.id for r in rules.rules}
    nato = next(m for m in matcher.match(art) if m.rule_id == "nato")
    assert nato.matched_texts == ["Nato"]


def test_matcher_memory_stays_flat_after_warmup(
    make_matcher: Callable[..., ArticleMatcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.matching.matcher as matcher_module

    monkeypatch.setattr(matcher_module, "WARMUP_ARTICLES", 1)
    matcher = make_matcher(cf='"cessate il fuoco"', nato="NATO")
    nlp = matcher.index.pipelines.article_nlp("it")
    matcher.match(article("riscaldamento iniziale"))  # warm-up batch, outside a memory zone
    before = len(nlp.vocab.strings)
    for n in range(30):
        # each new word holds an anchor's first word (nato), so spaCy must cut it
        novel = " ".join(f"nato{n}x{k}" for k in range(50))
        fired_rules = {m.rule_id for m in matcher.match(article(f"{novel} nella Nato e cessate il fuoco"))}
        assert fired_rules == {"cf", "nato"}
    assert len(nlp.vocab.strings) - before < 50  # 3,000 new words seen, none kept


def test_matcher_handles_articles_longer_than_spacys_default_limit(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    body = "Testo lungo sulla Nato e altro ancora. " * 30_000  # 1.2 million characters
    [match] = make_matcher(nato="NATO").match(article(body))
    assert len(match.terms) == MAX_HITS_PER_RULE  # the evidence kept per rule is capped
    assert match.terms[0].text == "Nato"


def test_matcher_renews_the_pipeline_after_many_new_words(monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.matching.matcher as matcher_module

    monkeypatch.setattr(matcher_module, "WARMUP_ARTICLES", 1)
    monkeypatch.setattr(matcher_module, "RENEW_AFTER_WORDS", 400)
    pipelines = LanguagePipelines({"it": "blank"}, "it")  # its own: renewing it touches no other test
    specs = [rule("cf", '"cessate il fuoco"'), rule("nato", "NATO"), rule("neg", "negozia*")]
    matcher = ArticleMatcher(RuleIndex(specs, pipelines))
    first = pipelines.article_nlp("it")
    matcher.match(article("riscaldamento iniziale"))  # warm-up batch, outside a memory zone
    used = set()
    for n in range(40):
        # each new word holds an anchor's first word (nato), so spaCy must cut it
        novel = " ".join(f"nato{n}x{k}" for k in range(50))
        nlp = pipelines.article_nlp("it")
        used.add(id(nlp))
        matches = matcher.match(article(f"{novel} nella Nato: negoziati per il cessate il fuoco"))
        assert {m.rule_id for m in matches} == {"cf", "nato", "neg"}
        assert all(h.text in {"Nato", "negoziati", "cessate il fuoco"} for m in matches for h in m.terms)
    assert pipelines.article_nlp("it") is not first
    assert len(used) >= 3  # renewed more than once, and every fresh pipeline warmed up and matched


def test_matcher_swapped_index_finds_its_terms_in_words_the_vocabulary_already_knows() -> None:
    """Which words start a term is kept on spaCy's lexemes: a new index must mark them again."""
    pipelines = LanguagePipelines({"it": "blank"}, "it")
    old = RuleIndex([rule("finland", "Finlandia")], pipelines).build(["it"])
    new = RuleIndex([rule("talks", "negozia* OR Nato"), rule("phrase", '"vertice della Nato"')], pipelines)
    text = article("La Finlandia al vertice della Nato: si negoziano le basi.")
    matcher = ArticleMatcher(old)
    assert fired(matcher, text) == {"finland"}  # every word of the text now has a lexeme
    matcher.swap(new.build(["it"]))
    assert fired(matcher, text) == {"talks", "phrase"}
    matcher.swap(old)
    assert fired(matcher, text) == {"finland"}


def test_matcher_vocabulary_does_not_keep_a_swapped_out_index_alive() -> None:
    import gc
    import weakref

    pipelines = LanguagePipelines({"it": "blank"}, "it")
    matcher = ArticleMatcher(RuleIndex([rule("a", "negozia*")], pipelines).build(["it"]))
    matcher.match(article("si negozia"))
    table = weakref.ref(matcher.index.for_language("it"))
    matcher.swap(RuleIndex([rule("b", "Nato")], pipelines).build(["it"]))
    gc.collect()
    assert table() is None
    assert fired(matcher, article("la Nato negozia")) == {"b"}


def test_matcher_chunk_memory_stays_bounded_and_still_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.matching import chunks, scan

    monkeypatch.setattr(scan, "CHUNK_MEMORY_LIMIT", 50)
    monkeypatch.setattr(chunks, "CHUNK_CACHE_LIMIT", 50)
    pipelines = LanguagePipelines({"it": "blank"}, "it")
    matcher = ArticleMatcher(RuleIndex([rule("neg", "negozia*")], pipelines).build(["it"]))
    words = " ".join(f"negoziazione{i} parola{i}" for i in range(500))
    [match] = matcher.match(article(words))
    assert len(match.terms) == MAX_HITS_PER_RULE  # every word matched, the first ones reported
    table = matcher.index.for_language("it")
    assert len(table.plain) <= 50 and len(table.chunk_anchors) <= 50
    assert len(pipelines.chunks("it")) <= 100  # two generations
    assert fired(matcher, article("si negoziava ancora")) == {"neg"}
    assert fired(matcher, article("negoziazione3 e negoziazione499")) == {"neg"}


def test_chunk_cache_turning_over_keeps_the_chunks_still_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every article brings new words; when the cache is full, a common chunk met again must not
    # be cut by spaCy again, as when the cache started over.
    from monitor.matching import chunks

    monkeypatch.setattr(chunks, "CHUNK_CACHE_LIMIT", 10)
    pipelines = LanguagePipelines({"it": "blank"}, "it")
    tokenizer = chunks.ChunkTokenizer(lambda: pipelines.article_nlp("it"))
    cut: list[str] = []
    original = chunks.ChunkTokenizer.cut

    def counting(self: chunks.ChunkTokenizer, asked: list[str]) -> list[chunks.Chunk]:
        cut.extend(asked)
        return original(self, asked)

    monkeypatch.setattr(chunks.ChunkTokenizer, "cut", counting)
    for article_number in range(20):  # new chunks, the common one asked in every article
        asked = [f"negoziazione{article_number}x{new}," for new in range(3)] + ["dell'ucraina"]
        assert tokenizer.all(asked)[-1] == (("dell'", "ucraina"), (0, 5), 0, 2)
    assert cut.count("dell'ucraina") == 1
    assert len(tokenizer) <= 20


def test_matcher_finds_the_terms_that_wake_no_rule_once_their_rule_is_woken() -> None:
    # Finlandia is the anchor of each rule (a name is rarer than a lowercase word); the other
    # terms are looked up only when a rule is woken, and must be found as the scan would.
    pipelines = LanguagePipelines({"it": "blank"}, "it")
    specs = [
        rule("wild", "Finlandia AND negozia*"),
        rule("phrase", 'Finlandia AND (tregua OR "cessate il fuoco")'),
        rule("acronym", "Finlandia AND NATO"),
        rule("near", "Finlandia NEAR/3 adesione"),
    ]
    index = RuleIndex(specs, pipelines).build(["it"])
    table = index.for_language("it")
    assert {index.key_terms[key].text for key in table.lazy_keys} == {
        "negozia*",
        "tregua",
        "cessate il fuoco",
        "NATO",
        "adesione",
    }
    matcher = ArticleMatcher(index)
    text = "La Finlandia negoziava l'adesione alla NATO: il cessate\nil fuoco regge, si negozia ancora."
    matches = {m.rule_id: m for m in matcher.match(article(text))}
    assert set(matches) == {"wild", "phrase", "acronym", "near"}
    hits = {(h.term, h.text, h.start) for h in matches["wild"].terms}
    later = text.index("negozia ancora")
    assert hits == {
        ("Finlandia", "Finlandia", 3),
        ("negozia*", "negoziava", 13),
        ("negozia*", "negozia", later),
    }
    [cf] = [h for h in matches["phrase"].terms if h.term == "cessate il fuoco"]
    assert text[cf.start : cf.end] == "cessate\nil fuoco"
    assert fired(matcher, article("La Finlandia e la nato: cessate il tiro, adesione lontana")) == set()
    assert fired(matcher, article("Si negozia il cessate il fuoco alla NATO")) == set()  # no anchor, no rule


@pytest.mark.parametrize("language", ["it", "en"])
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("A loan of US$1 billion", "US"),
        ("Un prestito (US$171-million) agli alleati", "US"),
        ("ESET detects it as Android/Filecoder.C, a ransomware", "Filecoder"),
        ("Il malware Win32/Filecoder.NSB cifra i file", "Filecoder"),
        ("Filecoder ransomware spreads", "Filecoder"),
    ],
)
def test_matcher_finds_a_word_whatever_symbol_or_dot_is_glued_to_it(
    make_matcher: Callable[..., ArticleMatcher], language: str, text: str, found: str
) -> None:
    matcher = make_matcher(us="US", filecoder="Filecoder")
    [match] = matcher.match(article(text, language=language))
    assert [h.text for h in match.terms] == [found]


def test_matcher_does_not_find_words_inside_addresses(make_matcher: Callable[..., ArticleMatcher]) -> None:
    matcher = make_matcher(rossi="Rossi", nato="nato")
    text = "Scrivere a mario.rossi@example.com o leggere https://www.nato.int/cps/it/natohq/index.htm"
    assert fired(matcher, article(text)) == set()
    assert fired(matcher, article("Il sito nato.int e Mario Rossi")) == {
        "rossi",
        "nato",
    }  # a bare domain is words


def test_matcher_us_abbreviation_with_dots_stays_one_word(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    matcher = make_matcher(us="US", usdots='"U.S."')
    assert fired(matcher, article("U.S. officials said", language="en")) == {"usdots"}
    assert fired(matcher, article("US officials said", language="en")) == {"us"}


@pytest.mark.parametrize(
    "text",
    [
        "Inchiesta sulla 'ndrangheta in Lombardia",
        "Inchiesta sulla ’ndrangheta in Lombardia",
        "'Ndrangheta, arresti",
    ],
)
def test_matcher_word_opening_with_an_apostrophe_is_found(
    make_matcher: Callable[..., ArticleMatcher], text: str
) -> None:
    matcher = make_matcher(mafia="'ndrangheta")
    assert fired(matcher, article(text)) == {"mafia"}
    assert fired(matcher, article("la ndrangheta senza apostrofo")) == {"mafia"}


@pytest.mark.parametrize("others", [0, 12])  # few second words: looked for in the text first
def test_matcher_phrase_whose_first_word_begins_other_phrases(others: int) -> None:
    pipelines = LanguagePipelines({"it": "blank"}, "it")
    specs = [rule("cf", '"cessate il fuoco"'), rule("mr", '"Mario Rossi"')]
    specs += [rule(f"o{i}", f'"cessate ogni{i} cosa" OR "Mario Bianchi{i}"') for i in range(others)]
    matcher = ArticleMatcher(RuleIndex(specs, pipelines))
    text = "Cessate  il fuoco, dice Mario\n\nRossi; il cessate, il fuoco no; Mario Rossi's e (Mario)Rossi"
    matches = {m.rule_id: m for m in matcher.match(article(text))}
    assert set(matches) == {"cf", "mr"}
    assert [h.text for h in matches["cf"].terms] == ["Cessate il fuoco"]
    assert [h.text for h in matches["mr"].terms] == ["Mario Rossi", "Mario Rossi"]
