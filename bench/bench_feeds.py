"""Polling feeds at scale, and the latency from a file landing to its alert, in one run.

    python bench/bench_feeds.py [--quick] [--feeds N] [--entries N] [--latency-files N] [--profile]
        [--keepalive N] [--parse-threads N | --parse-processes N]   # experiments: see --help

1. Feeds: a farm of generated RSS 2.0/Atom feeds (bench/feedfarm.py, a process of
   its own on 127.0.0.x: 50 virtual hosts, 50–300 ms server think time, gzip,
   ETag/Last-Modified) is polled with ``FeedFetcher`` over one ``httpx.AsyncClient``
   configured as the daemon's, each body parsed by ``parse_feed`` where the
   daemon parses it: in parser processes (``sources.feed_parsers``: one per
   CPU, so two here, not pinned), or with ``--parse-processes 0`` in one
   worker thread (the daemon below 20 feeds).  Timed: (a) a full async round, (b) the same
   one by one on a sample of feeds, extrapolated, (c) a second async round in
   which every feed answers 304.  Printed: ratios to the sequential baseline,
   entries/s parsed, where the round's time went (the floor the server's think
   time and the fetcher's limits impose, CPU of the event loop and of parsing,
   event-loop lag, when the biggest host finished), the peak of requests in
   flight per host the server saw, connections opened, and memory.  The
   client's event loop is pinned to one CPU and the farm to the other.
2. Re-reading (``--reread N``, no server): what a poll answered 200 costs the parser when the
   feed is unchanged (the body's digest, as the pipeline checks it), when it gained one entry
   (feedparser, then the known entries passed over unread), and when every entry is read
   (what every 200 cost before), timed in alternating turns over N rendered feeds.
3. Latency: the real daemon (``monitor run``) watches a folder and posts alerts
   to a local webhook receiver; files are renamed into the folder one at a time
   and the time from each landing to its alert's arrival is measured.

Generated data, so the figures compare designs on this machine; they are not a
promise.  Targets are printed with ✓/✗; nothing is asserted.  This is a
benchmark, not a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import os
import pstats
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from feedfarm import Prose, host_address, layout, render_feed  # noqa: E402

from monitor.errors import ArticleParseError, FeedFetchError  # noqa: E402
from monitor.models import Article  # noqa: E402
from monitor.pipeline.seen import body_digest  # noqa: E402
from monitor.sources.feeds import FeedFetcher  # noqa: E402
from monitor.sources.parse import parse_feed, parse_feed_entries  # noqa: E402
from monitor.sources.parsepool import parse_processes_for  # noqa: E402

FARM = Path(__file__).resolve().parent / "feedfarm.py"
MAX_CONCURRENCY = 20  # FeedFetcher's defaults, as the daemon will run it
PER_HOST = 2
TIMEOUT = 20.0
WARMUP_FEEDS = 5
# Targets (issue 4)
TARGET_ROUND_S = 30.0  # one round of 1,000 feeds × 50 entries
TARGET_ENTRIES = 1000 * 50
TARGET_SPEEDUP = 10.0  # against one by one
TARGET_MEDIAN_S = 1.0  # file landing → alert received
_MARKER = re.compile(r"\b(?:bench|warmup)(\d{5})\b")


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def rss_mb() -> float:
    """Current resident set size (not the peak)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_mb() -> float:
    """The largest peak of the child processes that have ended (the parser processes, once shut down)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def core_times() -> tuple[float, float]:
    """(busy, total) jiffies since boot of the CPUs this process may run on, whoever ran on them."""
    allowed = os.sched_getaffinity(0)
    name = f"cpu{min(allowed)} " if len(allowed) == 1 else "cpu "
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith(name):
                ticks = [float(x) for x in line.split()[1:]]
                idle = ticks[3] + ticks[4]  # idle + iowait
                return sum(ticks) - idle, sum(ticks)
    return 0.0, 0.0


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


# -- the farm -------------------------------------------------------------------------------------


class Farm:
    """The feed farm's server process: URLs of its feeds, and its counters."""

    def __init__(self, feeds: int, entries: int, hosts: int, cpu: int | None) -> None:
        command = [sys.executable, str(FARM), "--feeds", str(feeds), "--entries", str(entries)]
        command += ["--hosts", str(hosts)] + (["--cpu", str(cpu)] if cpu is not None else [])
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        try:
            self.ready: dict[str, Any] = json.loads(line)
        except ValueError:
            self.close()
            raise RuntimeError(f"the feed farm did not start (exit code {self.process.returncode})") from None
        self.specs = layout(feeds, hosts)
        ports = self.ready["ports"]
        self.urls = [f"http://{host_address(s.host)}:{ports[str(s.host)]}{s.path}" for s in self.specs]
        self.control = f"http://127.0.0.1:{self.ready['control']}"

    def stats(self, reset: bool = False) -> dict[str, Any]:
        with httpx.Client(trust_env=False) as client:
            answer: dict[str, Any] = client.get(self.control + ("/_reset" if reset else "/_stats")).json()
            return answer

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@dataclass
class Outcome:
    status: int | None = None
    entries: int = 0
    body_bytes: int = 0
    etag: str | None = None
    last_modified: str | None = None
    parse_cpu: float = 0.0
    done: float = 0.0  # seconds into the round
    error: str | None = None


