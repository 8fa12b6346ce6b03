"""Query text → a small boolean AST, using luqum's Lucene grammar.

Users know the Lucene/Elasticsearch syntax from other tools, so we parse that
grammar with luqum rather than a hand-written parser, then keep only what the
matcher understands:

- terms and "phrases", AND / OR / NOT / ``-x``, parentheses; juxtaposition is AND;
- fields: ``title:`` ``summary:`` ``body:`` narrow a term to one part of the
  article, ``source:`` ``url:`` ``lang:`` test its metadata;
- proximity: ``"Finlandia Nato"~10`` and the media-monitoring ``a NEAR/10 b``;
- wildcards inside one word: ``negozia*``, ``ne?oziato``;
- concepts: ``@finland`` stands for a named list of terms declared in YAML.

Every error carries the 0-based column it is about.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError

from monitor.matching.lucene import parse_lucene

TEXT_FIELDS = ("title", "summary", "body")
META_FIELDS = ("source", "url", "lang", "tag")
FIELDS = TEXT_FIELDS + META_FIELDS


class QuerySyntaxError(ValueError):
    """A query that cannot be used; ``column`` is 0-based within the query text."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message, self.column = message, column


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a phrase or a wildcard word, exactly as written (case matters for acronyms).

    ``field`` is None for "anywhere in the text", else one of TEXT_FIELDS.
    """

    text: str
    column: int
    field: str | None = None

    @property
    def wildcard(self) -> bool:
        return "*" in self.text or "?" in self.text


@dataclass(frozen=True, slots=True)
class Meta:
    """A test on the article's metadata (``source:``, ``url:``, ``lang:``), not on its text."""

    field: str
    value: str
    column: int


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]
    label: str | None = None  # "@finland" when the alternatives come from a concept


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class Near:
    """Every item within ``distance`` words of the others, in any order, in one field.

    Each item is a Term or an Or of Terms (a concept, or ``(a OR b)``).
    """

    items: tuple[Node, ...]
    distance: int
    column: int


Node = Term | Meta | And | Or | Not | Near

_POSITION = re.compile(r"at position (\d+)")
# "NEAR/10" is not Lucene: rewrite it, keeping every column, into a word luqum accepts.
_NEAR_OPERATOR = re.compile(r"(?<![\w\"])NEAR/(\d+)(?![\w\"])")
_NEAR_WORD = re.compile(r"NEAR_(\d+)")
# Lucene refuses a word that starts with an apostrophe ('ndrangheta, 'nduja): it becomes a
# private-use letter of the same length for the parse, so every column stays.
_LEADING_APOSTROPHE = re.compile(r"(?<![^\s(:+\-])'(?=[^\W\d_])")
_APOSTROPHE_MARK = "\ue000"
_WILDCARD_WORD = re.compile(r"[^\W_]*[*?][^\W_*?]*(?:[*?][^\W_*?]*)*")
_CONCEPT = re.compile(r"@([A-Za-z0-9][\w.-]*)")
_UNSUPPORTED: dict[type, str] = {
    tree.Fuzzy: 'fuzzy matching (~) is not supported; for proximity quote the words: "a b"~10',
    tree.Boost: "boosting (^) has no meaning for alerts",
    tree.Range: "ranges ([a TO b]) are not supported",
    tree.Regex: "regular expressions are not supported; use wildcards such as negozia*",
}


# Bounds on one query, so that no rule can stall a load or a reload, or exhaust the stack
# of the code that walks its tree (that code recurses, one level of nesting at a time).
# A long list of alternatives belongs in a concept, which has no such bound.
MAX_QUERY_LENGTH = 100_000  # characters
MAX_NESTING = 50  # parentheses, NOT, -, + and field: inside one another


