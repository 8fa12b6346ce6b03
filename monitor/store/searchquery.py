"""What a user types after ``--search`` → a small boolean tree, read with the rules' grammar.

Searches and rules are written by the same people, so both are read by luqum's
Lucene grammar (the one users know from Elasticsearch): words, ``"phrases"``,
AND / OR / NOT / ``-word``, juxtaposition as AND, parentheses, a trailing
``*`` for a prefix, and ``title:`` ``summary:`` ``body:`` for the parts of an
article the index keeps apart.  luqum is called directly rather than through
``monitor.matching.query``: a store does not import a sibling stage, and
loading the matcher would make every search pay for spaCy.

What the index cannot answer — proximity (``"a b"~5``, ``NEAR/5``), inner and
single-letter wildcards, fuzzy words, ranges, boosts, rule-only fields and a
search made only of exclusions — is a SearchError that says so, as are
lowercase ``and``/``or``/``not`` (operators need capitals, as in rules; quoting
searches the word).  Words are kept as typed: each database's own tokenizer
folds them exactly as it folded the articles when it indexed them.  Pure:
no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser as _lucene

from monitor.errors import SearchError
from monitor.store.searchindex import SEARCH_FIELDS

MAX_LENGTH = 2_000  # characters: a search box, not a document
MAX_DEPTH = 10  # parentheses, NOTs and fields inside each other; FTS5's parser overflows past ~30
MIN_PREFIX = 2  # letters or digits before a *: "a*" would read most of the index


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a phrase (words separated by single spaces), as typed; ``field`` None for anywhere."""

    text: str
    prefix: bool = False
    field: str | None = None


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

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # PostgreSQL refuses NUL; no control character is a word
_TYPOGRAPHIC_QUOTES = str.maketrans("“”„", '"""')  # a phrase pasted from a word processor
_POSITION = re.compile(r"at position (\d+)")
_WILDCARD = re.compile(r"(?<!\\)[*?]")
_ESCAPED = re.compile(r"\\(.)")
_NEAR = re.compile(r"NEAR/\d+", re.IGNORECASE)
_LOWERCASE_OPERATORS = {"and": "AND", "or": "OR", "not": "NOT"}
_SYMBOL_OPERATORS = {"&&": "AND", "||": "OR"}
_UNSUPPORTED: dict[type, str] = {
    tree.Proximity: 'proximity ("a b"~N) is not supported in a search: look for the phrase or both words',
    tree.Fuzzy: "fuzzy matching (~) is not supported in a search: write the word or a prefix (negozia*)",
    tree.Boost: "boosting (^) is not supported in a search: every word counts the same",
    tree.Range: "ranges ([a TO b]) are not supported in a search",
    tree.From: "comparisons (> <) are not supported in a search",
    tree.To: "comparisons (> <) are not supported in a search",
    tree.Regex: "regular expressions (/…/) are not supported in a search: use a prefix such as negozia*",
}


def parse_search(text: str) -> Node:
    """The tree of a search text; raises SearchError with a plain message and the column at fault."""
    cleaned = _CONTROL.sub(" ", text).translate(_TYPOGRAPHIC_QUOTES)
    if len(cleaned) > MAX_LENGTH:
        raise _error(text, f"too long ({len(cleaned)} characters; at most {MAX_LENGTH})", MAX_LENGTH)
    if not any(char.isalnum() for char in cleaned):
        raise _error(text, 'no words to look for (give words, "a phrase", a OR b, NOT word)', 0)
    # luqum refuses a word that starts with an apostrophe ('ndrangheta); escaped, it is a letter
    escaped = cleaned.replace("'", "\\'")
    try:
        parsed = _lucene.parse(escaped)
    except ParseError as exc:
        problem, column = _explain(exc, escaped)
        raise _error(text, problem, _original_column(escaped, column)) from None
    try:
        node = _Reader().read(parsed, None, 0)
        if node is None:
            raise SearchError('no words to look for (give words, "a phrase", a OR b, NOT word)', 0)
        _check_looks_for_something(node)
    except SearchError as exc:
        raise _error(text, str(exc), _original_column(escaped, exc.column)) from None
    return node