@dataclass
class Round:
    label: str
    seconds: float
    outcomes: list[Outcome]
    hosts: list[int]  # the host of each outcome's feed
    server: dict[str, Any]
    loop_cpu: float = 0.0  # CPU seconds of the event-loop thread
    process_cpu: float = 0.0  # CPU seconds of the whole client process
    core_busy: float = 0.0  # share of the round the client's CPU was busy, with anything
    peak_pending: tuple[int, int] = (0, 0)  # most bodies fetched and not yet parsed, and their bytes
    lags: list[float] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return sum(o.entries for o in self.outcomes)

    @property
    def parse_cpu(self) -> float:
        return sum(o.parse_cpu for o in self.outcomes)

    @property
    def statuses(self) -> str:
        counts = Counter(str(o.status) if o.error is None else "failed" for o in self.outcomes)
        return ", ".join(f"{v:,} × {k}" for k, v in sorted(counts.items()))

    def floor(self, per_host: int, max_concurrency: int) -> float:
        """The shortest round the server's think time allows under the fetcher's limits."""
        think = [float(v) for v in self.server["think_per_host"].values()]
        return max(max(think, default=0.0) / per_host, sum(think) / max_concurrency)

    def tail(self) -> tuple[int, float, float]:
        """The biggest host's feed count, when its last feed was done, and when all the others were."""
        sizes = Counter(self.hosts)
        biggest = sizes.most_common(1)[0][0]
        done = [(o.done, h == biggest) for o, h in zip(self.outcomes, self.hosts, strict=True)]
        return (
            sizes[biggest],
            max(t for t, big in done if big),
            max((t for t, big in done if not big), default=0.0),
        )


def timed_parse(data: bytes, url: str, headers: dict[str, str]) -> tuple[list[Article], float]:
    """The articles and the CPU seconds of the thread that parsed them."""
    started = time.thread_time()
    articles = parse_feed(data, source=url, origin=url, headers={"content-location": url, **headers})
    return articles, time.thread_time() - started


