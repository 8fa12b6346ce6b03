"""Warnings for queries that parse but probably do not mean what their author wants.

Each warning names the column of the culprit; the rule still runs.  Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from monitor.matching.query import Near, Node, Term, terms
from monitor.matching.wildcard import MAX_WILDCARD_WORD

WIDE_NEAR = 50
_OPERATOR_WORDS = {"and": "AND", "or": "OR", "not": "NOT", "near": "NEAR/N"}


def lint_query(expr: Node, query: str) -> Iterator[tuple[str, int | None]]:
    """(message, column) for every risky part of ``expr``."""
    seen: set[tuple[int, str]] = set()
    for term, _positive in terms(expr):
        if (term.column, term.text) in seen:
            continue
        seen.add((term.column, term.text))
        yield from _lint_term(term, query)
    yield from _lint_near(expr)


def _lint_term(term: Term, query: str) -> Iterator[tuple[str, int | None]]:
    text = term.text
    letters = sum(c.isalnum() for c in text)
    operator = _OPERATOR_WORDS.get(text)
    if operator and query[term.column : term.column + len(text)] == text:
        yield (
            f"{text!r} is looked for as a word; write {operator} in capitals for the operator",
            term.column,
        )
    elif term.wildcard:
        yield from _lint_wildcard(text, term.column)
    elif " " not in text and letters <= 2:
        yield (
            f"{text!r} is a bare {letters}-character term: it will match many unrelated words",
            term.column,
        )


def _lint_wildcard(text: str, column: int) -> Iterator[tuple[str, int | None]]:
    """What a wildcard costs: a prefix (``negozia*``) is one look-up per word, any other pattern
    is tried on every word of every article, in time that grows with the word's length."""
    head = re.split(r"[*?]", text, maxsplit=1)[0]
    if text.endswith("*") and "?" not in text and text.count("*") == 1:
        if len(head) < 3:
            yield (f"{text!r} has a very short prefix and will match many unrelated words", column)
        return
    cost = (
        "it is tried on every word of every article, in time that grows with the word's length "
        f"(a word over {MAX_WILDCARD_WORD:,} characters is never matched)"
    )
    if not head:
        yield (f"{text!r} starts with a wildcard: {cost}", column)
    else:
        yield (f"{text!r} is a pattern, not a prefix such as {head}* (one look-up a word): {cost}", column)


def _lint_near(node: Node) -> Iterator[tuple[str, int | None]]:
    if isinstance(node, Near):
        if node.distance > WIDE_NEAR:
            yield (
                f"a proximity of {node.distance} words is very wide; at that distance AND says the same",
                node.column,
            )
        return
    for child in getattr(node, "items", ()) or ((node.item,) if hasattr(node, "item") else ()):
        yield from _lint_near(child)
