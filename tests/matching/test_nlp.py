"""Language pipelines: blank by default, a configured pipeline when installed, a clear error when not."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError
from monitor.matching.nlp import MATCHING_TOKENIZER, LanguagePipelines, load_model
from monitor.models import make_article
from monitor.sources.language import LanguageGuesser

TERM_CHARS = string.ascii_lowercase + string.digits + "'-."
PATTERN_PIPELINES = LanguagePipelines({"it": "blank", "en": "blank"}, "it")


def test_nlp_missing_trained_pipeline_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="it_core_news_sm' is not installed"):
        LanguagePipelines({"it": "it_core_news_sm"}, "it").check()


def test_nlp_configured_pipeline_folder_is_used(tmp_path: Path) -> None:
    saved = spacy.blank("it")
    saved.add_pipe("sentencizer")
    saved.to_disk(tmp_path / "it_pipeline")
    nlp = load_model("it", str(tmp_path / "it_pipeline"))
    assert "sentencizer" in nlp.pipe_names
    assert [t.text for t in nlp.make_doc("dell'ucraina anti-nato")] == [
        "dell'",
        "ucraina",
        "anti",
        "-",
        "nato",
    ]


@pytest.mark.parametrize("lang", ["it", "en", "zz"])
def test_nlp_blank_pipeline_is_made_with_the_matching_tokenizer_from_the_start(lang: str) -> None:
    """Built once with every setting and the language's special cases, not spaCy's default
    tokenizer tuned afterwards (each change of a setting loads every special case again)."""
    nlp = LanguagePipelines({}, "it").article_nlp(lang)
    assert nlp.config["nlp"]["tokenizer"]["@tokenizers"] == MATCHING_TOKENIZER
    tokenizer = nlp.tokenizer
    assert tokenizer.token_match is None and tokenizer.url_match is not None
    assert tokenizer.rules == spacy.blank(nlp.lang).tokenizer.rules  # the language's own exceptions


def test_nlp_pipeline_for_another_language_is_refused(tmp_path: Path) -> None:
    spacy.blank("en").to_disk(tmp_path / "en_pipeline")
    with pytest.raises(ConfigError, match="is for language 'en'"):
        load_model("it", str(tmp_path / "en_pipeline"))


def test_nlp_unknown_language_falls_back_to_multilingual_tokenizer() -> None:
    pipelines = LanguagePipelines({}, "it")
    assert [t.text for t in pipelines.article_nlp("zz").make_doc("l'onu e la nato")][:2] == ["l'", "onu"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Il presidente russo ha minacciato altri Paesi, tra tutti la Finlandia.", "it"),
        ("Finland joined the alliance on Tuesday, ending decades of neutrality.", "en"),
    ],
)
def test_language_guesser_detects_among_configured_languages(text: str, expected: str) -> None:
    guesser = LanguageGuesser(["it", "en"], default="it")
    article = make_article(title="", body=text, source="t", origin="t")
    assert guesser.ensure(article).language == expected


def test_language_guesser_keeps_declared_language_and_defaults_on_empty_text() -> None:
    guesser = LanguageGuesser(["it", "en"], default="it")
    declared = make_article(title="Finland joins NATO", source="t", origin="t", language="en-GB")
    assert guesser.ensure(declared).language == "en"
    assert guesser.guess("   ") == "it"


def test_language_guesser_detects_a_batch_as_it_detects_each_article() -> None:
    guesser = LanguageGuesser(["it", "en", "de", "fr"], default="it")
    texts = [
        "Il presidente russo ha minacciato altri Paesi, tra tutti la Finlandia.",
        "",
        "Finland joined the alliance on Tuesday, ending decades of neutrality.",
        "Die Regierung in Helsinki beantragt den Beitritt zur Nato.",
        " \n\t ",
        "Le gouvernement finlandais a demandé l'adhésion à l'Otan.",
        "NATO",
    ]
    articles = [make_article(title="", body=t, source="t", origin=str(i)) for i, t in enumerate(texts)]
    articles.append(make_article(title="Finland joins NATO", source="t", origin="d", language="de"))
    batch = guesser.ensure_all(articles)
    assert [a.language for a in batch] == [guesser.ensure(a).language for a in articles]
    assert [a.language for a in batch][:6] == ["it", "it", "en", "de", "it", "fr"]
    assert batch[-1].language == "de"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=TERM_CHARS, min_size=1, max_size=8), max_size=3))
def test_pattern_shortcut_cuts_terms_as_the_tokenizer_does(words: list[str]) -> None:
    from monitor.matching.compiler import pattern_tokens

    for lang in ("it", "en"):
        nlp = PATTERN_PIPELINES.pattern_nlp(lang)
        text = " ".join(words)
        assert pattern_tokens(nlp, text) == [(t.text, t.idx) for t in nlp.tokenizer(text) if not t.is_space]


def _words(lang: str, text: str) -> list[str]:
    from monitor.folding import fold_plain

    return [t.text for t in PATTERN_PIPELINES.article_nlp(lang).tokenizer(fold_plain(text)) if not t.is_space]


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("US$1 billion", ["us", "$", "1", "billion"]),
        ("(US$171-million)", ["(", "us", "$", "171", "-", "million", ")"]),
        ("HK$9 e R$2", ["hk", "$", "9", "e", "r", "$", "2"]),
        ("Android/Filecoder.C", ["android", "/", "filecoder", ".", "c"]),
        ("Win32/Filecoder.NSB", ["win32", "/", "filecoder", ".", "nsb"]),
        ("la crisi in Ucraina.Il governo", ["la", "crisi", "in", "ucraina", ".", "il", "governo"]),
        (
            "Dolce&Gabbana, Windows™, 100%Usa",
            ["dolce", "&", "gabbana", ",", "windows", "™", ",", "100", "%", "usa"],
        ),
        (
            "Nato→Ue, Usa|Cina, Usa+Cina",
            ["nato", "→", "ue", ",", "usa", "|", "cina", ",", "usa", "+", "cina"],
        ),
        ("@NATO e #Nato🇺🇦", ["@", "nato", "e", "#", "nato", "🇺", "🇦"]),
    ],
)
def test_nlp_symbols_and_dots_glued_to_a_word_are_tokens_of_their_own(
    lang: str, text: str, words: list[str]
) -> None:
    assert _words(lang, text) == words


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("U.S.", "u.s"),  # the final dot is punctuation, the abbreviation one word
        ("e.g.", "e.g"),
        ("1.5", "1.5"),
        ("v2.0", "v2.0"),
        ("mario.rossi@example.com", "mario.rossi@example.com"),
        (
            "https://www.nato.int/cps/en/natohq/news.htm?a=b+c",
            "https://www.nato.int/cps/en/natohq/news.htm?a=b+c",
        ),
        ("www.nato.int", "www.nato.int"),
    ],
)
def test_nlp_abbreviations_numbers_and_addresses_stay_one_token(lang: str, text: str, word: str) -> None:
    assert _words(lang, text)[0] in {word, f"{word}."}  # English lists e.g. with its final dot
