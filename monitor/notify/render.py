"""Alert → what each channel sends: pure functions, no I/O, no clock.

The wire formats are kept apart from :class:`~monitor.models.Alert` so the
internal model can change without breaking a receiver.

Webhook body (``render_webhook``), stable and documented for integrators::

    {
      "type": "hit.created",
      "timestamp": "2024-05-01T12:00:00Z",         # when the rule matched, UTC
      "data": {
        "rule": {"id": "...", "name": "...", "tags": ["..."]},
        "article": {"title": "...", "url": "..." | null, "source": "...",
                    "published": "2024-05-01T11:58:00Z" | null, "language": "it" | null},
        "terms": ["..."],
        "snippet": "...",
        "key": "..."                                # same on every retry: deduplicate on it
      }
    }

Links: an article's URL reaches a message (a link, a button, a template's
``{{ article.url }}``, the webhook body) only through :func:`safe_link`, so
``javascript:``, ``data:``, ``file:`` and other non-web schemes, relative or
malformed URLs are left out, and a quote or bracket cannot break out of the
markup a link sits in.

Slack (``render_slack``) must survive hostile article text: every string that
comes from an article is escaped (``&``, ``<``, ``>``) so a title such as
``<!channel>`` pings nobody, and every field is cut to Slack's documented
limits, because Slack rejects the whole message when one block is too long.
The blocks of one message together stay within :data:`SLACK_MAX_MESSAGE`
characters too (Slack refuses about 12,000 with ``msg_blocks_too_long``, far
below 50 blocks of 3,000): a digest lists fewer articles per rule
(:func:`fit_listing`, "… and 12 more") and a long template message is cut,
each saying so, so a digest is always one message, sent once.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from monitor.models import Alert

__all__ = [
    "SLACK_MAX_BLOCKS",
    "SLACK_MAX_HEADER",
    "SLACK_MAX_MESSAGE",
    "SLACK_MAX_SECTION",
    "SLACK_MAX_TEXT",
    "WEBHOOK_EVENT",
    "blocks_size",
    "cut_markup",
    "fit_listing",
    "listing",
    "render_console",
    "render_slack",
    "render_webhook",
    "safe_link",
    "slack_escape",
    "split_sections",
    "term_marker",
    "web_url",
]

WEBHOOK_EVENT = "hit.created"

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION = 3000
SLACK_MAX_HEADER = 150
SLACK_MAX_TEXT = 40000
SLACK_MAX_MESSAGE = 11_000
"""Most characters the blocks of one Slack message take as JSON: under the ~12,000 Slack takes."""
# The fallback ``text`` is what a phone notification shows: keep it short.
_SLACK_FALLBACK = 500

ELLIPSIS = "…"
_UNTITLED = "(untitled)"
# How far back a cut may move to end on a whole word instead of half of one.
_WORD_BACKOFF = 40
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Characters a URL may not hold as such (RFC 3986) that end a link or break out of markup.
_URL_UNSAFE = re.compile(r'["<>\\^`{|}]')
_AUTHORITY_END = re.compile(r"[/?#]")
# Any white space (what str.isspace calls so, as re's \s does) or control character (category Cc).
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
# ... and the one Slack wants escaped inside ``<url|text>``.
_SLACK_URL_ESCAPES = str.maketrans({"&": "&amp;"})


# ---------------------------------------------------------------- shared helpers


def _iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _one_line(text: str) -> str:
    """Collapse whitespace and drop control characters: article text must not drive a terminal."""
    kept = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(kept.split())


_MORE = re.compile(r"^\s*… and (\d+) more$")


def listing(alert: Alert) -> list[str]:
    """A summary's lines as plain text (controls dropped, runs of spaces kept short), items indented."""
    lines = []
    for line in alert.snippet.splitlines():
        text = _one_line(line)
        if text:
            lines.append(("  " if line[:1].isspace() else "") + text)
    return lines


@dataclass
class _Group:
    """One rule of a listing: its line, its article lines, and how many more it already counts."""

    head: str | None
    items: list[str] = field(default_factory=list)
    more: int = 0

    def lines(self, keep: int) -> list[str]:
        hidden = max(len(self.items) - keep, 0) + self.more
        shown = [self.head] if self.head is not None else []
        return shown + self.items[:keep] + ([f"  … and {hidden} more"] if hidden else [])