def parse_query(text: str, concepts: Mapping[str, Sequence[str]] | None = None) -> Node:
    """Parse a rule query; raises QuerySyntaxError with a plain message and column.

    The text is checked against MAX_QUERY_LENGTH and its parentheses against MAX_NESTING
    before it is parsed, the other kinds of nesting on the parsed tree before it is read.
    """
    if not text or not text.strip():
        raise QuerySyntaxError("the query is empty", 0)
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_LENGTH:,} "
            "(a long list of alternatives belongs in a concept)"
        )
    _check_balance(text)
    rewritten = _NEAR_OPERATOR.sub(lambda m: "NEAR_" + m.group(1), text)
    rewritten = _LEADING_APOSTROPHE.sub(_APOSTROPHE_MARK, rewritten)
    try:
        parsed = parse_lucene(rewritten)
    except IllegalCharacterError as exc:
        raise QuerySyntaxError(f"unexpected character in {_quoted(exc)}", _column(exc)) from None
    except ParseError as exc:
        column = _column(exc)
        if column is None and "end of expression" in str(exc):
            column = len(text.rstrip())
        raise QuerySyntaxError(_explain(exc, text), column) from None
    _check_nesting(parsed)
    try:
        return _Converter(concepts or {}).convert(parsed, None)
    except RecursionError:  # within the bound, but called with little of the stack left
        message = f"the query is nested too deeply to read (the limit is {MAX_NESTING} levels)"
        raise QuerySyntaxError(message) from None


def _check_balance(text: str) -> None:
    depth, opened, in_quote, quote_at = 0, [], False, 0
    deepest, too_deep = 0, 0
    for i, char in enumerate(text):
        if char == '"' and (i == 0 or text[i - 1] != "\\"):
            in_quote, quote_at = not in_quote, i
        elif not in_quote and char == "(":
            depth += 1
            opened.append(i)
            if depth > deepest:
                deepest = depth
                too_deep = i if depth == MAX_NESTING + 1 else too_deep
        elif not in_quote and char == ")":
            if depth == 0:
                raise QuerySyntaxError("unbalanced parenthesis: ')' without a matching '('", i)
            depth -= 1
            opened.pop()
    if in_quote:
        raise QuerySyntaxError('unbalanced quote: a phrase opened with " is never closed', quote_at)
    if depth:
        raise QuerySyntaxError("unbalanced parenthesis: '(' is never closed", opened[-1])
    if deepest > MAX_NESTING:
        raise QuerySyntaxError(
            f"parentheses nested {deepest} levels deep; the limit is {MAX_NESTING}", too_deep
        )


def _check_nesting(parsed: tree.Item) -> None:
    """Refuse a tree nested deeper than MAX_NESTING (``NOT NOT … x`` has no parentheses).

    Counted without recursion: each Group, NOT, -, + or field: is a level; AND, OR and
    juxtaposition hold any number of items at one level."""
    deepest, culprit = 0, None
    stack: list[tuple[tree.Item, int]] = [(parsed, 0)]
    while stack:
        node, depth = stack.pop()
        children = node.children
        if children and not isinstance(node, tree.BaseOperation):
            depth += 1
            if depth > deepest:
                deepest = depth
                culprit = node if depth == MAX_NESTING + 1 else culprit
        stack.extend((child, depth) for child in children)
    if deepest > MAX_NESTING:
        raise QuerySyntaxError(
            f"the query is nested {deepest} levels deep (parentheses, NOT, -, +, field:); "
            f"the limit is {MAX_NESTING}",
            getattr(culprit, "pos", None),
        )


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
        if token in ("AND", "OR") or token.startswith("NEAR/"):
            return f"{token} needs a term on both sides"
        return f"unexpected {token!r}"
    return "the query cannot be parsed"


