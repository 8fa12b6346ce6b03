"""What a user types after ``--search`` → an SQLite FTS5 query that cannot be a syntax error.

PostgreSQL reads the same text with ``websearch_to_tsquery``, which never
fails on user input; FTS5 has no such function, and its own syntax (bare
``AND``, ``NEAR(``, ``col:``, unbalanced quotes, ``-``) turns ordinary text
into errors or surprises.  So the text is read here with the web-search
grammar PostgreSQL uses — words (all required), ``"quoted phrases"``, ``OR``
between alternatives, ``-word`` to exclude — and every word or phrase is
passed to FTS5 as a double-quoted string, the one FTS5 construct whose content
is never syntax.  A trailing ``*`` on a word asks for a prefix (SQLite only:
PostgreSQL's stemming already matches inflected forms).  Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# a "phrase" (the closing quote may be missing), or a run of non-space characters
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


@dataclass
class _Group:
    """Terms that must all occur (and the excluded ones that must not)."""

    required: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def _has_words(text: str) -> bool:
    """Whether FTS5's unicode61 tokenizer finds a token in ``text`` (letters and digits are tokens)."""
    return any(char.isalnum() for char in text)


def _string(text: str, prefix: bool = False) -> str:
    return '"' + text.replace('"', '""') + '"' + (" *" if prefix else "")


def _groups(text: str) -> list[_Group]:
    groups = [_Group()]
    for match in _TOKEN.finditer(text):
        negated, phrase, word = match.group(1), match.group(2), match.group(3)
        if word is not None and word.casefold() == "or":
            if groups[-1].required or groups[-1].excluded:
                groups.append(_Group())
            continue
        if word is not None:
            negated = "-" if word.startswith("-") else ""
            word = word.lstrip("-")
            prefix = word.endswith("*")
            term = word.rstrip("*")
            if not _has_words(term):
                continue
            rendered = _string(term, prefix=prefix)
        else:
            if not _has_words(phrase):
                continue
            rendered = _string(phrase)
        (groups[-1].excluded if negated else groups[-1].required).append(rendered)
    return groups


def fts5_query(text: str) -> str | None:
    """The FTS5 MATCH expression for ``text``; None when it names nothing to look for.

    A group of only excluded terms is dropped: FTS5 cannot start with NOT, and
    "everything without X" is not a search.
    """
    parts = []
    for group in _groups(text):
        if not group.required:
            continue
        expression = " AND ".join(group.required)
        for excluded in group.excluded:
            expression = f"({expression}) NOT {excluded}"
        parts.append(f"({expression})")
    return " OR ".join(parts) or None
