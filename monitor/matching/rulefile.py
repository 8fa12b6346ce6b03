"""Rule files (YAML) → validated RuleSpecs, with every problem located by file, line and column.

A broken rule must never silently vanish (miniflux's "invalid rules are
ignored" is what we avoid): ``load_rules`` returns the good rules *and* every
problem, so ``monitor rules check`` can fail while the daemon keeps watching
with the rules that are valid and says loudly which ones it left out.  Risky
but usable queries come back as warnings.

The pydantic models here are also the source of ``monitor rules schema``, so
editors and the loader can never disagree about what a rule file may hold.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import langcodes
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

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
from monitor.yamlfile import (
    YamlLimitError,
    YamlSyntaxError,
    line_of,
    load_yaml,
    locate,
    parse_yaml,
    to_plain,
    value_position,
)

RULE_SUFFIXES = (".yaml", ".yml")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CONCEPT_NAME = r"^[A-Za-z0-9][\w.-]*$"
SCHEMA_URL = "https://news-monitor.example/schema/rules.schema.json"


def _one_or_many(value: Any) -> Any:
    """``notify: slack`` means ``notify: [slack]``: the form people write first."""
    return [value] if isinstance(value, str) else value


OneOrMany = Annotated[list[str], BeforeValidator(_one_or_many, json_schema_input_type=str | list[str])]


def known_language(code: str) -> bool:
    """An ISO 639 code (it, en, fi, no): spaCy's own data, or its multi-language tokenizer."""
    if not re.fullmatch(r"[a-z]{2,3}", code):
        return False
    return importlib.util.find_spec(f"spacy.lang.{code}") is not None or langcodes.tag_is_valid(code)


class ExampleText(BaseModel):
    """An example article: its text, and optionally a title and language."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="the article text (body)")
    title: str = Field("", description="the article title")
    lang: str | None = Field(
        None, description="the article language (default: the rule's, or default_language)"
    )


Example = str | ExampleText


class Examples(BaseModel):
    """Short texts the rule must and must not fire on; ``monitor rules check`` runs them."""

    model_config = ConfigDict(extra="forbid")

    match: list[Example] = Field(default_factory=list, description="texts the rule must fire on")
    no_match: list[Example] = Field(default_factory=list, description="texts the rule must not fire on")


class RuleModel(BaseModel):
    """One rule as written in YAML."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    id: str = Field(max_length=200, description="unique, stable identifier: letters, digits, - _ .")
    name: str | None = Field(None, description="human-readable name shown in alerts")
    description: str = Field("", description="what the rule is for (not used for matching)")
    query: str = Field(
        description='what to look for: terms, "phrases", AND/OR/NOT, (), fields such as title:, '
        '"a b"~10, a NEAR/10 b, prefix*, @concept'
    )
    languages: OneOrMany = Field(default_factory=list, description="only articles in these languages")
    lemmas: bool = Field(False, description="match inflected forms too (attacco aereo → attacchi aerei)")
    min_mentions: int = Field(
        1, ge=1, description="fire only when the terms are mentioned at least this often"
    )
    in_title: bool = Field(False, description="fire only when a term is mentioned in the title")
    throttle: str | None = Field(
        None,
        pattern=r"^\s*[1-9][0-9]*\s*/\s*([0-9]+(\.[0-9]+)?)?\s*(s|m|h|d)\s*$",
        description="at most N alerts per period per channel, e.g. 10/h or 3/30m; the rest in one summary",
    )
    urgent: bool = Field(False, description="alert even during a channel's quiet hours")
    notify: OneOrMany = Field(default_factory=list, description="channel names; default: defaults.notify")
    tags: OneOrMany = Field(default_factory=list, description="labels carried into alerts")
    enabled: bool = Field(True, description="false keeps the rule in the file without running it")
    examples: Examples | None = Field(None, description="texts that must and must not match (rules check)")

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("an id may hold only letters, digits, '-', '_' and '.', with no spaces")
        return value

    @field_validator("languages")
    @classmethod
    def _valid_languages(cls, value: list[str]) -> list[str]:
        for code in value:
            if not known_language(code):
                raise ValueError(f"{code!r} is not a language code such as it, en, fr")
        return value


ConceptName = Annotated[str, Field(pattern=_CONCEPT_NAME)]


