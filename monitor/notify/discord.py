"""Alerts posted to a Discord channel webhook as one embed.

Rendering (:func:`render_discord`) is pure and keeps within the limits Discord
documents for "Execute Webhook", because Discord refuses the whole message
(400 "Invalid Form Body") when one field is too long: ``content`` ≤ 2000,
≤ 10 embeds, title ≤ 256, description ≤ 4096, ≤ 25 fields (name ≤ 256, value
≤ 1024), footer ≤ 2048, author ≤ 256, and ≤ 6000 characters across them all.
Characters are counted in UTF-16 code units, as Discord's JavaScript clients
count them: an emoji counts twice, never fewer times than Discord may count it.

Article text is hostile: ``allowed_mentions`` is empty, so nothing in the
message can ping anyone, and on top of that ``@everyone``, ``@here`` and
``<@…>``-style tokens get a zero-width space so they are inert as text too;
markdown in article text is backslash-escaped where Discord renders it.

Delivery asks ``?wait=true``: Discord then answers only once the message is
saved (200), and reports a message it could not save instead of a blind 204.
A 429 carries ``retry_after`` (seconds, a float) in its JSON body, preferred to
the rounder ``Retry-After`` header; 401/403/404 (a deleted or revoked webhook)
and 400 are permanent.  Errors name the channel, never the URL: it holds the
webhook token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import httpx

from monitor.errors import RetryableDelivery
from monitor.models import Alert
from monitor.notify.http import HttpNotifier, check_response, map_http_error
from monitor.notify.render import _fit, _iso, _one_line, fit_listing, listing, safe_link, term_marker
from monitor.notify.templates import Format

__all__ = [
    "DISCORD_MAX_AUTHOR",
    "DISCORD_MAX_CONTENT",
    "DISCORD_MAX_DESCRIPTION",
    "DISCORD_MAX_EMBEDS",
    "DISCORD_MAX_EMBED_TOTAL",
    "DISCORD_MAX_FIELDS",
    "DISCORD_MAX_FIELD_NAME",
    "DISCORD_MAX_FIELD_VALUE",
    "DISCORD_MAX_FOOTER",
    "DISCORD_MAX_TITLE",
    "DiscordNotifier",
    "discord_escape",
    "render_discord",
    "text_length",
]

DISCORD_MAX_CONTENT = 2000
DISCORD_MAX_EMBEDS = 10
DISCORD_MAX_TITLE = 256
DISCORD_MAX_DESCRIPTION = 4096
DISCORD_MAX_FIELDS = 25
DISCORD_MAX_FIELD_NAME = 256
DISCORD_MAX_FIELD_VALUE = 1024
DISCORD_MAX_FOOTER = 2048
DISCORD_MAX_AUTHOR = 256
DISCORD_MAX_EMBED_TOTAL = 6000

# Shorter than the limits on purpose: a notification preview and a footer are glanced at.
_CONTENT = 300
_FOOTER = 300
_MAX_URL = 2048
_COLOUR = 0x2B6CB0
_UNTITLED = "(untitled)"
_ZWSP = "\u200b"

# Inline markdown Discord renders anywhere in a line.
_INLINE = re.compile(r"([\\*_~`|\[\]])")
# Block markdown that counts at the start of a line only: headings, subtext, quotes, lists.
_LINE_START = re.compile(r"^(?:#|-|\+|>)|^\d+(?=\.)")
# Mass mentions, and the <@user> <@&role> <#channel> <:emoji:> <t:…> </command:…> tokens.
_MASS_MENTION = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_TOKEN = re.compile(r"<(?=[@#:/]|a:|t:)")


def discord_escape(text: str) -> str:
    """Article text as Discord shows it literally: markdown escaped, mentions made inert."""
    text = _INLINE.sub(r"\\\1", text)
    text = _LINE_START.sub(lambda m: m.group() + "\\" if m.group().isdigit() else "\\" + m.group(), text)
    text = _MASS_MENTION.sub("@" + _ZWSP, text)
    return _TOKEN.sub("<" + _ZWSP, text)


def text_length(text: str) -> int:
    """Length in UTF-16 code units: an astral character (most emoji) counts as two."""
    return len(text.encode("utf-16-le")) // 2


def _fit_units(raw: str, render: Callable[[str], str], limit: int) -> str:
    """``_fit`` with ``limit`` in UTF-16 units: shrink the code-point budget by the excess until it fits."""
    room = limit
    while True:
        text = _fit(raw, render, room)
        excess = text_length(text) - limit
        if excess <= 0 or room <= 1:
            return text
        room = max(room - excess, 1)


def _bold_terms(terms: Iterable[str]) -> Callable[[str], str]:
    """Discord markdown: escaped, each matched term in ``**bold**``."""
    return term_marker(terms, discord_escape, lambda term: f"**{term}**")


def _link(url: str | None) -> str | None:
    """A URL Discord accepts as an embed ``url`` (a well-formed http(s) link), else None."""
    return safe_link(url, _MAX_URL)


def _inert(text: str) -> str:
    """Plain text (author, footer: no markdown there) with mentions still made inert."""
    return _TOKEN.sub("<" + _ZWSP, _MASS_MENTION.sub("@" + _ZWSP, text))


def _embed_length(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards an embed's 6000: title, description, fields, footer, author."""
    texts = [embed.get("title", ""), embed.get("description", "")]
    texts += [text for field in embed.get("fields", []) for text in (field["name"], field["value"])]
    texts += [embed.get("footer", {}).get("text", ""), embed.get("author", {}).get("name", "")]
    return sum(text_length(text) for text in texts)


