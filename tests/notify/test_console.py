"""ConsoleNotifier: prints, flushes, and turns a dead stream into a retry."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from monitor.errors import RetryableDelivery
from monitor.models import Alert
from monitor.notify.console import ConsoleNotifier
from monitor.notify.render import render_console


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


async def test_console_notifier_writes_rendered_alert_and_flushes(
    alert_factory: Callable[..., Alert],
) -> None:
    out = _CountingStream()
    alert = alert_factory()
    await ConsoleNotifier("console", out).send(alert)
    assert out.getvalue() == render_console(alert) + "\n"
    assert out.flushes == 1


async def test_console_notifier_separates_alerts_by_line(
    alert_factory: Callable[..., Alert],
) -> None:
    out = io.StringIO()
    notifier = ConsoleNotifier("console", out)
    await notifier.send(alert_factory(title="one"))
    await notifier.send(alert_factory(title="two"))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("] one")
    assert sum(1 for line in lines if line.startswith("[")) == 2


async def test_console_notifier_closed_stream_is_retryable(
    alert_factory: Callable[..., Alert],
) -> None:
    out = io.StringIO()
    out.close()
    with pytest.raises(RetryableDelivery, match="channel 'console': cannot write"):
        await ConsoleNotifier("console", out).send(alert_factory())


async def test_console_notifier_broken_pipe_is_retryable(
    alert_factory: Callable[..., Alert],
) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    with Broken() as out, pytest.raises(RetryableDelivery):
        await ConsoleNotifier("console", out).send(alert_factory())