class RuleFile(BaseModel):
    """A rule file: named concepts (term lists) and rules.  The JSON Schema is generated from this."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="news-monitor rule file")

    schema_: str | None = Field(
        None, alias="$schema", description="the JSON Schema of this file, for editors"
    )
    concepts: dict[ConceptName, list[str]] = Field(
        default_factory=dict,
        description="named term lists, used in queries as @name: finland: [Finlandia, Finland, finlandese*]",
    )
    rules: list[RuleModel] = Field(default_factory=list, description="the watch rules")


@dataclass(frozen=True)
class RuleExample:
    """One example of a rule, with whether the rule must fire on it."""

    text: str
    title: str
    lang: str | None
    should_match: bool
    line: int | None


def parse_throttle(text: str) -> tuple[int, float]:
    """``10/h`` → (10, 3600.0); ``3/30m`` → (3, 1800.0)."""
    count, _, period = text.replace(" ", "").partition("/")
    unit = period[-1]
    amount = float(period[:-1] or 1)
    return int(count), amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


@dataclass(frozen=True)
class RuleSpec:
    """A validated rule with its parsed query and where it was written."""

    id: str
    name: str
    query: str
    expr: Node
    path: str
    line: int | None
    languages: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    lemmas: bool = False
    min_mentions: int = 1
    in_title: bool = False
    examples: tuple[RuleExample, ...] = ()
    throttle: tuple[int, float] | None = None  # (alerts, seconds)
    urgent: bool = False


@dataclass
class RuleSet:
    """The outcome of loading rule files: the usable rules and every problem found."""

    rules: list[RuleSpec] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    concepts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def errors(self) -> list[RuleProblem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.warning]


def rule_files(paths: Iterable[Path]) -> tuple[list[Path], list[RuleProblem]]:
    """Expand folders into their YAML files (sorted, recursive); report paths that do not exist."""
    files: list[Path] = []
    problems: list[RuleProblem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(RuleProblem(str(path), None, "no such file or folder"))
    return files, problems


def load_rules(paths: Sequence[Path], channels: Iterable[str] | None = None) -> RuleSet:
    """Load and validate every rule file; concepts are shared by all files."""
    files, problems = rule_files(paths)
    result = RuleSet(problems=problems, files=files)
    documents = [(path, doc) for path in files if (doc := _read(path, result.problems)) is not None]
    concept_lines: dict[str, str] = {}
    for path, doc in documents:
        _load_concepts(path, doc, result, concept_lines)
    known_channels = set(channels) if channels is not None else None
    seen_ids: dict[str, str] = {}
    for path, doc in documents:
        for spec in _load_file(path, doc, result, seen_ids):
            unknown = [c for c in spec.notify if known_channels is not None and c not in known_channels]
            if unknown:
                result.problems.append(
                    RuleProblem(
                        spec.path,
                        spec.line,
                        f"unknown channel(s) {', '.join(unknown)} in notify "
                        f"(channels in monitor.yaml: {', '.join(sorted(known_channels or ())) or 'none'})",
                        spec.id,
                    )
                )
                continue
            result.rules.append(spec)
    result.problems.sort(key=lambda p: (p.path, p.line or 0, p.warning))
    return result


def load_rule_text(
    text: str,
    name: str,
    concepts: Mapping[str, tuple[str, ...]] | None = None,
    channels: Iterable[str] | None = None,
) -> RuleSet:
    """Rules written in ``text`` (the YAML of a rule file) judged as ``monitor rules check`` would.

    For a rule not saved anywhere yet (the web playground): ``concepts`` are the
    configured rule files' @concepts, which its queries may use.
    """
    result = RuleSet(concepts=dict(concepts or {}))
    try:
        doc = parse_yaml(text, name)
    except YamlSyntaxError as exc:
        prefix = "" if isinstance(exc, YamlLimitError) else "not valid YAML: "
        result.problems.append(RuleProblem(name, exc.line, prefix + exc.message))
        return result
    _load_concepts(Path(name), doc, result, {})
    known = set(channels) if channels is not None else None
    for spec in _load_file(Path(name), doc, result, {}):
        unknown = [c for c in spec.notify if known is not None and c not in known]
        if unknown:
            message = f"unknown channel(s) {', '.join(unknown)} in notify"
            result.problems.append(RuleProblem(name, spec.line, message, spec.id))
            continue
        result.rules.append(spec)
    return result


def _read(path: Path, problems: list[RuleProblem]) -> Any:
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        prefix = "" if isinstance(exc, YamlLimitError) else "not valid YAML: "
        problems.append(RuleProblem(str(path), exc.line, prefix + exc.message))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(RuleProblem(str(path), None, f"cannot read the file: {exc}"))
        return None
    if isinstance(doc, dict):
        for key in doc:
            if key not in ("rules", "concepts", "$schema"):
                problems.append(
                    RuleProblem(
                        str(path),
                        line_of(doc, key),
                        f"unknown top-level key {key!r} (expected rules, concepts)",
                    )
                )
    return doc


def _load_concepts(path: Path, doc: Any, result: RuleSet, seen: dict[str, str]) -> None:
    concepts = doc.get("concepts") if isinstance(doc, dict) else None
    if concepts is None:
        return
    if not isinstance(concepts, dict):
        result.problems.append(
            RuleProblem(str(path), line_of(doc, "concepts"), "concepts must map names to lists of terms")
        )
        return
    for name, entries in concepts.items():
        line = line_of(concepts, name)
        problem = _concept_problem(str(name), entries, seen)
        if problem is None:
            try:
                for entry in entries:
                    concept_term(str(entry), 0)
            except QuerySyntaxError as exc:
                problem = f"concept @{name}: {exc.message}"
        if problem is not None:
            result.problems.append(RuleProblem(str(path), line, problem))
            continue
        seen[str(name)] = f"{path}:{line}"
        result.concepts[str(name)] = tuple(str(e) for e in entries)


def _concept_problem(name: str, entries: Any, seen: dict[str, str]) -> str | None:
    if not re.match(_CONCEPT_NAME, name):
        return f"concept name {name!r} may hold only letters, digits, '-', '_' and '.'"
    if name in seen:
        return f"concept @{name} is declared twice (first at {seen[name]})"
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str | int) for e in entries):
        return f"concept @{name} must be a non-empty list of terms"
    return None


def _load_file(path: Path, doc: Any, result: RuleSet, seen_ids: dict[str, str]) -> list[RuleSpec]:
    if doc is None:
        return []
    items = doc.get("rules", []) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        result.problems.append(
            RuleProblem(str(path), line_of(doc), "expected a list of rules under the key 'rules'")
        )
        return []
    specs = []
    for index, item in enumerate(items):
        spec = _load_rule(path, items, index, item, result, seen_ids)
        if spec is not None:
            specs.append(spec)
    return specs


def _load_rule(
    path: Path, items: Any, index: int, item: Any, result: RuleSet, seen_ids: dict[str, str]
) -> RuleSpec | None:
    problems = result.problems
    line = line_of(items, index)
    if not isinstance(item, dict):
        problems.append(RuleProblem(str(path), line, "each rule must be a mapping with id and query"))
        return None
    rule_id = item.get("id") if isinstance(item.get("id"), str) else None
    if rule_id is not None:
        if rule_id in seen_ids:
            problems.append(
                RuleProblem(
                    str(path),
                    line_of(item, "id") or line,
                    f"duplicate rule id (first defined at {seen_ids[rule_id]})",
                    rule_id,
                )
            )
            return None
        seen_ids[rule_id] = f"{path}:{line_of(item, 'id') or line}"
    try:
        model = RuleModel.model_validate(to_plain(item))
    except ValidationError as exc:
        problems.extend(_validation_problems(path, item, line, rule_id, exc))
        return None
    locate_query = _QueryLocator(path, item, model, line)
    try:
        expr = parse_query(model.query, result.concepts)
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
            value = self.item.get("query")
            quoted = 1 if getattr(value, "style", None) in ("'", '"') else 0
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


FilesSignature = tuple[tuple[str, int, int], ...]


def files_signature(paths: Iterable[Path]) -> FilesSignature:
    """What the rule files look like on disk (path, mtime, size): a change in it means an edit."""
    files, _missing = rule_files(paths)
    signature = []
    for path in files:
        with contextlib.suppress(OSError):  # deleted meanwhile: absent from the signature, as it should
            stat = path.stat()
            signature.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(signature)
