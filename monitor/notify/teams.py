"""Alerts posted to a Microsoft Teams Workflows webhook as an Adaptive Card.

The URL is a Workflows trigger ("Post to a channel when a webhook request is
received"), which takes a ``message`` whose attachment is an Adaptive Card.
Teams refuses messages over 28 KB, so :func:`render_teams` measures the JSON it
builds and shortens the snippet, then the matched terms, until the card fits
under :data:`TEAMS_MAX_BYTES` (measured ASCII-escaped, an upper bound for any
serialisation of it).

Article text goes into ``TextBlock``\\ s, which render a subset of Markdown
(``**bold**``, ``_italic_``, ``[links](…)``, lists), so it is backslash-escaped
where Markdown would read it; ``{{`` is broken too, since TextBlock expands
``{{DATE(…)}}`` functions.  The article link is an ``Action.OpenUrl`` button.

Workflows answers 202 Accepted once it has queued the run (the flow itself
may still fail later: Teams does not tell the sender).  400 (a payload it
cannot read), 401/403 and 404 (a deleted or disabled workflow) are permanent;
408, 429 (with ``Retry-After``) and 5xx may pass: the shared mapping in
:mod:`monitor.notify.http`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from monitor.models import Alert
from monitor.notify.http import HttpNotifier
from monitor.notify.render import _fit, _iso, _one_line, fit_listing, listing, safe_link
from monitor.notify.templates import Format

__all__ = [
    "ADAPTIVE_CARD",
    "CARD_SCHEMA",
    "CARD_VERSION",
    "TEAMS_MAX_BYTES",
    "TeamsNotifier",
    "payload_size",
    "render_teams",
    "teams_escape",
]

TEAMS_MAX_BYTES = 28_000
"""Largest JSON body we send: under the 28 KB (28,672 bytes) Teams accepts, with room to spare."""

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"

# Caps that keep the fixed part of a card far below the budget, whatever the text.
_RULE = 150
_TITLE = 500
_SOURCE = 150
_LANGUAGE = 20
_TERMS = 1000
_SNIPPET = 10_000
_MAX_URL = 2048
_UNTITLED = "(untitled)"
_ZWSP = "\u200b"

_INLINE = re.compile(r"([\\*_\[\]`~])")
_LINE_START = re.compile(r"^(?:#|-|\+|>)|^\d+(?=\.)")


def teams_escape(text: str) -> str:
    """Text a TextBlock shows literally: Markdown escaped, ``{{…}}`` functions broken."""
    text = _INLINE.sub(r"\\\1", text)
    text = _LINE_START.sub(lambda m: m.group() + "\\" if m.group().isdigit() else "\\" + m.group(), text)
    return text.replace("{{", "{" + _ZWSP + "{")


def payload_size(payload: Any) -> int:
    """Bytes of ``payload`` as JSON, ASCII-escaped with spaced separators: never less than what is sent."""
    return len(json.dumps(payload, ensure_ascii=True))


def _link(url: str | None) -> str | None:
    """An http(s) URL short enough for a button, else None (the card then has no button)."""
    link = safe_link(url)
    return link if link and len(json.dumps(link)) <= _MAX_URL else None


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _card(alert: Alert, snippet: str, terms: str) -> dict[str, Any]:
    """The whole message for ``alert`` with the given (already shortened) snippet and terms."""
    rule = _one_line(alert.rule_name) or alert.rule_id
    facts = [{"title": "Source", "value": _fit(_one_line(alert.source), teams_escape, _SOURCE)}]
    if alert.published:
        facts.append({"title": "Published", "value": _iso(alert.published)})
    if alert.language:
        facts.append({"title": "Language", "value": _fit(_one_line(alert.language), teams_escape, _LANGUAGE)})
    if terms:
        facts.append({"title": "Matched", "value": terms})
    body: list[dict[str, Any]] = [
        _text(_fit(rule, teams_escape, _RULE), weight="Bolder", color="Accent", spacing="None"),
        _text(_fit(_one_line(alert.title) or _UNTITLED, teams_escape, _TITLE), size="Large", weight="Bolder"),
        {"type": "FactSet", "facts": facts},
    ]
    if snippet:
        body.append(_text(snippet, isSubtle=True))
    content: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    link = _link(alert.url)
    if link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open article", "url": link}]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": content}],
    }


def _largest_fitting(raw: str, limit: int, build: Callable[[str], dict[str, Any]], budget: int) -> str:
    """The longest ``_fit`` of ``raw`` (at most ``limit`` chars) whose message stays within ``budget``."""
    if payload_size(build(_fit(raw, teams_escape, limit))) <= budget:
        return _fit(raw, teams_escape, limit)
    low, high = 0, limit - 1  # low always fits (0 = left out), high + 1 does not
    while low < high:
        mid = (low + high + 1) // 2
        if payload_size(build(_fit(raw, teams_escape, mid))) <= budget:
            low = mid
        else:
            high = mid - 1
    return _fit(raw, teams_escape, low) if low > 0 else ""


def render_teams(
    alert: Alert, *, max_bytes: int = TEAMS_MAX_BYTES, message: str | None = None
) -> dict[str, Any]:
    """A Workflows ``message`` with one Adaptive Card, at most ``max_bytes`` as JSON.

    The snippet gives way first, then the matched terms; the rest of the card
    is capped short enough to always fit the default budget.  ``message`` is
    the channel's template, rendered and escaped already: it replaces the
    snippet and is shortened the same way.
    """
    terms = ", ".join(t for t in (_one_line(t) for t in alert.terms) if t)
    kept_terms = _fit(terms, teams_escape, _TERMS) if terms else ""
    if alert.is_summary:  # a digest lists fewer articles per rule, and says so, rather than end mid-line

        def fits(lines: list[str]) -> bool:
            card = _card(alert, _fit("\n\n".join(lines), teams_escape, _SNIPPET), kept_terms)
            return len("\n\n".join(lines)) <= _SNIPPET and payload_size(card) <= max_bytes

        snippet = "\n\n".join(fit_listing(listing(alert), fits))
    else:
        snippet = _one_line(alert.snippet)
    if message:
        text = message[:_SNIPPET]
        while text and payload_size(_card(alert, text, kept_terms)) > max_bytes:
            text = text[: int(len(text) * 0.9)].rstrip()
        return _card(alert, text + ("…" if len(text) < len(message) and text else ""), kept_terms)
    if snippet:
        snippet = _largest_fitting(snippet, _SNIPPET, lambda s: _card(alert, s, kept_terms), max_bytes)
    if terms and not snippet:
        kept_terms = _largest_fitting(terms, _TERMS, lambda t: _card(alert, "", t), max_bytes)
    return _card(alert, snippet, kept_terms)


TEAMS_FORMAT = Format(escape=teams_escape, mark=lambda term: f"**{term}**")
"""Templates write the Adaptive Card's markdown subset: values escaped, matched terms in bold."""


class TeamsNotifier(HttpNotifier):
    """Delivers alerts to one Teams Workflows webhook through a client the caller owns."""

    template_formats: ClassVar[Mapping[str, Format]] = {"message": TEAMS_FORMAT}

    async def send(self, alert: Alert) -> None:
        """POST the Adaptive Card; raises RetryableDelivery or PermanentDelivery naming the channel."""
        await self._post(render_teams(alert, message=self._templates.render("message", alert)))
