"""Discord: the embed within Discord's limits, hostile text that pings nobody, and delivery
against a real local receiver that enforces Discord's documented rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from monitor.config import DiscordChannel
from monitor.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.discord import DiscordNotifier, discord_escape, render_discord
from monitor.notify.http import RATE_LIMITED_PAUSE
from monitor.notify.pacing import Pacer
from tests.notify.receivers import Reply, refused_url
from tests.notify.signed_receivers import DiscordReceiver, discord_pings, discord_problems

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ZWSP = "\u200b"


def _notifier(
    url: str, client: httpx.AsyncClient, timeout: float = 5.0, *, pacer: Pacer | None = None
) -> DiscordNotifier:
    channel = DiscordChannel(type="discord", url=SecretStr(url), timeout=timeout)
    return DiscordNotifier("discord-esteri", channel, client, clock=lambda: NOW, pacer=pacer)


def _assert_secret_hidden(exc: DeliveryError, url: str) -> None:
    text = f"{exc} {exc!r}"
    assert url not in text and "SECRET" not in text and "TOKEN" not in text
    assert "'discord-esteri'" in str(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


def _hostile(alert_factory: Callable[..., Alert]) -> Alert:
    return alert_factory(
        title="@everyone <@123456789> **BREAKING** 🔴" + " 🔴" * 400,
        snippet="@here [click](https://evil.example) <@&42> ||spoiler|| " * 500,
        rule_name="<#1> " + "R" * 400,
        source="@everyone " + "S" * 3000,
        terms=tuple(f"term{i} 🔴" for i in range(600)),
        url="javascript:alert(1)",
    )


def _texts(payload: dict[str, Any]) -> str:
    embed = payload["embeds"][0]
    parts = [payload["content"], embed["title"], embed.get("description", ""), embed["author"]["name"]]
    parts += [f["value"] for f in embed.get("fields", [])] + [embed.get("footer", {}).get("text", "")]
    return "\n".join(parts)


# ---------------------------------------------------------------- rendering


def test_render_discord_builds_one_embed_with_mentions_disabled(alert_factory: Callable[..., Alert]) -> None:
    payload = render_discord(alert_factory())
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["content"] == "Cessate il fuoco: Tregua a Gaza: accordo raggiunto"
    [embed] = payload["embeds"]
    assert embed["title"] == "Tregua a Gaza: accordo raggiunto"
    assert embed["url"] == "https://www.example.org/esteri/tregua?id=1&lang=it"
    assert embed["author"] == {"name": "Cessate il fuoco"}
    assert embed["fields"] == [{"name": "Matched", "value": "tregua, cessate il fuoco", "inline": False}]
    assert embed["footer"] == {"text": "Esteri · it"}
    assert embed["timestamp"] == "2024-05-01T11:58:00Z"
    assert "**tregua**" in embed["description"] and "**cessate il fuoco**" in embed["description"]
    assert discord_problems(payload) == []


def test_render_discord_hostile_article_stays_within_every_limit(alert_factory: Callable[..., Alert]) -> None:
    payload = render_discord(_hostile(alert_factory))
    assert discord_problems(payload) == []  # emoji count twice there: the strictest reading
    embed = payload["embeds"][0]
    assert "url" not in embed  # a javascript: link is no link
    assert embed["description"].endswith("…") and embed["title"].endswith("…")


def test_render_discord_hostile_article_pings_nobody(alert_factory: Callable[..., Alert]) -> None:
    payload = render_discord(_hostile(alert_factory))
    assert discord_pings(payload) == []
    # …and even if mentions were allowed, the text itself holds no live one
    everyone = {"parse": ["everyone", "users", "roles"]}
    assert discord_pings({**payload, "allowed_mentions": everyone}) == []
    text = _texts(payload)
    assert "@everyone" not in text and "@here" not in text and "<@" not in text and "<#" not in text
    assert f"@{ZWSP}everyone" in text and f"<{ZWSP}@123456789>" in text


def test_render_discord_without_snippet_terms_or_link(alert_factory: Callable[..., Alert]) -> None:
    payload = render_discord(alert_factory(snippet=" ", terms=(), url=None, published=None, language=None))
    [embed] = payload["embeds"]
    assert "description" not in embed and "fields" not in embed and "url" not in embed
    assert embed["timestamp"] == "2024-05-01T12:00:00Z"  # when it matched
    assert embed["footer"] == {"text": "Esteri"}
    assert discord_problems(payload) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain words, 3.5% up", "plain words, 3.5% up"),
        ("**bold** _it_ ~~s~~ `code` ||spoiler||", r"\*\*bold\*\* \_it\_ \~\~s\~\~ \`code\` \|\|spoiler\|\|"),
        ("[click](https://evil.example)", r"\[click\](https://evil.example)"),
        ("a \\ backslash", r"a \\ backslash"),
        ("# Heading", r"\# Heading"),
        ("-# subtext", r"\-# subtext"),
        ("> quote", r"\> quote"),
        ("- item", r"\- item"),
        ("2024. Un anno", r"2024\. Un anno"),
        ("mid-line # - > 1. stay", "mid-line # - > 1. stay"),
        ("@everyone and @here", f"@{ZWSP}everyone and @{ZWSP}here"),
        (
            "<@123> <@!5> <@&42> <#7> <:e:1> <t:1714564800>",
            f"<{ZWSP}@123> <{ZWSP}@!5> <{ZWSP}@&42> <{ZWSP}#7> <{ZWSP}:e:1> <{ZWSP}t:1714564800>",
        ),
        ("mail@example.org", "mail@example.org"),
    ],
)
def test_discord_escape_shows_article_text_literally(text: str, shown: str) -> None:
    assert discord_escape(text) == shown


def test_render_discord_cut_never_splits_an_escape(alert_factory: Callable[..., Alert]) -> None:
    payload = render_discord(alert_factory(title="*" * 1000))
    title = payload["embeds"][0]["title"]
    assert title.endswith("…") and len(title) <= 256
    assert title[:-1].replace("\\*", "") == ""  # only whole \* pairs before the ellipsis


# ---------------------------------------------------------------- delivery


async def test_discord_notifier_delivers_and_waits_for_the_saved_message(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory()
    with DiscordReceiver() as discord:
        await _notifier(discord.url, client).send(alert)
    assert discord.rejections == []
    assert discord.messages == [render_discord(alert)]
    [request] = discord.requests
    assert request.path == discord.path and request.query == {"wait": "true"}


async def test_discord_notifier_keeps_the_urls_own_query(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with DiscordReceiver() as discord:
        await _notifier(discord.url + "?thread_id=99", client).send(alert_factory())
    assert discord.requests[0].query == {"thread_id": "99", "wait": "true"}


async def test_discord_notifier_hostile_article_is_accepted_and_pings_nobody(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with DiscordReceiver() as discord:
        await _notifier(discord.url, client).send(_hostile(alert_factory))
    assert discord.rejections == []
    assert len(discord.messages) == 1
    assert discord.pings == []


@pytest.mark.parametrize(
    ("retry_after", "header", "expected"),
    [(1.523, "2", 1.523), (None, "7", 7.0), (0.25, None, 0.25), (None, None, None)],
    ids=["body-preferred", "header-only", "body-only", "neither"],
)
async def test_discord_notifier_rate_limit_is_retryable_after_discords_wait(
    client: httpx.AsyncClient,
    alert_factory: Callable[..., Alert],
    retry_after: float | None,
    header: str | None,
    expected: float | None,
) -> None:
    with DiscordReceiver() as discord:
        discord.rate_limit(retry_after, header)
        ticks = [1000.0]
        notifier = _notifier(discord.url, client, pacer=Pacer(0.0, clock=lambda: ticks[0]))
        with pytest.raises(RetryableDelivery) as caught:
            await notifier.send(alert_factory())
        pause = RATE_LIMITED_PAUSE if expected is None else expected
        assert notifier.pacer.delay(discord.url) == pytest.approx(pause)  # the whole channel waits
        ticks[0] += pause
        await notifier.send(alert_factory())  # once it has, the next attempt gets through
    assert caught.value.retry_after == expected
    assert "HTTP 429" in str(caught.value)
    assert len(discord.messages) == 1
    _assert_secret_hidden(caught.value, discord.url)


async def test_discord_notifier_global_rate_limit_says_so(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with DiscordReceiver() as discord:
        discord.rate_limit(30.0, "30", scope=True)
        with pytest.raises(RetryableDelivery, match=r"rate limited \(global\), retry after 30s"):
            await _notifier(discord.url, client).send(alert_factory())


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_discord_notifier_server_errors_are_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], status: int
) -> None:
    with DiscordReceiver() as discord:
        discord.script(Reply(status, "upstream trouble"))
        with pytest.raises(RetryableDelivery) as caught:
            await _notifier(discord.url, client).send(alert_factory())
    assert f"HTTP {status}" in str(caught.value)
    _assert_secret_hidden(caught.value, discord.url)


async def test_discord_notifier_invalid_form_body_is_permanent_with_discords_detail(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    detail = (
        '{"code": 50035, "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",'
        ' "message": "Must be 256 or fewer in length."}]}}}}, "message": "Invalid Form Body"}'
    )
    with DiscordReceiver() as discord:
        discord.script(Reply(400, detail))
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(discord.url, client).send(alert_factory())
    assert "HTTP 400" in str(caught.value) and "BASE_TYPE_MAX_LENGTH" in str(caught.value)
    _assert_secret_hidden(caught.value, discord.url)


async def test_discord_notifier_unknown_webhook_is_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    """A deleted webhook (or a wrong token) answers 404 Unknown Webhook: retrying cannot help."""
    with DiscordReceiver() as discord:
        url = discord.url.replace("SECRETwebhookTOKEN", "SECRETrevokedTOKEN")
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(url, client).send(alert_factory())
    assert str(caught.value).startswith("channel 'discord-esteri': HTTP 404")
    assert "Unknown Webhook" in str(caught.value)
    _assert_secret_hidden(caught.value, url)


@pytest.mark.parametrize("status", [401, 403])
async def test_discord_notifier_unauthorized_is_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], status: int
) -> None:
    with DiscordReceiver() as discord:
        discord.script(Reply(status, f'{{"message": "{status}: Unauthorized", "code": 0}}'))
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(discord.url, client).send(alert_factory())
    _assert_secret_hidden(caught.value, discord.url)


async def test_discord_notifier_receiver_down_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with refused_url("/api/webhooks/1/SECRETwebhookTOKEN") as url, pytest.raises(RetryableDelivery) as caught:
        await _notifier(url, client).send(alert_factory())
    assert caught.value.retry_after is None
    _assert_secret_hidden(caught.value, url)


async def test_discord_notifier_timeout_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with DiscordReceiver(delay=5.0) as discord:
        with pytest.raises(RetryableDelivery) as caught:
            await _notifier(discord.url, client, timeout=0.2).send(alert_factory())
        url = discord.url
    assert "ReadTimeout" in str(caught.value)
    _assert_secret_hidden(caught.value, url)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/api/webhooks/1/SECRET", "http://[::1/SECRET"])
async def test_discord_notifier_unusable_url_is_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], url: str
) -> None:
    with pytest.raises(PermanentDelivery) as caught:
        await _notifier(url, client).send(alert_factory())
    _assert_secret_hidden(caught.value, url)


def test_discord_notifier_repr_hides_the_url() -> None:
    notifier = _notifier("https://discord.com/api/webhooks/1/SECRETwebhookTOKEN", client=None)  # type: ignore[arg-type]
    assert "SECRET" not in repr(notifier)


# ---------------------------------------------------------------- the receiver itself


async def test_discord_receiver_refuses_what_discord_refuses(client: httpx.AsyncClient) -> None:
    """The receiver is only proof if it says no: an over-long title and a bad link are 400."""
    bad = {"embeds": [{"title": "T" * 257, "url": "not a url", "description": "🔴" * 2049}]}
    with DiscordReceiver() as discord:
        response = await client.post(discord.url, json=bad)
    assert response.status_code == 400 and response.json()["message"] == "Invalid Form Body"
    [problems] = discord.rejections
    assert any("title" in p for p in problems) and any("url" in p for p in problems)
    assert any("description" in p for p in problems)  # 2049 emoji are 4098 UTF-16 units
