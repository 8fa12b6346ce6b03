"""The backtest's prefilter: what it leaves out is never an article a rule fires on.

Every test runs a prefiltered backtest and a full scan over the same real store (SQLite, and
PostgreSQL with MONITOR_TEST_DATABASE_URL) and wants the same matches: same articles, same
rules, same terms, same snippets.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.folding import fold_plain
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rulefile import RuleSpec
from monitor.models import make_article
from monitor.pipeline import prefilter as prefilter_module
from monitor.pipeline.backtest import scan
from monitor.pipeline.formula import AllOf, AnyOf, Word
from monitor.pipeline.prefilter import Prefilter
from monitor.pipeline.sieve import TextSieve
from monitor.store.repo import Routed, Store
from monitor.store.searchindex import PG_BODY_INDEXED
from tests.conftest import rule

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
LONG = "parolalunghissima " * (PG_BODY_INDEXED // 18 + 1) + "Finlandia e NATO."  # beyond PostgreSQL's index

# (origin, title, body, language): Italian and English, elisions, hyphens, folding the index does
# otherwise (ß, Ł, ligatures, soft hyphens, full-width, decomposed accents), the tokens spaCy
# cuts out of longer words (cannot, 10km), PostgreSQL's compound tokens (hosts, signed numbers).
ARTICLES: list[tuple[str, str, str, str | None]] = [
    ("it-nato", "La NATO a Vilnius", "Il vertice della Nato. Un bambino è nato ieri.", "it"),
    ("it-anti", "Proteste anti-NATO", "Cortei anti-NATO a Roma, anti–Nato a Milano.", "it"),
    ("en-nato", "NATO's summit", "The NATO summit in Vilnius; Finland joined NATO.", "en"),
    ("it-elision", "L’ONU e l'Onu", "Dopo dell’invasione russa, l'ONU chiede una tregua.", "it"),
    ("it-cessate", "Cessate il fuoco", "Si parla di cessate-il-fuoco e di un cessate, il fuoco.", "it"),
    ("it-gaza", "Tregua", "Le parti hanno detto: cessate il fuoco a Gaza.", "it"),
    ("fi-strasse", "Straße", "Die Straße in Łódź ist lang.", "fi"),  # a language no tokenizer was read for
    ("it-lodz", "Łódź", "A Łódź la Straße è lunga.", "it"),
    ("it-lodz-ascii", "Lodz", "A Lodz la strasse è lunga.", "it"),
    ("it-ligature", "ﬁnlandia", "La ﬁnlandia e la Fin\u00adlandia, la Fin\u200blandia.", "it"),
    ("it-fullwidth", "ＮＡＴＯ", "Il vertice ＮＡＴＯ e la 𝐍𝐀𝐓𝐎.", "it"),
    ("it-nfd", "Perche\u0301", "Perche\u0301 no? Perché sì.", "it"),
    ("it-negoziati", "Negoziati", "I negoziati e il negoziato, rinegoziare tutto.", "it"),
    ("it-cessati", "Cessati", "Sono cessati gli scontri; cessate le ostilità.", "it"),
    ("en-cannot", "Cannot", "They cannot go. We can not stop. Don't do it, gonna go.", "en"),
    ("en-units", "10km", "A 10km race, 10 km long, 5kg, 2024a, the G7 summit, G7s, 3pm.", "en"),
    (
        "en-numbers",
        "3.5 million",
        "3.5 million U.S. Army troops, 1,000 men, 10-20 days, -20 degrees, +39.",
        "en",
    ),
    (
        "en-hosts",
        "nato.int",
        "See nato.int/news and press.nato.int, info@nato.int, /usr/nato/x, ~nato.",
        "en",
    ),
    ("en-covid", "covid-19", "The covid-19 wave, covid19 and 19-covid.", "en"),
    ("en-tags", "<b>NATO</b>", "&amp;nato &nato; <nato> tag.", "en"),
    ("en-stop", "The end", "The end of the war; it is what it is.", "en"),
    ("it-stop", "Il fine", "Il fine della guerra, di cui si parla.", "it"),
    ("none-lang", "Finlandia", "La Finlandia entra nella Nato.", None),
    ("fi-lang", "Suomi", "Suomi liittyi Natoon ja NATO kasvoi.", "fi"),
    ("it-mixed", "10città", "Le 10città e la 2ªguerra, città.", "it"),
    ("it-weather", "Meteo", "Pioggia su Roma, sole a Milano.", "it"),
    ("en-weather", "Weather", "Rain in London, sun in Leeds.", "en"),
    ("it-long", "Lungo", LONG, "it"),
    ("it-suomi", "Suomi", "Suomi e Alleanza atlantica.", "it"),
    ("en-possessive", "Finland's NATO", "Finland's entry in NATO's ranks.", "en"),
    ("it-po", "Un po'", "Un po' di più, un po’ di meno.", "it"),
    ("it-ucraina", "Dell'Ucraina", "La guerra dell’Ucraina, l'UCRAINA e nell'UE.", "it"),
    ("it-hyphens", "Filo-russi", "I filo-russi e i filorussi; l'ex-premier, 5-0 e 3-a.", "it"),
    ("en-usa", "USA", "The USA said so; we usa nothing, Usa too.", "en"),
    ("it-usa", "Usa", "Gli Usa e gli USA; lui usa la penna.", "it"),
    ("it-balaton", "Balaton", "Il lago Balaton, una balata, BALATA e 10balata.", "it"),
    ("it-underscore", "nato_summit", "Il nato_summit e #nato, @nato.", "it"),
    ("it-fields", "Cessate", "il fuoco a Gaza.", "it"),  # a phrase across two fields matches nothing
    ("en-units-2", "5G", "5G networks, km3 and 4x4 cars, 10kmh.", "en"),
]

QUERIES = [
    "NATO",
    "nato",
    '"cessate il fuoco"',
    "cessate-il-fuoco",
    "dell'invasione",
    "l'onu",
    "Strasse",
    "Straße",
    "lodz",
    "Łódź",
    "finlandia",
    "perche",
    "negozia*",
    "ne?oziato",
    "*goziato",
    "cessat*",
    "not",
    "can",
    "do",
    "don't",
    "km",
    "10",
    "g7",
    "G7*",
    "pm",
    "3.5",
    "million",
    "u.s",
    "army",
    "int",
    "press",
    "news",
    "usr",
    "20",
    "39",
    "19",
    "covid",
    "amp",
    "tag",
    "the",
    "the OR zzzz",
    "il OR zzzz",
    '"di cui"',
    "it is",
    "guerra",
    "citta",
    "po'",
    "Finland's",
    "parolalunghissima",
    "NATO AND NOT Vilnius",
    "NOT Vilnius",  # no word to look for: the prefilter must read everything
    "lang:en AND nato",
    "nato OR lang:fi",
    '"Finlandia NATO"~5',
    "Finlandia NEAR/3 Nato",
    "title:NATO",
    "summary:nato OR body:guerra",
    "(Finlandia OR Suomi) AND (NATO OR Alleanza)",
    "Putin OR Путин",
    "ucraina",
    "dell'Ucraina",
    "ucrain*",
    "nell'UE",
    "ue",
    "filo-russi",
    "filorussi",
    "russi",
    "ex-premier",
    "premier",
    "USA",
    "usa",
    "balat*",
    "title:balat*",
    "BALAT*",
    "10b*",
    "4x*",
    "km*",
    "kg*",
    "kmh*",
    "ba*",
    "citt*",
    "perch*",
    "nato_summit",
    "summit",
    "5g",
    "km3",
    "kmh",
    '"cessate fuoco"~3',
    "cessate NEAR/2 fuoco",
    "title:cessate AND body:fuoco",
    "(nato OR usa) AND NOT vilnius",
]
EXTRA: list[tuple[str, dict[str, Any]]] = [
    ("negoziato", {"lemmas": True}),
    ("rain OR pioggia", {"languages": ("en",)}),
    ("nato", {"min_mentions": 2}),
    ("nato", {"in_title": True}),
]


def specs() -> list[RuleSpec]:
    plain = [rule(f"q{i}", query) for i, query in enumerate(QUERIES)]
    return plain + [rule(f"x{i}", query, **extra) for i, (query, extra) in enumerate(EXTRA)]  # type: ignore[arg-type]


def fill(store: Store, articles: list[tuple[str, str, str, str | None]]) -> None:
    stored = [
        make_article(title=title, body=body, source="test", origin=origin, language=language)
        for origin, title, body, language in articles
    ]
    store.record([Routed(a, []) for a in stored], [], NOW)


Found = list[tuple[str, str, list[str], str]]  # (article origin, rule, terms, snippet), sorted


def backtest(
    store: Store, pipelines: LanguagePipelines, rules: list[RuleSpec], prefilter: Prefilter | None
) -> tuple[Found, int]:
    """The matches, and how many articles were matched (``prefilter`` None: a full scan)."""
    matcher = ArticleMatcher(RuleIndex(rules, pipelines))
    query = prefilter.query(rules) if prefilter is not None else None
    found, matched = [], 0
    for _covered, matching in scan(store, matcher, query, None, chunk=7):
        for stored, matches in matching():
            matched += 1
            found += [(stored.article.origin, m.rule_id, list(m.matched_texts), m.snippet) for m in matches]
    return sorted(found), matched


def each_rule_finds_what_a_full_scan_finds(
    store: Store, pipelines: LanguagePipelines, rules: list[RuleSpec]
) -> int:
    """Each rule backtested alone (as the playground does) against one full scan of them all
    (a rule's matches do not depend on the others in its index); how many read fewer articles."""
    full, everything = backtest(store, pipelines, rules, None)
    prefilter = Prefilter(pipelines)
    fewer = 0
    for spec in rules:
        fast, read = backtest(store, pipelines, [spec], prefilter)
        assert fast == [m for m in full if m[1] == spec.id], spec.query
        fewer += read < everything
    assert backtest(store, pipelines, rules, prefilter)[0] == full  # all at once, as `monitor rules backtest`
    return fewer


def test_backtest_prefilter_finds_what_a_full_scan_finds(store: Store, pipelines: LanguagePipelines) -> None:
    fill(store, ARTICLES)
    rules = specs()
    assert each_rule_finds_what_a_full_scan_finds(store, pipelines, rules) > len(rules) // 2


def test_backtest_prefilter_reads_everything_for_rules_no_word_can_find(pipelines: LanguagePipelines) -> None:
    prefilter = Prefilter(pipelines)
    for query, extra in [
        ("NOT Vilnius", {}),
        ("nato OR lang:fi", {}),
        ("*goziato", {}),
        ("Putin OR Путин", {}),
        ("negoziato", {"lemmas": True}),
        ("km", {}),  # cut off numbers (10km): the index holds 10km, not km
        ("not", {}),  # English cuts cannot into can|not
    ]:
        assert prefilter.query([rule("r", query, **extra)]) is None, query  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("NATO", Word("nato")),
        ('"cessate il fuoco"', AllOf((Word("cessate"), Word("il"), Word("fuoco")))),
        ("cessate-il-fuoco", AllOf((Word("cessate"), Word("il"), Word("fuoco")))),
        ("dell’invasione", AllOf((Word("dell"), Word("invasione")))),
        ("Straße OR Łódź", AnyOf((Word("strasse"), Word("lodz")))),
        ("negozia*", Word("negozia", prefix=True)),
        ("G7", Word("g7", prefix=True)),  # a unit may follow a number: g7km
        ("u.s", AllOf((Word("u"), Word("s")))),
        ("NATO AND NOT Vilnius", Word("nato")),
        ('"Finlandia NATO"~5', AllOf((Word("finlandia"), Word("nato")))),
    ],
)
def test_backtest_prefilter_asks_for_the_words_of_every_token(
    pipelines: LanguagePipelines, query: str, words: Any
) -> None:
    found = Prefilter(pipelines).query([rule("r", query)])
    assert found is not None and set(found.formulas) == {words}


