"""When a capitalised word is the acronym a rule names in capitals.

A rule's ``NATO`` matches NATO and Nato, never nato: the seed article and much
of the Italian press write acronyms in title case.  But the first word of a
sentence or a title has a capital whatever it is: "Nato a Napoli nel 1950"
(born), "Usa la carta" (uses), "Un portavoce ha detto" (a), "Us and them".
So a word written with only its first letter in capitals, that opens a
sentence or a title, and whose lowercase is a common word of the article's
language, is read as that word, unless what follows it says acronym:

- punctuation or a symbol glued to it ("Nato, vertice a Vilnius", "Nato:",
  "Usa-Cina", "Usa/Cina"), or nothing at all (a title of one word);
- a conjunction and a capitalised word ("Usa e Cina", "Nato o Ue").

Common words are those of spaCy's data for the language: its stop words
(un, ai, us, it, who) and every form and lemma of its lookup lemma table
(spacy-lookups-data: nato, usa, ira).  The table is read only when a word in
that position asks, once per language and batch of words, and only the
answers are kept.  Pure, apart from reading those data files.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from spacy.util import get_lang_class, load_language_data

from monitor.folding import fold_plain

log = logging.getLogger(__name__)

# What may stand between a sentence's start and its first word: spaces, opening quotes and
# brackets, and a dash or bullet that stands apart ("ROMA – Un portavoce", "- Usa e Russia").
# A double quote opens a sentence of its own (quoted speech: 'ha detto "Un errore"'); a
# single one may be an apostrophe, and only opens one after a colon.
_QUOTES = frozenset('"«“„‹¿¡')
_OPENING = _QUOTES | frozenset("‘([{")
_DASHES = frozenset("-‐‑‒–—―•·*")
_SENTENCE_END = frozenset(".!?…")
_LINE_BREAKS = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")
# Conjunctions that join two names: "Usa e Cina", "Nato o Ue", "US and EU".
_JOINED_TO_A_NAME = re.compile(r"[^\S\n]+(?:e|ed|o|od|and|or|&)[^\S\n]+[\"«“‘(]?(\w)")


def opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens ``text``, a line, a sentence, a quoted sentence or
    a list item.

    What stands before it is skipped back over: spaces, opening brackets and single quotes.
    A double quote or a dash standing apart opens it wherever it is (quoted speech, a segment
    of a title, a dateline: "ROMA – …"); a single quote opened after a colon too.
    """
    at, quoted = start, False
    while at > 0:
        char = text[at - 1]
        if char in _LINE_BREAKS or char in _QUOTES or (char in _DASHES and _stands_apart(text, at - 1)):
            return True
        if char.isspace():
            at -= 1
        elif char in _OPENING or (char == "'" and (at == 1 or not text[at - 2].isalnum())):
            quoted, at = True, at - 1
        else:
            break
    if at == 0:
        return True
    before = text[at - 1]
    return (
        before in _SENTENCE_END or (quoted and before == ":") or (before == ")" and _enumerates(text, at - 1))
    )


def _enumerates(text: str, bracket: int) -> bool:
    """Whether the ``)`` at ``bracket`` closes a list item's number opening a line: "1) Un
    tizio", "(2)  Usa nastro", "b) Un esempio"."""
    at = bracket
    while at > 0 and bracket - at < 3 and text[at - 1].isalnum():
        at -= 1
    if at == bracket:
        return False
    if at > 0 and text[at - 1] == "(":
        at -= 1
    while at > 0 and text[at - 1] in " \t":
        at -= 1
    return at == 0 or text[at - 1] in _LINE_BREAKS


def _stands_apart(text: str, at: int) -> bool:
    """Whether the dash at ``at`` is one of a run of dashes with a space or nothing before it
    ("ROMA – Un", "C -- Un", "- Usa"), not a hyphen joining words ("Russia-Nato")."""
    while at > 0 and text[at - 1] in _DASHES:
        at -= 1
    return at == 0 or text[at - 1].isspace()


def marked_as_acronym(text: str, end: int) -> bool:
    """Whether what follows the word ending at ``end`` says it is a name, not a common word:
    punctuation or a symbol glued to it, nothing, or a conjunction and a capitalised word."""
    if end >= len(text):
        return True
    after = text[end]
    if not after.isspace():
        return not after.isalnum() and after not in "'’"
    joined = _JOINED_TO_A_NAME.match(text, end)
    return joined is not None and joined.group(1).isupper()


def may_be_a_common_word(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]``, a word starting with a capital, may owe it to its place:
    only its first letter is a capital, it opens a sentence or a title, and nothing after it
    says acronym.  Whether it is a common word of the language is the other half."""
    return not text[start:end].isupper() and opens_sentence(text, start) and not marked_as_acronym(text, end)


_lock = threading.Lock()
_answers: dict[tuple[str, str], bool] = {}  # (language, folded word) → a common word of it


def common_words(lang: str, words: Iterable[str]) -> frozenset[str]:
    """Those of the folded ``words`` that are common words of ``lang`` (see the module).

    Each answer is kept; the language's data is read when some word has none yet, for all of
    them at once, and let go: a few tenths of a second for Italian.
    """
    lang = lang.split("-")[0].lower()
    asked = set(words)
    with _lock:
        unknown = {word for word in asked if (lang, word) not in _answers}
        if unknown:
            found = _found_in_vocabulary(lang, unknown)
            _answers.update(((lang, word), word in found) for word in unknown)
        return frozenset(word for word in asked if _answers[lang, word])


def _found_in_vocabulary(lang: str, words: set[str]) -> set[str]:
    longest = max(map(len, words))  # folding never shortens a word written in NFC
    found = set()
    for word in _vocabulary(lang):
        if len(word) <= longest:
            folded = word.lower() if word.isascii() else fold_plain(word)
            if folded in words:
                found.add(folded)
    return found


def _vocabulary(lang: str) -> set[str]:
    """The stop words of ``lang`` and the forms and lemmas of its lookup lemma table."""
    vocabulary: set[str] = set()
    try:
        vocabulary.update(get_lang_class(lang).Defaults.stop_words)
    except ImportError:
        log.info("no spaCy language data for %r: no word there is taken for a common word", lang)
    try:
        import spacy_lookups_data
    except ImportError:  # pragma: no cover - a declared dependency
        return vocabulary
    tables = getattr(spacy_lookups_data, lang, None)
    path = tables.get("lemma_lookup") if isinstance(tables, dict) else None
    table = load_language_data(path) if path is not None else None
    if isinstance(table, dict):
        vocabulary.update(table)
        vocabulary.update(table.values())
    return vocabulary