def _error(text: str, problem: str, column: int | None) -> SearchError:
    shown = text if len(text) <= 60 else text[:60] + "…"
    return SearchError(f"search {shown!r}: {problem}", column)


def _original_column(escaped: str, column: int | None) -> int | None:
    """A column in the escaped text → the same place in what the user typed (a ``\\`` before each ``'``)."""
    if column is None:
        return None
    return column - escaped[:column].count("'")


def _explain(exc: ParseError, escaped: str) -> tuple[str, int | None]:
    """luqum's parser message → what went wrong, in the user's terms."""
    found = _POSITION.search(str(exc))
    column = int(found.group(1)) if found else None
    if column is None:  # "unexpected end of expression"
        if _open_parentheses(escaped) > 0:
            return "a '(' is never closed", len(escaped.rstrip())
        return "the search ends too early: AND, OR, NOT and - need a word after them", len(escaped.rstrip())
    rest = escaped[column:]
    if isinstance(exc, IllegalCharacterError) and rest.startswith('"'):
        return 'a phrase opened with " is never closed', column
    token = rest.split(maxsplit=1)[0] if rest.strip() else rest
    if token in ("AND", "OR"):
        return f"{token} needs a word on both sides", column
    if token.startswith(")"):
        return "a ')' closes no '('", column
    return f"unexpected {token[:20]!r}: put text with symbols in quotes", column


def _open_parentheses(escaped: str) -> int:
    """How many '(' outside phrases are left open (escaped ones are letters)."""
    depth, in_phrase, previous = 0, False, ""
    for char in escaped:
        if previous == "\\":
            previous = ""
            continue
        if char == '"':
            in_phrase = not in_phrase
        elif not in_phrase and char in "()":
            depth += 1 if char == "(" else -1
        previous = char
    return depth