class Poller:
    """Fetch then parse, as the daemon's feed job does: fetch on the loop, parse on the worker.

    The articles are dropped once counted, as the daemon drops them once stored.
    """

    def __init__(self, fetcher: FeedFetcher, worker: Executor, keep_bodies: int = 0) -> None:
        self.fetcher = fetcher
        self.worker = worker
        self.keep_bodies = keep_bodies
        self.bodies: list[tuple[bytes, str, dict[str, str]]] = []
        self.started = time.perf_counter()
        self.pending = self.pending_bytes = 0  # bodies fetched whose parsing has not finished
        self.peak_pending = self.peak_pending_bytes = 0

    async def poll(self, url: str, previous: Outcome | None = None) -> Outcome:
        outcome = Outcome()
        try:
            fetched = await self.fetcher.fetch(
                url,
                etag=previous.etag if previous else None,
                last_modified=previous.last_modified if previous else None,
                timeout=TIMEOUT,
            )
            outcome.status, outcome.etag = fetched.status, fetched.etag
            outcome.last_modified = fetched.last_modified
            if fetched.content is not None:
                outcome.body_bytes = len(fetched.content)
                if len(self.bodies) < self.keep_bodies:
                    self.bodies.append((fetched.content, url, fetched.headers))
                self._hold(len(fetched.content))
                loop = asyncio.get_running_loop()
                try:
                    articles, outcome.parse_cpu = await loop.run_in_executor(
                        self.worker, timed_parse, fetched.content, url, fetched.headers
                    )
                finally:
                    self._hold(-len(fetched.content))
                outcome.entries = len(articles)
        except (FeedFetchError, ArticleParseError) as exc:
            outcome.error = str(exc)
        outcome.done = time.perf_counter() - self.started
        return outcome

    def _hold(self, size: int) -> None:
        self.pending += 1 if size > 0 else -1
        self.pending_bytes += size
        self.peak_pending = max(self.peak_pending, self.pending)
        self.peak_pending_bytes = max(self.peak_pending_bytes, self.pending_bytes)


