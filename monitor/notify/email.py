"""Alerts sent as email through an SMTP server, one message per alert or per digest.

Two halves, kept apart:

* :func:`build_message` and :func:`build_digest_message` are pure: alert(s) and
  ``now`` in, a standard-library :class:`~email.message.EmailMessage` out
  (``multipart/alternative``, text then HTML).  Article text is hostile: it
  never reaches a header with a line break in it, every HTML byte from it is
  escaped, and only ``http(s)`` URLs become links.  The ``Message-ID`` comes
  from the alert's idempotency key and the sender's domain
  (``<key@example.org>``), so every retry of one alert is the same message to
  a receiver that deduplicates.
* :class:`EmailNotifier` holds one SMTP conversation per delivery (aiosmtplib):
  implicit TLS or a STARTTLS that must be offered, certificates always
  verified, ``AUTH`` only once encrypted.  Sending in clear happens only when
  the channel says ``allow_insecure: true`` (a local relay).  aiosmtplib's
  errors are mapped at this boundary: 4xx replies, refused connections and
  timeouts may pass (:class:`RetryableDelivery`); 5xx replies, an untrusted
  certificate or a missing STARTTLS will not (:class:`PermanentDelivery`).

The password never appears in a repr, a log line or an error: server replies
are scrubbed of it (and of its base64 ``AUTH`` forms) before they are quoted.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import html
import logging
import re
import ssl
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError, NonASCIILocalPartDefect
from email.headerregistry import Address, AddressHeader, BaseHeader
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from monitor.config import EmailChannel
from monitor.errors import ConfigError, DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.http import Clock, system_clock
from monitor.notify.render import listing, safe_link, term_marker
from monitor.notify.templates import HTML, PLAIN, MessageTemplates

__all__ = [
    "DEFAULT_PORTS",
    "DIGEST_PER_RULE",
    "SUBJECT_LENGTH",
    "EmailNotifier",
    "build_digest_message",
    "build_message",
    "id_domain",
    "message_id",
    "parse_mailbox",
]

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
SUBJECT_LENGTH = 200
"""Longest Subject we write, in characters, prefix included."""
DIGEST_PER_RULE = 10
"""Articles listed under each rule in a digest; the rest are counted."""

_FALLBACK_DOMAIN = "news-monitor.invalid"  # RFC 2606: a name that is never anybody's
_DOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_DOMAIN_LITERAL = re.compile(r"\[[!-Z^-~]{1,253}\]")  # [192.0.2.1], [IPv6:…]: no-fold-literal
_TITLE_LENGTH = 500
_SNIPPET_LENGTH = 2000
_ELLIPSIS = "…"
_UNTITLED = "(untitled)"
# Bidirectional overrides and isolates: they can make a subject read backwards.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_CSS = "font-family:sans-serif;line-height:1.45;color:#222;max-width:46em"
_MUTED = "color:#666;font-size:90%"


# ---------------------------------------------------------------- text helpers


def _one_line(text: str) -> str:
    """Drop control characters and bidi overrides, collapse whitespace (CR/LF included)."""
    kept = "".join(
        ch for ch in text if ch.isspace() or (unicodedata.category(ch) != "Cc" and ch not in _BIDI)
    )
    return " ".join(kept.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + _ELLIPSIS


def _when(moment: datetime) -> str:
    """``2024-05-01 11:58 UTC``: what a reader of any mail client understands."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _web_url(url: str | None) -> str | None:
    return safe_link(url)


def _highlighter(terms: Iterable[str]) -> Callable[[str], str]:
    """Escape text for HTML and wrap each occurrence of a matched term in ``<strong>``."""
    return term_marker((_one_line(t) for t in terms), html.escape, lambda term: f"<strong>{term}</strong>")


# ---------------------------------------------------------------- addresses and headers


