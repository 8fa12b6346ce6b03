"""The live feed farm and the webhook receiver of bench_load.py, each a process of its own.

    python bench/loadfarm.py farm --feeds N --hosts N --stories FILE --per-minute S   # one JSON line
    python bench/loadfarm.py receiver                                                 # one JSON line

**The farm** is feedfarm.py's server (the same loopback hosts with a Zipf spread of
feeds, think time, keep-alive, gzip, ETag/Last-Modified and ``304``) serving feeds that
change while they are polled.  Every feed starts at version 0, empty, with the ETag
``"f<number>-v0"`` (bench_load.py stores it in the daemon's database, as a daemon that had
polled every feed once would have, so the first polls are conditional).  After
``GET /_start?at=EPOCH`` on the control address, story ``k`` of the ``--stories`` file
(JSON lines: title, paragraphs, language) is published at ``EPOCH + k × 60 / S``, into a
feed of its language drawn at random: the feed's version and ETag change and its body
holds its ``--entries`` newest stories.  A feed is rendered and gzipped when first asked
for at a version, so 75,000 feeds cost the farm no more than the stories they carry.
Each story links to ``https://www.testata<host>.example/s/<k>``.

It counts what the clients saw: requests per status, every request's time per feed, each
story's publication and the first ``200`` that carried it, and how late its own event
loop woke (a farm starved of CPU answers late, and the daemon would look slower than it
is).  ``GET /_stats`` (small, for progress lines) and ``GET /_report`` (everything, at the
end) on the control address.

**The receiver** answers every webhook POST with 200 at once and notes, per story (the
``/s/<k>`` of the alert's article URL), when its first alert arrived; it counts requests
and distinct ``webhook-id`` keys.  ``GET /_stats`` and ``GET /_report``.

Both print their CPU time (``getrusage``) in their answers, but bench_load.py reads
/proc too.  Wall-clock times are ``time.time()``, comparable between the processes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import re
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from feedfarm import CONTROL_HOST, FarmServer, FeedSpec, Page, _listen, feed_document, host_address, layout

STORY_LINK = re.compile(r"/s/(\d+)$")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def live_specs(feeds: int, hosts: int, seed: int) -> list[FeedSpec]:
    """feedfarm's layout with short paths (``/<number>``): 75,000 URLs must fit in one monitor.yaml."""
    return [replace(spec, path=f"/{spec.number}") for spec in layout(feeds, hosts, seed)]


# -- the farm -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    title: str
    paragraphs: list[str]
    lang: str


@dataclass
class LiveFeed:
    spec: FeedSpec
    version: int = 0
    stories: list[int] = field(default_factory=list)  # newest last
    updated: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    page: Page | None = None  # rendered at ``version``
    polls: list[float] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return f'"f{self.spec.number}-v{self.version}"'


