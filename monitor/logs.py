"""Log output in three shapes: for a person, for a log shipper (JSON lines), for journald.

- ``human``: ``2024-05-01 10:00:00,123 INFO    monitor.service.daemon: message``.
- ``json``: one object per line (``ts``, ``level``, ``logger``, ``message``, ``exc``).
- ``journal``: ``<6>monitor.service.daemon: message``: the sd-daemon(3) level prefix that
  journald turns into the entry's priority, and no timestamp, which journald adds.
  ``auto`` picks it when ``$JOURNAL_STREAM`` names our stderr, i.e. under systemd.

Whatever the shape, every configured secret (webhook URLs, tokens, passwords)
and every piece of one a message may quote (a URL's path segments, query
values, user and password: see :mod:`monitor.redact`) is replaced by ``***``
in the finished line, traceback included: a library that puts a URL into an
exception message, or a receiver that echoes its path, cannot leak it through
us.  A reload that brings new secrets adds them (:func:`remember_secrets`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from monitor.redact import MIN_SECRET, Redactor

__all__ = [
    "HumanFormatter",
    "JournalFormatter",
    "JsonFormatter",
    "configure_logging",
    "pick_format",
    "redact",
    "remember_secrets",
]
# sd-daemon(3) priorities, syslog's numbers
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
# apprise would log its URLs' tokens; alembic its every step (`monitor db upgrade` says what it did)
NOISY = ("httpx", "httpcore", "apscheduler", "apprise", "alembic")
CHATTY = ("trafilatura", "htmldate", "courlan")  # warn about pages we already handle


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret, and each piece of one, replaced by ``***``."""
    return Redactor(secrets)(text)


class _Redacting(logging.Formatter):
    def __init__(self, fmt: str | None = None, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = {s for s in secrets if len(s) >= MIN_SECRET}
        self.redact = Redactor(self.secrets)

    def remember(self, secrets: Iterable[str]) -> None:
        """Mask these too, and keep masking the old ones: a secret taken out of the config is still one."""
        more = {s for s in secrets if len(s) >= MIN_SECRET} - self.secrets
        if more:
            self.secrets |= more
            self.redact = Redactor(self.secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.render(record))

    def render(self, record: logging.LogRecord) -> str:
        return super().format(record)


class HumanFormatter(_Redacting):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", secrets)


class JournalFormatter(_Redacting):
    """Each line of a record (a traceback too) carries the prefix, so none falls back to INFO."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(name)s: %(message)s", secrets)

    def render(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITY.get(record.levelno, 6)}>"
        return "\n".join(prefix + line for line in super().render(record).splitlines())


class JsonFormatter(_Redacting):
    def entry(self, record: logging.LogRecord) -> dict[str, str]:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return entry

    def render(self, record: logging.LogRecord) -> str:
        return json.dumps(self.entry(record), ensure_ascii=False)

    def format(self, record: logging.LogRecord) -> str:
        # masked inside the values, then serialised: a mask never breaks the JSON
        masked = {key: self.redact(value) for key, value in self.entry(record).items()}
        return json.dumps(masked, ensure_ascii=False)


def stream_is_journal(journal_stream: tuple[int, int] | None, stream: TextIO) -> bool:
    """$JOURNAL_STREAM is inherited by children: trust it only if it is our own stderr."""
    if journal_stream is None:
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == journal_stream


def pick_format(wanted: str, journal_stream: tuple[int, int] | None, stream: TextIO) -> str:
    if wanted != "auto":
        return wanted
    return "journal" if stream_is_journal(journal_stream, stream) else "human"


def configure_logging(
    level: str,
    fmt: str = "auto",
    *,
    secrets: Iterable[str] = (),
    journal_stream: tuple[int, int] | None = None,
    stream: TextIO | None = None,
) -> str:
    """Set up the root logger; returns the format chosen (``auto`` resolved)."""
    stream = sys.stderr if stream is None else stream
    chosen = pick_format(fmt, journal_stream, stream)
    formatter: logging.Formatter = {
        "human": HumanFormatter,
        "journal": JournalFormatter,
        "json": JsonFormatter,
    }[chosen](secrets=secrets)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(logging.ERROR)
    return chosen


def remember_secrets(secrets: Iterable[str]) -> None:
    """Add secrets to the masks of the installed log handlers (after a reload brought new channels)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, _Redacting):
            handler.formatter.remember(secrets)
