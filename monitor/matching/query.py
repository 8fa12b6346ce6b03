"""Query text → a small boolean AST, using luqum's Lucene grammar.

Users know the Lucene/Elasticsearch syntax from other tools, so we parse that
grammar with luqum rather than a hand-written parser, then keep only what the
matcher understands.  Juxtaposition means AND (``Finlandia NATO``), ``-x`` means
NOT x.  Every error carries the 0-based column it is about.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser as _lucene


class QuerySyntaxError(ValueError):
    """A query that cannot be used; ``column`` is 0-based within the query text."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message, self.column = message, column


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a quoted phrase, exactly as written (case matters for acronyms)."""

    text: str
    column: int


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Term | And | Or | Not

_POSITION = re.compile(r"at position (\d+)")
_UNSUPPORTED: dict[type, str] = {
    tree.SearchField: "field scoping such as title: is not supported yet",
    tree.Proximity: "proximity (~N) is not supported yet",
    tree.Fuzzy: "fuzzy matching (~) is not supported",
    tree.Boost: "boosting (^) has no meaning for alerts",
    tree.Range: "ranges ([a TO b]) are not supported",
    tree.Regex: "regular expressions are not supported",
}


def parse_query(text: str) -> Node:
    """Parse a rule query; raises QuerySyntaxError with a plain message and column."""
    if not text or not text.strip():
        raise QuerySyntaxError("the query is empty", 0)
    _check_balance(text)
    try:
        parsed = _lucene.parse(text)
    except IllegalCharacterError as exc:
        raise QuerySyntaxError(f"unexpected character in {_quoted(exc)}", _column(exc)) from None
    except ParseError as exc:
        column = _column(exc)
        if column is None and "end of expression" in str(exc):
            column = len(text.rstrip())
        raise QuerySyntaxError(_explain(exc, text), column) from None
    return _convert(parsed)


def _check_balance(text: str) -> None:
    depth, opened, in_quote, quote_at = 0, [], False, 0
    for i, char in enumerate(text):
        if char == '"' and (i == 0 or text[i - 1] != "\\"):
            in_quote, quote_at = not in_quote, i
        elif not in_quote and char == "(":
            depth += 1
            opened.append(i)
        elif not in_quote and char == ")":
            if depth == 0:
                raise QuerySyntaxError("unbalanced parenthesis: ')' without a matching '('", i)
            depth -= 1
            opened.pop()
    if in_quote:
        raise QuerySyntaxError('unbalanced quote: a phrase opened with " is never closed', quote_at)
    if depth:
        raise QuerySyntaxError("unbalanced parenthesis: '(' is never closed", opened[-1])


def _column(exc: Exception) -> int | None:
    match = _POSITION.search(str(exc))
    return int(match.group(1)) if match else None


def _quoted(exc: Exception) -> str:
    match = re.search(r"'(.*)'", str(exc))
    return repr(match.group(1)) if match else "the query"


def _explain(exc: Exception, text: str) -> str:
    message = str(exc)
    if "end of expression" in message:
        return "the query ends too early (an operator such as AND/OR/NOT needs a term after it)"
    column = _column(exc)
    if column is not None:
        token = text[column:].split(maxsplit=1)[0] if text[column:].strip() else text[column:]
        if token in ("AND", "OR"):
            return f"{token} needs a term on both sides"
        return f"unexpected {token!r}"
    return "the query cannot be parsed"


def _convert(node: tree.Item) -> Node:
    if isinstance(node, tree.Group | tree.FieldGroup):
        return _convert(node.children[0])
    if isinstance(node, tree.Plus):
        return _convert(node.children[0])
    if isinstance(node, tree.Not | tree.Prohibit):
        return Not(_convert(node.children[0]))
    if isinstance(node, tree.AndOperation | tree.UnknownOperation):
        return And(tuple(_convert(c) for c in node.children))
    if isinstance(node, tree.OrOperation):
        return Or(tuple(_convert(c) for c in node.children))
    if isinstance(node, tree.Phrase):
        return _term(node.value[1:-1], node.pos + 1)
    if isinstance(node, tree.Word):
        if "*" in node.value or "?" in node.value:
            raise QuerySyntaxError("wildcards (* and ?) are not supported yet", node.pos)
        return _term(node.value, node.pos)
    for kind, message in _UNSUPPORTED.items():
        if isinstance(node, kind):
            raise QuerySyntaxError(message, getattr(node, "pos", None))
    raise QuerySyntaxError(f"unsupported query element {node!s}", getattr(node, "pos", None))


def _term(text: str, column: int) -> Term:
    text = " ".join(text.replace('\\"', '"').split())
    if not any(c.isalnum() for c in text):
        raise QuerySyntaxError(f"{text!r} has no letters or digits to look for", column)
    return Term(text, column)


def terms(node: Node) -> Iterator[tuple[Term, bool]]:
    """Every term with whether it counts *for* a match (False when under an odd number of NOTs)."""

    def walk(n: Node, positive: bool) -> Iterator[tuple[Term, bool]]:
        if isinstance(n, Term):
            yield n, positive
        elif isinstance(n, Not):
            yield from walk(n.item, not positive)
        else:
            for item in n.items:
                yield from walk(item, positive)

    return walk(node, True)


def evaluate(node: Node, present: Callable[[Term], bool]) -> bool:
    """Truth of ``node`` given which terms occur."""
    if isinstance(node, Term):
        return present(node)
    if isinstance(node, Not):
        return not evaluate(node.item, present)
    if isinstance(node, And):
        return all(evaluate(item, present) for item in node.items)
    return any(evaluate(item, present) for item in node.items)


def matches_without_terms(node: Node) -> bool:
    """True when the query would fire on an article containing none of its terms."""
    return evaluate(node, lambda _term: False)
