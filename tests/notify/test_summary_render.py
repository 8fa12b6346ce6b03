"""Digests and summaries keep their listing line by line in every channel, escaped and within limits."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from monitor.config import SlackChannel
from monitor.models import SUMMARY_RULE
from monitor.notify.discord import render_discord
from monitor.notify.email import build_message
from monitor.notify.pacing import Pacer
from monitor.notify.render import SLACK_MAX_SECTION, listing, render_console, render_slack
from monitor.notify.slack import SlackNotifier
from monitor.notify.teams import render_teams
from tests.notify.conftest import make_alert
from tests.notify.receivers import SlackReceiver
from tests.notify.test_email import _channel, _parts

LISTING = "\n".join(
    [
        "NATO: 2",
        "  • Vertice <!channel> a Vilnius (ANSA) — also reported by Rai https://x.org/1",
        "  • Articolo\x1b[2J due (Rai)",
        "Sources: ANSA (1), Rai (1)",
    ]
)
SUMMARY = make_alert(
    rule_id=SUMMARY_RULE,
    rule_name="Digest: 2 alert(s) for 1 rule(s)",
    title="Digest: 2 alert(s)",
    url=None,
    snippet=LISTING,
    terms=("NATO",),
)


def test_listing_keeps_lines_and_indents_and_drops_controls() -> None:
    assert listing(SUMMARY) == [
        "NATO: 2",
        "  • Vertice <!channel> a Vilnius (ANSA) — also reported by Rai https://x.org/1",
        "  • Articolo[2J due (Rai)",
        "Sources: ANSA (1), Rai (1)",
    ]


def test_console_prints_a_summary_line_by_line() -> None:
    lines = render_console(SUMMARY).splitlines()
    assert "    • Articolo[2J due (Rai)" in lines and lines[-1] == "  Sources: ANSA (1), Rai (1)"


def test_slack_summary_is_one_line_per_item_and_escaped() -> None:
    blocks = render_slack(SUMMARY)["blocks"]
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "\n  • Articolo[2J due (Rai)\n" in text


def test_slack_huge_digest_fits_slack_limits() -> None:
    big = make_alert(
        rule_id=SUMMARY_RULE, snippet="\n".join(f"  • Articolo {n} & altro" for n in range(3000))
    )
    blocks = render_slack(big)["blocks"]
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= SLACK_MAX_SECTION for b in blocks if b["type"] == "section")


async def test_slack_summary_is_accepted_by_the_slack_receiver(client: httpx.AsyncClient) -> None:
    with SlackReceiver() as slack:
        channel = SlackChannel(type="slack", url=SecretStr(slack.url))
        await SlackNotifier("s", channel, client, pacer=Pacer(0.0)).send(SUMMARY)
    assert len(slack.messages) == 1 and not slack.rejections


def test_email_summary_lists_line_by_line_in_both_parts() -> None:
    from datetime import UTC, datetime

    text, html = _parts(build_message(SUMMARY, _channel(), now=datetime(2024, 5, 1, tzinfo=UTC)))
    assert "\n  • Articolo[2J due (Rai)\n" in text
    assert "&lt;!channel&gt;" in html and "<!channel>" not in html and html.count("<div") == 4


def test_discord_and_teams_summaries_keep_their_lines() -> None:
    embed = render_discord(SUMMARY)["embeds"][0]
    assert embed["description"].count("\n") == 3 and embed["description"].endswith(
        "Sources: ANSA (1), Rai (1)"
    )
    body = render_teams(SUMMARY)["attachments"][0]["content"]["body"]
    assert any("Sources: ANSA (1), Rai (1)" in (b.get("text") or "") for b in body)
