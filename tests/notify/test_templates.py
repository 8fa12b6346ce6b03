"""Message templates: pure rendering, escaping for each target, start-up errors; then real receivers."""

from __future__ import annotations

import email
import email.policy
import io
import logging
from email.message import EmailMessage

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from monitor.config import (
    CHANNEL_TYPES,
    ConsoleChannel,
    DiscordChannel,
    EmailChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from monitor.errors import ConfigError, PermanentDelivery
from monitor.notify.base import build_notifiers
from monitor.notify.console import ConsoleNotifier
from monitor.notify.discord import DiscordNotifier
from monitor.notify.email import EmailNotifier
from monitor.notify.pacing import Pacer
from monitor.notify.render import SLACK_MAX_BLOCKS, SLACK_MAX_SECTION, split_sections
from monitor.notify.slack import SLACK_FORMAT, SlackNotifier
from monitor.notify.teams import TeamsNotifier
from monitor.notify.templates import HTML, PLAIN, MessageTemplates
from monitor.notify.webhook import WebhookNotifier
from tests.notify.conftest import make_alert
from tests.notify.receivers import SlackReceiver
from tests.notify.signed_receivers import DiscordReceiver, StandardWebhookReceiver, TeamsReceiver
from tests.notify.smtpserver import HOST, SmtpServer
from tests.notify.test_webhook import NEW_SECRET

HOSTILE = make_alert(title="<!channel> *urgente* & @everyone <script>x</script>", snippet="tregua <b>ora</b>")


# ---------------------------------------------------------------- pure rendering


def test_templates_render_the_documented_variables() -> None:
    source = (
        "{{ rule.id }}|{{ rule.name }}|{{ rule.tags | join(',') }}|{{ article.title }}|{{ article.url }}|"
        "{{ article.source }}|{{ article.published | iso }}|{{ article.language }}|{{ terms | join(',') }}|"
        "{{ key }}|{{ channel }}|{{ matched_at | iso }}|{{ summary }}"
    )
    text = MessageTemplates("t", {"text": source}, {"text": PLAIN}).render("text", make_alert())
    assert text == (
        "cessate-il-fuoco|Cessate il fuoco|esteri|Tregua a Gaza: accordo raggiunto|"
        "https://www.example.org/esteri/tregua?id=1&lang=it|Esteri|2024-05-01T11:58:00Z|it|"
        "tregua,cessate il fuoco|d3b07384d113edec49eaa6238ad5ff00|test|2024-05-01T12:00:00Z|False"
    )


def test_templates_a_part_without_template_renders_none() -> None:
    templates = MessageTemplates("t", {}, {"text": PLAIN})
    assert templates.render("text", make_alert()) is None and not templates


def test_templates_missing_values_print_as_nothing() -> None:
    alert = make_alert(url=None, published=None, language=None)
    text = MessageTemplates("t", {"text": "[{{ article.url }}][{{ article.language }}]"}, {"text": PLAIN})
    assert text.render("text", alert) == "[][]"


def test_templates_plain_text_drops_terminal_control_characters() -> None:
    alert = make_alert(title="Tregua\x1b[2J\x07 firmata\nsubito")
    text = MessageTemplates("t", {"text": "{{ article.title }}"}, {"text": PLAIN}).render("text", alert)
    assert text == "Tregua[2J firmata\nsubito"


def test_templates_slack_values_are_escaped_but_the_template_markup_is_kept() -> None:
    source = "*{{ rule.name }}* <{{ article.url }}|{{ article.title }}>"
    text = MessageTemplates("s", {"message": source}, {"message": SLACK_FORMAT}).render("message", HOSTILE)
    assert text.startswith("*Cessate il fuoco* <https://www.example.org/esteri/tregua?id=1&amp;lang=it|")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "&amp; @everyone" in text


def test_templates_highlight_marks_terms_in_the_target_format() -> None:
    alert = make_alert(snippet="Una TREGUA <fragile> e poi il cessate il fuoco")
    slack = MessageTemplates("s", {"message": "{{ snippet | highlight }}"}, {"message": SLACK_FORMAT})
    html = MessageTemplates("e", {"html": "{{ snippet | highlight }}"}, {"html": HTML})
    assert slack.render("message", alert) == "Una *TREGUA* &lt;fragile&gt; e poi il *cessate il fuoco*"
    assert html.render("html", alert) == "Una <b>TREGUA</b> &lt;fragile&gt; e poi il <b>cessate il fuoco</b>"


def test_templates_html_is_autoescaped() -> None:
    html = MessageTemplates("e", {"html": "<h1>{{ article.title }}</h1>"}, {"html": HTML})
    assert html.render("html", HOSTILE) == (
        "<h1>&lt;!channel&gt; *urgente* &amp; @everyone &lt;script&gt;x&lt;/script&gt;</h1>"
    )


def test_templates_sandbox_refuses_python_internals() -> None:
    with pytest.raises(ConfigError, match="channel 't': template 'text' fails"):
        MessageTemplates("t", {"text": "{{ key.__class__.__mro__[1].__subclasses__() }}"}, {"text": PLAIN})


def test_templates_syntax_error_names_channel_part_and_line() -> None:
    with pytest.raises(ConfigError, match=r"channel 'slack-esteri': template 'message', line 2: "):
        MessageTemplates("slack-esteri", {"message": "ok\n{% if %}"}, {"message": SLACK_FORMAT})


def test_templates_misspelt_variable_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match="'artcle' is undefined"):
        MessageTemplates("t", {"text": "{{ artcle.title }}"}, {"text": PLAIN})