def parse_mailbox(text: str, *, what: str) -> Address:
    """One mailbox (``Name <user@example.org>`` or ``user@example.org``) or a ConfigError.

    ``what`` names the setting in the error (``channel 'mail': from``).  The
    standard library's strict header parser reads it; groups, lists, line
    breaks and anything it had to guess at (a defect) are refused, so a config
    value can never add a header or a recipient.
    """
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise ConfigError(f"{what}: {text!r} contains control characters")
    try:
        header = email.policy.default.header_factory("To", text)
    except (IndexError, ValueError, HeaderParseError):
        header = None
    if not (isinstance(header, AddressHeader) and isinstance(header, BaseHeader)):
        raise ConfigError(f"{what}: {text!r} is not a valid email address")
    # A non-ASCII local part is legal (SMTPUTF8); whether the server takes it is its answer.
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    groups = header.groups
    if defects or len(groups) != 1 or groups[0].display_name is not None or len(groups[0].addresses) != 1:
        raise ConfigError(f"{what}: {text!r} is not one email address")
    mailbox = groups[0].addresses[0]
    if not mailbox.username or not mailbox.domain:
        raise ConfigError(f"{what}: {text!r} is not a valid email address")
    return mailbox


def id_domain(sender: str) -> str:
    """The right side of our Message-IDs: the From address's domain, in ASCII (IDNA for ``bücher.example``).

    RFC 5322 asks for a domain there, and the sender's is the one we may
    speak for; a domain that cannot be written in ASCII (or a From that does
    not parse) falls back to ``news-monitor.invalid``, a reserved name.
    """
    try:
        domain = parse_mailbox(sender, what="from").domain
    except ConfigError:
        return _FALLBACK_DOMAIN
    if _DOMAIN_LITERAL.fullmatch(domain):
        return domain
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        return _FALLBACK_DOMAIN
    return ascii_domain if _DOMAIN.fullmatch(ascii_domain) else _FALLBACK_DOMAIN


def message_id(key: str, domain: str) -> str:
    """``<key@domain>``: the same delivery key always gives the same Message-ID."""
    return f"<{_ID_UNSAFE.sub('-', key)[:200] or 'alert'}@{domain}>"


def _subject(prefix: str, text: str) -> str:
    prefix = _one_line(prefix)
    head = f"{prefix} " if prefix else ""
    return _cut(head + _one_line(text), SUBJECT_LENGTH)