async def _watch_lag(lags: list[float], stop: asyncio.Event, period: float = 0.01) -> None:
    """How late the event loop wakes up: the time a fetch's next step waits for the GIL and the loop."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(period)
        lags.append(loop.time() - started - period)


async def run_round(
    label: str,
    poller: Poller,
    farm: Farm,
    picked: Sequence[int],
    previous: Sequence[Outcome] | None,
    *,
    together: bool,
) -> Round:
    """Poll the ``picked`` feeds all at once (``together``) or one after the other."""
    farm.stats(reset=True)
    lags: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_lag(lags, stop))
    befores: Sequence[Outcome | None] = previous or [None] * len(picked)
    jobs = [(farm.urls[i], before) for i, before in zip(picked, befores, strict=True)]
    poller.peak_pending = poller.peak_pending_bytes = 0
    cpu, process, core = time.thread_time(), process_cpu(), core_times()
    poller.started = started = time.perf_counter()
    if together:
        outcomes = list(await asyncio.gather(*(poller.poll(url, before) for url, before in jobs)))
    else:
        outcomes = [await poller.poll(url, before) for url, before in jobs]
    seconds = time.perf_counter() - started
    loop_cpu, process = time.thread_time() - cpu, process_cpu() - process
    busy, total = (after - before for after, before in zip(core_times(), core, strict=True))
    stop.set()
    await watcher
    hosts = [farm.specs[i].host for i in picked]
    return Round(
        label,
        seconds,
        outcomes,
        hosts,
        farm.stats(),
        loop_cpu,
        process,
        busy / total if total else 0.0,
        (poller.peak_pending, poller.peak_pending_bytes),
        lags,
    )


def sample(count: int, n: int) -> list[int]:
    """``n`` of ``count`` feeds spread evenly over the list (every host size and feed kind in proportion)."""
    n = min(n, count)
    return [i * count // n for i in range(n)]


# -- part 1 ---------------------------------------------------------------------------------------


def print_round(r: Round, args: argparse.Namespace, baseline: float) -> None:
    server = r.server
    requests = sum(server["requests"].values())
    print(
        f"   {r.seconds:6.1f} s for {len(r.outcomes):,} feeds ({r.statuses}); {baseline / r.seconds:.1f}×",
        end="",
    )
    print(" sequential")
    if r.entries:
        print(
            f"     {r.entries:,} entries parsed → {r.entries / r.seconds:,.0f} entries/s end to end"
            f" ({r.entries / r.parse_cpu:,.0f} entries/s of parse CPU alone); bodies fetched and waiting"
            f" for the parser: at most {r.peak_pending[0]:,} ({r.peak_pending[1] / 2**20:.0f} MB)"
        )
    within = server["peak_per_host"] <= args.per_host and server["peak_total"] <= args.max_concurrency
    print(
        f"     server: {requests:,} requests on {server['connections']:,} new connections,"
        f" {server['bytes_sent'] / 2**20:.1f} MB sent; peak requests in flight"
        f" {server['peak_total']} overall, {server['peak_per_host']} per host"
        f" (limits {args.max_concurrency} and {args.per_host}) {mark(within)}"
    )
    size, biggest_done, others_done = r.tail()
    workers = (
        f"{args.parse_processes} processes" if args.parse_processes else f"{args.parse_threads} thread(s)"
    )
    print(
        f"     where the time went: the server's think time under the fetcher's limits allows"
        f" {r.floor(args.per_host, args.max_concurrency):.1f} s at best;"
        f"\n       client CPU: event-loop thread {r.loop_cpu:.1f} s, parsing {r.parse_cpu:.1f} s ({workers}),"
        f" the whole process {r.process_cpu:.1f} s = {r.process_cpu / r.seconds:.0%} of the round"
        f" (its CPU busy {r.core_busy:.0%}, with anything);"
        f" event-loop lag median {quantile(r.lags, 0.5) * 1e3:.0f} ms,"
        f" p99 {quantile(r.lags, 0.99) * 1e3:.0f} ms;\n       the biggest host ({size} feeds) done at"
        f" {biggest_done:.1f} s, all the others by {others_done:.1f} s"
    )
    for error in [o.error for o in r.outcomes if o.error][:3]:
        print(f"     failed: {error}")


def make_worker(args: argparse.Namespace) -> Executor:
    """One thread as the daemon has; or, to see what moving parsing off the GIL would give, processes."""
    if not args.parse_processes:
        return ThreadPoolExecutor(args.parse_threads, thread_name_prefix="parse")
    return ProcessPoolExecutor(
        args.parse_processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=os.sched_setaffinity,  # not pinned to the client's CPU
        initargs=(0, args.allowed),
    )


async def feeds_part(args: argparse.Namespace) -> None:
    where = (
        f"{args.parse_processes} worker processes"
        if args.parse_processes
        else f"{args.parse_threads} worker thread(s)"
    )
    print(
        f"\n1. Feeds: {args.feeds:,} generated feeds × {args.entries} entries on {args.hosts} hosts;"
        f" FeedFetcher(max_concurrency={args.max_concurrency}, per_host={args.per_host}) on an httpx client"
        f" as the daemon's (keep-alive pool {args.keepalive}), parse on {where}"
    )
    rss_start = rss_mb()
    farm = Farm(args.feeds, args.entries, args.hosts, args.server_cpu)
    try:
        sizes = Counter(s.host for s in farm.specs)
        kinds = Counter(s.kind for s in farm.specs)
        ready = farm.ready
        print(
            f"   farm: built in {ready['build_s']:.1f} s on CPU {args.server_cpu}:"
            f" {ready['bytes'] / len(farm.urls) / 1e3:.0f} kB per feed"
            f" ({ready['gzip_bytes'] / ready['bytes']:.0%} gzipped), {kinds['atom']:,} Atom and"
            f" {kinds['rss']:,} RSS, feeds per host {max(sizes.values())} at most,"
            f" {statistics.median(sizes.values()):.0f} median; think time 50–300 ms a request"
        )
        await measure(farm, args, rss_start)
    finally:
        farm.close()


async def measure(farm: Farm, args: argparse.Namespace, rss_start: float) -> None:
    worker = make_worker(args)
    everything = range(len(farm.urls))
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=args.keepalive)  # httpx's defaults
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True, limits=limits) as client:
        fetcher = FeedFetcher(client, max_concurrency=args.max_concurrency, per_host=args.per_host)
        poller = Poller(fetcher, worker, keep_bodies=20 if args.profile else 0)
        # imports, first connections, feedparser's caches (and the worker processes, if any)
        await asyncio.gather(*(poller.poll(url) for url in farm.urls[:WARMUP_FEEDS]))
        poller.bodies.clear()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        full = await run_round("async", poller, farm, everything, None, together=True)
        if profiler:
            profiler.disable()
        peak_full = peak_mb()
        picked = sample(len(farm.urls), args.sequential)
        one = await run_round("sequential", poller, farm, picked, None, together=False)
        unchanged = await run_round("304", poller, farm, everything, full.outcomes, together=True)
    worker.shutdown()

    scale = len(farm.urls) / len(picked)
    sequential = one.seconds * scale
    think = sum(one.server["think_per_host"].values())
    extrapolated = f", extrapolated ×{scale:.0f} from {len(picked)} feeds" if scale > 1 else ""
    print(f"\n   (b) sequential baseline, one feed at a time, same client and parser{extrapolated}:")
    print(
        f"   {sequential:6.1f} s for {len(farm.urls):,} feeds ({one.seconds:.1f} s for {len(picked)}:"
        f" {one.seconds / len(picked) * 1e3:.0f} ms a feed, of which server think time"
        f" {think / len(picked) * 1e3:.0f} ms, parse CPU {one.parse_cpu / len(picked) * 1e3:.0f} ms,"
        f" event-loop CPU {one.loop_cpu / len(picked) * 1e3:.0f} ms)"
    )
    print("\n   (a) one full async round (fetch + parse every feed):")
    print_round(full, args, sequential)
    print("\n   (c) a second async round, every feed unchanged (conditional GET → 304, nothing parsed):")
    print_round(unchanged, args, sequential)
    print(f"     {unchanged.seconds / full.seconds:.0%} of the full round's time")
    scale_target = len(farm.urls) * args.entries / TARGET_ENTRIES  # the round's work is mostly parsing
    target = TARGET_ROUND_S * scale_target
    note = "" if scale_target == 1 else f" ({TARGET_ROUND_S:.0f} s for 1,000 × 50 scaled to the entries here)"
    speedup = sequential / full.seconds
    print(
        f"\n   targets: round {full.seconds:.1f} s < {target:.1f} s{note} {mark(full.seconds < target)};"
        f" {speedup:.1f}× sequential ≥ {TARGET_SPEEDUP:.0f}× {mark(speedup >= TARGET_SPEEDUP)}"
    )
    parsers = (
        f"; each parser process peaked at {children_peak_mb():.0f} MB at most" if args.parse_processes else ""
    )
    print(
        f"   memory: RSS {rss_start:.0f} MB at start, {rss_mb():.0f} MB at end;"
        f" peak (ru_maxrss) {peak_full:.0f} MB after the full round, {peak_mb():.0f} MB at end{parsers}"
    )
    if profiler:
        print_profiles(profiler, poller)


def print_profiles(profiler: cProfile.Profile, poller: Poller) -> None:
    print("\n   profile of the event-loop thread during (a) (parsing runs elsewhere), by own time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    parse_profiler = cProfile.Profile()
    parse_profiler.enable()
    for body, url, headers in poller.bodies:
        timed_parse(body, url, headers)
    parse_profiler.disable()
    print(f"   profile of parse_feed on {len(poller.bodies)} of the feeds, cumulative:")
    pstats.Stats(parse_profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(20)


# -- part 3 ---------------------------------------------------------------------------------------

RULES = """\
rules:
  - id: zanzibar
    name: Zanzibar
    query: 'Zanzibar OR Zanzibarite'
  - id: nato
    query: 'NATO OR "Alleanza atlantica"'
  - id: tregua
    query: '"cessate il fuoco" OR ceasefire OR tregua'
