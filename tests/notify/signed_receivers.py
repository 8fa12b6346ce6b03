"""Real HTTP receivers on 127.0.0.1 that check what they are sent as the real services would.

Like :mod:`tests.notify.receivers` (a stdlib ``ThreadingHTTPServer`` on an
ephemeral port, used as a context manager, scripted replies), but each keeps
the raw bytes it was sent, because a signature is over bytes, not over JSON:

* ``StandardWebhookReceiver`` verifies every request with the
  ``standardwebhooks`` package — an independent implementation, never our own
  signing code — and answers 400 to a request that fails verification;
* ``DiscordReceiver`` enforces Discord's documented Execute Webhook limits and
  answers like Discord (400 "Invalid Form Body", 404 "Unknown Webhook",
  200 with the message when ``?wait=true``, else 204), and records whom the
  message would have pinged;
* ``TeamsReceiver`` answers like a Workflows trigger: 202 Accepted, 413 over
  28 KB, 400 for a payload that is not an Adaptive Card message.

The limits are written out here again, from the services' documentation, on
purpose: importing them from the code under test would prove nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from standardwebhooks import Webhook, WebhookVerificationError

from tests.notify.receivers import SECRET_PATH, Reply, _Receiver

__all__ = [
    "ADAPTIVE_CARD",
    "DiscordReceiver",
    "RawRequest",
    "StandardWebhookReceiver",
    "TeamsReceiver",
    "discord_pings",
    "discord_problems",
    "teams_problems",
]


@dataclass(frozen=True)
class RawRequest:
    """What a receiver saw: path, query, headers (lower-cased names) and the body as sent."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _RawReceiver(_Receiver):
    """The shared receiver, keeping each body as the bytes sent; subclasses decide every answer."""

    def parse(self, path: str, headers: dict[str, str], raw: bytes) -> RawRequest:
        parts = urlsplit(path)
        return RawRequest(parts.path, dict(parse_qsl(parts.query)), headers, raw)

    def respond(self, request: Any) -> Reply:
        return self.answer(request)  # the subclass consults the script where it makes sense

    def _scripted(self) -> Reply | None:
        return self._next_scripted()


# ---------------------------------------------------------------- Standard Webhooks


@dataclass(frozen=True)
class Verified:
    """A request whose signature the library accepted, with the payload it returned."""

    headers: dict[str, str]
    body: bytes
    payload: Any


class StandardWebhookReceiver(_RawReceiver):
    """Verifies each request with ``standardwebhooks.Webhook(secret)``; 400 when that fails.

    A verified request is then answered with the next scripted reply (a
    receiver that checked the signature and failed later), else 200.
    """

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.webhook = Webhook(secret)
        self.verified: list[Verified] = []
        self.rejections: list[str] = []

    def answer(self, request: RawRequest) -> Reply:
        if request.path != SECRET_PATH:
            return Reply(404, "no such hook")
        try:
            payload = self.webhook.verify(request.body, request.headers)
        except WebhookVerificationError as exc:
            self._record(self.rejections, str(exc))
            return Reply(400, f"signature verification failed: {exc}")
        self._record(self.verified, Verified(request.headers, request.body, payload))
        return self._scripted() or Reply(200, "verified")


# ---------------------------------------------------------------- Discord

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
# Counted here in UTF-16 code units, the strictest reading ("characters").
DISCORD_CONTENT = 2000
DISCORD_EMBEDS = 10
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_FIELDS = 25
DISCORD_FIELD_NAME = 256
DISCORD_FIELD_VALUE = 1024
DISCORD_FOOTER = 2048
DISCORD_AUTHOR = 256
DISCORD_EMBED_TOTAL = 6000
_MENTION_KINDS = {"everyone", "users", "roles"}


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_text(problems: list[str], where: str, value: Any, limit: int, *, required: bool) -> int:
    """Append a problem when ``value`` is not a string within ``limit``; return its length."""
    if value is None and not required:
        return 0
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(f"{where}: must be a non-empty string")
        return 0
    if _units(value) > limit:
        problems.append(f"{where}: must be {limit} or fewer in length")
    return _units(value)