def _new_message(channel: EmailChannel, *, subject: str, now: datetime, msgid: str) -> EmailMessage:
    """Headers every message carries; addresses are re-parsed, never pasted."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = parse_mailbox(channel.sender, what="from")
    message["To"] = [parse_mailbox(to, what="to") for to in channel.to]
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = msgid
    # RFC 3834: vacation responders and auto-replies must stay quiet.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    return message


def _attach(message: EmailMessage, text: str, body_html: str) -> EmailMessage:
    """Text first, HTML second: clients show the last part they can render."""
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(body_html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def _html_page(title: str, body: list[str], language: str | None = None) -> str:
    lang = f' lang="{language}"' if language and _LANGUAGE.fullmatch(language) else ""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f"<html{lang}><head>",
            '<meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f'</head><body style="{_CSS}">',
            *body,
            "</body></html>",
            "",
        ]
    )


# ---------------------------------------------------------------- one alert


@dataclass(frozen=True)
class _Article:
    """What both parts show of an alert, already cleaned of control characters."""

    rule: str
    title: str
    url: str | None
    source: str
    when: str | None
    language: str | None
    terms: list[str]
    snippet: str

    @classmethod
    def of(cls, alert: Alert) -> _Article:
        return cls(
            rule=_one_line(alert.rule_name) or alert.rule_id,
            title=_cut(_one_line(alert.title), _TITLE_LENGTH) or _UNTITLED,
            url=_web_url(alert.url),
            source=_cut(_one_line(alert.source), 200),
            when=_when(alert.published) if alert.published else None,
            language=_one_line(alert.language or "")[:20] or None,
            terms=[t for t in (_one_line(t) for t in alert.terms) if t],
            snippet=_cut(_one_line(alert.snippet), _SNIPPET_LENGTH),
        )

    @property
    def byline(self) -> str:
        return " · ".join(p for p in (self.source, self.when, self.language) if p)

    def html_title(self) -> str:
        title = html.escape(self.title)
        if self.url is None:
            return title
        return f'<a href="{html.escape(self.url, quote=True)}">{title}</a>'


def _footer(alert: Alert) -> str:
    return f"Sent by news-monitor: rule {_one_line(alert.rule_id)} matched at {_when(alert.matched_at)}."


def _alert_text(article: _Article, alert: Alert) -> str:
    if alert.is_summary:  # a digest: its listing, line by line
        return "\n".join([article.title, "", *listing(alert), "", "-- ", _footer(alert)]) + "\n"
    lines = [article.rule, "", article.title]
    if article.url:
        lines.append(article.url)
    lines += ["", article.byline]
    if article.terms:
        lines.append("Matched: " + ", ".join(article.terms))
    if article.snippet:
        lines += ["", article.snippet]
    lines += ["", "-- ", _footer(alert)]
    return "\n".join(lines) + "\n"


def _alert_html(article: _Article, alert: Alert) -> str:
    if alert.is_summary:
        rows = [
            f'<div style="margin-left:{1.5 if line[:1].isspace() else 0}em">{html.escape(line.strip())}</div>'
            for line in listing(alert)
        ]
        footer = f'<hr><p style="{_MUTED}">{html.escape(_footer(alert))}</p>'
        return _html_page(article.title, [f"<h2>{html.escape(article.title)}</h2>", *rows, footer])
    body = [
        f'<p style="{_MUTED};margin:0">{html.escape(article.rule)}</p>',
        f'<h2 style="margin:0.2em 0 0.3em">{article.html_title()}</h2>',
        f'<p style="{_MUTED};margin-top:0">{html.escape(article.byline)}</p>',
    ]
    if article.terms:
        body.append("<p><b>Matched:</b> " + html.escape(", ".join(article.terms)) + "</p>")
    if article.snippet:
        body.append(f"<p>{_highlighter(article.terms)(article.snippet)}</p>")
    body.append(f'<hr><p style="{_MUTED}">{html.escape(_footer(alert))}</p>')
    return _html_page(article.title, body, article.language)


def build_message(
    alert: Alert,
    channel: EmailChannel,
    *,
    now: datetime,
    subject: str | None = None,
    text: str | None = None,
    html_body: str | None = None,
) -> EmailMessage:
    """One alert as a ``multipart/alternative`` email; pure, so every retry builds the same one.

    ``subject``, ``text`` and ``html_body`` are the channel's templates, rendered
    already (the HTML one escaped): they replace the built-in parts.  The
    subject still gets the prefix and loses its line breaks, whatever a
    template produced.  Raises ConfigError when the channel's addresses cannot
    be parsed (the notifier checks them when it is built).
    """
    article = _Article.of(alert)
    message = _new_message(
        channel,
        subject=_subject(channel.subject_prefix, subject or f"{article.rule}: {article.title}"),
        now=now,
        msgid=message_id(alert.key, id_domain(channel.sender)),
    )
    message["X-News-Monitor-Rule"] = _cut(_one_line(alert.rule_id), 200)
    plain = text + "\n" if text else _alert_text(article, alert)
    page = html_body if html_body else _alert_html(article, alert)
    return _attach(message, plain, page)


# ---------------------------------------------------------------- digests


def _moment(alert: Alert) -> datetime:
    moment = alert.published or alert.matched_at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _by_rule(alerts: Sequence[Alert]) -> list[list[Alert]]:
    """Alerts grouped by rule, busiest rule first, newest article first inside each."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(alert.rule_id, []).append(alert)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), _one_line(g[0].rule_name).casefold()))
    return [sorted(group, key=_moment, reverse=True) for group in ordered]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _digest_summary(groups: list[list[Alert]]) -> str:
    total = sum(len(group) for group in groups)
    return f"{_plural(total, 'alert')} from {_plural(len(groups), 'rule')}."


def _digest_text(title: str, groups: list[list[Alert]]) -> str:
    lines = [title, _digest_summary(groups), ""]
    for group in groups:
        articles = [_Article.of(a) for a in group]
        lines += [f"== {articles[0].rule} ({len(group)}) ==", ""]
        for article in articles[:DIGEST_PER_RULE]:
            lines.append(f"* {article.title}")
            if article.url:
                lines.append(f"  {article.url}")
            lines.append(f"  {article.byline}")
        if len(group) > DIGEST_PER_RULE:
            lines.append(f"… and {len(group) - DIGEST_PER_RULE} more")
        lines.append("")
    lines += ["-- ", "Sent by news-monitor."]
    return "\n".join(lines) + "\n"


