"""Inflected forms of rule words, from spaCy's lookup tables (spacy-lookups-data).

A rule that opts into lemmas (``attacco aereo`` finds ``attacchi aerei``) is
expanded here, once, into every form the table knows for each word; the
article side then costs nothing (DESIGN.md: lemmatising every article with the
lookup lemmatizer would cost more than tokenizing it).  Tables are read
lazily, once per language and process: a large table such as Italian's takes a
noticeable moment and memory, paid only when a rule asks for lemmas.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable

from spacy.util import load_language_data

from monitor.folding import fold_plain

log = logging.getLogger(__name__)

MAX_VARIANTS = 256  # per phrase: a product of forms beyond this is a rule smell, not a need


class LemmaTable:
    """Folded form → folded lemma, and back."""

    def __init__(self, pairs: Iterable[tuple[str, str | list[str]]]) -> None:
        # some tables (French) give a list of lemmas for a form: its first is the lookup's answer
        lemma_pairs = [
            (form, lemma if isinstance(lemma, str) else lemma[0]) for form, lemma in pairs if lemma
        ]
        folded_lemmas = {lemma: fold_word(lemma) for lemma in {lemma for _, lemma in lemma_pairs}}
        self.lemma_of: dict[str, str] = {}
        forms: defaultdict[str, set[str]] = defaultdict(set)
        for form, lemma in lemma_pairs:
            # fold_word inlined: a table has hundreds of thousands of forms, and the default
            # language's is read before the daemon's first alert.
            if form.isascii() and form.isalpha():
                folded_form = form.lower()
                exact = True
            else:
                folded_form = fold_plain(form)
                exact = form.lower() == folded_form
            folded_lemma = folded_lemmas[lemma]
            # The exact lowercase form wins over a folded collision (attacco vs attaccò).
            if exact or folded_form not in self.lemma_of:
                self.lemma_of[folded_form] = folded_lemma
            forms[folded_lemma].add(folded_form)
        self.forms_of: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in forms.items()}

    def variants(self, word: str) -> frozenset[str]:
        """The folded forms of ``word``'s lemma (the word itself included).

        A word that is itself a headword keeps its own forms: lookup tables send
        some forms to a surprising lemma (Italian "stato" → "essere"), and rules
        name headwords far more often than inflected forms.
        """
        folded = fold_plain(word)
        lemma = folded if folded in self.forms_of else self.lemma_of.get(folded, folded)
        return frozenset({folded, lemma}) | self.forms_of.get(lemma, frozenset())


def fold_word(word: str) -> str:
    """``fold_plain(word)``, at the cost of a lowercasing for a word of ASCII letters alone.

    Folding an ASCII text is lowercasing it, with whitespace made spaces and a hyphen between
    letters made a space: a word of letters has neither.  Most words of a lemma table are such
    words, and the general path costs each one many times a lowercasing.
    """
    return word.lower() if word.isascii() and word.isalpha() else fold_plain(word)


_EMPTY = LemmaTable(())
_lock = threading.Lock()


@functools.cache
def _load(lang: str) -> LemmaTable:
    try:
        import spacy_lookups_data
    except ImportError:  # pragma: no cover - a declared dependency
        log.warning("spacy-lookups-data is not installed: lemma rules match exact forms only")
        return _EMPTY
    tables = getattr(spacy_lookups_data, lang, None)
    path = tables.get("lemma_lookup") if isinstance(tables, dict) else None
    if path is None:
        log.warning("no lemma table for language %r: its lemma rules match exact forms only", lang)
        return _EMPTY
    data = dict(load_language_data(path))
    log.info("loaded the %s lemma table (%d forms)", lang, len(data))
    return LemmaTable(data.items())


def lemma_table(lang: str) -> LemmaTable:
    """The lookup table of ``lang`` (empty, with a warning, for a language without one)."""
    with _lock:
        return _load(lang)
