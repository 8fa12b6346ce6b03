"""The exception tree of news-monitor.

Every error a user can meet is one of these, with a message that names the
culprit (file and line, feed URL, channel name) so nobody has to read a
traceback to fix their setup::

    MonitorError
     ├── ConfigError            monitor.yaml or the environment is invalid
     ├── UsageError             a command was given a value it cannot use (--since, --search)
     │    └── SearchError         a search text cannot be read (carries the column)
     ├── RuleError              one or more rule files are invalid (carries RuleProblem list)
     ├── SourceError            a source could not be read
     │    ├── ArticleParseError   a file or feed entry is not an article we can read
     │    └── FeedFetchError      a feed could not be fetched
     ├── StoreError             the database is unreachable or not ours
     └── DeliveryError          an alert could not be delivered
          ├── RetryableDelivery   try again later (timeouts, 5xx, 429 with Retry-After)
          │    └── ChannelPaused    not tried: the channel's receiver asked every sender to wait
          └── PermanentDelivery   retrying cannot help (400/404/410, revoked webhook)

Adapters map their library's exceptions into this tree at the boundary; only
``pipeline`` and ``daemon`` catch broadly.
"""

from __future__ import annotations

from dataclasses import dataclass


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration cannot be used as written."""


class UsageError(MonitorError):
    """A command-line value that cannot be used: the person typing it fixes it, not the config."""


class SearchError(UsageError):
    """A search text that cannot be run, said in plain words; ``column`` is 0-based in that text.

    The person typing it fixes it (a web page answers it with 400 and the
    column to point at).
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class RuleProblem:
    """One mistake in a rule file, located for a person to fix."""

    path: str
    line: int | None
    message: str
    rule_id: str | None = None
    column: int | None = None
    warning: bool = False  # a risky but usable rule: reported, still loaded

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        rule = f" rule {self.rule_id!r}:" if self.rule_id else ""
        return f"{where}:{' warning:' if self.warning else ''}{rule} {self.message}"


class RuleError(MonitorError):
    """Rule files that failed validation; every problem is listed, not just the first."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SourceError(MonitorError):
    """A source could not be read."""


class ArticleParseError(SourceError):
    """A file or entry could not be turned into an article."""


class FeedFetchError(SourceError):
    """A feed could not be fetched; what the server said decides when it is tried again.

    ``status`` is the HTTP status when a server answered (None for timeouts,
    refused connections, oversized bodies); ``retry_after`` the seconds a 429
    or 503 asked us to wait, already clamped to a sane range; ``gone`` is true
    for 410 Gone, which asks the caller to stop polling the feed.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.gone = gone


class BlockedAddress(FeedFetchError):
    """An untrusted URL leads to an address we refuse to connect to (loopback, private, cloud metadata…).

    ``address`` is the offending IP and ``reason`` its class ("loopback"), so a
    log line can say why a link in a feed was not followed.
    """

    def __init__(self, message: str, *, host: str, address: str, reason: str) -> None:
        super().__init__(message)
        self.host = host
        self.address = address
        self.reason = reason


class StoreError(MonitorError):
    """The database cannot be used; ``transient`` when waiting may help (lock, lost connection)."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class DeliveryError(MonitorError):
    """An alert could not be delivered."""


class RetryableDelivery(DeliveryError):
    """Delivery failed for a reason that may pass; ``retry_after`` is the receiver's wish in seconds.

    ``status`` is the HTTP status when a receiver answered (429 asks the whole
    channel to slow down, with or without ``retry_after``).
    """

    def __init__(self, message: str, retry_after: float | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class ChannelPaused(RetryableDelivery):
    """Nothing was sent: the channel is paused for ``retry_after`` seconds because its receiver said so.

    Not an attempt: the alert waits for the pause to end without coming any
    closer to its ``max_attempts``.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after)
        self.retry_after: float = retry_after


class PermanentDelivery(DeliveryError):
    """Delivery failed for a reason that retrying cannot fix."""