class LivePages:
    """What feedfarm's server looks pages up in: built on demand from the feeds' current versions."""

    def __init__(
        self, specs: list[FeedSpec], stories: list[Story], per_minute: float, entries: int, seed: int
    ):
        self.feeds = [LiveFeed(spec) for spec in specs]
        self.stories = stories
        self.gap = 60.0 / per_minute
        self.entries = entries
        rng = random.Random(seed)
        by_lang: dict[str, list[int]] = {}
        for spec in specs:
            by_lang.setdefault(spec.lang, []).append(spec.number)
        anywhere = [spec.number for spec in specs]
        self.home = [rng.choice(by_lang.get(s.lang, anywhere)) for s in stories]  # story -> feed
        self.start: float | None = None
        self.published = 0  # stories published so far
        self.published_at: list[float] = []
        self.served_at: dict[int, float] = {}  # story -> first 200 that carried it
        self.items: dict[int, str] = {}  # story -> rendered entry, by the kind of its feed
        self.last: LiveFeed | None = None  # the feed the last get() answered for

    def publish_due(self, now: float) -> None:
        if self.start is None:
            return
        while self.published < len(self.stories):
            at = self.start + self.published * self.gap
            if at > now:
                break
            feed = self.feeds[self.home[self.published]]
            feed.stories = [*feed.stories, self.published][-self.entries :]
            feed.version += 1
            feed.updated = datetime.fromtimestamp(at, UTC)
            feed.page = None
            self.published_at.append(at)
            self.published += 1

    def get(self, key: tuple[int, str]) -> Page | None:
        now = time.time()
        self.publish_due(now)
        host, path = key
        number = int(path[1:]) if path[1:].isdigit() else -1
        if not 0 <= number < len(self.feeds) or self.feeds[number].spec.host != host:
            self.last = None
            return None
        feed = self.feeds[number]
        feed.polls.append(now)
        self.last = feed
        if feed.page is None:
            feed.page = self._render(feed)
        return feed.page

    def served(self, feed: LiveFeed) -> None:
        now = time.time()
        for story in feed.stories:
            self.served_at.setdefault(story, now)

    def _render(self, feed: LiveFeed) -> Page:
        spec = feed.spec
        items = "\n".join(self._item(spec, k) for k in reversed(feed.stories))
        document = feed_document(spec, items, feed.updated)
        kind = "application/rss+xml" if spec.kind == "rss" else "application/atom+xml"
        return Page(gzip.compress(document, 6), len(document), f"{kind}; charset=utf-8", feed.etag, spec.host)

    def _item(self, spec: FeedSpec, k: int) -> str:
        cached = self.items.get(k)
        if cached is not None:
            return cached
        story = self.stories[k]
        link = f"https://www.testata{spec.host}.example/s/{k}"
        when = datetime.fromtimestamp(self.published_at[k], UTC)
        title = escape(story.title)
        summary = escape(story.paragraphs[0][:400])
        html = "".join(f"<p>{escape(p)}</p>" for p in story.paragraphs)
        if spec.kind == "rss":
            item = (
                f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
                f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
                f"<description>{summary}</description>"
                f"<content:encoded><![CDATA[{html}]]></content:encoded></item>"
            )
        else:
            stamp = when.isoformat().replace("+00:00", "Z")
            item = (
                f'<entry><title>{title}</title><link rel="alternate" href="{link}"/><id>{link}</id>'
                f"<updated>{stamp}</updated><published>{stamp}</published>"
                f'<summary>{summary}</summary><content type="html">{escape(html)}</content></entry>'
            )
        self.items[k] = item
        return item