def _groups(lines: Sequence[str]) -> list[_Group]:
    groups: list[_Group] = []
    for line in lines:
        if not line[:1].isspace():
            groups.append(_Group(line))
            continue
        if not groups:
            groups.append(_Group(None))
        more = _MORE.match(line)
        if more:
            groups[-1].more += int(more.group(1))
        else:
            groups[-1].items.append(line)
    return groups


def _most(fits: Callable[[int], bool], high: int) -> int | None:
    """The largest n in 0..high that ``fits`` (which holds for all n below one that fits), or None."""
    low = 0
    if high < 0 or not fits(0):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def fit_listing(lines: Sequence[str], fits: Callable[[list[str]], bool]) -> list[str]:
    """A summary's :func:`listing` shortened until ``fits`` takes it, saying what it left out.

    Every rule keeps the same number of its (newest first) article lines, as
    many as fit, and counts the rest in its "… and N more" line; when the
    rule lines alone are too long, the last rules (the quietest: a listing
    is busiest first) go, counted in "… and N more rules".  The last line, a
    rule-less footer (``Sources: …``), stays while anything fits.
    """
    lines = list(lines)
    if fits(lines):
        return lines
    groups = _groups(lines)
    footer: list[str] = []
    if len(groups) > 1 and not groups[-1].items and not groups[-1].more:
        footer = [groups.pop().head or ""]

    def listed(keep: int) -> list[str]:
        return [line for group in groups for line in group.lines(keep)] + footer

    def first(count: int) -> list[str]:
        rest = len(groups) - count
        return [line for g in groups[:count] for line in g.lines(0)] + [f"… and {rest} more rules"] + footer

    keep = _most(lambda k: fits(listed(k)), max((len(g.items) for g in groups), default=0) - 1)
    if keep is not None:
        return listed(keep)
    low = _most(lambda count: fits(first(count)), len(groups) - 1) or 0
    best = first(low)
    return best if fits(best) or not footer else best[:-1]


