"""spaCy pipelines, one per language, tuned for matching folded text.

Articles and rule terms must be tokenized by the same rules or a phrase will
not line up, so each language gets two objects that share tokenizer settings:
the article pipeline (blank, or a trained one when configured and installed)
and a separate blank instance that tokenizes patterns, so thousands of rule
terms never pollute the article vocabulary (a polluted one tokenizes much slower, DESIGN.md).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
from spacy.attrs import IS_PUNCT, IS_SPACE
from spacy.lang.tokenizer_exceptions import URL_PATTERN
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex, registry
from spacy.vocab import Vocab

from monitor.errors import ConfigError
from monitor.folding import fold_plain
from monitor.matching.chunks import ChunkTokenizer

log = logging.getLogger(__name__)

# Split elisions (dell'|ucraina, l'|onu) and hyphenated compounds (anti|-|nato) in
# every language, not only in those whose defaults happen to do it, so that an
# Italian name quoted in an English article is still found.  A dot between a word of
# two characters or more and a letter ends the word (Filecoder|.|c, ucraina|.|il where
# a space was lost): abbreviations of single letters (u.s, e.g, s.p.a) stay whole, and
# spaCy's own rule for it, which looks for a capital after the dot, never sees folded text.
_EXTRA_INFIXES = (
    r"(?<=[^\W\d_]')(?=[^\W\d_])",
    r"(?<=[^\W_])-(?=[^\W_])",
    r"\.(?<=[^\W_]{2}\.)(?=[^\W\d_])",  # the dot first: most characters fail there at once
)


# The English possessive, whatever the article's language ("Finland's" → Finland 's).
_EXTRA_SUFFIXES = (r"(?<=[^\W\d_])'s",)

# Punctuation that is never part of a word, glued or not (R&D, 100%, f*ck, @nato, c#, nato_otan).
_LOOSE_PUNCTUATION = "%&*@#_\\"
# Where an address is kept one token: with a scheme or www (spaCy's own test, which also
# takes any word.word for a domain: filecoder.nsb, ucraina.il), or an e-mail address.
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+$"
_WEB_ADDRESS = re.compile(rf"{_EMAIL}|(?=[a-z][\w+.-]*://|www\d{{0,3}}\.){URL_PATTERN}")


MATCHING_TOKENIZER = "monitor.matching_tokenizer.v1"  # its name in spaCy's registry

# Emoji and pictographs: the symbols beyond the Basic Multilingual Plane that news carries.
_EMOJI = "\U0001f000-\U0001faff"


@functools.cache
def symbol_class() -> str:
    """A regular expression class of every symbol of the Basic Multilingual Plane (Unicode S*:
    currency, maths, modifier and other signs: $ € + = | ~ ° ™), of emoji and of the loose
    punctuation.

    A symbol glued to a word is a token of its own (us|$|1, windows|™), so the word is found
    whatever touches it; spaCy's defaults split a few of them, and only next to digits.  The
    rest of the astral planes is left out: each range there costs a comparison at every
    character of every new word, where the plane's symbols are one table look-up.
    """
    codes = [code for code in range(0x21, 0x10000) if unicodedata.category(chr(code))[0] == "S"]
    codes += map(ord, _LOOSE_PUNCTUATION)
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    body = "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)
    return f"[{body}{_EMOJI}]"


def matching_tokenizer(nlp: Language, rules: dict[str, Any] | None) -> Tokenizer:
    """``nlp``'s tokenizer tuned for matching, with the special cases ``rules``, built in one go.

    Each tokenizer setting changed afterwards (prefixes, suffixes, infixes, addresses, token
    match) makes spaCy load every special case again, a few thousand phrases for English:
    built with all its settings at once, a tokenizer loads them once.
    """
    # a symbol is an infix anywhere but first (spaCy skips an infix that starts the word, and
    # one that ends it leaves nothing after it), a prefix when first
    symbol = symbol_class()
    infixes = [*(nlp.Defaults.infixes or []), *_EXTRA_INFIXES, symbol]
    suffixes = [*_EXTRA_SUFFIXES, *(nlp.Defaults.suffixes or [])]
    prefixes = [symbol, *(nlp.Defaults.prefixes or [])]
    return Tokenizer(
        nlp.vocab,
        rules=rules,
        prefix_search=compile_prefix_regex(prefixes).search,
        suffix_search=compile_suffix_regex(suffixes).search,
        infix_finditer=compile_infix_regex(infixes).finditer,
        # French keeps listed hyphenated words whole; a rule for "NATO" must still see "anti-NATO".
        token_match=None,
        url_match=_WEB_ADDRESS.match,
    )


def _matching_tokenizer_factory() -> Callable[[Language], Tokenizer]:
    """What a blank pipeline is made with (``spacy.blank``'s config names it): no default first."""

    def build(nlp: Language) -> Tokenizer:
        return matching_tokenizer(nlp, nlp.Defaults.tokenizer_exceptions)

    return build


registry.tokenizers.register(MATCHING_TOKENIZER, func=_matching_tokenizer_factory)


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
    config = {"nlp": {"tokenizer": {"@tokenizers": MATCHING_TOKENIZER}}}
    try:
        nlp = spacy.blank(lang, config=config)
    except (ImportError, KeyError, ValueError):
        log.warning("no spaCy language data for %r; using the multi-language tokenizer", lang)
        nlp = spacy.blank("xx", config=config)
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
    nlp.tokenizer = matching_tokenizer(nlp, getattr(nlp.tokenizer, "rules", None))
    return nlp


@dataclass
class LanguagePipelines:
    """Lazily built article and pattern pipelines for every language met."""

    models: dict[str, str]
    default_language: str

    def __post_init__(self) -> None:
        self._articles: dict[str, Language] = {}
        self._patterns: dict[str, Language] = {}
        self._chunks: dict[str, ChunkTokenizer] = {}
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

    def chunks(self, lang: str) -> ChunkTokenizer:
        """The tokens of the chunks of ``lang``'s articles, cut by its article pipeline and
        remembered (they stay valid when the pipeline is renewed: same tokenizer settings)."""
        found = self._chunks.get(lang)
        if found is None:
            made = ChunkTokenizer(functools.partial(self.article_nlp, lang))  # loads it: outside the lock
            with self._lock:
                found = self._chunks.setdefault(lang, made)
        return found

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
