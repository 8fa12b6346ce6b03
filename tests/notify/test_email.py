"""The email channel: pure message building, then EmailNotifier against a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from monitor.config import EmailChannel
from monitor.errors import ConfigError, DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.base import Notifier
from monitor.notify.email import (
    DIGEST_PER_RULE,
    SUBJECT_LENGTH,
    EmailNotifier,
    build_digest_message,
    build_message,
    id_domain,
    message_id,
    parse_mailbox,
)
from tests.notify.conftest import make_alert
from tests.notify.smtpserver import HOST, SmtpServer, TestCA, closed_port

NOW = datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
PASSWORD = "s3cret-Pa55word"
SENDER = "News Monitor – Redazione <alerts@example.org>"


def _channel(**changes: Any) -> EmailChannel:
    values: dict[str, Any] = {
        "type": "email",
        "host": HOST,
        "security": "starttls",
        "from": SENDER,
        "to": ["desk@example.org", "Mario Rossi <mario@example.org>"],
        "timeout": 5.0,
    }
    values.update(changes)
    return EmailChannel.model_validate(values)


def _notifier(**changes: Any) -> EmailNotifier:
    return EmailNotifier("mail-esteri", _channel(**changes), clock=lambda: NOW)


def _reparse(message: EmailMessage) -> EmailMessage:
    """What a mail client sees: the message as bytes on the wire, parsed back."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    return plain.get_content(), rich.get_content()


def _assert_password_hidden(exc: DeliveryError) -> None:
    text = f"{exc} {exc!r}"
    assert PASSWORD not in text
    assert "mail-esteri" in str(exc)
    assert exc.__cause__ is None


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


# ---------------------------------------------------------------- one alert, pure


def test_build_message_is_text_then_html_alternative() -> None:
    message = _reparse(build_message(make_alert(), _channel(), now=NOW))
    assert message.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]


def test_build_message_headers_mark_an_automatic_message() -> None:
    message = _reparse(build_message(make_alert(), _channel(), now=NOW))
    assert message["From"] == SENDER
    assert message["To"] == "desk@example.org, Mario Rossi <mario@example.org>"
    assert message["Subject"] == "[news-monitor] Cessate il fuoco: Tregua a Gaza: accordo raggiunto"
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == "<d3b07384d113edec49eaa6238ad5ff00@example.org>"  # the sender's domain
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-News-Monitor-Rule"] == "cessate-il-fuoco"


def test_build_message_id_is_the_same_on_every_retry() -> None:
    first = build_message(make_alert(), _channel(), now=NOW)
    retry = build_message(make_alert(attempt=3), _channel(), now=NOW + timedelta(hours=2))
    assert first["Message-ID"] == retry["Message-ID"]
    assert first["Date"] != retry["Date"]


def test_build_message_title_cannot_inject_a_header() -> None:
    alert = make_alert(title="Tregua\r\nBcc: victim@example.org\r\n\r\nbody", rule_name="R\nX-Evil: 1")
    raw = build_message(alert, _channel(), now=NOW).as_bytes()
    message = _reparse(build_message(alert, _channel(), now=NOW))
    assert message["Subject"] == "[news-monitor] R X-Evil: 1: Tregua Bcc: victim@example.org body"
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert b"\nBcc:" not in raw and b"\nX-Evil:" not in raw


def test_build_message_subject_drops_control_and_bidi_characters() -> None:
    alert = make_alert(title="Tre\x1b[31mgua\x00 \u202eaz\u2028ag")
    assert _reparse(build_message(alert, _channel(), now=NOW))["Subject"].endswith(": Tre[31mgua az ag")


def test_build_message_subject_is_bounded() -> None:
    subject = _reparse(build_message(make_alert(title="Tregua " * 200), _channel(), now=NOW))["Subject"]
    assert len(subject) == SUBJECT_LENGTH
    assert subject.endswith("…")


def test_build_message_subject_without_prefix_starts_with_the_rule() -> None:
    message = build_message(make_alert(), _channel(subject_prefix=""), now=NOW)
    assert message["Subject"].startswith("Cessate il fuoco: Tregua")