def _digest_html(title: str, groups: list[list[Alert]]) -> str:
    body = [
        f'<h2 style="margin-bottom:0.2em">{html.escape(title)}</h2>',
        f'<p style="{_MUTED};margin-top:0">{_digest_summary(groups)}</p>',
    ]
    for group in groups:
        articles = [_Article.of(a) for a in group]
        body.append(f"<h3>{html.escape(articles[0].rule)} ({len(group)})</h3>")
        body.append("<ul>")
        for article in articles[:DIGEST_PER_RULE]:
            body.append(
                f'<li>{article.html_title()}<br><span style="{_MUTED}">{html.escape(article.byline)}</span>'
                + (f"<br><b>Matched:</b> {html.escape(', '.join(article.terms))}" if article.terms else "")
                + "</li>"
            )
        body.append("</ul>")
        if len(group) > DIGEST_PER_RULE:
            body.append(f'<p style="{_MUTED}">… and {len(group) - DIGEST_PER_RULE} more</p>')
    body.append(f'<hr><p style="{_MUTED}">Sent by news-monitor.</p>')
    return _html_page(title, body)


def build_digest_message(
    alerts: Sequence[Alert], channel: EmailChannel, *, now: datetime, title: str
) -> EmailMessage:
    """Several alerts in one email, grouped by rule with counts and the newest articles.

    The Message-ID is derived from the alerts' keys, so retrying the same
    digest sends the same message.  An empty digest is a caller's mistake.
    """
    if not alerts:
        raise ValueError("a digest needs at least one alert")
    groups = _by_rule(alerts)
    heading = _cut(_one_line(title), _TITLE_LENGTH) or "news-monitor digest"
    digest = hashlib.sha256("\n".join(sorted(a.key for a in alerts)).encode()).hexdigest()[:32]
    message = _new_message(
        channel,
        subject=_subject(channel.subject_prefix, f"{heading}: {_plural(len(alerts), 'alert')}"),
        now=now,
        msgid=message_id(f"digest-{digest}", id_domain(channel.sender)),
    )
    return _attach(message, _digest_text(heading, groups), _digest_html(heading, groups))


# ---------------------------------------------------------------- sending