def test_backtest_prefilter_loosens_tokens_spacy_cuts_out_of_longer_words(
    pipelines: LanguagePipelines,
) -> None:
    """English cuts cannot into can|not and don't into do|n't: can and do may begin an indexed word."""
    found = Prefilter(pipelines).query([rule("r", "can OR do")])
    assert found is not None
    english = AnyOf((Word("can", prefix=True), Word("do", prefix=True)))
    assert english in found.formulas


def test_backtest_prefilter_lets_a_wildcard_begin_right_after_a_digit(pipelines: LanguagePipelines) -> None:
    """10km may be cut into 10|km, which km* matches: the sieve keeps an article holding 10km."""
    found = Prefilter(pipelines).query([rule("r", "km*")])
    assert found is not None and found.after_digit
    assert TextSieve(found.formulas, after_digit=True).passing([("A 10km race", "", "")]) == [True]
    assert not Prefilter(pipelines).query([rule("r", "nato")]).after_digit  # type: ignore[union-attr]


# -- generated articles and rules --------------------------------------------------------------------
PIECES = [
    "nato", "NATO", "Nato", "gaza", "tregua", "cessate", "fuoco", "l'", "dell’", "un", "po'", "il", "the",
    "can", "not", "cannot", "don't", "10", "2024", "km", "5kg", "g7", "3.5", "1,000", "-20", "+39",
    "covid", "19", "nato.int", "u.s.", "info@nato.int", "/usr/nato", "anti-", "-", "–", ".", ",", ";",
    "(", ")", "«", "»", '"', "Straße", "strasse", "Łódź", "lodz", "ﬁn", "fin", "\u00ad", "\u200b",
    "perché", "perche\u0301", "città", "10città", "ＮＡＴＯ", "&amp;", "<b>", "</b>", "négociation",
    "negozia", "negoziati", "rinegoziare", "Finland's", "ecco", "a", "e", "è", "gonna", "10am", "3pm",
]  # fmt: skip


