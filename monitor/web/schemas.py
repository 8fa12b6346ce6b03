"""The API's wire payloads: what /api/v1/ answers and accepts, apart from the internal models.

Kept separate (as miniflux keeps its integration payloads) so an internal
rename never changes what a client reads; the OpenAPI document is generated
from these classes, so the document and the answers cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**62  # ids are 64-bit in the database: larger numbers name nothing


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Problem(_Out):
    """Every 4xx and 5xx answer of the API."""

    error: str = Field(description="what was wrong, naming the culprit (parameter, field, rule, channel)")
    status: int


class TermOut(_Out):
    term: str = Field(description="the rule's term that matched")
    text: str = Field(description="the words as written in the article")
    field: str = Field(description="title, summary or body")
    start: int = Field(description="character offset in that field")
    end: int


class ArticleRef(_Out):
    id: int
    title: str
    url: str | None
    source: str
    language: str | None
    published: datetime | None


class HitOut(_Out):
    id: int
    rule: str
    rule_name: str
    rule_tags: list[str]
    created_at: datetime
    article: ArticleRef
    terms: list[TermOut]
    snippet: str
    also_reported_by: list[str] = Field(description="other sources that carried the same story")


class HitsPage(_Out):
    items: list[HitOut]
    next: str | None = Field(description="cursor of the next (older) page; null on the last page")
    newest_id: int = Field(description="the newest hit id overall: poll with after=<it> for new ones")


class ArticleOut(_Out):
    id: int
    uid: str
    title: str
    url: str | None
    source: str
    language: str | None
    published: datetime | None
    ingested_at: datetime
    tags: list[str]
    hits: int


class ArticlesPage(_Out):
    items: list[ArticleOut]
    next: str | None


class ArticleHitOut(_Out):
    rule: str
    rule_name: str
    rule_tags: list[str]
    created_at: datetime
    terms: list[TermOut]
    snippet: str


class StoryRef(_Out):
    id: int
    source: str
    title: str


class ArticleDetailOut(_Out):
    id: int
    uid: str
    title: str
    summary: str
    body: str
    url: str | None
    source: str
    origin: str
    language: str | None
    published: datetime | None
    ingested_at: datetime
    tags: list[str]
    authors: list[str]
    hits: list[ArticleHitOut]
    also_reported_by: list[StoryRef]


class RuleStatsOut(_Out):
    day: int = Field(description="hits in the last 24 hours")
    week: int
    month: int = Field(description="hits in the last 30 days")
    last: datetime | None
    daily: list[int] = Field(description="hits per day over the last 30 days, oldest first")


class RuleOut(_Out):
    id: str
    name: str
    query: str
    description: str
    file: str
    line: int | None
    languages: list[str]
    lemmas: bool
    min_mentions: int
    in_title: bool
    notify: list[str] = Field(description="channel names (the channels' settings are never shown)")
    tags: list[str]
    throttle: str | None
    urgent: bool
    stats: RuleStatsOut


class RuleProblemOut(_Out):
    path: str
    line: int | None
    column: int | None
    rule: str | None
    message: str
    warning: bool
    text: str = Field(description="the problem as `monitor rules check` prints it")


class RulesOut(_Out):
    rules: list[RuleOut]
    total: int = Field(description="rules loaded (that the q filter kept)")
    next_offset: int | None = Field(description="pass as offset=<it> for the next page; null on the last")
    problems: list[RuleProblemOut] = Field(description="what `monitor rules check` reports of the rule files")
    more_problems: int = Field(description="problems beyond those listed")
    checked: bool = Field(description="false while the rule files are still being read")


class RuleOptions(BaseModel):
    """A rule to try: a query and the options of a rule file (nothing is saved)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(max_length=10_000, description="the query, as in a rule file")
    languages: list[str] = Field(default_factory=list, max_length=20)
    lemmas: bool = False
    min_mentions: int = Field(1, ge=1, le=1000)
    in_title: bool = False


class RuleTestIn(RuleOptions):
    title: str = Field("", max_length=2_000)
    text: str = Field("", max_length=200_000, description="the article text to try the query on")
    language: str | None = Field(None, max_length=16, description="the text's language (default: detected)")


