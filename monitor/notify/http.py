"""httpx outcomes → our delivery errors, mapped once for every HTTP channel.

The rule of thumb: if waiting could help (timeouts, refused connections,
408, 429, 5xx) the error is retryable and carries the receiver's
``Retry-After``; if the receiver understood us and said no (other 4xx, a
redirect we do not follow, a URL we cannot use) retrying would only repeat the
refusal, so it is permanent.

A receiver that answers ``Retry-After`` (or ``429`` without one) pauses its
whole channel, not just the alert it refused: :class:`HttpNotifier` holds a
:class:`~monitor.notify.pacing.Pacer` keyed on the URL, so the alerts queued
behind wait out the pause (a short one asleep, a longer one back in the
outbox as :class:`~monitor.errors.ChannelPaused`, which is not an attempt)
instead of each being refused in turn.

Channel URLs are secrets (a Slack webhook URL *is* its token), so no message
built here ever contains one: errors name the channel, and any text that comes
from httpx or the receiver is scrubbed of the URL, and of every piece of it
and of the channel's other secrets (header values such as ``Authorization``)
that a receiver may echo, before it is cut to an excerpt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx

from monitor.config import DiscordChannel, SlackChannel, TeamsChannel, WebhookChannel
from monitor.errors import ChannelPaused, DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.notify.pacing import Pacer
from monitor.notify.templates import Format, MessageTemplates
from monitor.redact import Redactor
from monitor.retryafter import parse_retry_after

__all__ = [
    "EXCERPT_LENGTH",
    "MAX_WAIT",
    "RATE_LIMITED_PAUSE",
    "Clock",
    "HttpNotifier",
    "check_response",
    "map_http_error",
    "post_json",
    "system_clock",
]

EXCERPT_LENGTH = 200
MAX_WAIT = 5.0
"""Longest pause a send sleeps through before it is handed back to the outbox instead."""
RATE_LIMITED_PAUSE = 30.0
"""Seconds a channel pauses after a 429 that does not say how long (the default first retry delay)."""
_SCRUBBED = 64 * 1024  # the part of a receiver's body looked at: scrubbing it whole stays cheap
_RETRYABLE_STATUS = frozenset({408, 429})
_HIDDEN = "<channel url>"

Clock = Callable[[], datetime]
_T = TypeVar("_T")


def system_clock() -> datetime:
    """The real clock; notifiers take another in tests so headers are predictable."""
    return datetime.now(UTC)


def _scrub(text: str, url: str, secrets: Sequence[str] = ()) -> str:
    """Remove the URL (its path and query too: where the token usually lives) from ``text``,
    then every piece of it and of ``secrets`` a receiver may quote on its own."""
    whole = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None:
        whole += [p for p in (parts.path, parts.query) if len(p) > 1]
    for secret in sorted(whole, key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    return Redactor([url, *secrets])(text)


def _excerpt(response: httpx.Response, url: str, secrets: Sequence[str] = ()) -> str:
    """The start of the receiver's explanation, on one line, at most EXCERPT_LENGTH chars.

    Scrubbed before it is cut, never after: a secret cut in two is no longer
    recognised, and half a token is still too much of one.  Of a body longer
    than _SCRUBBED, the last word (which may be such a half) is dropped.
    """
    try:
        body = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError, LookupError):
        return ""
    head = body[:_SCRUBBED]
    if len(body) > len(head):
        head = head.rsplit(None, 1)[0] if len(head.split(None, 1)) > 1 else ""
    text = " ".join(_scrub(head, url, secrets).split())
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"


def check_response(
    response: httpx.Response,
    *,
    channel: str,
    url: str,
    now: datetime | None = None,
    secrets: Sequence[str] = (),
) -> None:
    """Return quietly on 2xx; otherwise raise the delivery error the status calls for.

    ``secrets`` are the channel's other secrets (header values), masked in the
    receiver's words as the URL is.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = _excerpt(response, url, secrets)
    message = f"channel {channel!r}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in _RETRYABLE_STATUS or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now or system_clock())
        raise RetryableDelivery(message, retry_after=retry_after, status=status)
    if 300 <= status < 400:
        message += " (redirects are not followed: configure the final URL)"
    raise PermanentDelivery(message)


_TIMEOUTS: dict[type[Exception], str] = {
    httpx.ConnectTimeout: "no connection within the timeout",
    httpx.ReadTimeout: "no answer within the timeout",
    httpx.WriteTimeout: "could not send the request within the timeout",
    httpx.PoolTimeout: "no free connection within the timeout",
}