def test_build_message_escapes_article_html() -> None:
    alert = make_alert(
        title="<script>alert(1)</script> & co",
        source='<img src="https://evil.example/x.png">',
        snippet="<b onclick=x>tregua</b>",
        rule_name="<i>rule</i>",
    )
    text, html = _parts(_reparse(build_message(alert, _channel(), now=NOW)))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<img" not in html and "&lt;img src=&quot;https://evil.example/x.png&quot;&gt;" in html
    assert "&lt;b onclick=x&gt;<strong>tregua</strong>&lt;/b&gt;" in html
    assert "&lt;i&gt;rule&lt;/i&gt;" in html
    assert "<script>alert(1)</script> & co" in text  # plain text is not HTML: shown as written


def test_build_message_html_shows_matched_terms_in_bold() -> None:
    text, html = _parts(_reparse(build_message(make_alert(), _channel(), now=NOW)))
    assert "una <strong>tregua</strong>; il <strong>cessate il fuoco</strong> inizia" in html
    assert "<b>Matched:</b> tregua, cessate il fuoco" in html
    assert "Matched: tregua, cessate il fuoco" in text


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://www.example.org/a?b=1&c=2", 'href="https://www.example.org/a?b=1&amp;c=2"'),
        ('http://example.org/"onmouseover="x', 'href="http://example.org/%22onmouseover=%22x"'),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>x</script>", None),
        ("ftp://example.org/file", None),
        ("https://exa mple.org/", None),
        ("https://", None),
        (None, None),
    ],
)
def test_build_message_links_only_web_urls(url: str | None, href: str | None) -> None:
    text, html = _parts(_reparse(build_message(make_alert(url=url), _channel(), now=NOW)))
    if href is None:
        assert "<a " not in html and "href" not in html
        assert not url or url not in text
    else:
        assert url is not None
        assert href in html
        assert href.removeprefix('href="').removesuffix('"').replace("&amp;", "&") in text


def test_build_message_html_loads_nothing_remote() -> None:
    _, html = _parts(_reparse(build_message(make_alert(), _channel(), now=NOW)))
    assert "<img" not in html and "<script" not in html and "<link" not in html
    assert 'lang="it"' in html


def test_build_message_keeps_italian_accents() -> None:
    alert = make_alert(
        rule_name="Perché è così",
        title="Città: l'età dell'oro è già finita",
        snippet="Più caffè per tutti, però già",
        source="Corriere della Sera — Esteri",
    )
    message = _reparse(build_message(alert, _channel(), now=NOW))
    assert message["Subject"] == "[news-monitor] Perché è così: Città: l'età dell'oro è già finita"
    assert message["From"].addresses[0].display_name == "News Monitor – Redazione"
    text, html = _parts(message)
    assert "Città: l'età dell'oro è già finita" in text
    assert "Più caffè per tutti, però già" in text
    assert "Corriere della Sera — Esteri" in html
    assert all(byte < 128 for byte in build_message(alert, _channel(), now=NOW).as_bytes())


def test_build_message_untitled_article_says_so() -> None:
    message = _reparse(build_message(make_alert(title=" \r\n ", snippet="", terms=()), _channel(), now=NOW))
    assert message["Subject"].endswith(": (untitled)")
    text, html = _parts(message)
    assert "Matched" not in text and "Matched" not in html


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("d3b07384", "<d3b07384@example.org>"),
        ("a b>c\r\n<d@e", "<a-b-c---d-e@example.org>"),
        ("", "<alert@example.org>"),
    ],
)
def test_message_id_is_a_safe_function_of_the_key(key: str, expected: str) -> None:
    assert message_id(key, "example.org") == expected


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("News Monitor <alerts@Example.ORG>", "example.org"),
        ("alerts@redazione.esteri.example.it", "redazione.esteri.example.it"),
        ("avvisi@città.example", "xn--citt-3na.example"),  # IDNA: a Message-ID is ASCII
        ("alerts@[192.0.2.1]", "[192.0.2.1]"),
        ("alerts@exa_mple.org", "news-monitor.invalid"),  # not a host name: a reserved one instead
        ("not an address", "news-monitor.invalid"),
    ],
)
def test_message_id_domain_is_the_senders(sender: str, domain: str) -> None:
    assert id_domain(sender) == domain


