"""Pacer: send starts spaced per key, holds from Retry-After, concurrent callers; on a fake clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from monitor.notify.pacing import MAX_HOLD, Pacer


class FakeTime:
    """A clock that only moves when somebody sleeps; ``on_sleep`` runs before each sleep."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep()
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def pacer(fake: FakeTime, interval: float = 1.0) -> Pacer:
    return Pacer(interval, clock=fake.clock, sleep=fake.sleep)


async def starts(p: Pacer, fake: FakeTime, count: int, key: str = "hook") -> list[float]:
    """The (fake) time at which each of ``count`` consecutive waits was let through."""
    times = []
    for _ in range(count):
        await p.wait(key)
        times.append(fake.now)
    return times


async def test_pacer_first_send_starts_at_once(fake: FakeTime) -> None:
    await pacer(fake).wait("hook")
    assert fake.sleeps == []


async def test_pacer_spaces_consecutive_starts_by_the_interval(fake: FakeTime) -> None:
    assert await starts(pacer(fake), fake, 5) == [100.0, 101.0, 102.0, 103.0, 104.0]


@pytest.mark.parametrize(
    ("interval", "gap", "slept"),
    [
        (1.0, 0.0, [1.0]),  # back to back: wait a whole interval
        (1.0, 0.25, [0.75]),  # the time the send itself took counts
        (1.0, 1.0, []),  # a slow send leaves nothing to wait
        (1.0, 5.0, []),
        (0.0, 0.0, []),  # pacing off
        (2.5, 1.0, [1.5]),
    ],
)
async def test_pacer_waits_only_what_is_left_of_the_interval(
    fake: FakeTime, interval: float, gap: float, slept: list[float]
) -> None:
    p = pacer(fake, interval)
    await p.wait("hook")
    fake.now += gap
    await p.wait("hook")
    assert fake.sleeps == slept


async def test_pacer_concurrent_callers_are_spaced_and_served_in_order(fake: FakeTime) -> None:
    p = pacer(fake)
    order: list[tuple[int, float]] = []

    async def send(i: int) -> None:
        await p.wait("hook")
        order.append((i, fake.now))

    await asyncio.gather(*(send(i) for i in range(5)))
    assert order == [(0, 100.0), (1, 101.0), (2, 102.0), (3, 103.0), (4, 104.0)]


async def test_pacer_keys_do_not_wait_for_each_other(fake: FakeTime) -> None:
    p = pacer(fake)
    await p.wait("slack-a")
    await p.wait("slack-b")
    assert fake.sleeps == []
    await p.wait("slack-a")
    assert fake.sleeps == [1.0]


async def test_pacer_hold_pushes_the_next_start(fake: FakeTime) -> None:
    p = pacer(fake)
    await p.wait("hook")
    p.hold(30.0, "hook")  # 429 Retry-After: 30
    assert p.delay("hook") == 30.0
    assert await starts(p, fake, 2) == [130.0, 131.0]


@pytest.mark.parametrize(
    ("holds", "expected_delay"),
    [
        ([0.2], 1.0),  # shorter than the interval: the interval still applies
        ([5.0, 2.0], 5.0),  # a later, shorter hold never shortens one in force
        ([2.0, 5.0], 5.0),
        ([-3.0], 1.0),  # nonsense is "now", not the past
        ([10 * MAX_HOLD], MAX_HOLD),  # capped: a receiver cannot park a channel for ever
    ],
)
async def test_pacer_hold_table(fake: FakeTime, holds: list[float], expected_delay: float) -> None:
    p = pacer(fake)
    await p.wait("hook")
    for seconds in holds:
        p.hold(seconds, "hook")
    assert p.delay("hook") == expected_delay


async def test_pacer_hold_before_any_send_delays_the_first(fake: FakeTime) -> None:
    p = pacer(fake)
    p.hold(3.0, "hook")
    assert await starts(p, fake, 1) == [103.0]


async def test_pacer_hold_arriving_during_a_wait_is_honoured(fake: FakeTime) -> None:
    p = pacer(fake)
    await p.wait("hook")

    # while the next sender sleeps its second, another sender's 429 asks for 10 s
    def rate_limited_meanwhile() -> None:
        fake.on_sleep = None
        p.hold(10.0, "hook")

    fake.on_sleep = rate_limited_meanwhile
    assert await starts(p, fake, 1) == [110.0]
    assert fake.sleeps == [1.0, 9.0]


async def test_pacer_delay_reports_the_wait_without_taking_a_slot(fake: FakeTime) -> None:
    p = pacer(fake)
    assert p.delay("hook") == 0.0
    await p.wait("hook")
    fake.now += 0.4
    assert p.delay("hook") == pytest.approx(0.6)
    assert p.delay("hook") == pytest.approx(0.6)  # asking twice changes nothing
    assert p.delay("other") == 0.0


async def test_pacer_cancelled_waiter_uses_no_slot() -> None:
    fake = FakeTime()
    forever = asyncio.Event()

    async def never(_seconds: float) -> None:
        await forever.wait()

    p = Pacer(1.0, clock=fake.clock, sleep=never)
    await p.wait("hook")
    stuck = asyncio.create_task(p.wait("hook"))
    await asyncio.sleep(0)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    fake.now += 1.0  # the interval since the last real start has passed
    await asyncio.wait_for(p.wait("hook"), timeout=1.0)  # not queued behind the cancelled one


async def test_pacer_as_context_manager_paces_the_default_key(fake: FakeTime) -> None:
    p = pacer(fake)
    async with p:
        pass
    async with p.slot():
        pass
    async with p as same:
        assert same is p
    assert fake.now == 102.0


async def test_pacer_real_clock_spaces_sends() -> None:
    p = Pacer(0.05)
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(3):
        await p.wait("hook")
        times.append(loop.time())
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(times))


def test_pacer_refuses_a_negative_interval() -> None:
    with pytest.raises(ValueError, match="negative"):
        Pacer(-1.0)


def test_pacer_repr_shows_no_key() -> None:
    p = Pacer(1.0)
    p.hold(1.0, "https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxSECRETTOKEN")
    assert "SECRET" not in repr(p)
    assert repr(p) == "Pacer(min_interval=1.0, keys=1)"
