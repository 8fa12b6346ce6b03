"""The channel contract: build_notifiers and the Notifier protocol."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from monitor.config import ConsoleChannel, SlackChannel, WebhookChannel
from monitor.models import Alert
from monitor.notify.base import Notifier, build_notifiers
from monitor.notify.console import ConsoleNotifier
from monitor.notify.slack import SlackNotifier
from monitor.notify.webhook import WebhookNotifier
from tests.notify.receivers import SlackReceiver, WebhookReceiver


def test_build_notifiers_makes_one_notifier_per_channel(client: httpx.AsyncClient) -> None:
    channels = {
        "console": ConsoleChannel(type="console"),
        "siem": WebhookChannel(type="webhook", url=SecretStr("http://127.0.0.1:9/h")),
        "slack-esteri": SlackChannel(type="slack", url=SecretStr("http://127.0.0.1:9/s")),
    }
    notifiers = build_notifiers(channels, client, out=io.StringIO())
    assert {name: type(n) for name, n in notifiers.items()} == {
        "console": ConsoleNotifier,
        "siem": WebhookNotifier,
        "slack-esteri": SlackNotifier,
    }
    for name, notifier in notifiers.items():
        assert notifier.name == name
        assert isinstance(notifier, Notifier)


async def test_build_notifiers_console_defaults_to_current_stdout(
    client: httpx.AsyncClient,
    alert_factory: Callable[..., Alert],
    capsys: pytest.CaptureFixture[str],
) -> None:
    notifiers = build_notifiers({"console": ConsoleChannel(type="console")}, client)
    await notifiers["console"].send(alert_factory())
    assert "[Cessate il fuoco]" in capsys.readouterr().out


async def test_build_notifiers_http_channels_share_the_callers_client(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    """Every channel, built from config, delivers through the one client it was given."""
    with SlackReceiver() as slack, WebhookReceiver() as hook:
        channels = {
            "siem": WebhookChannel(type="webhook", url=SecretStr(hook.url)),
            "slack": SlackChannel(type="slack", url=SecretStr(slack.url)),
        }
        for notifier in build_notifiers(channels, client).values():
            await notifier.send(alert_factory())
    assert len(slack.messages) == 1 and len(hook.received) == 1
    assert not client.is_closed


def test_every_channel_type_has_a_notifier_and_its_own_tests(client: httpx.AsyncClient) -> None:
    """Adding a channel type to the config without a sender or tests fails here."""
    from pathlib import Path
    from typing import get_args

    from monitor.config import CHANNEL_TYPES, Channel

    minimal: dict[str, dict[str, object]] = {
        "email": {"host": "127.0.0.1", "from": "alerts@example.org", "to": "desk@example.org"},
        "apprise": {"urls": ["json://127.0.0.1:9/x"]},
    }
    union = get_args(get_args(Channel)[0])
    assert {model.model_fields["type"].annotation.__args__[0] for model in union} == set(CHANNEL_TYPES)
    for model in union:
        kind = model.model_fields["type"].annotation.__args__[0]
        extra = {"url": SecretStr("http://127.0.0.1:9/x")} if "url" in model.model_fields else {}
        extra |= minimal.get(kind, {})
        notifiers = build_notifiers({kind: model(type=kind, **extra)}, client, out=io.StringIO())
        assert isinstance(notifiers[kind], Notifier)
        assert (Path(__file__).parent / f"test_{kind}.py").exists(), f"no tests/notify/test_{kind}.py"
