"""One rule file's concepts and rules, checked on their own: what a reload may keep while the
file and the concepts its queries name stay the same.

Checks that span files (an id or a concept declared twice, a channel that does not exist)
are left to ``rulefile.load_rules``, which puts the files together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.errors import RuleProblem
from monitor.matching.lint import lint_query
from monitor.matching.query import (
    MAX_NESTING,
    Meta,
    Node,
    QuerySyntaxError,
    concept_term,
    matches_without_terms,
    parse_query,
)
from monitor.matching.rulemodel import (
    CONCEPT_NAME,
    RuleExample,
    RuleModel,
    RuleSpec,
    known_language,
    parse_throttle,
)
from monitor.yamlfile import line_of, locate, to_plain, value_position, value_quote

Concepts = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Concept:
    """A concept as declared, with what is wrong with its name or its terms (None: nothing)."""

    name: str
    line: int | None
    terms: tuple[str, ...]
    name_problem: str | None
    terms_problem: str | None


def read_concepts(path: Path, doc: Any) -> tuple[list[Concept], list[RuleProblem]]:
    """The concepts a file declares, each checked on its own."""
    concepts = doc.get("concepts") if isinstance(doc, dict) else None
    if concepts is None:
        return [], []
    if not isinstance(concepts, dict):
        message = "concepts must map names to lists of terms"
        return [], [RuleProblem(str(path), line_of(doc, "concepts"), message)]
    found = []
    for name, entries in concepts.items():
        name_problem = None
        if not re.match(CONCEPT_NAME, str(name)):
            name_problem = f"concept name {str(name)!r} may hold only letters, digits, '-', '_' and '.'"
        found.append(
            Concept(
                str(name),
                line_of(concepts, name),
                tuple(str(e) for e in entries) if isinstance(entries, list) else (),
                name_problem,
                _terms_problem(str(name), entries),
            )
        )
    return found, []


def _terms_problem(name: str, entries: Any) -> str | None:
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str | int) for e in entries):
        return f"concept @{name} must be a non-empty list of terms"
    try:
        for entry in entries:
            concept_term(str(entry), 0)
    except QuerySyntaxError as exc:
        return f"concept @{name}: {exc.message}"
    return None


@dataclass(frozen=True)
class CheckedRule:
    """One item of a rules list: its id and where it is written (for the check of duplicates
    across files), and either the rule or what is wrong with it (warnings come with a rule)."""

    rule_id: str | None
    id_line: int | None
    spec: RuleSpec | None
    problems: tuple[RuleProblem, ...]


class _ConceptsRead(Mapping[str, tuple[str, ...]]):
    """The concepts, noting those the queries asked for: the file's rules hold as checked while
    none of them changes (and, if a message listed every concept, while none is added or removed)."""

    def __init__(self, concepts: Concepts) -> None:
        self.concepts = concepts
        self.read: dict[str, tuple[str, ...] | None] = {}
        self.listed = False

    def __getitem__(self, name: str) -> tuple[str, ...]:
        self.read[name] = self.concepts.get(name)
        return self.concepts[name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self.read[name] = self.concepts.get(name)
        return name in self.concepts

    def __iter__(self) -> Iterator[str]:
        self.listed = True
        return iter(self.concepts)

    def __len__(self) -> int:
        self.listed = True
        return len(self.concepts)


@dataclass(frozen=True)
class CheckedRules:
    """A file's rules checked against some concepts, and which of those concepts they read."""

    rules: tuple[CheckedRule, ...]
    problems: tuple[RuleProblem, ...]  # the file's own: no list of rules where one was expected
    read: dict[str, tuple[str, ...] | None]
    listed: frozenset[str] | None  # every concept name, when a message listed them

    def hold_for(self, concepts: Concepts) -> bool:
        """Whether checking the same file against ``concepts`` would give the same answer."""
        return all(concepts.get(name) == terms for name, terms in self.read.items()) and (
            self.listed is None or self.listed == concepts.keys()
        )


def check_rules(path: Path, doc: Any, concepts: Concepts) -> CheckedRules:
    """Every rule of a file's document, each checked on its own against ``concepts``."""
    read = _ConceptsRead(concepts)
    rules: list[CheckedRule] = []
    problems: list[RuleProblem] = []
    items = doc.get("rules", []) if isinstance(doc, dict) else doc
    if doc is None:
        items = []
    elif not isinstance(items, list):
        problems.append(
            RuleProblem(str(path), line_of(doc), "expected a list of rules under the key 'rules'")
        )
        items = []
    for index, item in enumerate(items):
        rules.append(_check_rule(path, items, index, item, read))
    listed = frozenset(concepts) if read.listed else None
    return CheckedRules(tuple(rules), tuple(problems), read.read, listed)


def _check_rule(path: Path, items: Any, index: int, item: Any, concepts: Concepts) -> CheckedRule:
    line = line_of(items, index)
    if not isinstance(item, dict):
        problem = RuleProblem(str(path), line, "each rule must be a mapping with id and query")
        return CheckedRule(None, None, None, (problem,))
    rule_id = item.get("id") if isinstance(item.get("id"), str) else None
    id_line = line_of(item, "id") or line
    problems: list[RuleProblem] = []
    spec = _check_model(path, item, line, rule_id, concepts, problems)
    return CheckedRule(rule_id, id_line, spec, tuple(problems))