def _is_web_url(value: Any) -> bool:
    if not isinstance(value, str) or any(ch.isspace() for ch in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _embed_problems(embed: Any, where: str) -> list[str]:
    if not isinstance(embed, dict):
        return [f"{where}: must be an object"]
    problems: list[str] = []
    total = _check_text(problems, f"{where}.title", embed.get("title"), DISCORD_TITLE, required=False)
    total += _check_text(
        problems, f"{where}.description", embed.get("description"), DISCORD_DESCRIPTION, required=False
    )
    fields = embed.get("fields", [])
    if not isinstance(fields, list) or len(fields) > DISCORD_FIELDS:
        problems.append(f"{where}.fields: at most {DISCORD_FIELDS}")
        fields = []
    for i, field in enumerate(fields):
        if not isinstance(field, dict):
            problems.append(f"{where}.fields.{i}: must be an object")
            continue
        total += _check_text(
            problems, f"{where}.fields.{i}.name", field.get("name"), DISCORD_FIELD_NAME, required=True
        )
        total += _check_text(
            problems, f"{where}.fields.{i}.value", field.get("value"), DISCORD_FIELD_VALUE, required=True
        )
    for key, limit in (("footer", DISCORD_FOOTER), ("author", DISCORD_AUTHOR)):
        part = embed.get(key)
        if part is not None:
            name = "text" if key == "footer" else "name"
            value = part.get(name) if isinstance(part, dict) else None
            total += _check_text(problems, f"{where}.{key}.{name}", value, limit, required=True)
    if total > DISCORD_EMBED_TOTAL:
        problems.append(f"{where}: embed size exceeds maximum size of {DISCORD_EMBED_TOTAL}")
    if "url" in embed and not _is_web_url(embed["url"]):
        problems.append(f"{where}.url: Not a well formed URL.")
    if "timestamp" in embed:
        try:
            datetime.fromisoformat(str(embed["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where}.timestamp: Could not parse {embed['timestamp']}.")
    colour = embed.get("color", 0)
    if isinstance(colour, bool) or not isinstance(colour, int) or not 0 <= colour <= 0xFFFFFF:
        problems.append(f"{where}.color: an integer from 0 to 16777215")
    return problems


def discord_problems(payload: Any) -> list[str]:
    """Why Discord would answer 400 "Invalid Form Body" to ``payload`` (empty when it would not)."""
    if not isinstance(payload, dict):
        return ["the body must be a JSON object"]
    problems: list[str] = []
    content = payload.get("content")
    _check_text(problems, "content", content, DISCORD_CONTENT, required=False)
    embeds = payload.get("embeds", [])
    if not isinstance(embeds, list) or len(embeds) > DISCORD_EMBEDS:
        return [*problems, f"embeds: at most {DISCORD_EMBEDS}"]
    if not content and not embeds:
        problems.append("Cannot send an empty message")
    for i, embed in enumerate(embeds):
        problems += _embed_problems(embed, f"embeds.{i}")
    allowed = payload.get("allowed_mentions")
    if allowed is not None and (
        not isinstance(allowed, dict)
        or not isinstance(allowed.get("parse", []), list)
        or not set(allowed.get("parse", [])) <= _MENTION_KINDS
    ):
        problems.append("allowed_mentions.parse: a list of everyone, users, roles")
    return problems


def discord_pings(payload: dict[str, Any]) -> list[str]:
    """Whom Discord would notify: mentions in ``content`` (embeds never ping) allowed_mentions let through."""
    allowed = payload.get("allowed_mentions")
    parse = set(_MENTION_KINDS if allowed is None else allowed.get("parse", []))
    content = payload.get("content") or ""
    pings = []
    if "everyone" in parse:
        pings += re.findall(r"@(?:everyone|here)\b", content)
    if "users" in parse:
        pings += re.findall(r"<@!?\d+>", content)
    if "roles" in parse:
        pings += re.findall(r"<@&\d+>", content)
    return pings


class DiscordReceiver(_RawReceiver):
    """Answers like a Discord channel webhook and keeps the messages it accepted."""

    def __init__(self, *, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.path = "/api/webhooks/1234567890/SECRETwebhookTOKEN"
        self.messages: list[dict[str, Any]] = []
        self.rejections: list[list[str]] = []
        self.pings: list[str] = []

    def rate_limit(
        self, retry_after: float | None = 1.5, header: str | None = "2", *, scope: bool = False
    ) -> None:
        """Answer the next request 429, with ``retry_after`` in the JSON body and/or a Retry-After header."""
        body: dict[str, Any] = {"message": "You are being rate limited.", "global": scope}
        if retry_after is not None:
            body["retry_after"] = retry_after
        headers = (("Retry-After", header),) if header is not None else ()
        self.script(Reply(429, json.dumps(body), headers))

    def answer(self, request: RawRequest) -> Reply:
        if request.path != self.path:
            return Reply(404, json.dumps({"message": "Unknown Webhook", "code": 10015}))
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            problems = ["Content-Type must be application/json"]
        else:
            try:
                payload = request.json()
            except ValueError:
                payload = None
            problems = discord_problems(payload)
        if problems:
            self._record(self.rejections, problems)
            errors = {p.split(":")[0]: {"_errors": [{"message": p}]} for p in problems}
            return Reply(400, json.dumps({"code": 50035, "errors": errors, "message": "Invalid Form Body"}))
        self._record(self.messages, payload)
        with self._lock:
            self.pings += discord_pings(payload)
        if request.query.get("wait") == "true":
            return Reply(200, json.dumps({"id": str(len(self.messages)), "type": 0, **payload}))
        return Reply(204)


# ---------------------------------------------------------------- Teams

TEAMS_MAX_BYTES = 28 * 1024  # "the message size limit is 28 KB"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
_ELEMENTS = {"TextBlock", "FactSet", "RichTextBlock", "Image", "Container", "ColumnSet", "ActionSet"}


def _element_problems(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or element.get("type") not in _ELEMENTS:
        return [f"{where}: unknown element type"]
    if element["type"] == "TextBlock" and not (isinstance(element.get("text"), str) and element["text"]):
        return [f"{where}.text: a TextBlock needs non-empty text"]
    if element["type"] == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not all(
            isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
            for f in facts
        ):
            return [f"{where}.facts: a list of {{title, value}} strings"]
    return []


def teams_problems(payload: Any) -> list[str]:
    """Why a Workflows trigger posting to Teams would refuse ``payload`` (empty when it would not)."""
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return ['the body must be an object of type "message"']
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments: at least one card"]
    problems: list[str] = []
    for i, attachment in enumerate(attachments):
        where = f"attachments[{i}]"
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE_CARD:
            problems.append(f"{where}.contentType: must be {ADAPTIVE_CARD}")
            continue
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            problems.append(f"{where}.content: must be an AdaptiveCard")
            continue
        if not isinstance(card.get("version"), str):
            problems.append(f"{where}.content.version: required")
        body = card.get("body")
        if not isinstance(body, list) or not body:
            problems.append(f"{where}.content.body: at least one element")
            body = []
        for j, element in enumerate(body):
            problems += _element_problems(element, f"{where}.content.body[{j}]")
        for j, action in enumerate(card.get("actions", [])):
            if not isinstance(action, dict) or action.get("type") != "Action.OpenUrl":
                problems.append(f"{where}.content.actions[{j}]: unsupported action")
            elif not _is_web_url(action.get("url")) or not isinstance(action.get("title"), str):
                problems.append(f"{where}.content.actions[{j}]: an http(s) url and a title")
    return problems


class TeamsReceiver(_RawReceiver):
    """Answers like a Teams Workflows webhook trigger and keeps the cards it accepted."""

    def __init__(self, *, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.path = "/workflows/SECRETflow/triggers/manual/paths/invoke?sig=SECRETsig"
        self.messages: list[dict[str, Any]] = []
        self.rejections: list[list[str]] = []
        self.sizes: list[int] = []

    def answer(self, request: RawRequest) -> Reply:
        if request.path != urlsplit(self.path).path or request.query.get("sig") != "SECRETsig":
            return Reply(404, json.dumps({"error": {"code": "WorkflowNotFound"}}))
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        self._record(self.sizes, len(request.body))
        if len(request.body) > TEAMS_MAX_BYTES:
            self._record(self.rejections, [f"{len(request.body)} bytes > {TEAMS_MAX_BYTES}"])
            return Reply(413, json.dumps({"error": {"code": "RequestEntityTooLarge"}}))
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            problems = ["Content-Type must be application/json"]
        else:
            try:
                payload = request.json()
            except ValueError:
                payload = None
            problems = teams_problems(payload)
        if problems:
            self._record(self.rejections, problems)
            return Reply(
                400, json.dumps({"error": {"code": "InvalidRequestContent", "message": problems[0]}})
            )
        self._record(self.messages, payload)
        return Reply(202)
