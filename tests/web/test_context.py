"""What the app's context shares between requests: reads reused for a while, one at a time."""

from __future__ import annotations

import asyncio
import threading

from tests.web.support import WebEnv


async def test_context_a_recent_read_is_shared_by_concurrent_requests(web: WebEnv) -> None:
    calls: list[int] = []
    release = threading.Event()

    def slow_scan() -> int:
        calls.append(1)
        release.wait(timeout=30)
        return len(calls)

    waiting = [asyncio.ensure_future(web.ctx.read_recent("scan", 60, slow_scan)) for _ in range(10)]
    await asyncio.sleep(0.1)
    release.set()
    answers = await asyncio.gather(*waiting)
    assert answers == [1] * 10 and len(calls) == 1  # ten page views, one scan
    assert await web.ctx.read_recent("scan", 60, slow_scan) == 1  # reused while fresh


async def test_context_an_old_read_is_answered_while_one_fresh_read_runs(web: WebEnv) -> None:
    release = threading.Event()
    values = iter(["first", "second"])

    def scan() -> str:
        value = next(values)
        if value == "second":
            release.wait(timeout=30)
        return value

    assert await web.ctx.read_recent("k", 0, scan) == "first"
    assert await web.ctx.read_recent("k", 0, scan) == "first"  # old, refreshed meanwhile
    release.set()
    for _ in range(100):
        await asyncio.sleep(0.02)
        if await web.ctx.read_recent("k", 3600, scan) == "second":
            break
    assert await web.ctx.read_recent("k", 3600, scan) == "second"


async def test_context_a_failed_refresh_keeps_the_old_answer(web: WebEnv) -> None:
    from monitor.errors import StoreError

    outcomes: list[object] = ["kept", StoreError("database locked")]

    def scan() -> object:
        outcome = outcomes.pop(0) if outcomes else "later"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await web.ctx.read_recent("k", 0, scan) == "kept"
    assert await web.ctx.read_recent("k", 0, scan) == "kept"  # the refresh fails behind it
    await asyncio.sleep(0.1)
    assert await web.ctx.read_recent("k", 0, scan) == "kept"