class _Converter:
    """luqum tree → our AST, carrying the field a subtree is scoped to."""

    def __init__(self, concepts: Mapping[str, Sequence[str]]) -> None:
        self.concepts = concepts

    def convert(self, node: tree.Item, field: str | None) -> Node:
        if isinstance(node, tree.Group | tree.FieldGroup | tree.Plus):
            return self.convert(node.children[0], field)
        if isinstance(node, tree.Not | tree.Prohibit):
            return Not(self.convert(node.children[0], field))
        if isinstance(node, tree.AndOperation):
            return And(tuple(self.convert(c, field) for c in node.children))
        if isinstance(node, tree.UnknownOperation):
            return self._juxtaposition(list(node.children), field)
        if isinstance(node, tree.OrOperation):
            return Or(tuple(self.convert(c, field) for c in node.children))
        if isinstance(node, tree.SearchField):
            return self._field(node, field)
        if isinstance(node, tree.Proximity):
            return self._proximity(node, field)
        if isinstance(node, tree.Phrase):
            return self._text(node.value[1:-1], node.pos + 1, field, phrase=True)
        if isinstance(node, tree.Word):
            if _NEAR_WORD.fullmatch(node.value) or node.value == "NEAR":
                raise QuerySyntaxError(
                    "NEAR/N needs a term on both sides, e.g. Finlandia NEAR/10 NATO", node.pos
                )
            return self._text(node.value, node.pos, field, phrase=False)
        for kind, message in _UNSUPPORTED.items():
            if isinstance(node, kind):
                raise QuerySyntaxError(message, getattr(node, "pos", None))
        raise QuerySyntaxError(f"unsupported query element {node!s}", getattr(node, "pos", None))

    def _juxtaposition(self, children: list[tree.Item], field: str | None) -> Node:
        """``a b`` is AND; ``a NEAR/5 b`` binds its two neighbours into a Near."""
        items: list[Node] = []
        i = 0
        while i < len(children):
            child = children[i]
            near = _near_distance(child)
            if near is None:
                items.append(self.convert(child, field))
                i += 1
                continue
            if not items or i + 1 >= len(children) or _near_distance(children[i + 1]) is not None:
                raise QuerySyntaxError("NEAR/N needs a term on both sides", child.pos)
            if i >= 2 and _near_distance(children[i - 2]) is not None:
                raise QuerySyntaxError(
                    'chain NEAR one pair at a time, or write "a b c"~N for several words', child.pos
                )
            left = items.pop()
            right = self.convert(children[i + 1], field)
            items.append(_near((left, right), near, child.pos))
            i += 2
        return items[0] if len(items) == 1 else And(tuple(items))

    def _field(self, node: tree.SearchField, outer: str | None) -> Node:
        name = node.name.lower()
        if name not in FIELDS:
            raise QuerySyntaxError(f"unknown field {node.name!r} (fields: {', '.join(FIELDS)})", node.pos)
        if outer is not None and outer != name:
            raise QuerySyntaxError(f"field {name}: inside field {outer}: can never match", node.pos)
        if name in META_FIELDS:
            return self._meta(name, node.expr)
        return self.convert(node.expr, name)

    def _meta(self, name: str, node: tree.Item) -> Node:
        if isinstance(node, tree.Group | tree.FieldGroup):
            return self._meta(name, node.children[0])
        if isinstance(node, tree.OrOperation):
            return Or(tuple(self._meta(name, c) for c in node.children))
        if isinstance(node, tree.Phrase):
            value = node.value[1:-1]
        elif isinstance(node, tree.Word | tree.Regex):  # url:/world/ is a path, not a regex
            value = node.value
        else:
            raise QuerySyntaxError(
                f"{name}: takes a value or (a OR b), not {node!s}", getattr(node, "pos", None)
            )
        value = value.strip()
        if not value:
            raise QuerySyntaxError(f"{name}: needs a value", node.pos)
        if name == "lang" and not re.fullmatch(r"[a-z]{2,3}", value):
            raise QuerySyntaxError(f"lang:{value} is not a language code such as it, en, fr", node.pos)
        return Meta(name, value, node.pos)

    def _proximity(self, node: tree.Proximity, field: str | None) -> Node:
        phrase = node.term
        if not isinstance(phrase, tree.Phrase):  # luqum only builds Proximity on phrases
            raise QuerySyntaxError("proximity (~N) applies to a quoted phrase", node.pos)
        distance = int(node.degree) if node.degree is not None else 1
        start = phrase.pos + 1
        words = [(m.group(), start + m.start()) for m in re.finditer(r"\S+", phrase.value[1:-1])]
        if len(words) < 2:
            raise QuerySyntaxError('proximity needs at least two words: "Finlandia Nato"~10', node.pos)
        return _near(tuple(self._text(w, col, field, phrase=False) for w, col in words), distance, node.pos)

    def _text(self, text: str, column: int, field: str | None, *, phrase: bool) -> Node:
        concept = _CONCEPT.fullmatch(text)
        if concept and not phrase:
            return self._concept(concept.group(1), column, field)
        # a word's leading apostrophe is punctuation (the article's tokens split it off too), so
        # 'ndrangheta also finds the outlets that drop it; in a phrase it stays one of the words
        text = " ".join(text.replace('\\"', '"').replace(_APOSTROPHE_MARK, "'" if phrase else "").split())
        if not any(c.isalnum() for c in text):
            raise QuerySyntaxError(f"{text!r} has no letters or digits to look for", column)
        if "*" in text or "?" in text:
            _check_wildcard(text, column, phrase)
        return Term(text, column, field)

    def _concept(self, name: str, column: int, field: str | None) -> Node:
        if name not in self.concepts:
            known = ", ".join(f"@{n}" for n in sorted(self.concepts)) or "none declared"
            raise QuerySyntaxError(f"unknown concept @{name} (concepts: {known})", column)
        items = tuple(concept_term(entry, column, field) for entry in self.concepts[name])
        return Or(items, label=f"@{name}")


