"""Plain value types that flow through the pipeline, and the identities they carry.

An :class:`Article` is what every stage after the sources reads.  Its ``uid``
says *which story* it is (feed entry id, canonical URL, or content) and its
``fingerprint`` says *what it says*; the store refuses a second article with
either, so a renamed file or a feed entry seen again is never matched twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify a click, not a document.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_ga", "ref_src"}
)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")
# Control characters other than tab and line breaks: never text, and PostgreSQL refuses NUL.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def canonical_url(url: str | None) -> str | None:
    """Normalise a link so that the same page reached through campaigns counts once."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower()
    port = parts.port if parts.port not in (None, 80, 443) else None
    netloc = f"{host}:{port}" if port else host
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query, doseq=True), ""))


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def clean_text(text: str) -> str:
    """Text a database can store: no control characters, no lone surrogates (from JSON escapes)."""
    text = _CONTROLS.sub("", text).strip()  # a regex: str.translate with a dict is much slower
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def content_fingerprint(title: str, summary: str, body: str) -> str:
    """Hash of what an article says, blind to case, spacing and Unicode form."""

    def norm(text: str) -> str:
        # split() and the regex \s+ know the same whitespace; split() is faster
        return " ".join(unicodedata.normalize("NFC", text).split()).casefold()

    return _digest(norm(title), norm(summary), norm(body))


@dataclass(frozen=True, slots=True)
class Article:
    """The normalised unit of news: everything downstream reads only this."""

    uid: str
    fingerprint: str
    title: str
    summary: str
    body: str
    url: str | None
    published: datetime | None
    language: str | None
    source: str
    origin: str
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()

    @property
    def fields(self) -> dict[str, str]:
        """The texts a rule can match, by field name."""
        return {"title": self.title, "summary": self.summary, "body": self.body}


def story_uid(source: str, external_id: str | None, url: str | None) -> str | None:
    """The uid ``make_article`` gives an entry with this id or link, computed without its text,
    so a feed entry already stored can be passed over unread; None when only its content names it."""
    return _story_uid(source, external_id, canonical_url(url))


def _story_uid(source: str, external_id: str | None, link: str | None) -> str | None:
    if external_id and external_id.strip():
        ident = external_id.strip()
        # A URI (http://…, urn:…, tag:…) names a story everywhere; a bare "1234" only
        # within its source, and two sources' story 1234 must not silence each other.
        return _digest("id", ident) if _URI.match(ident) else _digest("id", source, ident)
    if link:
        return _digest("url", link)
    return None


def make_article(
    *,
    title: str,
    summary: str = "",
    body: str = "",
    url: str | None = None,
    published: datetime | None = None,
    language: str | None = None,
    source: str,
    origin: str,
    external_id: str | None = None,
    tags: tuple[str, ...] = (),
    authors: tuple[str, ...] = (),
) -> Article:
    """Build an Article with its identities computed the one way the store expects."""
    title, summary, body = (clean_text(text) for text in (title, summary, body))
    fingerprint = content_fingerprint(title, summary, body)
    link = canonical_url(url)
    uid = _story_uid(source, external_id, link) or _digest("content", fingerprint)
    return Article(
        uid=uid,
        fingerprint=fingerprint,
        title=title,
        summary=summary,
        body=body,
        url=link,
        published=published,
        language=normalise_language(language),
        source=source,
        origin=origin,
        tags=tags,
        authors=tuple(clean_text(a) for a in authors if a.strip()),
    )


def normalise_language(code: str | None) -> str | None:
    """``it-IT``, ``en_US`` and ``EN`` all mean the same pipeline: the primary subtag."""
    if not code:
        return None
    primary = re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


class TermHit(NamedTuple):
    """One occurrence of a rule term: where it is and how it is written there.

    A NamedTuple, as ``Match``: immutable and much cheaper to make than a frozen dataclass,
    which counts when a large rule set fires many rules on an article.
    """

    term: str
    text: str
    field: str
    start: int
    end: int

    def as_dict(self) -> dict[str, str | int]:
        """The hit as it is stored and printed."""
        return self._asdict()


