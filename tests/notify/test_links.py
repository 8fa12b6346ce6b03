"""Links: an article's URL reaches a message only as a web link, whatever the channel or template.

Every hostile URL below carries the word ``evil``, which nothing else in the
alert does: wherever a channel would have put the link, ``evil`` must not
appear in what it renders.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import EmailChannel
from monitor.models import Alert
from monitor.notify.atom import AtomNotifier
from monitor.notify.console import ConsoleNotifier
from monitor.notify.discord import DiscordNotifier, render_discord
from monitor.notify.email import build_digest_message, build_message
from monitor.notify.flood import summary_text
from monitor.notify.render import render_console, render_slack, render_webhook, safe_link
from monitor.notify.slack import SlackNotifier
from monitor.notify.teams import TeamsNotifier, render_teams
from monitor.notify.templates import HTML, PLAIN, Format, MessageTemplates
from monitor.notify.webhook import WebhookNotifier
from tests.notify.conftest import make_alert

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

HOSTILE_URLS = [
    "javascript:alert('evil')",
    "JaVaScRiPt:alert('evil')",
    " javascript:evil()",
    "java\tscript:evil()",
    "javascript://evil.example/%0Aalert(1)",
    "data:text/html,<script>evil()</script>",
    "data:text/html;base64,ZXZpbA==#evil",
    "vbscript:msgbox('evil')",
    "file:///etc/evil",
    "//evil.example/x",
    "/evil/relative",
    "https:evil",
    "https://",
    "http://evil example.org/",
    "ftp://evil.example/file",
    "mailto:evil@example.org",
]

# A template per part that puts the link where a person would click it.
TEMPLATES: list[tuple[str, dict[str, Format], str]] = [
    ("slack", dict(SlackNotifier.template_formats), "<{{ article.url }}|{{ article.title }}>"),
    ("discord", dict(DiscordNotifier.template_formats), "[{{ article.title }}]({{ article.url }})"),
    ("teams", dict(TeamsNotifier.template_formats), "[{{ article.title }}]({{ article.url }})"),
    ("webhook", dict(WebhookNotifier.template_formats), '{"link": "{{ article.url }}"}'),
    ("email", {"html": HTML}, '<a href="{{ article.url }}">{{ article.title }}</a>'),
    ("email", {"text": PLAIN}, "{{ article.title }} {{ article.url }}"),
    ("console", {"text": PLAIN}, "{{ article.url }}"),
]


def _channel() -> EmailChannel:
    return EmailChannel.model_validate(
        {"type": "email", "host": "127.0.0.1", "from": "alerts@news.example.org", "to": "desk@example.org"}
    )


def _email_text(alert: Alert) -> str:
    message = build_message(alert, _channel(), now=NOW)
    return "\n".join(part.get_content() for part in message.walk() if not part.is_multipart())


def _renderings(alert: Alert) -> dict[str, str]:
    """What each channel's built-in rendering makes of ``alert``, as text."""
    return {
        "slack": json.dumps(render_slack(alert)),
        "discord": json.dumps(render_discord(alert)),
        "teams": json.dumps(render_teams(alert)),
        "webhook": json.dumps(render_webhook(alert)),
        "console": render_console(alert),
        "email": _email_text(alert),
    }


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_safe_link_offers_only_web_links(url: str) -> None:
    assert safe_link(url) is None


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://www.example.org/a?b=1&c=2", "https://www.example.org/a?b=1&c=2"),
        ("HTTP://EXAMPLE.ORG/x", "HTTP://EXAMPLE.ORG/x"),
        ('https://ex.org/a"onclick="evil()', "https://ex.org/a%22onclick=%22evil()"),
        ("https://ex.org/a|<!channel>{x}^`\\", "https://ex.org/a%7C%3C!channel%3E%7Bx%7D%5E%60%5C"),
        ("  https://ex.org/a b?q=c d  ", "https://ex.org/a%20b?q=c%20d"),
        ("https://ex.org/notizia-è-qui", "https://ex.org/notizia-è-qui"),
    ],
)
def test_safe_link_encodes_what_would_break_out_of_markup_and_keeps_the_rest(url: str, link: str) -> None:
    assert safe_link(url) == link


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_every_channel_leaves_a_hostile_link_out(url: str) -> None:
    alert = make_alert(url=url)
    for channel, text in _renderings(alert).items():
        assert "evil" not in text.lower(), channel
    assert render_webhook(alert)["data"]["article"]["url"] is None  # documented: null when no web link
    assert "<a " not in build_message(alert, _channel(), now=NOW).get_body(("html",)).get_content()


@pytest.mark.parametrize("url", HOSTILE_URLS)
@pytest.mark.parametrize(("channel", "formats", "source"), TEMPLATES)
def test_every_template_format_gets_no_hostile_link(
    url: str, channel: str, formats: dict[str, Format], source: str
) -> None:
    part = next(iter(formats))
    templates = MessageTemplates(channel, {part: source}, formats)
    text = templates.render(part, make_alert(url=url))
    assert text is not None and "evil" not in text.lower()


def test_a_quote_in_a_link_cannot_break_out_of_a_template_attribute() -> None:
    alert = make_alert(url='https://ex.org/a"onmouseover="evil()')
    html = MessageTemplates("mail", {"html": '<a href="{{ article.url }}">x</a>'}, {"html": HTML})
    assert html.render("html", alert) == '<a href="https://ex.org/a%22onmouseover=%22evil()">x</a>'
    slack = MessageTemplates("s", {"message": "<{{ article.url }}|x>"}, dict(SlackNotifier.template_formats))
    assert slack.render("message", replace(alert, url="https://ex.org/a|<!channel>")) == (
        "<https://ex.org/a%7C%3C!channel%3E|x>"
    )


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_digest_lists_no_hostile_link(url: str) -> None:
    alerts = [make_alert(url=url), make_alert(key="nm_2", url="https://www.example.org/ok")]
    _title, text, _terms = summary_text(alerts, "digest")
    assert "evil" not in text.lower() and "https://www.example.org/ok" in text
    digest = build_digest_message(alerts, _channel(), now=NOW, title="Digest")
    for part in digest.walk():
        if not part.is_multipart():
            assert "evil" not in part.get_content().lower()


@pytest.mark.parametrize("url", HOSTILE_URLS)
async def test_console_and_atom_channels_write_no_hostile_link(url: str, tmp_path: Path) -> None:
    out = io.StringIO()
    await ConsoleNotifier("console", out).send(make_alert(url=url))
    assert "evil" not in out.getvalue().lower()
    await AtomNotifier("atom", tmp_path, 10).send(make_alert(url=url))
    for path in tmp_path.iterdir():
        assert "evil" not in path.read_text(encoding="utf-8").lower()