@pytest.mark.parametrize(
    ("text", "addr", "name"),
    [
        ("alerts@example.org", "alerts@example.org", ""),
        ("News <alerts@example.org>", "alerts@example.org", "News"),
        ('"Rossi, Mario" <mario@example.org>', "mario@example.org", "Rossi, Mario"),
        ("root@localhost", "root@localhost", ""),
    ],
)
def test_parse_mailbox_accepts_one_address(text: str, addr: str, name: str) -> None:
    mailbox = parse_mailbox(text, what="to")
    assert (mailbox.addr_spec, mailbox.display_name) == (addr, name)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not an address",
        "a@example.org, b@example.org",
        "desk@example.org\r\nBcc: victim@example.org",
        "Desk <desk@example.org>\nBcc: victim@example.org",
        "team: a@example.org, b@example.org;",
        "@example.org",
        "desk@",
        "a@b@example.org",
        "<desk@example.org",
    ],
)
def test_parse_mailbox_refuses_anything_but_one_address(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^to: "):
        parse_mailbox(text, what="to")


# ---------------------------------------------------------------- digests, pure


def _digest_alerts() -> list[Alert]:
    alerts = [
        make_alert(key=f"t{i}", title=f"Tregua {i}", published=NOW - timedelta(minutes=i)) for i in range(3)
    ]
    alerts += [
        make_alert(key=f"e{i}", rule_id="elezioni", rule_name="Elezioni", title=f"Voto {i}", terms=("voto",))
        for i in range(2)
    ]
    alerts.append(make_alert(key="x", rule_id="xss", rule_name="<b>XSS</b>", title="<script>x</script>"))
    return alerts


def test_build_digest_groups_alerts_by_rule_busiest_first() -> None:
    message = _reparse(build_digest_message(_digest_alerts(), _channel(), now=NOW, title="Rassegna"))
    assert message["Subject"] == "[news-monitor] Rassegna: 6 alerts"
    text, html = _parts(message)
    assert "6 alerts from 3 rules." in text
    order = [text.index(f"== {rule}") for rule in ("Cessate il fuoco (3)", "Elezioni (2)", "<b>XSS</b> (1)")]
    assert order == sorted(order)
    assert text.index("Tregua 0") < text.index("Tregua 1") < text.index("Tregua 2")  # newest first
    assert "<h3>Cessate il fuoco (3)</h3>" in html and "<h3>Elezioni (2)</h3>" in html


def test_build_digest_escapes_article_html() -> None:
    _, html = _parts(_reparse(build_digest_message(_digest_alerts(), _channel(), now=NOW, title="<R>")))
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<h3>&lt;b&gt;XSS&lt;/b&gt; (1)</h3>" in html
    assert "<title>&lt;R&gt;</title>" in html


def test_build_digest_lists_the_newest_articles_and_counts_the_rest() -> None:
    alerts = [
        make_alert(key=f"k{i}", title=f"Articolo {i:02}", published=NOW - timedelta(minutes=i))
        for i in range(DIGEST_PER_RULE + 5)
    ]
    text, html = _parts(_reparse(build_digest_message(alerts, _channel(), now=NOW, title="Oggi")))
    assert f"Articolo {DIGEST_PER_RULE - 1:02}" in text and f"Articolo {DIGEST_PER_RULE:02}" not in text
    assert "… and 5 more" in text and "… and 5 more" in html


def test_build_digest_message_id_depends_only_on_which_alerts() -> None:
    alerts = _digest_alerts()
    first = build_digest_message(alerts, _channel(), now=NOW, title="A")
    again = build_digest_message(alerts[::-1], _channel(), now=NOW + timedelta(hours=1), title="A")
    other = build_digest_message(alerts[1:], _channel(), now=NOW, title="A")
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Auto-Submitted"] == "auto-generated"


def test_build_digest_refuses_no_alerts() -> None:
    with pytest.raises(ValueError, match="at least one alert"):
        build_digest_message([], _channel(), now=NOW, title="Oggi")


# ---------------------------------------------------------------- notifier, checked at start-up


def test_email_notifier_refuses_clear_text_unless_allowed() -> None:
    with pytest.raises(ConfigError, match=r"channel 'mail-esteri': security: none .* allow_insecure"):
        _notifier(security="none")
    assert _notifier(security="none", allow_insecure=True).port == 25


@pytest.mark.parametrize(("security", "port"), [("tls", 465), ("starttls", 587)])
def test_email_notifier_default_port_follows_security(security: str, port: int) -> None:
    assert _notifier(security=security).port == port
    assert _notifier(security=security, port=2525).port == 2525


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"from": "not an address"}, "channel 'mail-esteri': from: 'not an address'"),
        ({"to": ["ok@example.org", "a@example.org\nBcc: b@example.org"]}, "channel 'mail-esteri': to: "),
        ({"password": "x"}, "channel 'mail-esteri': username and password go together"),
        ({"username": "u"}, "channel 'mail-esteri': username and password go together"),
    ],
)
def test_email_notifier_refuses_a_bad_channel_at_build_time(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        _notifier(**changes)


def test_email_notifier_refuses_an_unreadable_ca_file(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    for path in (tmp_path / "missing.pem", tmp_path / "junk.pem"):
        with pytest.raises(ConfigError, match=r"channel 'mail-esteri': ca_file"):
            _notifier(ca_file=path)


def test_email_notifier_repr_hides_the_password() -> None:
    notifier = _notifier(username="u", password=PASSWORD)
    assert PASSWORD not in repr(notifier)
    assert "**********" in repr(notifier)


# ---------------------------------------------------------------- notifier, real server


async def test_email_notifier_delivers_through_a_local_relay_in_clear_when_allowed() -> None:
    alert = make_alert(title="Città in festa: è tregua", snippet="Più caffè, <meno> guerra")
    async with SmtpServer() as smtp:
        await _notifier(security="none", allow_insecure=True, port=smtp.port).send(alert)
    [received] = smtp.received
    assert received.mail_from == "alerts@example.org"
    assert received.rcpt_tos == ["desk@example.org", "mario@example.org"]
    assert not received.encrypted
    message = received.message
    assert message["Subject"] == "[news-monitor] Cessate il fuoco: Città in festa: è tregua"
    assert message["Message-ID"] == message_id(alert.key, "example.org")
    assert message["Message-ID"].endswith("@example.org>")  # From: alerts@example.org
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Bcc"] is None
    text, html = _parts(message)
    assert "Più caffè, <meno> guerra" in text
    assert "Più caffè, &lt;meno&gt; guerra" in html


async def test_email_notifier_title_cannot_add_a_recipient() -> None:
    alert = make_alert(title="Tregua\r\nBcc: victim@example.org")
    async with SmtpServer() as smtp:
        await _notifier(security="none", allow_insecure=True, port=smtp.port).send(alert)
    [received] = smtp.received
    assert "victim@example.org" not in received.rcpt_tos
    assert received.message["Bcc"] is None
    assert "\r" not in received.message["Subject"] and "\n" not in received.message["Subject"]


async def test_email_notifier_sends_over_starttls_and_authenticates(ca: TestCA) -> None:
    server = SmtpServer(starttls=ca.server_context(), users={"monitor": PASSWORD})
    async with server as smtp:
        await _notifier(port=smtp.port, ca_file=ca.ca_file, username="monitor", password=PASSWORD).send(
            make_alert()
        )
    [received] = smtp.received
    assert received.encrypted
    assert received.login == "monitor"
    assert len(received.message.get_body(("html",)).get_content()) > 0  # type: ignore[union-attr]


async def test_email_notifier_sends_over_implicit_tls(ca: TestCA) -> None:
    async with SmtpServer(implicit=ca.server_context(), users={"monitor": PASSWORD}) as smtp:
        await _notifier(
            security="tls", port=smtp.port, ca_file=ca.ca_file, username="monitor", password=PASSWORD
        ).send(make_alert())
    [received] = smtp.received
    assert received.encrypted and received.login == "monitor"


async def test_email_notifier_wrong_password_is_permanent_and_not_repeated(ca: TestCA) -> None:
    server = SmtpServer(
        starttls=ca.server_context(),
        users={"monitor": "the-right-one"},
        auth_failure="535 5.7.8 bad credentials for {login}: {password}",
    )
    async with server as smtp:
        notifier = _notifier(port=smtp.port, ca_file=ca.ca_file, username="monitor", password=PASSWORD)
        with pytest.raises(PermanentDelivery, match=r"authentication as 'monitor' failed: 535") as caught:
            await notifier.send(make_alert())
    assert smtp.logins and smtp.logins[0] == ("monitor", PASSWORD.encode())  # the server did echo it
    _assert_password_hidden(caught.value)
    assert "**********" in str(caught.value)
    assert smtp.received == []


async def test_email_notifier_without_credentials_is_refused_by_an_auth_server(ca: TestCA) -> None:
    async with SmtpServer(starttls=ca.server_context(), users={"monitor": PASSWORD}) as smtp:
        with pytest.raises(PermanentDelivery, match=r"sender alerts@example.org refused: 530"):
            await _notifier(port=smtp.port, ca_file=ca.ca_file).send(make_alert())


async def test_email_notifier_refuses_a_server_without_starttls() -> None:
    async with SmtpServer() as smtp:
        with pytest.raises(PermanentDelivery, match=rf"{HOST} does not offer STARTTLS; refusing"):
            await _notifier(port=smtp.port, username="monitor", password=PASSWORD).send(make_alert())
    assert smtp.received == [] and smtp.logins == []


async def test_email_notifier_falls_back_to_clear_text_only_when_allowed(caplog: Any) -> None:
    async with SmtpServer() as smtp:
        with caplog.at_level(logging.WARNING, logger="monitor.notify.email"):
            await _notifier(port=smtp.port, allow_insecure=True).send(make_alert())
    assert [r.encrypted for r in smtp.received] == [False]
    assert "STARTTLS not offered" in caplog.text


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_email_notifier_untrusted_certificate_is_permanent(ca: TestCA, security: str) -> None:
    context = ca.server_context()
    server = SmtpServer(starttls=context) if security == "starttls" else SmtpServer(implicit=context)
    async with server as smtp:
        with pytest.raises(PermanentDelivery, match=rf"certificate of {HOST} not trusted") as caught:
            await _notifier(security=security, port=smtp.port, username="u", password=PASSWORD).send(
                make_alert()
            )
    _assert_password_hidden(caught.value)
    assert smtp.received == [] and smtp.logins == []


async def test_email_notifier_certificate_for_another_host_is_permanent(tmp_path: Path) -> None:
    ca = TestCA(tmp_path, names=("mail.example.org",))
    async with SmtpServer(starttls=ca.server_context()) as smtp:
        with pytest.raises(PermanentDelivery, match=rf"certificate of {HOST} not trusted: .*mismatch"):
            await _notifier(port=smtp.port, ca_file=ca.ca_file).send(make_alert())
    assert smtp.received == []


async def test_email_notifier_implicit_tls_against_a_plain_server_is_permanent() -> None:
    async with SmtpServer() as smtp:
        with pytest.raises(PermanentDelivery, match=r"TLS handshake failed"):
            await _notifier(security="tls", port=smtp.port).send(make_alert())


@pytest.fixture
async def relay() -> AsyncIterator[SmtpServer]:
    """A plain local relay the notifier may use (allow_insecure)."""
    async with SmtpServer() as smtp:
        yield smtp


def _relay_notifier(relay: SmtpServer, **changes: Any) -> EmailNotifier:
    return _notifier(security="none", allow_insecure=True, port=relay.port, **changes)


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("MAIL", "421 4.3.2 shutting down"),
        ("MAIL", "451 4.3.0 local error"),
        ("RCPT", "450 4.2.1 mailbox busy"),
        ("DATA", "451 4.3.0 try again later"),
        ("DATA", "452 4.3.1 insufficient storage"),
    ],
)
async def test_email_notifier_4xx_reply_is_retryable(relay: SmtpServer, command: str, reply: str) -> None:
    replies = [reply, reply] if command == "RCPT" else [reply]  # RCPT: once per recipient
    relay.script(command, *replies)
    with pytest.raises(RetryableDelivery, match=reply.split()[0]):
        await _relay_notifier(relay).send(make_alert())
    assert relay.received == []


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("MAIL", "553 5.1.8 sender address rejected"),
        ("RCPT", "550 5.1.1 mailbox unavailable"),
        ("DATA", "554 5.7.1 message rejected as spam"),
    ],
)
async def test_email_notifier_5xx_reply_is_permanent_with_the_reply(
    relay: SmtpServer, command: str, reply: str
) -> None:
    relay.script(command, *([reply, reply] if command == "RCPT" else [reply]))
    with pytest.raises(PermanentDelivery, match=reply):
        await _relay_notifier(relay).send(make_alert())
    assert relay.received == []


