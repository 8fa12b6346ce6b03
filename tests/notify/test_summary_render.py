"""Digests and summaries keep their listing line by line in every channel, escaped and within limits."""

from __future__ import annotations

import re

import httpx
from pydantic import SecretStr

from monitor.config import SlackChannel
from monitor.models import SUMMARY_RULE
from monitor.notify.discord import render_discord
from monitor.notify.email import build_message
from monitor.notify.pacing import Pacer
from monitor.notify.render import (
    SLACK_MAX_MESSAGE,
    SLACK_MAX_SECTION,
    blocks_size,
    fit_listing,
    listing,
    render_console,
    render_slack,
)
from monitor.notify.slack import SlackNotifier
from monitor.notify.teams import render_teams
from tests.notify.conftest import make_alert
from tests.notify.receivers import SlackReceiver, slack_blocks_too_long, slack_problems
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


# ---------------------------------------------------------------- a listing too long for one message


def _digest(rules: int, articles: int, title_words: int = 20) -> str:
    """summary_text's layout: busiest rule first, at most five articles each, the rest counted."""
    lines = []
    for r in range(rules):
        lines.append(f"Dossier {r:03d}: {articles}")
        for n in range(min(articles, 5)):
            title = " ".join(["vertice"] * title_words)
            lines.append(f"  • {title} {n} (ANSA) https://www.example.org/esteri/{r}/{n}.html")
        if articles > 5:
            lines.append(f"  … and {articles - 5} more")
    lines.append("Sources: ANSA (99)")
    return "\n".join(lines)


def _counted(lines: list[str]) -> int:
    """Articles a listing accounts for: those it shows plus those its "… and N more" lines count."""
    shown = sum(1 for line in lines if line.startswith("  • "))
    return shown + sum(int(m) for line in lines for m in re.findall(r"^\s*… and (\d+) more$", line))


def test_fit_listing_returns_a_listing_that_fits_unchanged() -> None:
    lines = _digest(2, 3).splitlines()
    assert fit_listing(lines, lambda candidate: True) == lines


def test_fit_listing_lists_fewer_articles_per_rule_and_counts_the_rest() -> None:
    lines = _digest(3, 7).splitlines()
    fitted = fit_listing(lines, lambda candidate: len(candidate) <= 3 * 4 + 1)
    assert fitted[:4] == [lines[0], lines[1], lines[2], "  … and 5 more"]  # 2 shown, 5 more (3 + 2 already)
    assert [line for line in fitted if not line.startswith(" ")] == [
        "Dossier 000: 7",
        "Dossier 001: 7",
        "Dossier 002: 7",
        "Sources: ANSA (99)",
    ]
    assert _counted(fitted) == 21


def test_fit_listing_leaves_out_the_quietest_rules_last_and_counts_them() -> None:
    lines = _digest(10, 2).splitlines()
    fitted = fit_listing(lines, lambda candidate: len(candidate) <= 6)
    assert fitted == [
        "Dossier 000: 2",
        "  … and 2 more",
        "Dossier 001: 2",
        "  … and 2 more",
        "… and 8 more rules",
        "Sources: ANSA (99)",
    ]


def test_fit_listing_of_items_without_a_rule_line_still_counts() -> None:
    lines = [f"  • Articolo {n}" for n in range(100)]
    fitted = fit_listing(lines, lambda candidate: len(candidate) <= 10)
    assert fitted == [*lines[:9], "  … and 91 more"]


def test_slack_digest_of_twenty_rules_is_one_message_within_slacks_size() -> None:
    text = _digest(20, 7)
    assert len(text) > 12_000  # as listed in full it would be refused
    payload = render_slack(make_alert(rule_id=SUMMARY_RULE, snippet=text))
    assert not slack_blocks_too_long(payload) and not slack_problems(payload)
    assert blocks_size(payload["blocks"]) <= SLACK_MAX_MESSAGE
    shown = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section").splitlines()
    assert all(f"Dossier {r:03d}: 7" in shown for r in range(20)) and shown[-1] == "Sources: ANSA (99)"
    assert _counted(shown) == 140


def test_slack_digest_of_hundreds_of_rules_names_how_many_it_leaves_out() -> None:
    payload = render_slack(make_alert(rule_id=SUMMARY_RULE, snippet=_digest(600, 1)))
    assert blocks_size(payload["blocks"]) <= SLACK_MAX_MESSAGE and not slack_problems(payload)
    shown = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section").splitlines()
    rules = [line for line in shown if line.startswith("Dossier ")]
    [more] = [line for line in shown if line.endswith("more rules")]
    assert more == f"… and {600 - len(rules)} more rules" and len(rules) > 100


def test_slack_template_message_longer_than_a_message_is_shortened_and_says_so() -> None:
    message = "\n".join(f"*riga {n}* " + "parola " * 30 for n in range(400))
    payload = render_slack(make_alert(), message=message)
    assert blocks_size(payload["blocks"]) <= SLACK_MAX_MESSAGE and not slack_problems(payload)
    assert payload["blocks"][-1]["text"]["text"].startswith("_… shortened")
    assert payload["blocks"][0]["text"]["text"].startswith("*riga 0*")


def test_slack_alert_with_every_field_at_its_limit_is_within_one_message() -> None:
    huge = make_alert(
        rule_name="R" * 500,
        title="<T> & " * 2000,
        url="https://www.example.org/" + "a" * 2500,
        source="S" * 2000,
        terms=tuple(f"termine{n}" for n in range(800)),
        snippet="& " * 20_000,
    )
    payload = render_slack(huge)
    assert blocks_size(payload["blocks"]) <= SLACK_MAX_MESSAGE and not slack_problems(payload)


async def test_slack_receiver_refuses_blocks_too_long_like_slack(client: httpx.AsyncClient) -> None:
    """The receiver enforces the limit: 5 sections of 2,900 characters each are each fine, not together."""
    payload = {
        "text": "x",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 2900}}] * 5,
    }
    assert not slack_problems(payload)
    with SlackReceiver() as slack:
        response = await client.post(slack.url, json=payload)
    assert (response.status_code, response.text) == (400, "msg_blocks_too_long")
    assert slack.messages == []


async def test_slack_digest_of_twenty_rules_is_accepted_by_the_slack_receiver(
    client: httpx.AsyncClient,
) -> None:
    with SlackReceiver() as slack:
        channel = SlackChannel(type="slack", url=SecretStr(slack.url))
        await SlackNotifier("s", channel, client, pacer=Pacer(0.0)).send(
            make_alert(rule_id=SUMMARY_RULE, snippet=_digest(20, 7))
        )
    assert len(slack.messages) == 1 and not slack.rejections


def test_discord_and_teams_digests_list_fewer_articles_rather_than_end_mid_line() -> None:
    digest = make_alert(rule_id=SUMMARY_RULE, snippet=_digest(20, 7))
    described = render_discord(digest)["embeds"][0]["description"].splitlines()
    assert described[-1] == "Sources: ANSA (99)" and _counted(described) == 140
    assert all(f"Dossier {r:03d}: 7" in described for r in range(20))
    card = render_teams(digest)["attachments"][0]["content"]
    [listed] = [b["text"] for b in card["body"] if "Sources" in (b.get("text") or "")]
    lines = listed.split("\n\n")
    assert lines[-1] == "Sources: ANSA (99)" and _counted(lines) == 140
