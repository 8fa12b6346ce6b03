"""Feed parsing in real worker processes: the Articles parse_feed gives; a dead parser fails one feed."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from monitor.errors import ArticleParseError
from monitor.sources.parse import parse_feed
from monitor.sources.parsepool import MAX_AUTO_PROCESSES, FeedParsers, parse_processes_for
from tests.sources.feedserver import BROKEN_XML, ESTERI

HEADERS = {"content-type": "application/rss+xml", "content-location": "https://news.example.org/esteri.rss"}


def huge_feed(entries: int = 20_000) -> bytes:
    items = "".join(
        f"<item><title>Notizia {i}</title><guid>n-{i}</guid><description>Testo {i}</description></item>"
        for i in range(entries)
    )
    return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()


@pytest.fixture(scope="module")
def parsers() -> Iterator[FeedParsers]:
    """One pool for the module: spawning interpreters is most of these tests' time."""
    pool = FeedParsers(2)
    try:
        yield pool
    finally:
        pool.close()


async def test_feed_parsers_give_the_articles_parse_feed_gives(parsers: FeedParsers) -> None:
    options = {
        "source": "Esteri",
        "origin": "esteri.rss",
        "headers": HEADERS,
        "language": None,
        "tags": ("x",),
    }
    expected = parse_feed(ESTERI, **options)  # type: ignore[arg-type]
    assert await parsers.parse(ESTERI, **options) == expected  # type: ignore[arg-type]


async def test_feed_parsers_parse_several_feeds_at_once_in_other_processes(parsers: FeedParsers) -> None:
    results = await asyncio.gather(
        *(parsers.parse(ESTERI, source=f"feed {n}", origin=f"f{n}.rss") for n in range(6))
    )
    assert [len(found) for found in results] == [len(parse_feed(ESTERI, source="s", origin="s"))] * 6
    assert [found[0].source for found in results] == [f"feed {n}" for n in range(6)]
    assert parsers._pool is not None
    assert os.getpid() not in {process.pid for process in parsers._pool._processes.values()}


async def test_feed_parsers_raise_article_parse_error_for_a_broken_feed(parsers: FeedParsers) -> None:
    with pytest.raises(ArticleParseError, match=r"^broken\.xml: not a readable feed"):
        await parsers.parse(BROKEN_XML, source="s", origin="broken.xml")


async def test_feed_parsers_a_killed_parser_fails_only_its_feed_and_the_pool_recovers(
    parsers: FeedParsers,
) -> None:
    await parsers.parse(ESTERI, source="s", origin="warm.rss")  # the processes are up
    assert parsers._pool is not None
    children = list(parsers._pool._processes)
    parsing = asyncio.ensure_future(parsers.parse(huge_feed(), source="s", origin="huge.rss"))
    await asyncio.sleep(0.3)  # the big feed is being parsed
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(ArticleParseError, match=r"^huge\.rss: the parser process died"):
        await parsing
    articles = await parsers.parse(ESTERI, source="s", origin="after.rss")
    assert articles and parsers._pool is not None
    assert set(parsers._pool._processes).isdisjoint(children)


@pytest.mark.parametrize(
    ("configured", "feeds", "cpus", "processes"),
    [
        (None, 1000, 2, 2),  # by default: one per CPU…
        (None, 1000, 16, MAX_AUTO_PROCESSES),  # …at most four
        (None, 5, 8, 0),  # a few feeds: the worker thread is enough
        (None, 1000, 1, 0),  # one CPU: processes would only add copying
        (0, 1000, 8, 0),  # as configured
        (3, 1, 1, 3),
    ],
)
def test_parse_processes_for_a_configuration(
    configured: int | None, feeds: int, cpus: int, processes: int
) -> None:
    assert parse_processes_for(configured, feeds, cpus) == processes


def test_feed_parsers_need_at_least_one_process() -> None:
    with pytest.raises(ValueError, match="at least one process"):
        FeedParsers(0)


async def test_feed_parsers_survive_a_sigterm_sent_to_the_whole_process_group(parsers: FeedParsers) -> None:
    await parsers.parse(ESTERI, source="s", origin="warm.rss")
    assert parsers._pool is not None
    children = list(parsers._pool._processes)
    for pid in children:
        os.kill(pid, signal.SIGTERM)  # what systemd sends every process of the unit on stop
        os.kill(pid, signal.SIGINT)  # what a Ctrl-C sends the terminal's process group
    articles = await parsers.parse(ESTERI, source="s", origin="after.rss")
    assert articles and set(children) <= set(parsers._pool._processes)  # the same processes, still working
    assert all(parsers._pool._processes[pid].is_alive() for pid in children)


async def test_feed_parsers_survive_a_sigterm_that_comes_while_a_parser_process_starts() -> None:
    starting = FeedParsers(1)
    try:
        parsing = asyncio.ensure_future(starting.parse(ESTERI, source="s", origin="first.rss"))
        await asyncio.sleep(0)  # submitted: the process is spawned and its interpreter is starting
        assert starting._pool is not None
        children = list(starting._pool._processes)
        assert children
        for pid in children:
            os.kill(pid, signal.SIGTERM)  # before its initializer could ignore the signal
            os.kill(pid, signal.SIGINT)
        assert await parsing
        assert all(starting._pool._processes[pid].is_alive() for pid in children)
    finally:
        starting.close()
