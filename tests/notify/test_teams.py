"""Teams: an Adaptive Card message under 28 KB, Markdown in article text shown literally, and
delivery against a real local receiver that answers like a Workflows trigger."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from monitor.config import TeamsChannel
from monitor.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.pacing import Pacer
from monitor.notify.teams import TEAMS_MAX_BYTES, TeamsNotifier, payload_size, render_teams, teams_escape
from tests.notify.receivers import Reply, refused_url
from tests.notify.signed_receivers import ADAPTIVE_CARD, TeamsReceiver, teams_problems

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ZWSP = "\u200b"


def _notifier(
    url: str, client: httpx.AsyncClient, timeout: float = 5.0, *, pacer: Pacer | None = None
) -> TeamsNotifier:
    channel = TeamsChannel(type="teams", url=SecretStr(url), timeout=timeout)
    return TeamsNotifier("teams-desk", channel, client, clock=lambda: NOW, pacer=pacer)


def _assert_secret_hidden(exc: DeliveryError, url: str) -> None:
    text = f"{exc} {exc!r}"
    assert url not in text and "SECRET" not in text
    assert "'teams-desk'" in str(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


def _card(payload: dict[str, Any]) -> dict[str, Any]:
    [attachment] = payload["attachments"]
    card: dict[str, Any] = attachment["content"]
    return card


def _huge(alert_factory: Callable[..., Alert]) -> Alert:
    """An article built to blow every budget: astral characters are 12 bytes escaped."""
    return alert_factory(
        title="🕊" * 5000,
        snippet="Tregua à Gaza 🕊 **" * 20_000,
        rule_name="R" * 1000,
        source="é" * 1000,
        terms=tuple(f"termine {i} 🕊" for i in range(3000)),
        url="https://www.example.org/" + "é" * 3000,
    )


# ---------------------------------------------------------------- rendering


def test_render_teams_builds_an_adaptive_card_message(alert_factory: Callable[..., Alert]) -> None:
    payload = render_teams(alert_factory())
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    rule, title, facts, snippet = card["body"]
    assert rule["text"] == "Cessate il fuoco" and title["text"] == "Tregua a Gaza: accordo raggiunto"
    assert {f["title"]: f["value"] for f in facts["facts"]} == {
        "Source": "Esteri",
        "Published": "2024-05-01T11:58:00Z",
        "Language": "it",
        "Matched": "tregua, cessate il fuoco",
    }
    assert snippet["text"].startswith("… le parti hanno firmato una tregua")
    assert all(block.get("wrap") for block in card["body"] if block["type"] == "TextBlock")
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open article",
            "url": "https://www.example.org/esteri/tregua?id=1&lang=it",
        }
    ]
    assert teams_problems(payload) == []


@pytest.mark.parametrize("url", [None, "javascript:alert(1)", "mailto:desk@example.org", "https://"])
def test_render_teams_only_links_web_pages(alert_factory: Callable[..., Alert], url: str | None) -> None:
    assert "actions" not in _card(render_teams(alert_factory(url=url)))


def test_render_teams_huge_article_stays_under_the_size_limit(alert_factory: Callable[..., Alert]) -> None:
    payload = render_teams(_huge(alert_factory))
    sent = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()  # as httpx sends it
    assert len(sent) <= payload_size(payload) <= TEAMS_MAX_BYTES
    assert teams_problems(payload) == []
    body = _card(payload)["body"]
    assert body[-1]["text"].endswith("…")  # the snippet gave way, and was kept as long as it fits
    assert payload_size(payload) > TEAMS_MAX_BYTES - 200
    assert "actions" not in _card(payload)  # a URL too long for a button is left out


def test_render_teams_terms_give_way_after_the_snippet(alert_factory: Callable[..., Alert]) -> None:
    alert = alert_factory(terms=tuple(f"termine {i}" for i in range(300)), snippet="parole " * 2000)
    roomy = render_teams(alert)
    budget = payload_size(render_teams(alert_factory(terms=(), snippet=""))) + 300  # room for a few terms
    tight = render_teams(alert, max_bytes=budget)
    assert payload_size(tight) <= budget
    assert len(_card(tight)["body"]) == 3  # no snippet block left
    matched = {f["title"]: f["value"] for f in _card(tight)["body"][2]["facts"]}["Matched"]
    full = {f["title"]: f["value"] for f in _card(roomy)["body"][2]["facts"]}["Matched"]
    assert matched.endswith("…") and len(matched) < len(full)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain words, 3.5% up", "plain words, 3.5% up"),
        ("**bold** _it_ `code` ~s~", r"\*\*bold\*\* \_it\_ \`code\` \~s\~"),
        ("[click](https://evil.example)", r"\[click\](https://evil.example)"),
        ("a \\ backslash", r"a \\ backslash"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("# Heading", r"\# Heading"),
        ("> quote", r"\> quote"),
        ("1. first", r"1\. first"),
        ("mid-line - + # 1. stay", "mid-line - + # 1. stay"),
        ("{{DATE(2024-05-01T12:00:00Z, SHORT)}}", f"{{{ZWSP}{{DATE(2024-05-01T12:00:00Z, SHORT)}}}}"),
    ],
)
def test_teams_escape_shows_article_text_literally(text: str, shown: str) -> None:
    assert teams_escape(text) == shown


def test_render_teams_escapes_every_article_text(alert_factory: Callable[..., Alert]) -> None:
    card = _card(render_teams(alert_factory(title="**x**", rule_name="_r_", source="[s]", snippet="- *y*")))
    texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
    assert texts == [r"\_r\_", r"\*\*x\*\*", r"\- \*y\*"]
    assert card["body"][2]["facts"][0]["value"] == r"\[s\]"


# ---------------------------------------------------------------- delivery


async def test_teams_notifier_delivers_a_card_the_workflow_accepts(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory()
    with TeamsReceiver() as teams:
        await _notifier(teams.url, client).send(alert)
    assert teams.rejections == []
    assert teams.messages == [render_teams(alert)]


async def test_teams_notifier_huge_article_is_accepted_under_28_kb(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with TeamsReceiver() as teams:
        await _notifier(teams.url, client).send(_huge(alert_factory))
    assert teams.rejections == [] and len(teams.messages) == 1
    assert teams.sizes[0] <= TEAMS_MAX_BYTES


@pytest.mark.parametrize(
    ("status", "header", "expected"), [(429, "30", 30.0), (503, None, None), (500, None, None)]
)
async def test_teams_notifier_throttling_and_server_errors_are_retryable(
    client: httpx.AsyncClient,
    alert_factory: Callable[..., Alert],
    status: int,
    header: str | None,
    expected: float | None,
) -> None:
    with TeamsReceiver() as teams:
        teams.script(Reply(status, "busy", (("Retry-After", header),) if header else ()))
        ticks = [1000.0]
        notifier = _notifier(teams.url, client, pacer=Pacer(0.0, clock=lambda: ticks[0]))
        with pytest.raises(RetryableDelivery) as caught:
            await notifier.send(alert_factory())
        assert notifier.pacer.delay(teams.url) == (expected or 0.0)  # a Retry-After pauses the channel
        ticks[0] += expected or 0.0
        await notifier.send(alert_factory())  # once it has passed, the next attempt gets through
    assert caught.value.retry_after == expected
    assert len(teams.messages) == 1
    _assert_secret_hidden(caught.value, teams.url)


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_teams_notifier_refusals_are_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], status: int
) -> None:
    with TeamsReceiver() as teams:
        teams.script(Reply(status, '{"error": {"code": "Refused"}}'))
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(teams.url, client).send(alert_factory())
    assert str(caught.value).startswith(f"channel 'teams-desk': HTTP {status}")
    _assert_secret_hidden(caught.value, teams.url)


async def test_teams_notifier_deleted_workflow_is_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with TeamsReceiver() as teams:
        url = teams.url.replace("sig=SECRETsig", "sig=SECRETrevoked")
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(url, client).send(alert_factory())
    assert "HTTP 404" in str(caught.value) and "WorkflowNotFound" in str(caught.value)
    _assert_secret_hidden(caught.value, url)


async def test_teams_notifier_receiver_down_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with refused_url("/workflows/SECRET/invoke") as url, pytest.raises(RetryableDelivery) as caught:
        await _notifier(url, client).send(alert_factory())
    _assert_secret_hidden(caught.value, url)


async def test_teams_notifier_timeout_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with TeamsReceiver(delay=5.0) as teams:
        with pytest.raises(RetryableDelivery, match="ReadTimeout") as caught:
            await _notifier(teams.url, client, timeout=0.2).send(alert_factory())
        url = teams.url
    _assert_secret_hidden(caught.value, url)


def test_teams_notifier_repr_hides_the_url() -> None:
    notifier = _notifier("https://prod.example.logic.azure.com/workflows/SECRET?sig=SECRET", client=None)  # type: ignore[arg-type]
    assert "SECRET" not in repr(notifier)


# ---------------------------------------------------------------- the receiver itself


def _message(text: str) -> dict[str, Any]:
    card = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": text}]}
    return {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD, "content": card}]}


async def test_teams_receiver_refuses_a_message_over_28_kb(client: httpx.AsyncClient) -> None:
    """The receiver is only proof if it says no: 29 KB of otherwise valid card is refused."""
    with TeamsReceiver() as teams:
        too_big = await client.post(teams.url, json=_message("x" * 29 * 1024))
        small = await client.post(teams.url, json=_message("x"))
    assert (too_big.status_code, small.status_code) == (413, 202)
    assert len(teams.rejections) == 1 and len(teams.messages) == 1