class _Reader:
    """luqum's tree → ours, with the field a subtree is narrowed to and how deep it is."""

    def __init__(self) -> None:
        self.readers: dict[type, Callable[[tree.Item, str | None, int], Node | None]] = {
            tree.Group: self._group,
            tree.FieldGroup: self._group,
            tree.Plus: self._group,
            tree.Not: self._not,
            tree.Prohibit: self._not,
            tree.AndOperation: self._and,
            tree.UnknownOperation: self._and,
            tree.OrOperation: self._or,
            tree.SearchField: self._field,
            tree.Phrase: self._phrase,
            tree.Word: self._word,
        }

    def read(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        """Our node, or None for what holds nothing to look for (``&``, ``"…"``)."""
        reader = self.readers.get(type(node))
        if reader is not None:
            return reader(node, field, depth)
        column = getattr(node, "pos", None)
        for kind, message in _UNSUPPORTED.items():
            if isinstance(node, kind):
                raise SearchError(f"{message} (at {str(node)[:30]!r})", column)
        raise SearchError(f"{str(node)[:30]!r} is not supported in a search", column)

    def _inner(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        """What a group, a NOT or a field holds, one level deeper; the column is the outer one's."""
        if depth >= MAX_DEPTH:
            message = f"nested too deeply: at most {MAX_DEPTH} levels of parentheses, NOT and fields"
            raise SearchError(message, node.pos)
        return self.read(node.children[0], field, depth + 1)

    def _group(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        return self._inner(node, field, depth)

    def _not(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        item = self._inner(node, field, depth)
        if item is None:
            return None
        return item.item if isinstance(item, Not) else Not(item)

    def _and(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        items: list[Node] = []
        for child in node.children:
            item = self.read(child, field, depth)
            if item is not None:
                items.extend(item.items if isinstance(item, And) else (item,))
        return None if not items else items[0] if len(items) == 1 else And(tuple(items))

    def _or(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        items: list[Node] = []
        for child in node.children:
            item = self.read(child, field, depth)
            if item is not None:
                items.extend(item.items if isinstance(item, Or) else (item,))
        return None if not items else items[0] if len(items) == 1 else Or(tuple(items))

    def _field(self, node: tree.Item, outer: str | None, depth: int) -> Node | None:
        assert isinstance(node, tree.SearchField)
        name = node.name.lower()
        if name not in SEARCH_FIELDS:
            fields = ", ".join(f"{f}:" for f in SEARCH_FIELDS)
            raise SearchError(
                f"unknown field {node.name[:30]!r} (a search looks in {fields}); "
                f"to look for {str(node)[:30]!r} as words, put it in quotes",
                node.pos,
            )
        if outer is not None and outer != name:
            raise SearchError(f"{name}: inside {outer}: can never match", node.pos)
        return self._inner(node, name, depth)

    def _phrase(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        words = [_unescape(word) for word in node.value[1:-1].split()]
        words = [word for word in words if _has_letters(word)]  # no token in either index
        return Term(" ".join(words), field=field) if words else None

    def _word(self, node: tree.Item, field: str | None, depth: int) -> Node | None:
        value: str = node.value
        _check_operator_like(value, node.pos)
        prefix = value.endswith("*") and not value.endswith("\\*")
        stem = value[:-1] if prefix else value
        if _WILDCARD.search(stem):
            raise SearchError(
                f"{value[:30]!r}: a search takes a * only at the end of a word (negozia*), and no ?", node.pos
            )
        text = " ".join(word for word in _unescape(stem).split() if _has_letters(word))  # "a\\ b": two words
        if prefix and sum(char.isalnum() for char in text) < MIN_PREFIX:
            raise SearchError(
                f"{value[:30]!r} would match almost every word: give at least {MIN_PREFIX} letters before *",
                node.pos,
            )
        return Term(text, prefix, field) if _has_letters(text) else None


def _check_operator_like(value: str, column: int) -> None:
    """Refuse what a user surely meant as an operator but the grammar reads as a word."""
    if _NEAR.fullmatch(value):
        raise SearchError(f"proximity ({value[:30]}) is not supported in a search: give both words", column)
    if value in _SYMBOL_OPERATORS:
        raise SearchError(f"write {_SYMBOL_OPERATORS[value]} instead of {value}", column)
    if value.startswith("!") and _has_letters(value):
        raise SearchError(f"write NOT {value[1:30]} or -{value[1:30]} instead of {value[:30]}", column)
    operator = _LOWERCASE_OPERATORS.get(value.lower())
    if operator is not None:
        raise SearchError(
            f"{value!r} is read as a word: write {operator} in capitals for the operator, "
            f'or "{value}" in quotes to look for the word',
            column,
        )


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def _has_letters(text: str) -> bool:
    """Whether both indexes find a token in ``text`` (letters and digits are tokens, the rest spaces)."""
    return any(char.isalnum() for char in text)


def _check_looks_for_something(node: Node) -> None:
    """Every search and every alternative needs a word to look for: "without X" is not a search.

    FTS5's NOT only subtracts (``a NOT b``), so a NOT must stand beside a word
    that is looked for; refusing the rest keeps both databases giving the
    same answers.
    """
    if isinstance(node, Not):
        raise SearchError("a search needs a word to look for beside the excluded ones (Finlandia -Nato)")
    if isinstance(node, Or):
        for item in node.items:
            if isinstance(item, Not):
                raise SearchError("NOT cannot be an alternative of OR: write a OR (b NOT c)")
            _check_looks_for_something(item)
    elif isinstance(node, And):
        if all(isinstance(item, Not) for item in node.items):
            raise SearchError("a search needs a word to look for beside the excluded ones (Finlandia -Nato)")
        for item in node.items:
            _check_looks_for_something(item.item if isinstance(item, Not) else item)
