"""``monitor notify test CHANNEL``: one realistic sample alert, and what the receiver really said.

The sample goes through the channel's own notifier, once, with no retry, so
the answer is the one a real alert would get: a 404, a refused connection or
a Slack error code (even under a ``200``) is reported as a failure with the
receiver's words, never as "sent".  Messages come from the delivery errors,
which never contain a channel's URL or token.

Each sample has a fresh delivery key (``nm_test_…``), so a receiver that drops
repeated keys still shows a second test.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from monitor.errors import DeliveryError, RetryableDelivery
from monitor.models import Alert
from monitor.notify.base import Notifier

__all__ = ["SAMPLE_KEY_PREFIX", "SAMPLE_RULE_ID", "TestOutcome", "sample_alert", "send_test"]

SAMPLE_KEY_PREFIX = "nm_test_"
SAMPLE_RULE_ID = "test-news-monitor"


def sample_alert(channel: str, now: datetime, *, token: str | None = None) -> Alert:
    """A plausible Italian alert for ``channel``, matched at ``now``; ``token`` fixes the key (tests)."""
    return Alert(
        key=SAMPLE_KEY_PREFIX + (token if token is not None else secrets.token_hex(8)),
        channel=channel,
        rule_id=SAMPLE_RULE_ID,
        rule_name="Test news-monitor",
        title="Prova: cessate il fuoco a Gaza",
        url="https://www.example.org/esteri/prova-cessate-il-fuoco-gaza",
        source="news-monitor (messaggio di prova)",
        published=now - timedelta(minutes=2),
        language="it",
        terms=("cessate il fuoco", "Gaza"),
        snippet=(
            "Questo è un messaggio di prova di news-monitor: se lo leggete, il canale funziona. "
            "… le parti hanno concordato un cessate il fuoco a Gaza a partire da domani mattina …"
        ),
        matched_at=now,
        rule_tags=("test",),
    )


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What happened to one sample: delivered (``ok``) or not, in the receiver's words.

    ``retryable`` tells a failure that may pass (timeout, 5xx, 429) from one that
    will not (404, ``invalid_payload``); it is False when ``ok``.
    """

    __test__: ClassVar[bool] = False  # a result, not a pytest test class

    channel: str
    ok: bool
    message: str
    retryable: bool = False
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.ok:
            return f"{self.channel}: sent ({self.message}, {self.seconds:.2f}s)"
        kind = "failed, may pass (a real alert would be retried)" if self.retryable else "failed"
        return f"{self.channel}: {kind}: {self.message}"


async def send_test(
    notifier: Notifier, alert: Alert, *, clock: Callable[[], float] = time.monotonic
) -> TestOutcome:
    """Send ``alert`` once through ``notifier`` and report the outcome; only a delivery error is caught."""
    started = clock()
    try:
        await notifier.send(alert)
    except DeliveryError as exc:
        return TestOutcome(
            notifier.name,
            ok=False,
            message=str(exc) or type(exc).__name__,
            retryable=isinstance(exc, RetryableDelivery),
            seconds=clock() - started,
        )
    return TestOutcome(notifier.name, ok=True, message="the receiver accepted it", seconds=clock() - started)
