"""Feed parsing in worker processes, so that a round of a thousand feeds uses every core.

feedparser is pure Python: parsing a feed holds the GIL nearly all the time,
so threads cannot parse two feeds at once and one core caps a polling round
(bench/RESULTS.md has the figures).
:class:`FeedParsers` runs :func:`~monitor.sources.parse.parse_feed` in a pool
of processes instead; what crosses is the fetched bytes one way and the
Articles (plain frozen dataclasses) the other.

The processes are started with ``spawn`` (the daemon has threads, which a
``fork`` would copy in whatever state they hold a lock), lazily on the
first feed, and log with the daemon's level and format to the same stderr,
so a "bozo" warning still names its feed in the daemon's log.  They ignore
SIGINT and SIGTERM: the daemon stops them once its jobs are done.  A process
is spawned with the two signals blocked, so that one arriving while its
interpreter is still starting (before it can ignore them) waits and is then
dropped instead of killing it.  A parser process that dies (a C-level crash,
the kernel's OOM killer) fails only the feed it was parsing, as an
:class:`~monitor.errors.ArticleParseError`; the pool is rebuilt for the next one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator, Mapping, Set
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from monitor.errors import ArticleParseError
from monitor.models import Article
from monitor.sources.parse import ParsedFeed, parse_feed_entries

__all__ = ["LOG_FORMAT", "FeedParsers", "parse_processes_for"]

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"  # the daemon's (monitor.cli)
MAX_AUTO_PROCESSES = 4
AUTO_MIN_FEEDS = 20  # fewer feeds than this are parsed in the daemon's worker thread


def parse_processes_for(configured: int | None, feeds: int, cpus: int | None = None) -> int:
    """How many parser processes to run: the configured number, or by default one per CPU
    (at most :data:`MAX_AUTO_PROCESSES`) once there are enough feeds for it to matter.

    ``0`` means parsing in the daemon's worker thread, which is also the
    answer on a one-CPU machine, where processes would only add copying.
    """
    if configured is not None:
        return configured
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    if feeds < AUTO_MIN_FEEDS or cpus < 2:
        return 0
    return min(cpus, MAX_AUTO_PROCESSES)


_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Block SIGINT and SIGTERM in the calling thread while it may spawn a parser process.

    A signal mask survives fork and exec, so the new interpreter starts with
    them blocked until :func:`_start_child` has set them to be ignored.  The
    daemon itself loses nothing: another thread takes the signal, or it waits
    the few milliseconds of the spawn.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _start_child(level: int) -> None:
    """A parser process logs like the daemon and leaves stopping to it: a Ctrl-C or a SIGTERM
    sent to the whole process group (systemd does) must not kill a parse the daemon then waits for."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # what came during start-up is dropped
    logging.basicConfig(level=level, format=LOG_FORMAT, force=True)


class FeedParsers:
    """A pool of ``processes`` parser processes; ``await parse(...)`` as ``parse_feed`` is called."""

    def __init__(self, processes: int, *, log_level: int = logging.INFO) -> None:
        if processes < 1:
            raise ValueError(f"a parser pool needs at least one process, got {processes}")
        self.processes = processes
        self._log_level = log_level
        self._pool: ProcessPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"FeedParsers(processes={self.processes})"

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_child,
                initargs=(self._log_level,),
            )
        return self._pool

    async def parse(
        self,
        data: bytes,
        *,
        source: str,
        origin: str,
        headers: Mapping[str, str] | None = None,
        language: str | None = None,
        tags: tuple[str, ...] = (),
    ) -> list[Article]:
        """:func:`~monitor.sources.parse.parse_feed` in a parser process."""
        parsed = await self.parse_entries(
            data, source=source, origin=origin, headers=headers, language=language, tags=tags
        )
        return parsed.articles

    async def parse_entries(
        self,
        data: bytes,
        *,
        source: str,
        origin: str,
        headers: Mapping[str, str] | None = None,
        language: str | None = None,
        tags: tuple[str, ...] = (),
        known: Set[str] = frozenset(),
    ) -> ParsedFeed:
        """:func:`~monitor.sources.parse.parse_feed_entries` in a parser process."""
        job = functools.partial(
            parse_feed_entries,
            data,
            source=source,
            origin=origin,
            headers=dict(headers or {}),
            language=language,
            tags=tags,
            known=frozenset(known),
        )
        loop = asyncio.get_running_loop()
        try:
            with _stop_signals_held():  # submitting is when the pool spawns a process it lacks
                parsing = loop.run_in_executor(self._executor(), job)
            return await parsing
        except BrokenProcessPool as exc:
            log.error("feed=%s a parser process died (%s): starting new ones", origin, exc)
            broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            raise ArticleParseError(f"{origin}: the parser process died while reading this feed") from None

    def close(self) -> None:
        """Stop the processes once they finish what they hold (the daemon stops after its jobs)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
