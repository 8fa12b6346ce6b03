"""The apprise channel, against a local receiver that apprise's json:// service posts to."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from monitor.errors import ConfigError, RetryableDelivery
from monitor.models import Alert
from monitor.notify.apprise_channel import AppriseNotifier
from tests.notify.receivers import WebhookReceiver, refused_url

with warnings.catch_warnings():  # apprise imports imghdr, deprecated in Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    pytest.importorskip("apprise", reason="the apprise extra is not installed")


@pytest.fixture
def alert(alert_factory: Callable[..., Alert]) -> Alert:
    return alert_factory()


async def test_apprise_delivers_title_and_body_to_the_service(alert: Alert) -> None:
    with WebhookReceiver() as hook:
        notifier = AppriseNotifier("push", [hook.url.replace("http://", "json://", 1)])
        await notifier.send(alert)
        [(_headers, body)] = hook.received
    assert alert.title in body["title"] and alert.source in body["message"]


async def test_apprise_a_service_that_refuses_is_retried(alert: Alert) -> None:
    with WebhookReceiver([500]) as hook:
        notifier = AppriseNotifier("push", [hook.url.replace("http://", "json://", 1)])
        with pytest.raises(RetryableDelivery, match="channel 'push'"):
            await notifier.send(alert)


async def test_apprise_unreachable_service_is_retried_and_its_url_never_shown(alert: Alert) -> None:
    with refused_url() as url:
        notifier = AppriseNotifier("push", [url.replace("http://", "json://", 1)])
        with pytest.raises(RetryableDelivery) as failure:
            await notifier.send(alert)
        assert "127.0.0.1" not in str(failure.value)


def test_apprise_url_it_does_not_understand_is_a_config_error_without_the_url() -> None:
    with pytest.raises(ConfigError, match="URL #1") as failure:
        AppriseNotifier("push", ["nosuchservice://token-123"])
    assert "token-123" not in str(failure.value)
