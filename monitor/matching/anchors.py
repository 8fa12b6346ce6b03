"""Which of a rule's terms wake it up (the index considers a rule only when one of them occurred),
and whether the rule is decided by which of its terms occurred.

Pure functions of a parsed query (monitor.matching.query) and the keys its
terms were given by the index (monitor.matching.compiler).
"""

from __future__ import annotations

from monitor.matching.query import And, Near, Node, Or, Term, terms

__all__ = ["anchor_keys", "is_any_of"]


def is_any_of(node: Node) -> bool:
    """Whether ``node`` is a term, or ORs of terms, none scoped to a field."""
    if isinstance(node, Term):
        return node.field is None
    return isinstance(node, Or) and all(is_any_of(item) for item in node.items)


def anchor_keys(node: Node, keys: dict[int, int]) -> set[int] | None:
    """Keys of which at least one must occur for ``node`` to hold; None when no such set exists.

    The index only wakes a rule up for these: for ``(Finlandia OR Suomi) AND (voto OR elezioni)``
    the names are enough, and the common words no longer make the rule a candidate in every
    article that mentions a vote.  The rarer-looking side of an AND is chosen (phrases, names
    in capitals and long words are rarer than short lowercase words).
    """
    if isinstance(node, Term):
        return {keys[id(node)]}
    if isinstance(node, Or):
        union: set[int] = set()
        for item in node.items:
            anchors = anchor_keys(item, keys)
            if anchors is None:
                return None
            union |= anchors
        return union
    if isinstance(node, And | Near):
        options = [a for item in node.items if (a := anchor_keys(item, keys)) is not None]
        if not options:
            return None
        by_key = {keys[id(term)]: term for term, _ in terms(node)}  # once: an AND may hold thousands
        return min(options, key=lambda a: _commonness(a, by_key))
    return None  # Not, Meta: their truth needs no occurrence


def _commonness(anchors: set[int], by_key: dict[int, Term]) -> float:
    return sum(_term_commonness(by_key[key].text) for key in anchors if key in by_key)


def _term_commonness(text: str) -> float:
    """A guess at how often a term occurs: a lowercase short word often, a phrase or a name rarely."""
    if " " in text:
        return 0.1
    if text[:1].isupper():
        return 0.3
    return 1.0 + 8.0 / max(len(text), 1)