"""


class Receiver:
    """A webhook receiver in a thread: when each marked article's first alert arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.posts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                title = json.loads(body).get("data", {}).get("article", {}).get("title", "")
                found = _MARKER.search(title)
                with receiver.lock:
                    receiver.posts += 1
                    if found:
                        receiver.arrivals.setdefault(found.group(0), arrived)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, markers: Sequence[str], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if all(m in self.arrivals for m in markers):
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(tmp: Path, hook: str, interval: float) -> Path:
    for name in ("inbox", "state", "rules"):
        (tmp / name).mkdir()
    (tmp / "rules" / "bench.yaml").write_text(RULES, encoding="utf-8")
    config = tmp / "monitor.yaml"
    config.write_text(
        f"database: sqlite:///{tmp / 'state' / 'monitor.db'}\n"
        f"state_dir: {tmp / 'state'}\n"
        f"rules: [{tmp / 'rules'}]\n"
        "rules_reload_interval: 0\n"
        "language_models: {it: blank, en: blank}\n"
        "default_language: it\n"
        f"sources:\n  folders:\n    - {{path: {tmp / 'inbox'}, interval: {interval}s}}\n"
        f"channels:\n  hook: {{type: webhook, url: '{hook}'}}\n"
        "delivery: {interval: 0.5s}\n",
        encoding="utf-8",
    )
    return config