def test_templates_filter_on_a_missing_date_fails_at_start_up_not_at_send_time() -> None:
    with pytest.raises(ConfigError, match="without optional fields"):
        MessageTemplates("t", {"text": "{{ article.published.strftime('%H:%M') }}"}, {"text": PLAIN})
    guarded = "{% if article.published %}{{ article.published.strftime('%H:%M') }}{% endif %}"
    assert MessageTemplates("t", {"text": guarded}, {"text": PLAIN}).render("text", make_alert()) == "11:58"


def test_templates_unknown_part_is_refused_by_the_config_with_the_parts_it_has() -> None:
    with pytest.raises(ValidationError, match="slack has no part 'body'; it has: text, message"):
        SlackChannel(type="slack", url=SecretStr("http://x"), templates={"body": "x"})


def test_templates_every_channel_type_declares_the_parts_its_notifier_renders(
    client: httpx.AsyncClient,
) -> None:
    """A part accepted by the config but unknown to the notifier (or the reverse) fails here."""
    from typing import get_args

    from monitor.config import Channel

    minimal: dict[str, dict[str, object]] = {
        "email": {"host": "127.0.0.1", "from": "a@example.org", "to": "b@example.org"},
        "apprise": {"urls": ["json://127.0.0.1:9/x"]},
    }
    for model in get_args(get_args(Channel)[0]):
        kind = model.model_fields["type"].annotation.__args__[0]
        extra = {"url": SecretStr("http://127.0.0.1:9/x")} if "url" in model.model_fields else {}
        templates = {part: "{{ article.title }}" for part in model.template_parts}
        if kind == "webhook":
            templates = {"body": '{"t": "{{ article.title }}"}'}
        channel = model(type=kind, templates=templates, **extra, **minimal.get(kind, {}))
        build_notifiers({kind: channel}, client, out=io.StringIO())  # would raise on an unknown part
    assert set(CHANNEL_TYPES) >= {"console", "slack", "webhook", "email", "discord", "teams"}


def test_split_sections_keeps_slack_limits_and_entities() -> None:
    text = "\n".join(["riga &amp; riga " * 150] * 40)
    sections = split_sections(text)
    assert len(sections) <= SLACK_MAX_BLOCKS and all(len(s) <= SLACK_MAX_SECTION for s in sections)
    assert all(not s.rstrip("…").endswith(("&", "&am", "&amp")) for s in sections)


# ---------------------------------------------------------------- channels, real receivers


async def test_slack_template_message_arrives_escaped_within_limits(client: httpx.AsyncClient) -> None:
    templates = {
        "text": "Allerta {{ rule.name }}: {{ article.title }}",
        "message": "*{{ rule.name }}*\n<{{ article.url }}|{{ article.title }}>\n{{ snippet | highlight }}",
    }
    with SlackReceiver() as slack:
        channel = SlackChannel(type="slack", url=SecretStr(slack.url), templates=templates)
        await SlackNotifier("s", channel, client, pacer=Pacer(0.0)).send(HOSTILE)
    [message] = slack.messages  # the receiver enforces Slack's documented limits
    assert message["text"].startswith("Allerta Cessate il fuoco: &lt;!channel&gt;")
    [section] = message["blocks"]
    assert "<!channel>" not in section["text"]["text"] and "*tregua*" in section["text"]["text"]