async def test_email_notifier_retry_after_451_sends_the_same_message_id(relay: SmtpServer) -> None:
    alert = make_alert()
    notifier = _relay_notifier(relay)
    relay.script("DATA", "451 4.3.0 try again later")
    with pytest.raises(RetryableDelivery):
        await notifier.send(alert)
    await notifier.send(make_alert(attempt=2))
    [received] = relay.received
    assert received.message["Message-ID"] == message_id(alert.key, "example.org")


async def test_email_notifier_some_recipients_refused_is_delivered_with_a_warning(
    relay: SmtpServer, caplog: Any
) -> None:
    relay.refuse["mario@example.org"] = "550 5.1.1 no such user"
    with caplog.at_level(logging.WARNING, logger="monitor.notify.email"):
        await _relay_notifier(relay).send(make_alert())
    assert [r.rcpt_tos for r in relay.received] == [["desk@example.org"]]
    assert "recipients refused: mario@example.org (550 5.1.1 no such user)" in caplog.text


async def test_email_notifier_every_recipient_refused_is_permanent(relay: SmtpServer) -> None:
    relay.refuse.update({"desk@example.org": "550 5.1.1 no", "mario@example.org": "550 5.1.1 no"})
    with pytest.raises(PermanentDelivery, match=r"every recipient refused: desk@example.org: 550"):
        await _relay_notifier(relay).send(make_alert())


async def test_email_notifier_server_down_is_retryable() -> None:
    with closed_port() as port, pytest.raises(RetryableDelivery, match=rf"channel 'mail-esteri' \({HOST}"):
        await _notifier(security="none", allow_insecure=True, port=port).send(make_alert())


async def test_email_notifier_silent_server_times_out_as_retryable() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # never greets

    server = await asyncio.start_server(mute, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(RetryableDelivery, match="Timed out"):
            await _notifier(security="none", allow_insecure=True, port=port, timeout=0.2).send(make_alert())
    finally:
        server.close()
        for writer in writers:
            writer.close()
            await writer.wait_closed()
        await server.wait_closed()


async def test_email_notifier_digest_goes_out_as_one_message(relay: SmtpServer) -> None:
    notifier = _relay_notifier(relay)
    await notifier.send_message(build_digest_message(_digest_alerts(), _channel(), now=NOW, title="Oggi"))
    [received] = relay.received
    assert received.message["Subject"] == "[news-monitor] Oggi: 6 alerts"


def test_email_notifier_satisfies_the_notifier_protocol() -> None:
    assert isinstance(_notifier(), Notifier)