class LiveFarm(FarmServer):
    """feedfarm's server over live pages, with the controls and the records bench_load.py reads."""

    def __init__(self, pages: LivePages, latency: tuple[float, float], seed: int) -> None:
        super().__init__(pages, latency, seed)  # type: ignore[arg-type]  # a mapping with get()
        self.live = pages
        self.lags: list[float] = []

    async def _feed(self, host: int, target: str, headers: dict[str, str]) -> tuple[int, list[str], bytes]:
        status, extra, body = await super()._feed(host, target, headers)
        if status == 200 and self.live.last is not None:
            self.live.served(self.live.last)
        return status, extra, body

    def _control(self, target: str) -> tuple[int, list[str], bytes]:
        path, _, query = target.partition("?")
        live = self.live
        if path == "/_start":
            live.start = float(query.removeprefix("at="))
        live.publish_due(time.time())
        answer: dict[str, Any] = {
            "requests": {str(k): v for k, v in self.stats.requests.items()},
            "connections": self.stats.connections,
            "published": live.published,
            "served": len(live.served_at),
            "cpu": cpu_seconds(),
            "peak_total": self.stats.peak_total,
            "peak_per_host": max(self.stats.peak_host.values(), default=0),
        }
        if path == "/_report":
            answer |= {
                "home": live.home[: live.published],
                "published_at": live.published_at,
                "served_at": {str(k): v for k, v in live.served_at.items()},
                "polls": [feed.polls for feed in live.feeds],
                "lags": self.lags,
            }
        return 200, ["Content-Type: application/json"], json.dumps(answer).encode()

    async def watch_lag(self, period: float = 0.05) -> None:
        """How late the farm's loop wakes: its answers are that much later than its think time."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(period)
            self.lags.append(loop.time() - started - period)


def read_stories(path: Path) -> list[Story]:
    with path.open(encoding="utf-8") as lines:
        return [Story(**json.loads(line)) for line in lines]


async def serve_farm(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    specs = live_specs(args.feeds, args.hosts, args.seed)
    pages = LivePages(specs, read_stories(args.stories), args.per_minute, args.entries, args.seed)
    farm = LiveFarm(pages, (args.latency[0] / 1e3, args.latency[1] / 1e3), args.seed)
    hosts = sorted({spec.host for spec in specs})
    sockets = {host: _listen(host_address(host)) for host in hosts}
    control = _listen(CONTROL_HOST)
    servers = [await asyncio.start_server(farm.handle, sock=s) for s in [control, *sockets.values()]]
    watcher = asyncio.create_task(farm.watch_lag())
    ready = {
        "control": control.getsockname()[1],
        "ports": {str(h): s.getsockname()[1] for h, s in sockets.items()},
        "stories": len(pages.stories),
        "build_s": time.perf_counter() - started,
    }
    print(json.dumps(ready), flush=True)
    try:
        await asyncio.gather(*(s.serve_forever() for s in servers))
    finally:
        watcher.cancel()
        for server in servers:
            server.close()


# -- the receiver -------------------------------------------------------------------------------


@dataclass
class Arrivals:
    requests: int = 0
    keys: set[str] = field(default_factory=set)
    first: dict[int, float] = field(default_factory=dict)  # story -> first alert
    alerts: Counter[int] = field(default_factory=Counter)  # story -> alerts
    per_second: Counter[int] = field(default_factory=Counter)  # second (epoch) -> alerts
    unknown: int = 0  # alerts for no story of ours

    def note(self, headers: dict[str, str], body: bytes, now: float) -> None:
        self.requests += 1
        self.per_second[int(now)] += 1
        self.keys.add(headers.get("webhook-id", ""))
        try:
            url = json.loads(body)["data"]["article"]["url"] or ""
        except (ValueError, KeyError, TypeError):
            url = ""
        found = STORY_LINK.search(url)
        if found is None:
            self.unknown += 1
            return
        story = int(found.group(1))
        self.first.setdefault(story, now)
        self.alerts[story] += 1

    def answer(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "keys": len(self.keys),
            "stories": len(self.first),
            "unknown": self.unknown,
            "cpu": cpu_seconds(),
        }
        if path == "/_report":
            out["first"] = {str(k): v for k, v in self.first.items()}
            out["alerts"] = {str(k): v for k, v in self.alerts.items()}
            out["per_second"] = {str(k): v for k, v in self.per_second.items()}
        return out


async def _receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Arrivals) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            length = int(headers.get("content-length", "0"))
            body = await reader.readexactly(length) if length else b""
            method, path = [*lines[0].split(" "), "", ""][:2]
            if method == "GET" and path in ("/_stats", "/_report"):
                answer = json.dumps(seen.answer(path)).encode()
            else:
                seen.note(headers, body, time.time())
                answer = b"accepted"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(answer)
            )
            writer.write(answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve_receiver() -> None:
    seen = Arrivals()
    server = await asyncio.start_server(lambda r, w: _receive(r, w, seen), CONTROL_HOST, 0)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    farm = sub.add_parser("farm", help="serve the live feeds")
    farm.add_argument("--feeds", type=int, required=True)
    farm.add_argument("--hosts", type=int, required=True)
    farm.add_argument("--stories", type=Path, required=True, help="JSON lines: title, paragraphs, lang")
    farm.add_argument("--per-minute", type=float, required=True, help="stories published a minute")
    farm.add_argument("--entries", type=int, default=20, help="newest stories a feed's body holds")
    farm.add_argument("--latency", type=float, nargs=2, default=(50.0, 300.0), metavar=("MIN_MS", "MAX_MS"))
    farm.add_argument("--seed", type=int, default=5)
    sub.add_parser("receiver", help="receive the webhooks")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a listening socket per host
    try:
        asyncio.run(serve_farm(args) if args.role == "farm" else serve_receiver())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