async def test_webhook_body_template_is_signed_and_verified_by_the_standard_library(
    client: httpx.AsyncClient,
) -> None:
    body = (
        '{"text": "{{ rule.name }}: {{ article.title }}", "terms": {{ terms | tojson }}, "id": "{{ key }}"}'
    )
    with StandardWebhookReceiver(NEW_SECRET) as hook:
        channel = WebhookChannel(
            type="webhook", url=SecretStr(hook.url), secret=[SecretStr(NEW_SECRET)], templates={"body": body}
        )
        await WebhookNotifier("siem", channel, client).send(HOSTILE)
    [verified] = hook.verified
    assert verified.payload == {
        "text": "Cessate il fuoco: " + HOSTILE.title,
        "terms": ["tregua", "cessate il fuoco"],
        "id": HOSTILE.key,
    }


def test_webhook_body_template_that_is_not_json_fails_at_start_up(client: httpx.AsyncClient) -> None:
    channel = WebhookChannel(type="webhook", url=SecretStr("http://x"), templates={"body": "{{ terms }}"})
    with pytest.raises(ConfigError, match=r"template 'body' fails .*does not render JSON"):
        WebhookNotifier("siem", channel, client)


async def test_discord_template_cannot_ping_everyone(client: httpx.AsyncClient) -> None:
    templates = {
        "title": "{{ article.title }}",
        "message": "{{ snippet | highlight }} ({{ article.source }})",
    }
    with DiscordReceiver() as discord:
        channel = DiscordChannel(type="discord", url=SecretStr(discord.url), templates=templates)
        await DiscordNotifier("d", channel, client).send(HOSTILE)
    [payload] = discord.messages
    [embed] = payload["embeds"]
    assert payload["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in embed["title"] and "\\*urgente\\*" in embed["title"]
    assert embed["description"] == "**tregua** <b>ora<\u200b/b> (Esteri)"  # </…> slash commands inert


async def test_teams_template_replaces_the_snippet(client: httpx.AsyncClient) -> None:
    with TeamsReceiver() as teams:
        channel = TeamsChannel(
            type="teams", url=SecretStr(teams.url), templates={"message": "Fonte: {{ article.source }}"}
        )
        await TeamsNotifier("t", channel, client).send(make_alert())
    [payload] = teams.messages
    texts = [b.get("text") for b in payload["attachments"][0]["content"]["body"]]
    assert "Fonte: Esteri" in texts


async def test_email_templates_reach_a_real_smtp_server_escaped() -> None:
    templates = {
        "subject": "Allerta {{ rule.name }}:\n{{ article.title }}",
        "text": "{{ article.title }}\n{{ article.url }}",
        "html": "<p>{{ article.title }}</p><p>{{ snippet | highlight }}</p>",
    }
    async with SmtpServer() as smtp:
        channel = EmailChannel.model_validate(
            {
                "type": "email",
                "host": HOST,
                "port": smtp.port,
                "security": "none",
                "allow_insecure": True,
                "from": "alerts@example.org",
                "to": "desk@example.org",
                "templates": templates,
            }
        )
        await EmailNotifier("mail", channel).send(HOSTILE)
    [received] = smtp.received
    message = email.message_from_bytes(received.message.as_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"[news-monitor] Allerta Cessate il fuoco: {HOSTILE.title}"
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    assert plain.get_content() == f"{HOSTILE.title}\n{HOSTILE.url}\n"
    assert "&lt;script&gt;" in rich.get_content() and "<script>" not in rich.get_content()
    assert "<b>tregua</b> &lt;b&gt;ora&lt;/b&gt;" in rich.get_content()


async def test_console_template_prints_one_line(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    channel = ConsoleChannel(type="console", templates={"text": "{{ rule.id }} → {{ article.title }}"})
    notifier = build_notifiers({"c": channel}, httpx.AsyncClient(), out=out)["c"]
    assert isinstance(notifier, ConsoleNotifier)
    with caplog.at_level(logging.WARNING):
        await notifier.send(make_alert())
    assert out.getvalue() == "cessate-il-fuoco → Tregua a Gaza: accordo raggiunto\n"


async def test_template_failing_on_a_real_alert_is_permanent_not_retried() -> None:
    """The probes cannot foresee every value: a template that breaks on one is dead at once, named."""
    out = io.StringIO()
    notifier = ConsoleNotifier("c", out, {"text": "{{ 1 // (article.title | length - 3) }}"})
    await notifier.send(make_alert())
    with pytest.raises(PermanentDelivery, match="channel 'c': template 'text' failed: integer division"):
        await notifier.send(make_alert(title="abc"))
    assert out.getvalue() == "0\n"