def generated_text(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        out.append(rng.choice(PIECES))
        out.append(rng.choice(["", " ", " ", " ", "\n"]))  # pieces glued together as often as not
    return "".join(out)


def test_backtest_prefilter_knows_every_cut_spacy_makes_inside_a_word(pipelines: LanguagePipelines) -> None:
    """A token glued to a letter or digit in the text was cut out of a longer word by spaCy: the
    prefilter must say so (after a letter, only the tokenizer's exceptions cut: wildcards rely on it)."""
    rng = random.Random(5)
    prefilter = Prefilter(pipelines)
    for _ in range(2000):
        folded = fold_plain(generated_text(rng, 8))
        for lang in ("it", "en"):
            for token in pipelines.article_nlp(lang).tokenizer(folded):
                word, start = token.text, token.idx
                before, after = folded[start - 1 : start], folded[start + len(word) : start + len(word) + 1]
                if word[:1].isalnum() and before.isalnum():
                    assert prefilter.cut_before(word, lang), (folded, word)
                    assert before.isdecimal() or word in prefilter.cut_pieces(lang), (folded, word)
                if word[-1:].isalnum() and after.isalnum():
                    assert prefilter.cut_after(word, lang), (folded, word)


def test_backtest_prefilter_finds_what_a_full_scan_finds_on_generated_text(
    store: Store, pipelines: LanguagePipelines
) -> None:
    rng = random.Random(24)
    articles = [
        (f"g{n}", generated_text(rng, 6), generated_text(rng, 40), rng.choice(["it", "en", None]))
        for n in range(120)
    ]
    fill(store, articles)
    # rules made of what the matcher sees: the tokens of the generated texts, alone, in phrases, as prefixes
    tokens = sorted(
        {
            t.text
            for _, title, body, _ in articles
            for t in pipelines.article_nlp("it").tokenizer(body.lower())
        }
        - {" ", "\n"}
    )
    words = [t for t in tokens if any(c.isalnum() for c in t) and '"' not in t and "\\" not in t]
    queries = [f'"{w}"' for w in rng.sample(words, 25)]
    queries += [f'"{a} {b}"' for a, b in zip(rng.sample(words, 10), rng.sample(words, 10), strict=True)]
    queries += [f"{w[:3]}*" for w in rng.sample([w for w in words if len(w) >= 3 and w[:3].isalnum()], 10)]
    each_rule_finds_what_a_full_scan_finds(
        store, pipelines, [rule(f"g{i}", q) for i, q in enumerate(queries)]
    )


def test_backtest_prefilter_remembers_a_bounded_number_of_tokens(
    pipelines: LanguagePipelines, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web app meets every query typed in its playground: the tokens' formulas it remembers stay
    few, the least recently used forgotten, and a query after that reads as before."""
    monkeypatch.setattr(prefilter_module, "KEPT_TOKENS", 5)
    prefilter = Prefilter(pipelines)
    for n in range(20):
        prefilter.query([rule("r", f"parola{n}x OR altra{n}x")])
        assert prefilter.remembered() <= 5
    found = prefilter.query([rule("r", "nato")])
    assert found is not None and set(found.formulas) == {Word("nato")}