def concept_term(entry: str, column: int, field: str | None = None) -> Term:
    """One entry of a concept list: a word, a phrase (no quotes needed) or a wildcard word."""
    text = " ".join(entry.split())
    if not any(c.isalnum() for c in text):
        raise QuerySyntaxError(f"{entry!r} has no letters or digits to look for", column)
    if "*" in text or "?" in text:
        _check_wildcard(text, column, phrase=" " in text)
    return Term(text, column, field)


def _check_wildcard(text: str, column: int, phrase: bool) -> None:
    if phrase or " " in text:
        raise QuerySyntaxError("wildcards (* ?) work inside one word, not in a phrase", column)
    if not _WILDCARD_WORD.fullmatch(text):
        raise QuerySyntaxError(f"a wildcard word may hold only letters, digits, * and ?: {text!r}", column)
    if sum(c.isalnum() for c in text) < 2:
        raise QuerySyntaxError(f"{text!r} would match almost every word: give at least two letters", column)


def _near_distance(node: tree.Item) -> int | None:
    if isinstance(node, tree.Word):
        match = _NEAR_WORD.fullmatch(node.value)
        if match:
            return int(match.group(1))
    return None


def _near(items: tuple[Node, ...], distance: int, column: int) -> Near:
    fields = set()
    for item in items:
        alternatives = item.items if isinstance(item, Or) else (item,)
        for alternative in alternatives:
            if not isinstance(alternative, Term):
                raise QuerySyntaxError(
                    "NEAR and ~N take words, phrases or (a OR b) of them on each side", column
                )
            fields.add(alternative.field)
    if len(fields) > 1:
        raise QuerySyntaxError("the words of a proximity must be looked for in the same field", column)
    return Near(items, distance, column)


def near_alternatives(item: Node) -> tuple[Term, ...]:
    """The terms one item of a Near may be matched by."""
    if isinstance(item, Term):
        return (item,)
    assert isinstance(item, Or)
    return tuple(t for t in item.items if isinstance(t, Term))


def terms(node: Node) -> Iterator[tuple[Term, bool]]:
    """Every term with whether it counts *for* a match (False when under an odd number of NOTs)."""

    def walk(n: Node, positive: bool) -> Iterator[tuple[Term, bool]]:
        if isinstance(n, Term):
            yield n, positive
        elif isinstance(n, Meta):
            return
        elif isinstance(n, Not):
            yield from walk(n.item, not positive)
        else:
            for item in n.items:
                yield from walk(item, positive)

    return walk(node, True)


def evaluate(node: Node, present: Callable[[Node], bool]) -> bool:
    """Truth of ``node`` given a test for its leaves (Term, Meta and Near)."""
    if isinstance(node, Not):
        return not evaluate(node.item, present)
    if isinstance(node, And):
        return all(evaluate(item, present) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, present) for item in node.items)
    return present(node)


def matches_without_terms(node: Node) -> bool:
    """True when the query could fire on an article holding none of its words.

    Metadata tests are tried both ways: ``lang:it`` alone would alert on every
    Italian article, and ``x OR NOT lang:it`` on every other one; each is a feed
    subscription, not a watch rule, and the index could never select it.
    """
    return any(
        evaluate(node, lambda leaf, meta=meta: meta and isinstance(leaf, Meta))  # type: ignore[misc]
        for meta in (True, False)
    )
