"""Messages from Jinja2 templates a user writes per channel: pure, sandboxed, escaped for where they land.

A channel may replace parts of its message in ``monitor.yaml``::

    channels:
      slack-esteri:
        type: slack
        url: ${SLACK_URL}
        templates:
          text: "{{ rule.name }}: {{ article.title }}"
          message: |
            *{{ rule.name }}* · <{{ article.url }}|{{ article.title }}>
            {{ snippet | highlight }}

Every ``{{ … }}`` is escaped for the part's format before it lands (Slack's
``& < >``, Discord's markdown and mentions, HTML for email, JSON string escapes
in a webhook body): article text is hostile, and a template author should not
have to remember that.  ``highlight`` marks the matched terms in the part's
format and returns text already escaped; ``tojson`` output is taken as is.
``None`` prints as nothing, so ``{{ article.url }}`` of an article without a
link is empty rather than the word "None".  ``article.url`` is only ever a
web link (:func:`~monitor.notify.render.safe_link`): an article whose link is
``javascript:…``, ``data:…`` or not a URL at all has none.

Templates run in Jinja's immutable sandbox with ``StrictUndefined``.  Each is
compiled and rendered against two probe alerts (one complete, one with every
optional field empty) when the channel is built, so a syntax error, a misspelt
variable or a filter applied to a missing date stops the daemon at start-up
with the channel, the part and the line, instead of failing at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from monitor.errors import ConfigError, PermanentDelivery
from monitor.models import Alert
from monitor.notify.render import safe_link, term_marker

__all__ = ["HTML", "PLAIN", "Format", "MessageTemplates", "template_context"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _plain(text: str) -> str:
    """Plain text keeps line breaks and tabs, never terminal control characters."""
    return _CONTROL.sub("", text)


@dataclass(frozen=True)
class Format:
    """How one part's text is written: ``escape`` for values, ``mark`` around an (escaped) matched term."""

    escape: Callable[[str], str] = _plain
    mark: Callable[[str], str] = field(default=lambda term: term)
    html: bool = False  # escaped by Jinja's own HTML autoescaping instead of ``escape``


PLAIN = Format()
HTML = Format(mark=lambda term: f"<b>{term}</b>", html=True)


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def template_context(alert: Alert) -> dict[str, Any]:
    """The variables a template sees (documented in docs/alerts.md); plain data only."""
    return {
        "rule": {"id": alert.rule_id, "name": alert.rule_name, "tags": list(alert.rule_tags)},
        "article": {
            "title": alert.title,
            "url": safe_link(alert.url),  # only a web link: never javascript: or data:
            "source": alert.source,
            "published": alert.published,
            "language": alert.language,
        },
        "terms": list(alert.terms),
        "snippet": alert.snippet,
        "key": alert.key,
        "channel": alert.channel,
        "matched_at": alert.matched_at,
        "summary": alert.rule_id == "summary",
    }


def _highlighter(fmt: Format) -> Callable[..., Markup]:
    quote: Callable[[str], str] = (lambda text: str(escape(text))) if fmt.html else fmt.escape

    @jinja2.pass_context
    def highlight(context: jinja2.runtime.Context, text: Any, terms: Any = None) -> Markup:
        """``text`` escaped for the format, each matched term (of the alert, or ``terms``) marked."""
        words = [str(term) for term in (terms or context.get("terms") or ())]
        return Markup(term_marker(words, quote, fmt.mark)("" if text is None else str(text)))

    return highlight


def _environment(fmt: Format) -> jinja2.Environment:
    def finalize(value: Any) -> Any:
        if value is None:
            return ""
        if fmt.html or isinstance(value, Markup):
            return value  # HTML: Jinja's autoescape does it; Markup: already safe for this format
        return fmt.escape(str(value))

    env = ImmutableSandboxedEnvironment(
        autoescape=fmt.html,
        undefined=jinja2.StrictUndefined,
        finalize=finalize,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["highlight"] = _highlighter(fmt)
    env.filters["iso"] = _iso
    return env


def _probes() -> tuple[Alert, Alert]:
    now = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    full = Alert(
        key="nm_probe",
        channel="probe",
        rule_id="probe",
        rule_name="Probe",
        title="Cessate il fuoco",
        url="https://www.example.org/a",
        source="Esteri",
        published=now,
        language="it",
        terms=("cessate il fuoco",),
        snippet="… un cessate il fuoco …",
        matched_at=now,
        rule_tags=("esteri",),
    )
    bare = Alert(
        key="nm_probe_bare",
        channel="probe",
        rule_id="summary",
        rule_name="",
        title="",
        url=None,
        source="",
        published=None,
        language=None,
        terms=(),
        snippet="",
        matched_at=now,
    )
    return full, bare


class MessageTemplates:
    """One channel's template overrides, compiled and checked; ``render`` is pure."""

    def __init__(
        self,
        channel: str,
        sources: Mapping[str, str],
        formats: Mapping[str, Format],
        *,
        check: Callable[[str, str], None] | None = None,
    ) -> None:
        """``formats`` names the parts this channel type has; ``check(part, text)`` may refuse a result.

        Raises ConfigError naming the channel, the part and the line.
        """
        self.channel = channel
        self._templates: dict[str, jinja2.Template] = {}
        for part, source in sources.items():
            if part not in formats:
                raise ConfigError(
                    f"channel {channel!r}: no template part {part!r}; "
                    f"this channel has: {', '.join(formats) or 'none'}"
                )
            try:
                self._templates[part] = _environment(formats[part]).from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(
                    f"channel {channel!r}: template {part!r}, line {exc.lineno}: {exc.message}"
                ) from None
        for probe in _probes():
            for part in self._templates:
                try:
                    text = self._render(part, probe)
                    if check is not None:
                        check(part, text)
                except Exception as exc:  # a user's template may raise anything: name it, never crash
                    raise ConfigError(
                        f"channel {channel!r}: template {part!r} fails on "
                        f"{'a complete' if probe.url else 'an alert without optional fields'}: {exc}"
                    ) from None

    def __contains__(self, part: object) -> bool:
        return part in self._templates

    def __bool__(self) -> bool:
        return bool(self._templates)

    def _render(self, part: str, alert: Alert) -> str:
        return self._templates[part].render(template_context(alert)).strip()

    def render(self, part: str, alert: Alert) -> str | None:
        """The part for ``alert``, or None when the channel does not override it.

        A template that fails on a real alert (one the probes did not foresee)
        raises PermanentDelivery: retrying renders it the same way.
        """
        if part not in self._templates:
            return None
        try:
            return self._render(part, alert)
        except Exception as exc:  # a user's template may raise anything; it fails this alert only
            raise PermanentDelivery(f"channel {self.channel!r}: template {part!r} failed: {exc}") from None
