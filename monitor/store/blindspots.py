"""Texts a full-text index may read otherwise than the matcher: the index cannot vouch for them.

The backtest's prefilter (:mod:`monitor.store.prefilter`) asks the full-text
index which articles hold a rule's words, and matches only those.  That is
exact only where the index cut and folded the text as the matcher does: the
matcher folds first (:mod:`monitor.folding`: ``Straße`` → ``strasse``,
``Łódź`` → ``lodz``, a soft hyphen dropped inside a word) and tokenizes the
folded text, while FTS5's unicode61 keeps ``straße`` and cuts at the soft
hyphen, and PostgreSQL's parser keeps ``nato.int`` or ``-20`` as one token
and leaves accents on a word with digits in it.  An article with such a
spot is always a candidate, whatever the index says.

Which characters are blind spots is not written down here but asked of the
engine itself, once per process (SQLite) or per database (PostgreSQL): every
character that folds to ASCII letters, digits or punctuation (or to nothing)
is read by the index between two letters, and kept when the index's words
differ from the matcher's.  PostgreSQL's compound tokens (hosts, paths,
e-mail addresses, signed numbers, tags) are patterns of ASCII punctuation
glued to letters or digits.  tests/store/test_blindspots.py holds both
engines to these claims on generated text.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
import unicodedata
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, text

from monitor.folding import fold_plain
from monitor.store.searchindex import PG_BODY_INDEXED, PG_OTHER_CONFIG, SQLITE_TOKENIZE

_WORD = re.compile(r"[^\W_]+")  # letters and digits: what either index makes words of
_COMMON = (range(0x80, 0x250), range(0x2000, 0x2070), range(0x20A0, 0x20C0))  # Latin, punctuation, currency
# The code points folding reads (its table's ranges: the Basic Multilingual Plane but for the
# ideographs, the Hangul syllables and private use; the mathematical and enclosed letters).
# Beyond them a character folds to itself, so no ASCII word is made of it unless it is no letter
# (it may then cut a word, and is probed unfolded); past the BMP and these, none is probed.
_FOLDED = (
    range(0x80, 0x3400),
    range(0xA4D0, 0xAC00),
    range(0xF900, 0x10000),
    range(0x1D400, 0x1D800),
    range(0x1F100, 0x1F200),
)
_UNFOLDED = (range(0x3400, 0xA4D0), range(0xAC00, 0xD800), range(0xE000, 0xF900))
_BATCH = 512  # texts folded in one call: one call each would take seconds
_SEPARATOR = "\x00"  # folds to itself, and nothing folds to it

# Where PostgreSQL's parser keeps as one token what the matcher cuts into words: ASCII
# punctuation glued to letters or digits (a host, a path, a file name, an e-mail address, a
# signed number, a tag, an entity), and a word mixing digits with characters beyond ASCII
# (which its configurations index as written: accents and combining marks stay).  Left out
# because both read them alike: an apostrophe anywhere, a hyphen between two letters
# (PostgreSQL indexes the parts too), a dot, comma, colon or slash between two digits (one
# token for the matcher as well).  The patterns are grouped by the character they start with,
# so the regular expression engine skips to those characters instead of trying every position.
_PUNCT = r"\s!-/:-@\[-`{-~\u00a0\u00ab\u00b0\u00bb\u2010-\u205f"  # spaces and punctuation
_IN_WORD = rf"[^{_PUNCT}]"  # what may stand in one token: letters, digits, marks…
_BEYOND_ASCII = rf"[^\x00-\x7f{_PUNCT}]"  # … and of those, the ones beyond ASCII
_PG_GLUE = (
    "[./~@+<&-](?:"
    + "|".join(
        (
            r"(?<=[^\W\d_][./])(?=[^\W_])",  # nato.int, u.s, km/h, a.1
            r"(?<=\d[./])(?=[^\W\d_])",  # 1.a, 10/km
            r"(?<=[^\W_][~@])(?=[^\W_])",  # a~b, info@nato.int
            r"(?<=[-+])(?=\d)",  # -20, +39, the -19 of covid-19, the -20 of 10-20: signed numbers
            r"(?<![^\W_][/~])(?<=[/~])(?=[^\W_])",  # /usr/nato, ~nato: paths
            r"(?<=<)[/!?]?[^\W\d_]|(?<=&)\S*?;",  # <b>, <!-- -->, &amp;, &a1:b;: tags and entities go unread
        )
    )
    + ")",
    "[0-9](?:"
    + "|".join(
        (
            r"(?<=[^\W\d_][0-9])[0-9]*[./][0-9]",  # x1.2: a file name
            r"[eE][-+]?[0-9]",  # 5e3: scientific notation, which may end before a letter (5e3x)
            rf"{_IN_WORD}*?{_BEYOND_ASCII}",  # 10città (2°C is fine)
        )
    )
    + ")",
    rf"{_BEYOND_ASCII}{_IN_WORD}*?[0-9]",  # città10
    r"\S{500}",  # a word PostgreSQL may leave out of its index (more than 2,047 bytes)
)


class BlindSpots:
    """Whether an article's text has a spot its database's full-text index may read otherwise."""

    def __init__(
        self, chars: frozenset[str], patterns: Sequence[str] = (), *, body_limit: int | None = None
    ) -> None:
        self.chars = chars  # characters read otherwise wherever they are (all beyond ASCII)
        # what to look at: ASCII and the Latin letters and punctuation news is written with are
        # skipped by the regular expression engine (one look-up each), the rest is a set look-up
        common = (chr(code) for codes in _COMMON for code in codes)
        self._unusual = re.compile(f"[^\\x00-\\x7f{_ranges(c for c in common if c not in chars)}]")
        self.patterns = tuple(re.compile(pattern) for pattern in patterns)
        self.body_limit = body_limit  # characters of the body the index reads; None: all of it

    def hide(self, title: str, summary: str, body: str) -> bool:
        if self.body_limit is not None and len(body) > self.body_limit:
            return True
        for part in (title, summary, body):
            if not part:
                continue
            if not part.isascii() and not self.chars.isdisjoint(self._unusual.findall(part)):
                return True
            if any(pattern.search(part) for pattern in self.patterns):
                return True
        return False


def _ranges(chars: Iterable[str]) -> str:
    """The inside of a regular expression class holding ``chars``, runs of code points as ranges."""
    runs: list[list[int]] = []
    for code in sorted({ord(c) for c in chars}):
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in runs)


def blind_spots(engine: Engine) -> BlindSpots:
    """The blind spots of ``engine``'s full-text index, worked out on first use and kept."""
    if engine.dialect.name == "sqlite":
        return _sqlite()
    with _LOCK:
        found = _BY_ENGINE.get(engine)
    if found is None:
        found = _postgres(engine)
        with _LOCK:
            _BY_ENGINE[engine] = found
    return found


