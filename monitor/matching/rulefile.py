"""Rule files (YAML) → validated RuleSpecs, with every problem located by file and line.

A broken rule must never silently vanish (miniflux's "invalid rules are
ignored" is what we avoid): ``load_rules`` returns the good rules *and* every
problem, so ``monitor rules check`` can fail while the daemon keeps watching
with the rules that are valid and says loudly which ones it left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from monitor.errors import RuleProblem
from monitor.matching.query import Node, QuerySyntaxError, matches_without_terms, parse_query
from monitor.yamlfile import YamlSyntaxError, line_of, load_yaml, locate, to_plain, value_position

RULE_SUFFIXES = (".yaml", ".yml")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _one_or_many(value: Any) -> Any:
    """``notify: slack`` means ``notify: [slack]``: the form people write first."""
    return [value] if isinstance(value, str) else value


OneOrMany = Annotated[list[str], BeforeValidator(_one_or_many)]


class RuleModel(BaseModel):
    """One rule as written in YAML."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    id: str = Field(max_length=200, description="unique, stable identifier: letters, digits, - _ .")
    name: str | None = Field(None, description="human-readable name shown in alerts")
    description: str = ""
    query: str = Field(description='what to look for (terms, "phrases", AND/OR/NOT, parentheses)')
    languages: OneOrMany = Field(default_factory=list, description="only articles in these languages")
    notify: OneOrMany = Field(default_factory=list, description="channel names; default: defaults.notify")
    tags: OneOrMany = Field(default_factory=list)
    enabled: bool = True

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
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise ValueError(f"{code!r} is not a language code such as it, en, fr")
        return value


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


@dataclass
class RuleSet:
    """The outcome of loading rule files: the usable rules and every problem found."""

    rules: list[RuleSpec] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


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
    """Load and validate every rule file; duplicates and unknown channels are problems too."""
    files, problems = rule_files(paths)
    result = RuleSet(problems=problems, files=files)
    known_channels = set(channels) if channels is not None else None
    seen_ids: dict[str, str] = {}
    for path in files:
        for spec in _load_file(path, result.problems, seen_ids):
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
    result.problems.sort(key=lambda p: (p.path, p.line or 0))
    return result


def _load_file(path: Path, problems: list[RuleProblem], seen_ids: dict[str, str]) -> list[RuleSpec]:
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        problems.append(RuleProblem(str(path), exc.line, f"not valid YAML: {exc.message}"))
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(RuleProblem(str(path), None, f"cannot read the file: {exc}"))
        return []
    if doc is None:
        return []
    items = doc.get("rules") if isinstance(doc, dict) else doc
    if isinstance(doc, dict):
        extra = [k for k in doc if k not in ("rules", "$schema")]
        for key in extra:
            problems.append(
                RuleProblem(str(path), line_of(doc, key), f"unknown top-level key {key!r} (expected 'rules')")
            )
    if not isinstance(items, list):
        problems.append(
            RuleProblem(str(path), line_of(doc), "expected a list of rules under the key 'rules'")
        )
        return []
    specs = []
    for index, item in enumerate(items):
        spec = _load_rule(path, items, index, item, problems, seen_ids)
        if spec is not None:
            specs.append(spec)
    return specs


def _load_rule(
    path: Path, items: Any, index: int, item: Any, problems: list[RuleProblem], seen_ids: dict[str, str]
) -> RuleSpec | None:
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
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown key {where!r} (allowed: {', '.join(RuleModel.model_fields)})"
            elif error["type"] == "missing":
                message = f"missing required key {where!r}"
            else:
                message = f"{where}: {message}"
            problems.append(RuleProblem(str(path), locate(item, error["loc"]) or line, message, rule_id))
        return None
    try:
        expr = parse_query(model.query)
        if matches_without_terms(expr):
            raise QuerySyntaxError(
                "this query would match every article that lacks its terms; "
                "add at least one term outside NOT",
                0,
            )
    except QuerySyntaxError as exc:
        position = value_position(item, "query")
        column = None
        if position is not None and exc.column is not None and "\n" not in model.query:
            quoted = 1 if str(_raw_scalar_style(item)) in ("'", '"') else 0
            column = position[1] + quoted + exc.column
        problems.append(
            RuleProblem(
                str(path),
                position[0] if position else line,
                f"query: {exc.message}"
                + (
                    f"\n    {model.query}\n    {' ' * exc.column}^"
                    if model.query.strip() and exc.column is not None and "\n" not in model.query
                    else ""
                ),
                model.id,
                column,
            )
        )
        return None
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
    )


def _raw_scalar_style(item: Any) -> str | None:
    value = item.get("query")
    return getattr(value, "style", None) if value is not None else None
