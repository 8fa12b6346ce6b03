"""A farm of generated RSS/Atom feeds served from 127.0.0.x, for bench_feeds.py.

    python bench/feedfarm.py --feeds 1000 --entries 50 --hosts 50   # serve; prints one JSON line

The farm behaves like the web servers a poller meets, not like a test stub:

- feeds are spread over ``--hosts`` virtual hosts, each its own loopback address
  (127.0.0.2, 127.0.0.3, …: Linux routes all of 127/8 to ``lo``), unevenly, as sites
  are (Zipf: a few big publishers with many section feeds, a long tail of one-feed
  blogs), so a per-host limit meets the queue it would meet in life;
- every request waits a server "think time" drawn from ``--latency`` (50–300 ms
  by default) before it is answered; HTTP/1.1 keep-alive; gzip when asked;
  ``ETag`` and ``Last-Modified`` with ``If-None-Match``/``If-Modified-Since``
  answered by a 304;
- the bodies are built and gzipped once at start-up, so serving costs the server
  almost nothing and the client side is what is measured.

It runs in a process of its own (its CPU never counts against the client) and
counts what it saw: requests and connections per status, the peak of requests
in flight per host and overall, and each host's total think time, from which
bench_feeds.py derives the fastest round any client could achieve under its
limits.  ``GET /_stats`` and ``GET /_reset`` on the control address (printed on
start-up) read and clear the counters.

The text generators (``Prose``) are shared with bench_feeds.py's folder part.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import os
import random
import socket
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

FIXED_NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # feeds are dated from here, so runs are equal
SECTIONS = ("esteri", "politica", "economia", "cronaca", "cultura", "sport", "world", "business", "tech")
CONTROL_HOST = "127.0.0.1"

# -- text -------------------------------------------------------------------------------------

_IT = {
    "function": "di e il la che a in per un una del della dei delle nel nella con su sul tra "
    "non è sono ha hanno anche come ma più già dopo prima ancora dove quando se perché "
    "questo questa loro suo sua gli le lo al alla dal dalla",
    "noun": "governo ministro presidente paese città accordo guerra pace tregua negoziato "
    "vertice elezioni parlamento legge riforma bilancio mercato borsa prezzi inflazione "
    "energia gas petrolio imprese lavoro sindacati sciopero scuola sanità ospedale polizia "
    "inchiesta procura tribunale sentenza incendio alluvione terremoto squadra partita "
    "campionato allenatore mostra festival libro film teatro università ricerca studio "
    "dati rapporto settimana giorni ore mesi anni regione comune sindaco cittadini famiglie "
    "giovani confine esercito truppe missili attacco difesa alleati sanzioni diplomazia",
    "verb": "ha detto annuncia conferma smentisce chiede propone approva respinge incontra "
    "firma apre chiude sale scende cresce rallenta minaccia avverte spiega sostiene "
    "promette rinvia arriva parte torna resta decide vota lancia denuncia indaga",
    "adjective": "nuovo nuova grande importante difficile politico economica internazionale "
    "europeo europea italiano italiana americano russo ucraino cinese francese tedesco "
    "ultimo ultima primo prima forte debole lungo breve storico decisivo possibile",
    "entity": "Roma Milano Napoli Torino Bruxelles Washington Mosca Kiev Pechino Parigi Berlino "
    "Londra Helsinki Ankara Gerusalemme NATO UE ONU Bce Istat Quirinale Palazzo_Chigi "
    "Meloni Mattarella Zelensky Putin Biden Macron Scholz Erdogan Ucraina Russia Cina "
    "Finlandia Svezia Francia Germania Stati_Uniti Medio_Oriente Gaza Libano Iran",
}
_EN = {
    "function": "the of and to a in for on with as by at from that this is was are were has "
    "have had not but also after before while when where who which their its his her "
    "they it more than about into over",
    "noun": "government minister president country city deal war peace ceasefire talks "
    "summit election parliament law reform budget market shares prices inflation energy "
    "gas oil companies jobs unions strike school health hospital police inquiry "
    "prosecutors court ruling fire flood earthquake team match league coach exhibition "
    "festival book film theatre university research study data report week days hours "
    "months years region council mayor residents families border army troops missiles "
    "attack defence allies sanctions diplomacy",
    "verb": "said announced confirmed denied asked proposed approved rejected met signed "
    "opened closed rose fell grew slowed threatened warned explained argued promised "
    "delayed arrived left returned stayed decided voted launched accused investigated",
    "adjective": "new big important difficult political economic international European "
    "Italian American Russian Ukrainian Chinese French German last first strong weak "
    "long short historic decisive possible senior former local national",
    "entity": "London Washington Brussels Moscow Kyiv Beijing Paris Berlin Rome Helsinki "
    "Ankara Jerusalem NATO EU UN ECB Fed White_House Kremlin Downing_Street Starmer "
    "Biden Trump Zelensky Putin Macron Scholz Erdogan Ukraine Russia China Finland "
    "Sweden France Germany United_States Middle_East Gaza Lebanon Iran",
}
_WEIGHTS = {"function": 40, "noun": 26, "verb": 12, "adjective": 12, "entity": 10}
AUTHORS = ("Maria Rossi", "Luca Bianchi", "Giulia Conti", "John Carter", "Anna Smith", "Paolo Greco")


class Prose:
    """Plausible-looking Italian or English news text from real words (seeded, cheap to make)."""

    def __init__(self, lang: str) -> None:
        bank = _IT if lang == "it" else _EN
        self.lang = lang
        self.words: list[str] = []
        weights: list[float] = []
        for kind, text in bank.items():
            items = [w.replace("_", " ") for w in text.split()]
            self.words += items
            weights += [_WEIGHTS[kind] / len(items)] * len(items)
        self.cum = list(itertools.accumulate(weights))
        self.entities = [w.replace("_", " ") for w in bank["entity"].split()]

    def sentence(self, rng: random.Random, low: int = 8, high: int = 22) -> str:
        words = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(low, high))
        if len(words) > 8 and rng.random() < 0.4:
            words[rng.randrange(3, len(words) - 2)] += ","
        if self.lang == "it" and rng.random() < 0.3:  # an elision, as Italian text is full of them
            words.insert(rng.randrange(len(words)), f"dell'{rng.choice(self.entities)}")
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice("...?")

    def text(self, rng: random.Random, words: int) -> list[str]:
        """Sentences adding up to about ``words`` words."""
        out: list[str] = []
        count = 0
        while count < words:
            out.append(self.sentence(rng))
            count += out[-1].count(" ") + 1
        return out

    def title(self, rng: random.Random) -> str:
        return self.sentence(rng, 6, 12).rstrip(".?")

    def html(self, rng: random.Random, words: int) -> str:
        """``words`` words of article HTML: paragraphs, a link, some bold names."""
        sentences = self.text(rng, words)
        paragraphs = []
        for start in range(0, len(sentences), 4):
            body = " ".join(escape(s) for s in sentences[start : start + 4])
            if rng.random() < 0.3:
                name = rng.choice(self.entities)
                body += (
                    f' <strong>{escape(name)}</strong> <a href="https://example.org/tag/{start}">{name}</a>.'
                )
            paragraphs.append(f"<p>{body}</p>")
        return "\n".join(paragraphs)


# -- the farm's layout --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedSpec:
    number: int
    host: int  # 0-based virtual host
    path: str
    kind: str  # "rss" or "atom"
    lang: str

    @property
    def etag(self) -> str:
        return f'"f{self.number}-v1"'


def host_address(host: int) -> str:
    return f"127.0.{(host + 2) // 256}.{(host + 2) % 256}"


def layout(feeds: int, hosts: int, seed: int = 5) -> list[FeedSpec]:
    """Which host serves which feed: every host at least one, the rest Zipf-distributed (s = 0.5)."""
    rng = random.Random(seed)
    hosts = min(hosts, feeds)
    weights = [(rank + 1) ** -0.5 for rank in range(hosts)]
    owners = list(range(hosts)) + rng.choices(range(hosts), weights=weights, k=feeds - hosts)
    rng.shuffle(owners)
    specs = []
    per_host: Counter[int] = Counter()
    for number, host in enumerate(owners):
        per_host[host] += 1
        kind = "atom" if rng.random() < 0.4 else "rss"
        lang = "it" if rng.random() < 0.6 else "en"
        section = rng.choice(SECTIONS)
        path = f"/{section}/{per_host[host]}/feed.{'xml' if kind == 'rss' else 'atom'}"
        specs.append(FeedSpec(number, host, path, kind, lang))
    return specs


def render_feed(spec: FeedSpec, entries: int, prose: Prose) -> bytes:
    rng = random.Random(spec.number * 7919 + 1)
    site = f"https://www.testata{spec.host}.example"
    items = []
    for i in range(entries):
        when = FIXED_NOW - timedelta(minutes=17 * i + spec.number % 60)
        link = f"{site}/{spec.path.split('/')[1]}/{spec.number}-{i}"
        title = escape(prose.title(rng))
        summary = escape(" ".join(prose.text(rng, 60)))
        content = prose.html(rng, 300)
        author = escape(rng.choice(AUTHORS))
        if spec.kind == "rss":
            items.append(
                f"<item><title>{title}</title><link>{link}</link>"
                f'<guid isPermaLink="false">{site}/id/{spec.number}/{i}</guid>'
                f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate><dc:creator>{author}</dc:creator>"
                f"<category>{spec.path.split('/')[1]}</category><description>{summary}</description>"
                f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
            )
        else:
            stamp = when.isoformat().replace("+00:00", "Z")
            items.append(
                f'<entry><title>{title}</title><link rel="alternate" href="{link}"/>'
                f"<id>tag:testata{spec.host}.example,2026:{spec.number}/{i}</id><updated>{stamp}</updated>"
                f"<published>{stamp}</published><author><name>{author}</name></author>"
                f'<summary>{summary}</summary><content type="html">{escape(content)}</content></entry>'
            )
    return feed_document(spec, "\n".join(items), FIXED_NOW)


def feed_document(spec: FeedSpec, items: str, updated: datetime) -> bytes:
    """The RSS or Atom document around ``items`` (rendered entries), as ``spec`` says."""
    site = f"https://www.testata{spec.host}.example"
    name = f"Testata {spec.host} — {spec.path.split('/')[1]}"
    if spec.kind == "rss":
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{escape(name)}</title><link>{site}/</link><description>Ultime notizie</description>"
            f"<language>{spec.lang}</language>"
            f"<lastBuildDate>{format_datetime(updated, usegmt=True)}</lastBuildDate>\n"
            f"{items}\n</channel></rss>\n"
        )
    else:
        document = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xml:lang="{spec.lang}"><title>{escape(name)}</title><link rel="alternate" href="{site}/"/>'
            f"<id>{site}{spec.path}</id><updated>{updated.isoformat().replace('+00:00', 'Z')}</updated>\n"
            f"{items}\n</feed>\n"
        )
    return document.encode()


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Page:
    gzipped: bytes
    size: int  # identity length
    content_type: str
    etag: str
    host: int


@dataclass
class Stats:
    requests: Counter[int] = field(default_factory=Counter)  # by status
    connections: int = 0
    bytes_sent: int = 0
    gzip_answers: int = 0
    in_flight: Counter[int] = field(default_factory=Counter)
    peak_host: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    total_in_flight: int = 0
    peak_total: int = 0
    think: dict[int, float] = field(default_factory=lambda: defaultdict(float))  # seconds per host

    def report(self) -> dict[str, object]:
        return {
            "requests": {str(k): v for k, v in self.requests.items()},
            "connections": self.connections,
            "bytes_sent": self.bytes_sent,
            "gzip_answers": self.gzip_answers,
            "peak_per_host": max(self.peak_host.values(), default=0),
            "peak_total": self.peak_total,
            "think_per_host": {str(k): v for k, v in self.think.items()},
        }


LAST_MODIFIED = format_datetime(FIXED_NOW, usegmt=True)


class FarmServer:
    def __init__(self, pages: dict[tuple[int, str], Page], latency: tuple[float, float], seed: int) -> None:
        self.pages = pages
        self.latency = latency
        self.rng = random.Random(seed)
        self.stats = Stats()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = self._host_of(writer)
        if host >= 0:
            self.stats.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = [*lines[0].split(" "), "", "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                if host < 0:
                    status, extra, body = self._control(target)
                else:
                    status, extra, body = await self._feed(host, target, headers)
                writer.write(self._head(status, extra, len(body), keep) + (b"" if method == "HEAD" else body))
                await writer.drain()
                if not keep:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    def _host_of(self, writer: asyncio.StreamWriter) -> int:
        address = writer.get_extra_info("sockname")[0]
        if address == CONTROL_HOST:
            return -1
        _, _, b, c = (int(x) for x in address.split("."))
        return b * 256 + c - 2

    async def _feed(self, host: int, target: str, headers: dict[str, str]) -> tuple[int, list[str], bytes]:
        stats = self.stats
        stats.in_flight[host] += 1
        stats.total_in_flight += 1
        stats.peak_host[host] = max(stats.peak_host[host], stats.in_flight[host])
        stats.peak_total = max(stats.peak_total, stats.total_in_flight)
        try:
            think = self.rng.uniform(*self.latency)
            stats.think[host] += think
            await asyncio.sleep(think)
            page = self.pages.get((host, target.split("?")[0]))
            if page is None:
                stats.requests[404] += 1
                return 404, ["Content-Type: text/plain"], b"not found\n"
            validators = [
                f"ETag: {page.etag}",
                f"Last-Modified: {LAST_MODIFIED}",
                "Cache-Control: max-age=60",
            ]
            asked = headers.get("if-none-match")
            if (asked is not None and page.etag in {t.strip() for t in asked.split(",")} | {"*"}) or (
                asked is None and headers.get("if-modified-since") == LAST_MODIFIED
            ):
                stats.requests[304] += 1
                return 304, validators, b""
            stats.requests[200] += 1
            extra = [f"Content-Type: {page.content_type}", "Vary: Accept-Encoding", *validators]
            if "gzip" in headers.get("accept-encoding", ""):
                stats.gzip_answers += 1
                stats.bytes_sent += len(page.gzipped)
                return 200, [*extra, "Content-Encoding: gzip"], page.gzipped
            body = gzip.decompress(page.gzipped)
            stats.bytes_sent += len(body)
            return 200, extra, body
        finally:
            stats.in_flight[host] -= 1
            stats.total_in_flight -= 1

    def _control(self, target: str) -> tuple[int, list[str], bytes]:
        if target == "/_reset":
            self.stats = Stats()
        body = json.dumps(self.stats.report()).encode()
        return 200, ["Content-Type: application/json"], body

    @staticmethod
    def _head(status: int, extra: list[str], length: int, keep: bool) -> bytes:
        reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Date: {format_datetime(datetime.now(UTC), usegmt=True)}",
            "Server: feedfarm/1.0",
            *extra,
            *([f"Content-Length: {length}"] if status != 304 else []),
            f"Connection: {'keep-alive' if keep else 'close'}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def build_pages(specs: list[FeedSpec], entries: int) -> tuple[dict[tuple[int, str], Page], int]:
    prose = {"it": Prose("it"), "en": Prose("en")}
    pages = {}
    total = 0
    for spec in specs:
        document = render_feed(spec, entries, prose[spec.lang])
        total += len(document)
        kind = "application/rss+xml" if spec.kind == "rss" else "application/atom+xml"
        pages[(spec.host, spec.path)] = Page(
            gzip.compress(document, 6), len(document), f"{kind}; charset=utf-8", spec.etag, spec.host
        )
    return pages, total


def _listen(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    specs = layout(args.feeds, args.hosts, args.seed)
    pages, total = build_pages(specs, args.entries)
    farm = FarmServer(pages, (args.latency[0] / 1e3, args.latency[1] / 1e3), args.seed)
    hosts = sorted({spec.host for spec in specs})
    sockets = {host: _listen(host_address(host)) for host in hosts}
    control = _listen(CONTROL_HOST)
    servers = [await asyncio.start_server(farm.handle, sock=s) for s in [control, *sockets.values()]]
    ready = {
        "control": control.getsockname()[1],
        "ports": {str(h): s.getsockname()[1] for h, s in sockets.items()},
        "bytes": total,
        "gzip_bytes": sum(len(p.gzipped) for p in pages.values()),
        "build_s": time.perf_counter() - started,
    }
    print(json.dumps(ready), flush=True)
    try:
        await asyncio.gather(*(s.serve_forever() for s in servers))
    finally:
        for server in servers:
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="serve a farm of generated feeds on 127.0.0.x")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--latency", type=float, nargs=2, default=(50.0, 300.0), metavar=("MIN_MS", "MAX_MS"))
    parser.add_argument("--cpu", type=int, help="pin the server to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