def _check_model(
    path: Path,
    item: Any,
    line: int | None,
    rule_id: str | None,
    concepts: Concepts,
    problems: list[RuleProblem],
) -> RuleSpec | None:
    try:
        model = RuleModel.model_validate(to_plain(item))
    except ValidationError as exc:
        problems.extend(_validation_problems(path, item, line, rule_id, exc))
        return None
    locate_query = _QueryLocator(path, item, model, line)
    try:
        expr = parse_query(model.query, concepts)
        _check_meaning(expr)
        warnings = list(lint_query(expr, model.query))
    except QuerySyntaxError as exc:
        problems.append(locate_query.problem(exc.message, exc.column))
        return None
    except RecursionError:  # within MAX_NESTING, but reached with little of the stack left
        message = f"the query is nested too deeply to check (the limit is {MAX_NESTING} levels)"
        problems.append(locate_query.problem(message, None))
        return None
    for message, column in warnings:
        problems.append(locate_query.problem(message, column, warning=True))
    if not model.enabled:
        return None
    return RuleSpec(
        id=model.id,
        name=model.name or model.id,
        query=model.query,
        expr=expr,
        path=str(path),
        line=line,
        languages=tuple(model.languages),
        notify=tuple(model.notify),
        tags=tuple(model.tags),
        description=model.description,
        lemmas=model.lemmas,
        min_mentions=model.min_mentions,
        in_title=model.in_title,
        throttle=parse_throttle(model.throttle) if model.throttle else None,
        urgent=model.urgent,
        examples=_examples(item, model),
    )


def _check_meaning(expr: Node) -> None:
    if matches_without_terms(expr):
        raise QuerySyntaxError(
            "this query could fire on an article holding none of its words (a NOT, or source:/url:/lang: "
            "alone); add at least one word or phrase outside NOT",
            0,
        )
    for meta in _metas(expr):
        if meta.field == "lang" and not known_language(meta.value):
            raise QuerySyntaxError(f"lang:{meta.value} is not a language code (it, en, fr)", meta.column)


def _metas(node: Node) -> Iterable[Meta]:
    if isinstance(node, Meta):
        yield node
    elif hasattr(node, "items"):
        for item in node.items:
            yield from _metas(item)
    elif hasattr(node, "item"):
        yield from _metas(node.item)


def _validation_problems(
    path: Path, item: Any, line: int | None, rule_id: str | None, exc: ValidationError
) -> Iterable[RuleProblem]:
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = (
                ", ".join(RuleModel.model_fields) if len(error["loc"]) == 1 else "see monitor rules schema"
            )
            message = f"unknown key {where!r} (allowed: {allowed})"
        elif error["type"] == "missing":
            message = f"missing required key {where!r}"
        else:
            message = f"{where}: {message}"
        yield RuleProblem(str(path), locate(item, error["loc"]) or line, message, rule_id)


@dataclass
class _QueryLocator:
    """Turns a column inside the query into file:line:column and a caret under the culprit."""

    path: Path
    item: Any
    model: RuleModel
    line: int | None

    def problem(self, message: str, column: int | None, *, warning: bool = False) -> RuleProblem:
        query = self.model.query
        position = value_position(self.item, "query")
        one_line = "\n" not in query
        at = None
        if position is not None and column is not None and one_line:
            quoted = 1 if value_quote(self.item, "query") else 0
            at = position[1] + quoted + column
        caret = ""
        if query.strip() and column is not None and one_line:
            shown, column = _excerpt(query, column)
            caret = f"\n    {shown}\n    {' ' * column}^"
        return RuleProblem(
            str(self.path),
            position[0] if position else self.line,
            f"query: {message}{caret}",
            self.model.id,
            at,
            warning,
        )


def _excerpt(query: str, column: int, width: int = 100) -> tuple[str, int]:
    """The part of a long query around ``column`` (a query may hold thousands of characters),
    and the column within it."""
    if len(query) <= width:
        return query, column
    start = max(0, min(column - width // 2, len(query) - width))
    shown = query[start : start + width]
    before = "…" if start else ""
    after = "…" if start + width < len(query) else ""
    return f"{before}{shown}{after}", column - start + len(before)


def _examples(item: Any, model: RuleModel) -> tuple[RuleExample, ...]:
    if model.examples is None:
        return ()
    raw = item.get("examples") or {}
    out = []
    for key, should_match in (("match", True), ("no_match", False)):
        for i, example in enumerate(getattr(model.examples, key)):
            line = line_of(raw.get(key), i) if isinstance(raw, dict) else None
            if isinstance(example, str):
                out.append(RuleExample(example, "", None, should_match, line))
            else:
                out.append(RuleExample(example.text, example.title, example.lang, should_match, line))
    return tuple(out)
