"""Real HTTP receivers on 127.0.0.1 for channel tests: no mocks at the network seam.

Each receiver runs a stdlib ``ThreadingHTTPServer`` on an ephemeral port in a
background thread and is used as a context manager::

    with SlackReceiver() as slack:
        ... post to slack.url ...
        assert slack.messages

``SlackReceiver`` enforces the limits Slack documents for incoming webhooks and
answers the way Slack does (``200 ok`` / ``400 invalid_payload`` / ``400
msg_blocks_too_long`` / ``429 rate_limited``), so a payload it accepts is one
Slack would accept, sent at a pace Slack would accept.  ``WebhookReceiver`` records every
request and answers a scripted list of statuses.  ``refused_url`` gives a URL
whose port refuses connections, i.e. a receiver that is down.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = [
    "SECRET_PATH",
    "Reply",
    "Request",
    "SlackReceiver",
    "TokenBucket",
    "WebhookReceiver",
    "refused_url",
    "slack_blocks_too_long",
    "slack_problems",
]

SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETTOKEN"

# https://api.slack.com/reference/block-kit/blocks — the types a message may hold.
SLACK_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_TEXT = 3000
SLACK_MAX_HEADER_TEXT = 150
SLACK_MAX_TEXT = 40000
SLACK_MAX_CONTEXT_ELEMENTS = 10
SLACK_MAX_FIELDS = 10
SLACK_MAX_FIELD_TEXT = 2000
# Past about 12,000 characters of blocks in one message Slack answers ``msg_blocks_too_long``,
# whatever each block holds (github.com/slackapi/bolt-js/issues/2509: refused from ~13,200
# characters of markdown blocks, fewer with other blocks).  Counted here as the blocks' compact
# JSON, the stricter reading: a message this receiver takes, Slack takes.
SLACK_MAX_BLOCKS_CHARS = 12_000
# https://api.slack.com/docs/rate-limits#incoming-webhooks — "1 message per second",
# "short bursts of more than 1 allowed".  Modelled as a token bucket: a token a second,
# at most SLACK_BURST saved up.  A burst of 2 tolerates network jitter around an exact
# 1/s pace (two arrivals 0.98 s apart) yet refuses three messages sent at once.
SLACK_RATE_PER_S = 1.0
SLACK_BURST = 2.0
SLACK_RATE_LIMITED_RETRY_AFTER = "1"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, body and extra headers."""

    status: int
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Request:
    """What a receiver saw: path, headers (lower-cased names), the parsed JSON body, and when.

    ``received_at`` is ``time.monotonic()`` on arrival: the same clock in every process
    of the machine, so it can be compared with the sender's.
    """

    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = field(default=0.0, compare=False)


def _text_problems(obj: Any, where: str, limit: int, types: set[str]) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in types:
        return [f"{where}: must be a text object of type {sorted(types)}"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}.text: must be a non-empty string"]
    if len(text) > limit:
        return [f"{where}.text: {len(text)} > {limit} characters"]
    return []


def _block_problems(block: Any, where: str) -> list[str]:
    if not isinstance(block, dict) or block.get("type") not in SLACK_BLOCK_TYPES:
        return [f"{where}: unknown block type"]
    kind = block["type"]
    if kind == "header":
        return _text_problems(block.get("text"), f"{where}.text", SLACK_MAX_HEADER_TEXT, {"plain_text"})
    if kind == "section":
        if "text" not in block and "fields" not in block:
            return [f"{where}: a section needs text or fields"]
        problems = []
        if "text" in block:
            problems += _text_problems(
                block["text"], f"{where}.text", SLACK_MAX_SECTION_TEXT, {"plain_text", "mrkdwn"}
            )
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > SLACK_MAX_FIELDS:
            problems.append(f"{where}.fields: at most {SLACK_MAX_FIELDS}")
        else:
            for i, field in enumerate(fields):
                problems += _text_problems(
                    field, f"{where}.fields[{i}]", SLACK_MAX_FIELD_TEXT, {"plain_text", "mrkdwn"}
                )
        return problems
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= SLACK_MAX_CONTEXT_ELEMENTS:
            return [f"{where}.elements: 1 to {SLACK_MAX_CONTEXT_ELEMENTS} elements"]
        problems = []
        for i, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") == "image":
                continue
            problems += _text_problems(
                element, f"{where}.elements[{i}]", SLACK_MAX_SECTION_TEXT, {"plain_text", "mrkdwn"}
            )
        return problems
    return []


def slack_problems(payload: Any) -> list[str]:
    """Why Slack would answer ``invalid_payload`` to ``payload`` (empty when it would not)."""
    if not isinstance(payload, dict):
        return ["the body must be a JSON object"]
    text, blocks = payload.get("text"), payload.get("blocks")
    if not text and not blocks:
        return ["text or blocks is required"]
    problems = []
    if text is not None and (not isinstance(text, str) or len(text) > SLACK_MAX_TEXT):
        problems.append(f"text: a string of at most {SLACK_MAX_TEXT} characters")
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > SLACK_MAX_BLOCKS:
            return [*problems, f"blocks: a list of at most {SLACK_MAX_BLOCKS}"]
        for i, block in enumerate(blocks):
            problems += _block_problems(block, f"blocks[{i}]")
    return problems


