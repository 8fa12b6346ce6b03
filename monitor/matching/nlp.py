"""spaCy pipelines, one per language, tuned for matching folded text.

Articles and rule terms must be tokenized by the same rules or a phrase will
not line up, so each language gets two objects that share tokenizer settings:
the article pipeline (blank, or a trained one when configured and installed)
and a separate blank instance that tokenizes patterns, so thousands of rule
terms never pollute the article vocabulary (a polluted one tokenizes much slower, DESIGN.md).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.attrs import IS_PUNCT, IS_SPACE
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc
from spacy.util import compile_infix_regex, compile_suffix_regex
from spacy.vocab import Vocab

from monitor.errors import ConfigError
from monitor.matching.normalize import fold_plain

log = logging.getLogger(__name__)

# Split elisions (dell'|ucraina, l'|onu) and hyphenated compounds (anti|-|nato) in
# every language, not only in those whose defaults happen to do it, so that an
# Italian name quoted in an English article is still found.
_EXTRA_INFIXES = (
    r"(?<=[^\W\d_]')(?=[^\W\d_])",
    r"(?<=[^\W_])-(?=[^\W_])",
)


# The English possessive, whatever the article's language ("Finland's" → Finland 's).
_EXTRA_SUFFIXES = (r"(?<=[^\W\d_])'s",)


def _tune_tokenizer(nlp: Language) -> None:
    infixes = list(nlp.Defaults.infixes or []) + list(_EXTRA_INFIXES)
    suffixes = list(_EXTRA_SUFFIXES) + list(nlp.Defaults.suffixes or [])
    tokenizer: Tokenizer = nlp.tokenizer
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    # French keeps listed hyphenated words whole; a rule for "NATO" must still see "anti-NATO".
    tokenizer.token_match = None


# What a blank pipeline's words need: the matcher reads these lexeme attributes and no others.
_LEAN_ATTRS = frozenset({IS_PUNCT, IS_SPACE})


def lex_attr_getters(vocab: Vocab) -> dict[int, Callable[[str], object]]:
    """The vocabulary's functions that compute a new word's attributes, by attribute id (live:
    changing the dict changes what spaCy computes).  spaCy's stubs do not declare it."""
    getters: dict[int, Callable[[str], object]] = vocab.lex_attr_getters  # type: ignore[attr-defined]
    return getters


def _lean_lexemes(nlp: Language) -> None:
    """Compute for each new word only the attributes matching reads.

    spaCy computes some twenty attributes for every word it meets for the first time (shape,
    prefix, suffix, norm, stop word, like-a-URL…), each a Python call and most of them a new
    string in the string store; a blank pipeline only tokenizes, and the matcher reads
    punctuation and space.  News is full of names met once, so creating their lexemes is a
    large part of tokenizing it, and computing fewer attributes makes tokenization faster.
    A trained pipeline keeps every attribute: its models read them.
    """
    getters = lex_attr_getters(nlp.vocab)
    for attr in [attr for attr in getters if attr not in _LEAN_ATTRS]:
        del getters[attr]


def _blank(lang: str) -> Language:
    try:
        nlp = spacy.blank(lang)
    except (ImportError, KeyError, ValueError):
        log.warning("no spaCy language data for %r; using the multi-language tokenizer", lang)
        nlp = spacy.blank("xx")
    _tune_tokenizer(nlp)
    _lean_lexemes(nlp)
    return nlp


def load_model(lang: str, model: str) -> Language:
    """The article pipeline for ``lang``: ``blank``, an installed package, or a pipeline folder."""
    if model == "blank":
        return _blank(lang)
    if not Path(model).is_dir() and importlib.util.find_spec(model) is None:
        raise ConfigError(
            f"language_models.{lang}: spaCy pipeline {model!r} is not installed "
            f"(pip install it, or set it to 'blank')"
        )
    try:
        nlp = spacy.load(model, exclude=["parser", "ner", "senter"])
    except (OSError, ValueError) as exc:
        raise ConfigError(f"language_models.{lang}: cannot load spaCy pipeline {model!r}: {exc}") from None
    if nlp.lang != lang:
        raise ConfigError(f"language_models.{lang}: pipeline {model!r} is for language {nlp.lang!r}")
    _tune_tokenizer(nlp)
    return nlp


@dataclass
class LanguagePipelines:
    """Lazily built article and pattern pipelines for every language met."""

    models: dict[str, str]
    default_language: str

    def __post_init__(self) -> None:
        self._articles: dict[str, Language] = {}
        self._patterns: dict[str, Language] = {}
        self._lock = threading.Lock()

    def check(self) -> None:
        """Load every configured pipeline now, so a missing package fails at start-up."""
        for lang in self.models:
            self.article_nlp(lang)

    def resolve(self, lang: str | None) -> str:
        return lang or self.default_language

    def article_nlp(self, lang: str) -> Language:
        with self._lock:
            if lang not in self._articles:
                self._articles[lang] = load_model(lang, self.models.get(lang, "blank"))
            return self._articles[lang]

    def renew(self, lang: str, old: Language) -> None:
        """A fresh article pipeline for ``lang`` in place of ``old`` (unless another caller renewed it).

        Memory zones free the words of each batch, but spaCy's hash tables (preshed) keep a
        tombstone for every one and double when full, so a process that meets millions of new
        words grows by about 30 bytes a word.  Only a new vocabulary gives that memory back;
        the rule index holds hashes, not lexemes, so it stays valid.
        """
        with self._lock:
            if self._articles.get(lang) is old:
                self._articles[lang] = load_model(lang, self.models.get(lang, "blank"))
        log.info("event=pipeline_renewed lang=%s words_seen=%d", lang, len(old.vocab))

    def trained_lemmatizer(self, lang: str) -> bool:
        """True when the configured pipeline of ``lang`` brings its own lemmatizer."""
        return self.models.get(lang, "blank") != "blank" and "lemmatizer" in self.article_nlp(lang).pipe_names

    def lemmas(self, lang: str, doc: Doc) -> list[str]:
        """The folded lemma of every token, from the trained pipeline's components (tagger, lemmatizer…)."""
        for _name, component in self.article_nlp(lang).pipeline:
            doc = component(doc)
        return [fold_plain(token.lemma_) or token.text for token in doc]

    def pattern_nlp(self, lang: str) -> Language:
        with self._lock:
            if lang not in self._patterns:
                self._patterns[lang] = _blank(lang)
            return self._patterns[lang]