class Match(NamedTuple):
    """A rule that fired on an article, with the evidence a person needs to judge it."""

    rule_id: str
    rule_name: str
    terms: tuple[TermHit, ...]
    snippet: str
    notify: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def matched_texts(self) -> list[str]:
        """Distinct matched strings, in order of first appearance."""
        seen: dict[str, None] = {}
        for hit in self.terms:
            seen.setdefault(hit.text, None)
        return list(seen)


SUMMARY_RULE = "summary"
"""The rule id of the alerts that stand for many (digests, summaries after quiet hours or a throttle)."""


@dataclass(frozen=True, slots=True)
class HeldAlert:
    """An alert flood control keeps back, as read when deciding whether its time has come.

    ``since`` is when the alert came in (its delivery was queued); ``until`` the
    release time forecast when it was held, under the settings of that moment.
    """

    key: str
    channel: str
    rule_id: str
    reason: str  # digest | quiet hours | throttle
    since: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    """What a channel is asked to deliver: one hit, flattened for rendering.

    ``key`` is the delivery's idempotency key: every attempt to deliver the same
    alert to the same channel carries the same key, so a receiver can drop a
    repeat after a crash between sending and recording.
    """

    key: str
    channel: str
    rule_id: str
    rule_name: str
    title: str
    url: str | None
    source: str
    published: datetime | None
    language: str | None
    terms: tuple[str, ...]
    snippet: str
    matched_at: datetime
    rule_tags: tuple[str, ...] = ()
    attempt: int = 1

    @property
    def is_summary(self) -> bool:
        """A digest or summary: its ``snippet`` is a listing, one line per rule or article."""
        return self.rule_id == SUMMARY_RULE


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one send (or hold) leaves in the outbox row ``key``, whatever the kind: one shape,
    so a group of mixed outcomes is recorded by one statement.

    ``status`` is the row's new status (a retry or a deferral stays ``pending``);
    ``attempted`` whether it counts as an attempt (a paused channel or a hold does not);
    ``next_at`` when it is due again (None: unchanged).
    """

    key: str
    status: str  # pending | sent | dead | held
    attempted: bool
    next_at: datetime | None = None
    sent_at: datetime | None = None
    error: str | None = None


class StoredSignature(NamedTuple):
    """One article as the store keeps it, to rebuild an index after a restart.

    ``first_id`` is the group the article was put in when it was added; when
    given it is trusted, so a restart with a changed threshold does not
    regroup the past.
    """

    article_id: int | str
    signature: bytes
    at: datetime | None = None
    first_id: int | str | None = None


DUE_SLACK = 0.5  # a poll is due from half an interval before next_fetch_at: the job's own jitter


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store keeps per configured feed URL."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_fetch_at: datetime | None = None
    last_status: int | None = None
    error_streak: int = 0
    last_error: str | None = None
    entries_seen: int = 0
    fetch_url: str | None = None
    next_fetch_at: datetime | None = None
    disabled: str | None = None
    failing_since: datetime | None = None
    last_new: int = 0
    last_new_at: datetime | None = None
    usual_gap: float | None = None
    health_alerted: str | None = None

    @property
    def status(self) -> str:
        """One word for a person: disabled, new (never fetched), failing, stale or ok."""
        if self.disabled:
            return "disabled"
        if self.last_fetch_at is None:
            return "new"
        if self.error_streak:
            return "failing"
        if self.health_alerted == "stale":
            return "stale"
        return "ok"

    def enabled_again(self) -> FeedState:
        """The state after ``monitor feeds enable``: polled again from its next run, backoff forgotten."""
        return replace(self, disabled=None, error_streak=0, next_fetch_at=None)

    @property
    def current_url(self) -> str:
        """Where to fetch: the configured URL, or where it permanently moved."""
        return self.fetch_url or self.url

    def due(self, now: datetime, interval: float) -> bool:
        """Whether to poll now: not when disabled, nor while backing off or asked to wait.

        A healthy feed is polled whenever its job runs (the schedule's interval
        and jitter, or ``run --once``): ``next_fetch_at`` only holds back a
        failing one.
        """
        if self.disabled:
            return False
        if self.error_streak == 0 or self.next_fetch_at is None:
            return True
        if self.last_status in (429, 503):  # the server named a time: never sooner
            return now >= self.next_fetch_at
        return now >= self.next_fetch_at - timedelta(seconds=interval * DUE_SLACK)


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A change in a feed's health a person should hear about."""

    kind: str  # failing | disabled | stale | recovered
    message: str