def slack_blocks_too_long(payload: Any) -> bool:
    """Whether Slack would answer ``msg_blocks_too_long``: the blocks together are too long."""
    blocks = payload.get("blocks") if isinstance(payload, dict) else None
    if not isinstance(blocks, list):
        return False
    return len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":"))) > SLACK_MAX_BLOCKS_CHARS


class _Server(ThreadingHTTPServer):
    # Join handler threads on close so no test leaves one running behind it.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected, not an error worth printing."""


class _Receiver:
    """Shared machinery: thread, port, recording, scripted replies, optional delay."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.requests: list[Any] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.path = SECRET_PATH

    @property
    def url(self) -> str:
        assert self._server is not None, "use the receiver as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, before the normal answer."""
        with self._lock:
            self._script.extend(replies)

    def _next_scripted(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _record(self, items: list[Any], item: Any) -> None:
        with self._lock:
            items.append(item)

    def parse(self, path: str, headers: dict[str, str], raw: bytes) -> Any:
        """The request as tests read it: the JSON body parsed (None when it is not JSON)."""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        return Request(path, headers, body, time.monotonic())

    def respond(self, request: Any) -> Reply:
        """A scripted reply first, else the subclass's answer."""
        return self._next_scripted() or self.answer(request)

    def answer(self, request: Any) -> Reply:
        raise NotImplementedError

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = receiver.parse(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                receiver._record(receiver.requests, request)
                if receiver.delay and receiver._closing.wait(receiver.delay):
                    return  # a slow receiver, closed while the client had long given up
                reply = receiver.respond(request)
                data = reply.body.encode()
                self.send_response(reply.status)
                kind = "application/json" if reply.body.startswith("{") else "text/plain; charset=utf-8"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        self._server = _Server(("127.0.0.1", 0), Handler)
        # A short poll keeps shutdown (and so every test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class WebhookReceiver(_Receiver):
    """Records (headers, JSON body) and answers scripted statuses in order, then 200."""

    def __init__(self, statuses: list[int] | None = None, *, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.script(*(Reply(status, "scripted") for status in statuses or []))

    @property
    def received(self) -> list[tuple[dict[str, str], Any]]:
        return [(r.headers, r.body) for r in self.requests]

    def answer(self, request: Request) -> Reply:
        return Reply(200, "accepted")


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one request takes one token."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a bucket needs a positive rate and room for at least one token")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def take(self, at: float) -> bool:
        """Whether a request arriving at ``at`` (seconds) is within the limit; not thread-safe."""
        if self._last is not None:
            # arrivals handled by several threads may be seen slightly out of order
            self._tokens = min(self.burst, self._tokens + max(at - self._last, 0.0) * self.rate)
        self._last = at if self._last is None else max(self._last, at)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class SlackReceiver(_Receiver):
    """Answers like a Slack incoming webhook and keeps the messages it accepted.

    Beyond Slack's rate limit (``rate`` messages a second, bursts of ``burst``; None
    turns the limit off) it answers ``429 rate_limited`` with ``Retry-After: 1``, as
    Slack does; refused requests take no token.  ``arrivals`` holds the arrival time
    of each accepted message, ``throttled`` that of each request refused for the rate.
    Scripted replies (``fail``, ``rate_limit``) bypass the bucket.
    """

    def __init__(
        self, *, delay: float = 0.0, rate: float | None = SLACK_RATE_PER_S, burst: float = SLACK_BURST
    ) -> None:
        super().__init__(delay=delay)
        self.messages: list[dict[str, Any]] = []
        self.rejections: list[list[str]] = []
        self.arrivals: list[float] = []
        self.throttled: list[float] = []
        self._bucket = TokenBucket(rate, burst) if rate is not None else None

    def rate_limit(self, times: int = 1, retry_after: str = "30") -> None:
        """Answer 429 with ``Retry-After`` to the next ``times`` requests."""
        self.script(*[Reply(429, "rate_limited", (("Retry-After", retry_after),))] * times)

    def fail(self, times: int = 1, status: int = 500, body: str = "rollup_error") -> None:
        """Answer ``status`` (a server error by default) to the next ``times`` requests."""
        self.script(*[Reply(status, body)] * times)

    def answer(self, request: Request) -> Reply:
        with self._lock:
            if self._bucket is not None and not self._bucket.take(request.received_at):
                self.throttled.append(request.received_at)
                return Reply(429, "rate_limited", (("Retry-After", SLACK_RATE_LIMITED_RETRY_AFTER),))
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            problems = ["Content-Type must be application/json"]
        else:
            problems = slack_problems(request.body)
        if problems:
            with self._lock:
                self.rejections.append(problems)
            return Reply(400, "invalid_payload")
        if slack_blocks_too_long(request.body):
            with self._lock:
                self.rejections.append([f"blocks: more than {SLACK_MAX_BLOCKS_CHARS} characters"])
            return Reply(400, "msg_blocks_too_long")
        with self._lock:
            self.messages.append(request.body)
            self.arrivals.append(request.received_at)
        return Reply(200, "ok")


@contextlib.contextmanager
def refused_url(path: str = SECRET_PATH) -> Iterator[str]:
    """A URL on a port that is bound but not listening, so connecting is refused at once.

    Holding the socket keeps another test from taking the port meanwhile.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}{path}"