class DecisionOut(_Out):
    fired: bool
    reason: str = Field(description="what stopped a query that held (language, in_title, min_mentions)")
    explain: dict[str, Any] = Field(
        description="the query clause by clause: label, value, children, occurrences"
    )
    evidence: list[str] = Field(description="each sentence with the terms marked **like this**")
    terms: list[TermOut]
    snippet: str


class RuleCheckOut(_Out):
    ok: bool = Field(description="true when the rule would load (warnings allowed)")
    problems: list[RuleProblemOut]
    yaml: str = Field(description="the rule as YAML, to paste into a rule file")
    outline: list[str] = Field(description="the parsed query, one clause a line")


class RuleTestOut(RuleCheckOut):
    language: str | None = None
    decision: DecisionOut | None = None


class BacktestIn(RuleOptions):
    days: int = Field(7, ge=1, le=3650, description="the stored articles ingested in the last N days")


class BacktestHitOut(_Out):
    article: ArticleRef
    ingested_at: datetime
    terms: list[TermOut]
    snippet: str


class BacktestOut(RuleCheckOut):
    scanned: int = 0
    matched: int = 0
    complete: bool = Field(
        True, description="false when the time budget ran out first (newest scanned first)"
    )
    seconds: float = 0.0
    hits: list[BacktestHitOut] = Field(default_factory=list)


class FeedOut(_Out):
    url: str
    name: str
    tags: list[str]
    state: str = Field(description="ok, failing, stale, disabled or new")
    fetch_url: str | None
    last_fetch: datetime | None
    status: int | None
    new_entries: int
    entries_seen: int
    error_streak: int
    next_fetch: datetime | None
    problem: str | None


class FolderFailure(_Out):
    path: str
    reason: str
    when: datetime


class FolderOut(_Out):
    path: str
    name: str
    files: dict[str, int] = Field(description="files read by outcome: ingested, duplicate, failed")
    failures: list[FolderFailure]
    last_seen: datetime | None


class SourcesOut(_Out):
    feeds: list[FeedOut]
    folders: list[FolderOut]


class FeedEnableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=4_000, description="a configured feed's URL")


class FeedEnableOut(_Out):
    url: str
    enabled: bool


class DeliveryOut(_Out):
    id: int
    channel: str
    status: str = Field(description="pending, held, sent, dead or summarized")
    attempts: int
    next_attempt: datetime
    last_error: str | None = Field(description="the receiver's last answer")
    created: datetime
    sent: datetime | None
    rule: str
    title: str
    source: str


class ChannelOut(_Out):
    name: str
    type: str
    counts: dict[str, int]


class OutboxOut(_Out):
    channels: list[ChannelOut]
    items: list[DeliveryOut]
    next: int | None = Field(description="pass as before=<it> for the next (older) page")


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        default_factory=list, max_length=1_000, description="delivery ids"
    )
    all_dead: bool = Field(False, description="every dead delivery")


class RetryOut(_Out):
    queued: int
    refused: dict[str, str] = Field(description="delivery id → why it was not queued (sent, no such id)")


class TestAlertOut(_Out):
    channel: str
    ok: bool
    message: str = Field(description="what the receiver answered")
    retryable: bool


class IngestIn(BaseModel):
    """An article in the JSON file format (title or body required; other spellings accepted)."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = Field(None, description="stable story id: a second post with it changes nothing")
    title: str | None = None
    summary: str | None = None
    body: str | None = None
    url: str | None = Field(None, description="with no id, the canonical URL identifies the story")
    published: str | int | float | None = Field(None, description="ISO 8601, RFC 2822 or Unix epoch")
    language: str | None = None
    source: str | None = Field(None, description="default: api")


class IngestHitOut(_Out):
    rule: str
    rule_name: str
    terms: list[TermOut]
    snippet: str


class IngestOut(_Out):
    id: int
    uid: str
    duplicate: bool = Field(description="true when the story (id, URL) or its text was already stored")
    hits: list[IngestHitOut]


MODELS: list[type[BaseModel]] = [
    Problem,
    HitsPage,
    ArticlesPage,
    ArticleDetailOut,
    RulesOut,
    RuleOptions,
    RuleTestIn,
    RuleTestOut,
    RuleCheckOut,
    BacktestIn,
    BacktestOut,
    SourcesOut,
    FeedEnableIn,
    FeedEnableOut,
    OutboxOut,
    RetryIn,
    RetryOut,
    TestAlertOut,
    IngestIn,
    IngestOut,
]