def map_http_error(
    exc: httpx.HTTPError | httpx.InvalidURL, *, channel: str, url: str, secrets: Sequence[str] = ()
) -> DeliveryError:
    """The delivery error for an httpx failure that produced no response.

    Timeouts and transport errors (refused, reset, DNS) may pass; a URL httpx
    cannot even use will not, whatever the hour.
    """
    plain = _TIMEOUTS.get(type(exc))
    reason = _scrub(str(exc), url, secrets) or plain or "no detail"
    if plain and plain not in reason:
        reason = f"{plain} ({reason})" if reason != plain else reason
    message = f"channel {channel!r}: {type(exc).__name__}: {reason}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return PermanentDelivery(message)
    return RetryableDelivery(message)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    channel: str,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    clock: Clock = system_clock,
    secrets: Sequence[str] = (),
) -> httpx.Response:
    """POST ``body`` as JSON and return the 2xx response, or raise a DeliveryError.

    Redirects are never followed, whatever the shared client says: httpx would
    turn a redirected POST into a body-less GET (a 200 that delivered nothing)
    and carry our custom headers to another host.

    The httpx exception is deliberately not chained (``from None``): its
    request carries the secret URL, and tracebacks are logged.
    """
    try:
        response = await client.post(
            url,
            json=body,
            headers=headers,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            follow_redirects=False,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise map_http_error(exc, channel=channel, url=url, secrets=secrets) from None
    check_response(response, channel=channel, url=url, now=clock(), secrets=secrets)
    return response


class HttpNotifier:
    """What every HTTP channel shares: a name, a secret URL, the caller's client, a clock, templates, a pace.

    Subclasses only decide the body and headers, and name the template parts
    they render (``template_formats``); each send goes through :meth:`_paced`.
    The URL never appears in a repr.  ``pacer`` may be shared by several
    notifiers (channels posting to one URL keep its pauses together);
    ``min_interval`` spaces the starts of sends to one URL.
    """

    template_formats: ClassVar[Mapping[str, Format]] = {}
    min_interval: ClassVar[float] = 0.0

    def __init__(
        self,
        name: str,
        channel: WebhookChannel | SlackChannel | DiscordChannel | TeamsChannel,
        client: httpx.AsyncClient,
        *,
        clock: Clock = system_clock,
        pacer: Pacer | None = None,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.name = name
        self._channel = channel
        self._client = client
        self._clock = clock
        self.pacer = pacer if pacer is not None else Pacer(self.min_interval)
        self.max_wait = max_wait
        self._templates = MessageTemplates(
            name, channel.templates, self.template_formats, check=self.check_template
        )

    async def _paced(self, send: Callable[[], Awaitable[_T]]) -> _T:
        """Run one ``send`` when the receiver allows it; a pause it asks for holds every later send.

        A pause longer than ``max_wait`` is not slept through: ChannelPaused,
        without a request, and the outbox keeps the alert until the pause ends.
        """
        url = self._channel.url.get_secret_value()
        left = self.pacer.delay(url)
        if left > self.max_wait:
            raise ChannelPaused(
                f"channel {self.name!r}: paused for {left:.0f}s more, as the receiver asked (rate limited)",
                retry_after=left,
            )
        await self.pacer.wait(url)
        try:
            return await send()
        except RetryableDelivery as exc:
            pause = exc.retry_after
            if pause is None and exc.status == 429:
                pause = RATE_LIMITED_PAUSE
            if pause is not None:  # 429, or 503 with Retry-After: the queue behind waits too
                self.pacer.hold(pause, url)
            raise

    def check_template(self, part: str, text: str) -> None:
        """Refuse (raise ValueError) what a template renders for the probes, when the wire needs it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url='**********')"

    @property
    def _secrets(self) -> list[str]:
        """What this channel sends a receiver besides its URL that must not come back in an error."""
        headers = getattr(self._channel, "headers", {})
        return [value.get_secret_value() for value in headers.values()]

    async def _post(
        self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """POST ``body`` as JSON, paced; the 2xx response, or a DeliveryError."""
        return await self._paced(
            lambda: post_json(
                self._client,
                self._channel.url.get_secret_value(),
                body,
                channel=self.name,
                headers=headers,
                timeout=self._channel.timeout,
                clock=self._clock,
                secrets=self._secrets,
            )
        )