_LOCK = threading.Lock()
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, BlindSpots] = weakref.WeakKeyDictionary()


@functools.cache
def probed_characters() -> tuple[str, ...]:
    """Each character whose folding (between two letters) makes no letter beyond ASCII: those an
    ASCII word of a rule can be made of or be cut by.  Characters folding to other letters (Greek,
    Cyrillic…) make words that no ASCII term matches."""
    chars = [chr(code) for codes in _FOLDED for code in codes if unicodedata.category(chr(code)) != "Cn"]
    folded = fold_many([f"a{char}b" for char in chars])
    probed = [char for char, probe in zip(chars, folded, strict=True) if not _OTHER_LETTER.search(probe)]
    kept = (chr(code) for codes in _UNFOLDED for code in codes)
    probed += [char for char in kept if not char.isalnum() and unicodedata.category(char) != "Cn"]
    return tuple(probed)


_OTHER_LETTER = re.compile(r"[^\W_\x00-\x7f]")


def fold_many(texts: Sequence[str]) -> list[str]:
    """``fold_plain`` of each text, folded a batch at a time (one call each would take seconds)."""
    out: list[str] = []
    for start in range(0, len(texts), _BATCH):
        batch = texts[start : start + _BATCH]
        folded = fold_plain(_SEPARATOR.join(batch)).split(_SEPARATOR)
        if len(folded) != len(batch):  # a separator folded away: never, but a wrong probe is worse
            raise RuntimeError("folding merged the probes of the full-text index")
        out.extend(folded)
    return out


def matcher_words(texts: Sequence[str]) -> list[frozenset[str]]:
    """The words (letters and digits) the matcher's folding leaves in each text."""
    return [frozenset(_WORD.findall(folded)) for folded in fold_many(texts)]


# -- SQLite ------------------------------------------------------------------------------------------
@functools.cache
def _sqlite() -> BlindSpots:
    """FTS5's tokenizer reads each character alike wherever it stands: one probe each, in a table
    of this process's SQLite library (the one the engine uses), in memory."""
    chars = probed_characters()
    probes = [f"a{char}b" for char in chars]
    expected = matcher_words(probes)
    db = sqlite3.connect(":memory:")
    try:
        db.execute(f"CREATE VIRTUAL TABLE probe USING fts5(x, tokenize='{SQLITE_TOKENIZE}')")
        db.execute("CREATE VIRTUAL TABLE probe_words USING fts5vocab(probe, instance)")
        db.executemany("INSERT INTO probe(rowid, x) VALUES (?, ?)", enumerate(probes))
        read: defaultdict[int, set[str]] = defaultdict(set)
        for row, word in db.execute("SELECT doc, term FROM probe_words"):
            read[row].add(word)
    finally:
        db.close()
    return BlindSpots(frozenset(char for i, char in enumerate(chars) if not expected[i] <= read[i]))


# -- PostgreSQL -------------------------------------------------------------------------------------
def _postgres(engine: Engine) -> BlindSpots:
    """Every character read between two letters and alone by the database's own parser and
    dictionaries (the configuration for other languages: the same parser, ``unaccent`` if the
    database has it); beside digits, see _PG_GLUE."""
    chars = probed_characters()
    contexts = (("a", "b"), ("", ""))
    texts = [f"{left}{char}{right}" for char in chars for left, right in contexts]
    query = text(
        f"SELECT tsvector_to_array(to_tsvector('{PG_OTHER_CONFIG}'::regconfig, t)) "
        "FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS p(t, n) ORDER BY n"
    )
    with engine.connect() as db:
        read = [set(words) for (words,) in db.execute(query, {"texts": texts})]
    wrong = [not words <= found for words, found in zip(matcher_words(texts), read, strict=True)]
    n = len(contexts)
    spots = frozenset(char for i, char in enumerate(chars) if any(wrong[i * n : i * n + n]))
    return BlindSpots(spots, _PG_GLUE, body_limit=PG_BODY_INDEXED)
