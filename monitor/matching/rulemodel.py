"""What a rule file may hold (pydantic models, the source of ``monitor rules schema``) and what
a checked rule becomes (RuleSpec).

The models are the one description of a rule file, so editors (through the JSON Schema) and
the loader can never disagree about it.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import Annotated, Any

import langcodes
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from monitor.matching.query import Node

RULE_SUFFIXES = (".yaml", ".yml")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CONCEPT_NAME = r"^[A-Za-z0-9][\w.-]*$"
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


ConceptName = Annotated[str, Field(pattern=CONCEPT_NAME)]


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