class DaemonFailed(RuntimeError):
    """``monitor run`` exited or never said it had started."""


@contextlib.contextmanager
def daemon(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``monitor run`` until it logs that it started; SIGTERM and a wait on the way out, whatever happens."""
    script = Path(sys.executable).parent / "monitor"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [*command, "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=config.parent,
        )
    try:
        deadline = time.perf_counter() + 120
        while b"monitor started" not in log.read_bytes():
            if process.poll() is not None or time.perf_counter() > deadline:
                tail = log.read_text(errors="replace").splitlines()[-10:]
                raise DaemonFailed("the daemon did not start:\n      " + "\n      ".join(tail))
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(45)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def drop(inbox: Path, number: int, marker: str, prose: Prose, rng: random.Random) -> float:
    """Write an article under a hidden name and rename it into the folder; the landing time."""
    title = f"{prose.title(rng)} a Zanzibar ({marker})"
    text = f"{title}\n{' '.join(prose.text(rng, 40))}\n{' '.join(prose.text(rng, 300))} Zanzibar.\n"
    part = inbox / f".{marker}.txt.part"
    part.write_text(text, encoding="utf-8")
    os.rename(part, inbox / f"{number:05d}-{marker}.txt")
    return time.perf_counter()


@dataclass
class LatencyRun:
    landed: dict[str, float]  # marker → when its file was renamed into the folder
    startup_s: float
    warmed: bool
    stop_s: float
    exit_code: int | None
    log_tail: list[str]
    watched: int = 0  # batches the inotify watcher handed over
    scanned: int = 0  # batches the periodic scan found (the safety net)


def drop_files(args: argparse.Namespace, receiver: Receiver, tmp: Path) -> LatencyRun:
    prose = {"it": Prose("it"), "en": Prose("en")}
    rng = random.Random(17)
    inbox = tmp / "inbox"
    config = write_config(tmp, receiver.url, args.scan_interval)
    started = time.perf_counter()
    with daemon(config, tmp / "daemon.log") as process:
        startup = time.perf_counter() - started
        warm = [f"warmup{i:05d}" for i in range(3)]
        for i, marker in enumerate(warm):
            drop(inbox, i, marker, prose["it"], rng)
        warmed = receiver.wait_for(warm, 30)
        landed: dict[str, float] = {}
        begin = time.perf_counter()
        for k in range(args.latency_files):
            marker = f"bench{k:05d}"
            landed[marker] = drop(inbox, 100 + k, marker, prose["it" if k % 2 else "en"], rng)
            time.sleep(max(0.0, begin + (k + 1) * args.spacing - time.perf_counter()))
        receiver.wait_for(list(landed), 20 + min(args.scan_interval, 60.0) * 3)
        stopping = time.perf_counter()
    log = (tmp / "daemon.log").read_text(errors="replace").splitlines()
    watched = sum(1 for line in log if "(watched)" in line)
    scanned = sum(1 for line in log if "folder=" in line and " files=" in line and "(watched)" not in line)
    return LatencyRun(
        landed,
        startup,
        warmed,
        time.perf_counter() - stopping,
        process.returncode,
        log[-5:],
        watched,
        scanned,
    )


def latency_part(args: argparse.Namespace) -> None:
    n = args.latency_files
    print(
        f"\n3. Latency, file → alert: `monitor run` watching a folder"
        f" (scan interval {args.scan_interval:g} s, delivery interval 0.5 s, 3 rules;"
        " any file watching is the daemon's default),"
        f"\n   {n} files renamed in {args.spacing:g} s apart, alerts POSTed to a local webhook receiver"
    )
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-feeds-") as name:
            run = drop_files(args, receiver, Path(name))
    except DaemonFailed as exc:
        print(f"   skipped: {exc}")
        return
    finally:
        receiver.close()
    got = [receiver.arrivals[m] - t for m, t in run.landed.items() if m in receiver.arrivals]
    missing = n - len(got)
    print(
        f"   daemon up in {run.startup_s:.1f} s; warm-up files {'alerted' if run.warmed else 'NOT alerted'};"
        f" stopped on SIGTERM in {run.stop_s:.1f} s, exit code {run.exit_code};"
        f" batches read: {run.watched} from inotify events, {run.scanned} by the periodic scan"
    )
    if missing or run.exit_code:
        print("   daemon log, last lines:\n     " + "\n     ".join(run.log_tail))
    if not got:
        print(f"   no alert arrived ({missing} missing)")
        return
    median = statistics.median(got)
    print(
        f"   {len(got)}/{n} alerted ({receiver.posts} webhook POSTs in all), landing → receipt:"
        f" median {median * 1e3:.0f} ms, p95 {quantile(got, 0.95) * 1e3:.0f} ms,"
        f" min {min(got) * 1e3:.0f} ms, max {max(got) * 1e3:.0f} ms"
    )
    print(
        f"   target: median < {TARGET_MEDIAN_S:.0f} s {mark(median < TARGET_MEDIAN_S and not missing)}"
        + (f" ({missing} never alerted)" if missing else "")
    )


# -- main -----------------------------------------------------------------------------------------


def reread_part(args: argparse.Namespace) -> None:
    """Part 2: a feed polled again, unchanged, one entry new, or read in full (CPU of this thread)."""
    specs = layout(args.reread, min(args.hosts, args.reread))
    prose = {lang: Prose(lang) for lang in ("it", "en")}
    bodies = [
        (render_feed(spec, args.entries, prose[spec.lang]), f"https://feeds.example{spec.path}")
        for spec in specs
    ]
    known = []
    for data, url in bodies:
        uids = [a.uid for a in parse_feed(data, source=url, origin=url)]
        known.append(frozenset(uids[1:]))  # every entry but the newest one is already stored

    def read_all() -> int:
        return sum(len(parse_feed_entries(data, source=url, origin=url).articles) for data, url in bodies)

    def one_new() -> int:
        return sum(
            len(parse_feed_entries(data, source=url, origin=url, known=seen).articles)
            for (data, url), seen in zip(bodies, known, strict=True)
        )

    def unchanged() -> int:
        for data, _url in bodies:
            body_digest(data)  # the same digest as last time: nothing is parsed
        return 0

    ways = {"read in full (before)": read_all, "one new entry": one_new, "unchanged body": unchanged}
    print(f"\n2. re-reading {len(bodies)} feeds × {args.entries} entries, three runs, ms a feed (CPU):")
    for run in range(3):
        spent = dict.fromkeys(ways, 0.0)
        made = {}
        for name, way in ways.items():
            started = time.thread_time()
            made[name] = way()
            spent[name] += time.thread_time() - started
        full = spent["read in full (before)"]
        cells = "; ".join(
            f"{name} {seconds / len(bodies) * 1e3:.2f} ms ({made[name]} articles, {seconds / full:.1%})"
            for name, seconds in spent.items()
        )
        print(f"   run {run + 1}: {cells}; load {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 feeds and 50 files (a minute or two)")
    parser.add_argument("--feeds", type=int, help="feeds in the farm (default 1000, quick 200; 0 skips)")
    parser.add_argument("--entries", type=int, default=50, help="entries per feed")
    parser.add_argument("--hosts", type=int, default=50, help="virtual hosts (127.0.0.2, …)")
    parser.add_argument(
        "--sequential", type=int, help="feeds timed one by one, then extrapolated (default 100, quick 50)"
    )
    parser.add_argument("--max-concurrency", type=int, default=MAX_CONCURRENCY)
    parser.add_argument("--per-host", type=int, default=PER_HOST)
    parser.add_argument(
        "--keepalive",
        type=int,
        default=20,
        help="httpx max_keepalive_connections (httpx's and the daemon's: 20)",
    )
    parser.add_argument("--parse-threads", type=int, default=1, help="worker threads parsing (the daemon: 1)")
    parser.add_argument(
        "--parse-processes",
        type=int,
        help="parse in this many processes (default: as the daemon, sources.feed_parsers; 0: in threads)",
    )
    parser.add_argument("--reread", type=int, help="feeds for part 2 (default 40, quick 20; 0 skips)")
    parser.add_argument("--latency-files", type=int, help="files for part 3 (default 200, quick 50; 0 skips)")
    parser.add_argument("--spacing", type=float, default=0.25, help="seconds between two files")
    parser.add_argument(
        "--scan-interval",
        type=float,
        default=300.0,
        help="the folder's scan interval (default 300 s: the latency measured is the watcher's)",
    )
    parser.add_argument("--cpu", type=int, help="pin the client to this CPU (default: the last one allowed)")
    parser.add_argument("--profile", action="store_true", help="cProfile the event loop and parse_feed")
    args = parser.parse_args()
    if args.feeds is None:
        args.feeds = 200 if args.quick else 1000
    if args.reread is None:
        args.reread = 20 if args.quick else 40
    if args.latency_files is None:
        args.latency_files = 50 if args.quick else 200
    if args.sequential is None:
        args.sequential = 50 if args.quick else 100
    if args.parse_processes is None:
        args.parse_processes = parse_processes_for(None, args.feeds)
    allowed = args.allowed = os.sched_getaffinity(0)
    args.cpu = max(allowed) if args.cpu is None else args.cpu
    others = sorted(allowed - {args.cpu})
    args.server_cpu = others[0] if others else None
    wall = time.perf_counter()
    print(
        f"bench_feeds{' --quick' if args.quick else ''}: client pinned to CPU {args.cpu}, feed farm on CPU"
        f" {args.server_cpu} ({os.cpu_count()} on this machine), load average {os.getloadavg()[0]:.2f},"
        f" Python {sys.version.split()[0]}, httpx {httpx.__version__}"
    )
    if args.feeds:
        os.sched_setaffinity(0, {args.cpu})
        asyncio.run(feeds_part(args))
        os.sched_setaffinity(0, allowed)
    if args.reread:
        reread_part(args)
    if args.latency_files:
        latency_part(args)
    print(
        f"\nwall time {time.perf_counter() - wall:.0f} s; load average now {os.getloadavg()[0]:.2f}"
        f" (figures from one run of generated data on this machine; nothing is asserted)"
    )


if __name__ == "__main__":
    main()