def _cut_units(text: str, limit: int) -> str:
    """Shorten rendered markdown to ``limit`` UTF-16 units, never ending on a lone escape backslash."""
    if text_length(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    while cut and text_length(cut) > limit - 1:
        cut = cut[:-1]
    return cut.rstrip().rstrip("\\") + "…"


def render_discord(alert: Alert, *, title: str | None = None, message: str | None = None) -> dict[str, Any]:
    """An Execute Webhook body: a short ``content`` fallback and one embed, mentions disabled.

    ``title`` and ``message`` are the channel's templates, rendered and escaped
    already: the embed's title and its description.
    """
    payload = _render_default(alert)
    embed = payload["embeds"][0]
    if title:
        embed["title"] = _cut_units(" ".join(title.split()), DISCORD_MAX_TITLE)
    if message:
        embed.pop("description", None)
        room = min(DISCORD_MAX_DESCRIPTION, DISCORD_MAX_EMBED_TOTAL - _embed_length(embed))
        embed["description"] = _cut_units(message, room)
    return payload


def _render_default(alert: Alert) -> dict[str, Any]:
    title = _one_line(alert.title) or _UNTITLED
    rule = _one_line(alert.rule_name) or alert.rule_id
    terms = [_one_line(t) for t in alert.terms if _one_line(t)]
    footer = " · ".join(
        _one_line(part) for part in (alert.source, alert.language) if part and _one_line(part)
    )
    embed: dict[str, Any] = {
        "title": _fit_units(title, discord_escape, DISCORD_MAX_TITLE),
        "color": _COLOUR,
        "author": {"name": _fit_units(rule, _inert, DISCORD_MAX_AUTHOR)},
        "timestamp": _iso(alert.published or alert.matched_at),
    }
    link = _link(alert.url)
    if link:
        embed["url"] = link
    if terms:
        embed["fields"] = [
            {
                "name": "Matched",
                "value": _fit_units(", ".join(terms), discord_escape, DISCORD_MAX_FIELD_VALUE),
                "inline": False,
            }
        ]
    if footer:
        embed["footer"] = {"text": _fit_units(footer, _inert, _FOOTER)}
    snippet = _one_line(alert.snippet)
    room = min(DISCORD_MAX_DESCRIPTION, DISCORD_MAX_EMBED_TOTAL - _embed_length(embed))
    if alert.is_summary and room > 20:  # a digest's listing keeps its lines
        embed.pop("fields", None)
        room = min(DISCORD_MAX_DESCRIPTION, DISCORD_MAX_EMBED_TOTAL - _embed_length(embed))
        lines = fit_listing(
            listing(alert), lambda ls: text_length("\n".join(map(discord_escape, ls))) <= room
        )
        embed["description"] = _cut_units("\n".join(discord_escape(line) for line in lines), room)
    elif snippet and room > 20:
        embed["description"] = _fit_units(snippet, _bold_terms(terms), room)
    return {
        "content": _fit_units(f"{rule}: {title}", discord_escape, _CONTENT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def _rate_limit(response: httpx.Response) -> tuple[float | None, bool]:
    """A 429's JSON body: Discord's ``retry_after`` (seconds, None when absent or odd) and ``global``."""
    try:
        data = response.json()
    except ValueError:
        return None, False
    if not isinstance(data, dict):
        return None, False
    value = data.get("retry_after")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, data.get("global") is True
    return max(float(value), 0.0), data.get("global") is True


DISCORD_FORMAT = Format(escape=discord_escape, mark=lambda term: f"**{term}**")
"""Templates write Discord markdown: values escaped and made inert, matched terms in bold."""


class DiscordNotifier(HttpNotifier):
    """Delivers alerts to one Discord webhook through a client the caller owns."""

    template_formats: ClassVar[Mapping[str, Format]] = {"title": DISCORD_FORMAT, "message": DISCORD_FORMAT}

    async def send(self, alert: Alert) -> None:
        """POST the embed and wait for Discord to save it; raises RetryableDelivery or PermanentDelivery."""
        url = self._channel.url.get_secret_value()
        body = render_discord(
            alert,
            title=self._templates.render("title", alert),
            message=self._templates.render("message", alert),
        )

        async def attempt() -> None:
            try:
                response = await self._client.post(
                    httpx.URL(url).copy_set_param("wait", "true"),  # keeps the URL's own thread_id
                    json=body,
                    timeout=self._channel.timeout,
                    follow_redirects=False,
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise map_http_error(exc, channel=self.name, url=url) from None
            if response.status_code == 429:
                retry_after, is_global = _rate_limit(response)
                if retry_after is not None:
                    scope = " (global)" if is_global else ""
                    raise RetryableDelivery(
                        f"channel {self.name!r}: HTTP 429: rate limited{scope}, retry after {retry_after:g}s",
                        retry_after=retry_after,
                        status=429,
                    )
            check_response(response, channel=self.name, url=url, now=self._clock())

        await self._paced(attempt)