def _tls_context(channel: EmailChannel, name: str) -> ssl.SSLContext:
    """The system's trust store plus ``ca_file``; hostnames checked; never anything weaker."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if channel.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(channel.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"channel {name!r}: ca_file {str(channel.ca_file)!r}: {exc}") from None
    return context


def _secret_forms(username: str | None, password: str | None) -> list[str]:
    """The password as it may come back in a reply: raw, and in AUTH PLAIN / LOGIN base64."""
    if not password:
        return []
    forms = [password, base64.b64encode(password.encode()).decode()]
    if username is not None:
        forms.append(base64.b64encode(f"\0{username}\0{password}".encode()).decode())
    return sorted(forms, key=len, reverse=True)


class EmailNotifier:
    """Delivers alerts as email to the channel's recipients; one SMTP session per message.

    Everything that can be checked without the network is checked here, so a
    bad channel stops the daemon at start-up: the addresses, ``security:
    none`` without ``allow_insecure``, a username without a password (or the
    reverse), an unreadable ``ca_file``.
    """

    def __init__(self, name: str, channel: EmailChannel, *, clock: Clock = system_clock) -> None:
        self.name = name
        self._channel = channel
        self._clock = clock
        where = f"channel {name!r}"
        if channel.security == "none" and not channel.allow_insecure:
            raise ConfigError(
                f"{where}: security: none sends mail and passwords in clear; "
                "use tls or starttls, or set allow_insecure: true for a local relay"
            )
        if (channel.username is None) != (channel.password is None):
            raise ConfigError(f"{where}: username and password go together")
        self._sender = parse_mailbox(channel.sender, what=f"{where}: from")
        self._recipients = [parse_mailbox(to, what=f"{where}: to").addr_spec for to in channel.to]
        self._tls = _tls_context(channel, name) if channel.security != "none" else None
        self.host = channel.host
        self.port = channel.port or DEFAULT_PORTS[channel.security]
        self._where = f"{where} ({self.host}:{self.port})"
        password = channel.password.get_secret_value() if channel.password else None
        self._secrets = _secret_forms(channel.username, password)
        self._templates = MessageTemplates(
            name, channel.templates, {"subject": PLAIN, "text": PLAIN, "html": HTML}
        )

    def __repr__(self) -> str:
        masked = ", password='**********'" if self._channel.password else ""
        return f"EmailNotifier(name={self.name!r}, host={self.host!r}, port={self.port}{masked})"

    async def send(self, alert: Alert) -> None:
        """Email one alert; raises RetryableDelivery or PermanentDelivery naming the channel."""
        render = self._templates.render
        message = build_message(
            alert,
            self._channel,
            now=self._clock(),
            subject=render("subject", alert),
            text=render("text", alert),
            html_body=render("html", alert),
        )
        await self.send_message(message)

    async def send_message(self, message: EmailMessage) -> None:
        """Deliver a built message (an alert or a digest) to the channel's recipients, once."""
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self._channel.timeout,
            use_tls=self._channel.security == "tls",
            start_tls=False,  # done by hand below: a missing STARTTLS must not pass silently
            tls_context=self._tls,
        )
        try:
            await self._converse(smtp, message)
        except PermanentDelivery:
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._map_error(exc) from None
        finally:
            smtp.close()

    async def _converse(self, smtp: aiosmtplib.SMTP, message: EmailMessage) -> None:
        await smtp.connect()
        if self._channel.security == "starttls":
            await smtp.ehlo()
            if smtp.supports_extension("starttls"):
                await smtp.starttls()
            elif not self._channel.allow_insecure:
                raise PermanentDelivery(
                    f"{self._where}: {self.host} does not offer STARTTLS; refusing to send "
                    "in clear (allow_insecure: true allows it, for a local relay only)"
                )
            else:
                log.warning("channel=%s host=%s STARTTLS not offered: sending in clear", self.name, self.host)
        # Unencrypted here means allow_insecure said so (security: none, or no STARTTLS offered).
        if self._channel.username is not None and self._channel.password is not None:
            await smtp.login(self._channel.username, self._channel.password.get_secret_value())
        refused, _ = await smtp.send_message(
            message, sender=self._sender.addr_spec, recipients=self._recipients
        )
        if refused:
            log.warning(
                "channel=%s message=%s delivered, but recipients refused: %s",
                self.name,
                message["Message-ID"],
                "; ".join(f"{rcpt} ({r.code} {self._scrub(r.message)})" for rcpt, r in refused.items()),
            )
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:  # the message is already accepted
            log.debug("channel=%s host=%s QUIT failed after delivery", self.name, self.host)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return " ".join(text.split())

    def _map_error(self, exc: aiosmtplib.SMTPException | OSError) -> DeliveryError:
        """aiosmtplib's failure → ours: 4xx and network trouble may pass, the rest will not."""
        where = self._where
        cause = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or str(cause)
            return PermanentDelivery(f"{where}: certificate of {self.host} not trusted: {detail}")
        if isinstance(cause, ssl.SSLError):
            return PermanentDelivery(
                f"{where}: TLS handshake failed: {cause.reason or cause} (is security right for this port?)"
            )
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {self._scrub(r.message)}" for r in exc.recipients)
            message = f"{where}: every recipient refused: {detail}"
            if all(400 <= code < 500 for code in codes):
                return RetryableDelivery(message)
            return PermanentDelivery(message)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return self._map_reply(where, exc)
        if isinstance(exc, OSError):  # refused, reset, timed out, lost: waiting may help
            return RetryableDelivery(f"{where}: {type(exc).__name__}: {self._scrub(str(exc))}")
        # What is left is about this server's abilities (no AUTH, no SMTPUTF8 …): retrying won't help.
        return PermanentDelivery(f"{where}: {self._scrub(exc.message)}")

    def _map_reply(self, where: str, exc: aiosmtplib.SMTPResponseException) -> DeliveryError:
        reply = f"{exc.code} {self._scrub(exc.message)}"
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            what = f"{where}: authentication as {self._channel.username!r} failed: {reply}"
        elif isinstance(exc, aiosmtplib.SMTPSenderRefused):
            what = f"{where}: sender {exc.sender} refused: {reply}"
        else:
            what = f"{where}: server replied {reply}"
        if 500 <= exc.code < 600:
            return PermanentDelivery(what)
        return RetryableDelivery(what)
