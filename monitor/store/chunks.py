"""Statements sized to what every driver accepts, whatever the size of the batch.

PostgreSQL takes at most 65,535 bind parameters in one statement and SQLite
(as Debian builds it) 250,000 (older builds: 32,766 or 999); a statement past
the limit fails on every retry, so one large input would block its source for
good.  Every ``IN (…)`` list and every multi-row insert in the store goes
through these helpers, and stays well under the smallest common limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

MAX_PARAMS = 30_000  # bind parameters in one statement: under SQLite's 32,766 and PostgreSQL's 65,535
IN_LIST = 1_000  # values in one IN (…) list


def chunked(items: Iterable[T], size: int = IN_LIST) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size`` (the last one shorter), in order."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def rows_per_statement(columns: int, budget: int = MAX_PARAMS) -> int:
    """How many rows of ``columns`` values one multi-row statement may carry."""
    return max(1, budget // max(1, columns))