def _cut(text: str, limit: int) -> str:
    """Shorten plain text to ``limit`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def _fit(raw: str, render: Callable[[str], str], limit: int) -> str:
    """``render(raw)``, or ``render`` of the longest prefix of ``raw`` that fits with an ellipsis.

    Cutting the *raw* text (never the rendered one) means an entity such as
    ``&amp;`` or a ``*bold*`` pair can never be split in half.
    """
    if len(raw) <= limit:
        whole = render(raw)
        if len(whole) <= limit:
            return whole
    # Our renderers only ever lengthen text, so no more than ``limit`` raw
    # characters can fit: searching that prefix keeps huge inputs cheap.
    raw = raw[:limit]
    low, high = 0, len(raw)
    while low < high:  # the largest n with len(render(raw[:n]) + "…") <= limit
        mid = (low + high + 1) // 2
        if len(render(raw[:mid].rstrip())) + len(ELLIPSIS) <= limit:
            low = mid
        else:
            high = mid - 1
    cut = raw[:low]
    if low < len(raw) and not raw[low].isspace():  # mid-word: end at the word before
        space = cut.rfind(" ", max(low - _WORD_BACKOFF, 0))
        cut = cut[:space] if space > 0 else cut
    return render(cut.rstrip()) + ELLIPSIS


# ---------------------------------------------------------------- console


def render_console(alert: Alert) -> str:
    """A few lines a person scanning a terminal or a journal can read at a glance."""
    when = f" · {_iso(alert.published)}" if alert.published else ""
    lines = [
        f"[{_one_line(alert.rule_name) or alert.rule_id}] {_one_line(alert.title) or _UNTITLED}",
        f"  source: {_one_line(alert.source)}{when}",
    ]
    link = safe_link(alert.url)
    if link:
        lines.append(f"  {link}")
    if alert.terms:
        lines.append("  terms: " + ", ".join(_one_line(t) for t in alert.terms))
    if alert.is_summary:
        lines += [f"  {line}" for line in listing(alert)]
    elif alert.snippet.strip():
        lines.append(f"  {_one_line(alert.snippet)}")
    return "\n".join(lines)


# ---------------------------------------------------------------- webhook


def render_webhook(alert: Alert) -> dict[str, Any]:
    """The documented JSON body (see the module docstring); only JSON types inside."""
    return {
        "type": WEBHOOK_EVENT,
        "timestamp": _iso(alert.matched_at),
        "data": {
            "rule": {"id": alert.rule_id, "name": alert.rule_name, "tags": list(alert.rule_tags)},
            "article": {
                "title": alert.title,
                "url": safe_link(alert.url),
                "source": alert.source,
                "published": _iso(alert.published) if alert.published else None,
                "language": alert.language,
            },
            "terms": list(alert.terms),
            "snippet": alert.snippet,
            "key": alert.key,
        },
    }


# ---------------------------------------------------------------- slack


def slack_escape(text: str) -> str:
    """Escape the three characters Slack treats as markup, and nothing else (as Slack asks)."""
    return text.translate(_SLACK_ESCAPES)


def _slack_url(url: str | None) -> str | None:
    """A URL safe inside ``<url|text>``, or None when it is not a web link worth linking."""
    link = safe_link(url)
    return link.translate(_SLACK_URL_ESCAPES) if link else None


def term_marker(
    terms: Iterable[str], escape: Callable[[str], str], mark: Callable[[str], str]
) -> Callable[[str], str]:
    """A renderer that escapes text and passes each occurrence of a term, escaped, through ``mark``.

    Longest terms first, case-insensitively, so ``cessate il fuoco`` wins over
    ``fuoco``; every channel's bold (Slack ``*``, Discord ``**``, HTML ``<b>``)
    is this function with its own escape and mark.
    """
    words = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return escape
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)

    def render(text: str) -> str:
        out: list[str] = []
        end = 0
        for found in pattern.finditer(text):
            out.append(escape(text[end : found.start()]))
            out.append(mark(escape(found.group())))
            end = found.end()
        out.append(escape(text[end:]))
        return "".join(out)

    return render


def web_url(url: str | None, max_length: int | None = None) -> str | None:
    """``url`` when it is an absolute http(s) link with a host and nothing odd in it, else None."""
    if not url or (max_length is not None and len(url) > max_length):
        return None
    if _SPACE_OR_CONTROL.search(url):  # one scan in C: this runs for every alert sent
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def safe_link(url: str | None, max_length: int | None = None) -> str | None:
    """``url`` as a link anyone may be offered, or None.

    Only an absolute ``http(s)`` URL with a host and no control character in
    it (:func:`web_url`) is a link.  Spaces around it are dropped, as browsers
    do; a space in its path or query, or one of the characters RFC 3986 never allows as such
    (``"<>\\^`{|}``), which end a link or break out of the markup around it,
    is percent-encoded, which leaves the URL meaning what it meant.  Whatever
    else an article calls its link (``javascript:``, ``data:``, ``file:``,
    ``//host``, garbage) is None: left out.
    """
    text = (url or "").strip(" ")
    if " " in _AUTHORITY_END.split(text.partition("//")[2], maxsplit=1)[0]:  # a space in the host: no host
        return None
    link = web_url(text.replace(" ", "%20"))
    if link is None:
        return None
    link = _URL_UNSAFE.sub(lambda found: f"%{ord(found.group()):02X}", link)
    return link if max_length is None or len(link) <= max_length else None


def _bold_terms(terms: Iterable[str]) -> Callable[[str], str]:
    """Slack mrkdwn: escaped, each matched term in ``*bold*``."""
    return term_marker(terms, slack_escape, lambda term: f"*{term}*")


def _slack_time(moment: datetime) -> str:
    """A ``<!date>`` token: Slack shows it in each reader's own time zone."""
    stamp = int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{_iso(moment)}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _title_line(alert: Alert) -> str:
    title = _one_line(alert.title) or _UNTITLED
    url = _slack_url(alert.url)
    if url is None:
        return _fit(title, lambda t: f"*{slack_escape(t)}*", SLACK_MAX_SECTION)
    # The URL is not cut (a cut link is a wrong link); a URL that alone is too
    # long for the section is dropped in favour of the plain title.
    room = SLACK_MAX_SECTION - len(url) - 5
    if room < 20:
        return _fit(title, lambda t: f"*{slack_escape(t)}*", SLACK_MAX_SECTION)
    return _fit(title, lambda t: f"*<{url}|{slack_escape(t)}>*", SLACK_MAX_SECTION)


def _context_line(alert: Alert) -> str:
    parts = [slack_escape(_cut(_one_line(alert.source), 500))]
    if alert.published:
        parts.append(_slack_time(alert.published))
    if alert.language:
        parts.append(slack_escape(_cut(alert.language, 20)))
    return " · ".join(parts)


def cut_markup(text: str, limit: int) -> str:
    """Shorten already-escaped text to ``limit`` characters without ending inside an ``&…;`` entity."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ELLIPSIS


def _pieces(text: str, limit: int) -> list[str]:
    """Lines of ``text``, those over ``limit`` broken where a word ends (never inside an entity)."""
    pieces: list[str] = []
    for line in text.splitlines():
        while len(line) > limit:
            space = line.rfind(" ", limit // 2, limit)
            end = space if space != -1 else limit
            amp = line.rfind("&", 0, end)
            if amp > 0 and ";" not in line[amp:end]:
                end = amp
            pieces.append(line[:end].rstrip())
            line = line[end:].lstrip()
        pieces.append(line)
    return pieces


def split_sections(text: str, limit: int = SLACK_MAX_SECTION, most: int = SLACK_MAX_BLOCKS) -> list[str]:
    """Rendered mrkdwn as at most ``most`` sections of at most ``limit`` characters, split between lines."""
    sections: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = f"{current}\n{piece}" if current else piece
        if len(candidate) > limit:
            sections.append(current)
            candidate = piece
        current = candidate
    sections = [section for section in [*sections, current] if section.strip()]
    if len(sections) > most:
        sections = sections[:most]
        sections[-1] = cut_markup(sections[-1], len(sections[-1]) - 1)
    return sections


def blocks_size(blocks: list[dict[str, Any]]) -> int:
    """Characters ``blocks`` take as compact JSON: what :data:`SLACK_MAX_MESSAGE` bounds."""
    return len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":")))


def _slack_message(message: str) -> list[dict[str, Any]]:
    """A template's mrkdwn as sections, the last ones left out (and said so) past SLACK_MAX_MESSAGE."""
    sections = [_section(part) for part in split_sections(message)]
    if blocks_size(sections) <= SLACK_MAX_MESSAGE:
        return sections
    note = _section("_… shortened: the message was longer than one Slack message may be_")
    while len(sections) > 1 and blocks_size([*sections, note]) > SLACK_MAX_MESSAGE:
        sections.pop()
    if len(sections) == 1:  # one section whose JSON escapes take it past the room
        text = sections[0]["text"]["text"]
        while blocks_size([_section(text), note]) > SLACK_MAX_MESSAGE:
            text = cut_markup(text, len(text) * 4 // 5)
        sections = [_section(text)]
    return [*sections, note]


def _slack_listing(alert: Alert, head: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A summary's listing as sections after ``head``, as many articles per rule as one message takes."""
    room = SLACK_MAX_BLOCKS - len(head)

    def sections(lines: list[str]) -> list[dict[str, Any]]:
        text = "\n".join(slack_escape(line) for line in lines)
        return [_section(part) for part in split_sections(text, most=len(text) + 1)]

    def fits(lines: list[str]) -> bool:
        parts = sections(lines)
        return len(parts) <= room and blocks_size(head + parts) <= SLACK_MAX_MESSAGE

    return sections(fit_listing(listing(alert), fits))[:room]


def render_slack(alert: Alert, *, text: str | None = None, message: str | None = None) -> dict[str, Any]:
    """An incoming-webhook payload: a short ``text`` fallback plus Block Kit ``blocks``.

    ``text`` and ``message`` are a channel's templates, rendered and escaped
    already: the fallback, and the mrkdwn that replaces the default blocks
    (split into sections within Slack's limits).  The blocks never take more
    than :data:`SLACK_MAX_MESSAGE` characters.
    """
    title = _one_line(alert.title) or _UNTITLED
    rule = _one_line(alert.rule_name) or alert.rule_id
    fallback = _fit(f"{rule}: {title}", slack_escape, min(_SLACK_FALLBACK, SLACK_MAX_TEXT))
    if text is not None:
        fallback = cut_markup(" ".join(text.split()), _SLACK_FALLBACK) or fallback
    if message is not None and message.strip():
        return {"text": fallback, "blocks": _slack_message(message)}
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(rule, SLACK_MAX_HEADER), "emoji": False},
        },
        _section(_title_line(alert)),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _context_line(alert)}]},
    ]
    if alert.is_summary:  # the listing, line by line, in as many sections as one message takes
        return {"text": fallback, "blocks": blocks + _slack_listing(alert, blocks)}
    terms = [_one_line(t) for t in alert.terms if _one_line(t)]
    if terms:
        blocks.append(
            _section(_fit(", ".join(terms), lambda t: f"*Matched:* {slack_escape(t)}", SLACK_MAX_SECTION))
        )
    snippet = _one_line(alert.snippet)
    if snippet:
        blocks.append(_section(_fit(snippet, _bold_terms(terms), SLACK_MAX_SECTION)))
    return {"text": fallback, "blocks": blocks[:SLACK_MAX_BLOCKS]}
