"""A rule's boolean logic as one small Python function, shared by every rule of its shape.

Deciding a candidate rule by walking its query tree costs an ``isinstance`` chain, a call and
often a generator per node: at 100,000 rules, with about fifty candidates an article, that
walk was a fifth of what matching adds to tokenization.  Compiled, ``"a b" AND (c OR title:d)
NOT e`` is the expression ``has(k[0]) and (has(k[1]) or in_field(k[2], 'title')) and not
has(k[3])``, which Python evaluates with short-circuits and no dispatch.

The function depends only on the query's shape (its operators, and the fields its terms are
scoped to): the term keys come in as an argument, so rules of one shape share one function,
and a large rule set compiles a few thousand of them, not one per rule.  Proximity and
metadata tests, which need the occurrences or the article, call back into ``Evaluation``.
A query nested deeper than Python's parser allows is decided by ``Evaluation.holds`` whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from monitor.matching.evaluate import Evaluation
from monitor.matching.query import And, Node, Not, Or, Term

# Deeper queries are decided by walking the tree: CPython's parser refuses a few hundred nested
# parentheses, and no rule a person writes comes near this.
MAX_DEPTH = 50


Decide = Callable[
    [
        Callable[[int], bool],
        Callable[[int, str], bool],
        Callable[[Node], bool],
        tuple[int, ...],
        tuple[Node, ...],
    ],
    bool,
]


@dataclass(frozen=True, slots=True)
class Decision:
    """One rule's compiled logic: its shape's function and the rule's own term keys."""

    decide: Decide
    keys: tuple[int, ...]  # the key of each Term node, in the order the function reads them
    others: tuple[Node, ...]  # the nodes decided by Evaluation.holds (proximity, metadata)
    source: str  # the function's expression, for tests and debugging

    def holds(self, evaluation: Evaluation) -> bool:
        """Whether the rule's query holds on the article ``evaluation`` is pointed at."""
        return self.decide(
            evaluation.found.has, evaluation.in_field, evaluation.holds, self.keys, self.others
        )


def compile_decision(expr: Node, keys: dict[int, int]) -> Decision:
    """``expr``'s logic over the term keys in ``keys`` (id() of each Term node → its key)."""
    term_keys: list[int] = []
    others: list[Node] = []
    deep = _depth(expr) > MAX_DEPTH
    source = _other(expr, others) if deep else _source(expr, keys, term_keys, others)
    return Decision(_function(source), tuple(term_keys), tuple(others), source)


def _source(node: Node, keys: dict[int, int], term_keys: list[int], others: list[Node]) -> str:
    if isinstance(node, Term):
        term_keys.append(keys[id(node)])
        at = len(term_keys) - 1
        return f"has(k[{at}])" if node.field is None else f"in_field(k[{at}], {node.field!r})"
    if isinstance(node, And | Or):
        if not node.items:
            return "True" if isinstance(node, And) else "False"
        joined = (" and " if isinstance(node, And) else " or ").join(
            _source(item, keys, term_keys, others) for item in node.items
        )
        return f"({joined})"
    if isinstance(node, Not):
        return f"(not {_source(node.item, keys, term_keys, others)})"
    return _other(node, others)


def _other(node: Node, others: list[Node]) -> str:
    others.append(node)
    return f"other(n[{len(others) - 1}])"


def _depth(node: Node) -> int:
    """How deeply ``node`` nests, without recursing (a pathological query must not overflow)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, And | Or):
            stack.extend((child, depth + 1) for child in item.items)
        elif isinstance(item, Not):
            stack.append((item.item, depth + 1))
    return deepest


@lru_cache(maxsize=16_384)
def _function(source: str) -> Decide:
    # The source is built above from operators, integer indexes and repr() of validated field
    # names, never from query text: nothing a rule author writes is evaluated.
    code = compile(f"lambda has, in_field, other, k, n: {source}", "<rule logic>", "eval")
    decide: Decide = eval(code, {"__builtins__": {}})
    return decide
