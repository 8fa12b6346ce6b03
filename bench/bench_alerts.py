"""Delivering a backlog of alerts: deliveries/s against a bare httpx loop, and where our time goes.

    python bench/bench_alerts.py [--quick] [--alerts N] [--channels N] [--runs N] [--profile]
                                 [--no-pin] [--record-batch N] [--record-wait S]

A fresh SQLite store (``open_store`` on settings read by ``load_settings``) gets
N hits recorded with ``Store.record`` in batches, each routed to a ``webhook``
channel whose URL is a local receiver.  Then ``Pipeline.deliver_due`` runs in a
loop, as the daemon's ``deliver`` does (one worker thread for the database, one
``httpx.AsyncClient`` as the daemon's, the notifiers from ``build_notifiers``,
logging at INFO as ``monitor run`` logs), until the outbox has nothing due.

The receiver is a minimal asyncio HTTP/1.1 server (keep-alive, answers 200 at
once) in a process of its own, pinned to the last CPU while this one keeps the
others, so its CPU never counts as ours.  It counts requests and distinct
``webhook-id`` keys, so "exactly once" is checked too.

The baseline, in the same process and in alternating turns with ours (``--runs``
of each, 3 by default): the bare loop, ``httpx.AsyncClient.post`` of a body of
the same size to the same receiver, one sequential loop per channel (the same
concurrency as ours: a channel's alerts go in order), N requests in all.  What
ours costs beyond it is our own overhead: outbox, rendering, signing headers,
recording, logging.

Printed per run: deliveries/s and baseline requests/s, with the CPU of the
event-loop thread per alert for both; then, for the last run of ours,
deliveries/s; wall time split into CPU of this process (the event-loop
thread: pipeline, rendering, httpx; the worker thread: SQLite) and the rest,
time spent waiting (on the receiver, the loopback, the scheduler); the
receiver's own CPU; optionally (``--profile``) where the CPU went.  No targets:
the figures describe this machine, they are not a promise.  This is a
benchmark, not a test: pytest never collects it.  Webhook channels have no
pacing (Slack's would cap a channel at one message a second).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import functools
import io
import json
import logging
import os
import platform
import pstats
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from monitor.config import HttpSettings, Settings, load_settings  # noqa: E402
from monitor.models import Alert, Match, TermHit, make_article  # noqa: E402
from monitor.notify.base import Notifier, build_notifiers  # noqa: E402
from monitor.notify.render import render_webhook  # noqa: E402
from monitor.notify.webhook import encode_body  # noqa: E402
from monitor.pipeline.ingest import Pipeline  # noqa: E402
from monitor.service.wiring import build_pipeline  # noqa: E402
from monitor.store.repo import Routed, Store  # noqa: E402

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger("bench_alerts")
RECORD_BATCH = 500  # hits recorded per transaction while building the backlog
QUICK_ALERTS = 2000
RULE = Match(
    rule_id="cessate-il-fuoco",
    rule_name="Cessate il fuoco",
    terms=(
        TermHit("cessate il fuoco", "cessate il fuoco", "title", 0, 16),
        TermHit("tregua", "tregua", "body", 120, 126),
    ),
    snippet="… le parti hanno firmato una tregua; il cessate il fuoco inizia domani all'alba …",
    tags=("esteri",),
)


# -- the receiver (its own process) ---------------------------------------------------------------


@dataclass
class SinkStats:
    requests: int = 0
    keys: set[str] = field(default_factory=set)
    body_bytes: int = 0
    baseline: int = 0  # requests of the bare httpx loop, counted apart


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: SinkStats) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            length = int(headers.get("content-length", "0"))
            body = await reader.readexactly(length) if length else b""
            if lines[0].split(" ")[1] == "/_stats":
                cpu = resource.getrusage(resource.RUSAGE_SELF)
                answer = json.dumps(
                    {
                        "requests": stats.requests,
                        "keys": len(stats.keys),
                        "body_bytes": stats.body_bytes,
                        "cpu": cpu.ru_utime + cpu.ru_stime,
                        "baseline": stats.baseline,
                    }
                ).encode()
            elif lines[0].split(" ")[1] == "/_reset":
                stats.requests, stats.body_bytes, stats.baseline = 0, 0, 0
                stats.keys.clear()
                answer = b"reset"
            elif lines[0].split(" ")[1].startswith("/_baseline"):
                stats.baseline += 1
                answer = b"accepted"
            else:
                stats.requests += 1
                stats.body_bytes += len(body)
                stats.keys.add(headers.get("webhook-id", ""))
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


async def _serve(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    stats = SinkStats()
    server = await asyncio.start_server(functools.partial(_handle, stats=stats), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    async with server:
        await server.serve_forever()


class Receiver:
    """The receiver process: its URL base and its counters."""

    def __init__(self, cpu: int | None) -> None:
        command = [sys.executable, __file__, "--serve"] + (
            ["--serve-cpu", str(cpu)] if cpu is not None else []
        )
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        try:
            self.base = f"http://127.0.0.1:{json.loads(line)['port']}"
        except (ValueError, KeyError):
            self.close()
            raise RuntimeError(f"the receiver did not start (exit code {self.process.returncode})") from None

    def stats(self) -> dict[str, Any]:
        with httpx.Client(trust_env=False) as client:
            answer: dict[str, Any] = client.get(self.base + "/_stats").json()
            return answer

    def reset(self) -> None:
        """Counters back to zero (CPU excepted): each run checks its own "exactly once"."""
        with httpx.Client(trust_env=False) as client:
            client.get(self.base + "/_reset").raise_for_status()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- measuring our side ---------------------------------------------------------------------------


@dataclass
class Clocks:
    """Where this process's time went during delivery, in seconds."""

    send_wall: float = 0.0  # inside notifier.send: rendering + httpx + waiting for the answer
    db_wall: float = 0.0  # the event loop awaiting the worker thread
    db_cpu: float = 0.0  # CPU of the worker thread while it ran our calls
    worker_profile: cProfile.Profile | None = None
    calls: collections.Counter[str] = field(default_factory=collections.Counter)  # by function


class TimedNotifier:
    """A notifier wrapped to time its sends; the wrapper's own cost is two clock reads."""

    def __init__(self, inner: Notifier, clocks: Clocks) -> None:
        self.name = inner.name
        self._inner = inner
        self._clocks = clocks

    async def send(self, alert: Alert) -> None:
        started = time.perf_counter()
        try:
            await self._inner.send(alert)
        finally:
            self._clocks.send_wall += time.perf_counter() - started


def make_runner(worker: ThreadPoolExecutor, clocks: Clocks) -> Callable[..., Any]:
    """The daemon's ``run_blocking`` (one worker thread), timing each call on both sides."""

    def timed(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        profile = clocks.worker_profile
        cpu = time.thread_time()
        if profile is not None:
            profile.enable()
        try:
            return fn(*args, **kwargs)
        finally:
            if profile is not None:
                profile.disable()
            clocks.db_cpu += time.thread_time() - cpu

    async def run_blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        clocks.calls[getattr(fn, "__name__", "?")] += 1
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(worker, functools.partial(timed, fn, *args, **kwargs))
        finally:
            clocks.db_wall += time.perf_counter() - started

    return run_blocking


# -- setting up -----------------------------------------------------------------------------------


def write_config(tmp: Path, receiver: str, channels: int, delivery: str = "") -> Path:
    rules = tmp / "rules"
    rules.mkdir()
    (rules / "bench.yaml").write_text(
        "rules:\n  - id: cessate-il-fuoco\n    name: Cessate il fuoco\n"
        "    query: '\"cessate il fuoco\" OR tregua'\n",
        encoding="utf-8",
    )
    hooks = "".join(f'  hook{i}: {{type: webhook, url: "{receiver}/hooks/{i}"}}\n' for i in range(channels))
    config = tmp / "monitor.yaml"
    config.write_text(
        f"database: sqlite:///{tmp / 'bench.db'}\n"
        f"state_dir: {tmp}\n"
        "rules: [rules]\n"
        "sources: {folders: [], feeds: []}\n"
        f"channels:\n{hooks}" + (f"delivery: {{{delivery}}}\n" if delivery else "") + "log_level: INFO\n",
        encoding="utf-8",
    )
    return config


def record_backlog(store: Store, settings: Settings, count: int) -> float:
    """``count`` hits, one per article, spread over the channels in turn; returns seconds taken."""
    names = list(settings.channels)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for first in range(0, count, RECORD_BATCH):
        routed = []
        for i in range(first, min(first + RECORD_BATCH, count)):
            article = make_article(
                title=f"Cessate il fuoco a Gaza, giorno {i}: le parti firmano la tregua",
                summary="Accordo raggiunto nella notte dopo settimane di negoziato.",
                body=f"Articolo {i}. Le parti hanno firmato una tregua; il cessate il fuoco inizia domani.",
                url=f"https://news.example.org/esteri/{i}",
                published=now,
                language="it",
                source="Esteri",
                origin="bench",
            )
            routed.append(Routed(article, [(RULE, [names[i % len(names)]])]))
        store.record(routed, [], now)
    return time.perf_counter() - started


@contextlib.contextmanager
def logging_to(path: Path) -> Iterator[None]:
    """INFO logging as ``monitor run`` sets it up, into a file: formatting and writing are our cost."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved = root.level, root.handlers[:]
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(saved[0])
        root.handlers = saved[1]
        handler.close()


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float = 0.0
    rounds: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    process_cpu: float = 0.0
    loop_cpu: float = 0.0
    clocks: Clocks = field(default_factory=Clocks)
    loop_profile: cProfile.Profile | None = None


async def deliver_all(pipeline: Pipeline, settings: Settings, profile: bool) -> Run:
    run = Run()
    clocks = run.clocks
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-worker")
    run_blocking = make_runner(worker, clocks)
    http = settings.http
    async with httpx.AsyncClient(
        headers={"User-Agent": http.agent}, timeout=http.timeout, trust_env=False
    ) as client:
        notifiers: dict[str, Notifier] = {
            name: TimedNotifier(n, clocks) for name, n in build_notifiers(settings.channels, client).items()
        }
        if profile:
            run.loop_profile = cProfile.Profile(time.thread_time)
            clocks.worker_profile = cProfile.Profile(time.thread_time)
            run.loop_profile.enable()
        cpu, loop_cpu, started = time.process_time(), time.thread_time(), time.perf_counter()
        while True:
            report = await pipeline.deliver_due(notifiers, run_blocking)
            run.rounds += 1
            run.sent += report.sent
            run.retried += report.retried
            run.dead += report.dead
            if not report.sent + report.retried + report.dead:
                break
        run.seconds = time.perf_counter() - started
        run.loop_cpu = time.thread_time() - loop_cpu
        run.process_cpu = time.process_time() - cpu
        if run.loop_profile is not None:
            run.loop_profile.disable()
    worker.shutdown(wait=True)
    return run


def share(part: float, whole: float) -> str:
    return f"{part:6.2f} s {part / whole:4.0%}"


def print_run(
    run: Run, receiver: dict[str, Any], receiver_cpu_start: float, alerts: int, channels: int
) -> None:
    wall = run.seconds
    c = run.clocks
    waiting = max(wall - run.process_cpu, 0.0)
    per = 1e3 / max(run.sent, 1)
    print(
        f"\n  delivered: {run.sent:,} sent, {run.retried:,} retried, {run.dead:,} dead"
        f" in {wall:.2f} s over {run.rounds} rounds of deliver_due"
    )
    print(f"  → {run.sent / wall:,.0f} deliveries/s ({wall * per:.2f} ms each)")
    other = max(run.process_cpu - run.loop_cpu - c.db_cpu, 0.0)
    rest = max(wall - c.send_wall - c.db_wall, 0.0)
    overlap = "; summed over channels sending in parallel" if channels > 1 else ""
    rows = [
        ("where the wall time went (this process):", None, ""),
        ("  our code: CPU of this process", run.process_cpu, f"{run.process_cpu * per:.3f} ms/alert"),
        ("    event-loop thread", run.loop_cpu, "pipeline, rendering, httpx, logging"),
        ("    database worker thread", c.db_cpu, "SQLite: claims, outcomes in groups"),
        ("    other threads, unaccounted", other, ""),
        ("  waiting, not on our CPU", waiting, f"{waiting * per:.3f} ms/alert"),
        (f"by step (wall time, across the split above{overlap}):", None, ""),
        ("  inside notifier.send", c.send_wall, "render + HTTP round trip"),
        ("  awaiting the database worker", c.db_wall, ""),
        ("  the rest of the loop", rest, ""),
    ]
    for label, seconds, note in rows:
        if seconds is None:
            print(f"\n  {label}")
        else:
            print(f"    {label:<32}{share(seconds, wall)}" + (f"  ({note})" if note else ""))
    receiver_cpu = receiver["cpu"] - receiver_cpu_start
    exact = "✓" if receiver["requests"] == receiver["keys"] == alerts == run.sent else "✗"
    print(
        f"\n  receiver (its own process): {receiver['requests']:,} requests, {receiver['keys']:,} distinct"
        f" webhook-id keys {exact} exactly once; {receiver['body_bytes'] / max(receiver['requests'], 1):,.0f}"
        f" bytes a body; CPU {receiver_cpu:.2f} s ({receiver_cpu / wall:.0%} of the wall time)"
    )
    calls = ", ".join(f"{name} {count:,}" for name, count in c.calls.most_common())
    commits = c.calls.get("record_outcomes", 0) or c.calls.get("_record", 0)
    print(f"  calls on the database thread: {calls}; {run.sent / max(commits, 1):.1f} alerts a commit")


def owner(filename: str, function: str) -> str:
    """Who a profiled function belongs to: our package, a library, the stdlib, or the poller."""
    if filename == "~" and ("epoll" in function or "select." in function):
        return "waiting in epoll (idle)"
    if filename == "~":
        return "builtins (C)"
    if filename.startswith("<"):
        return "generated code (sqlalchemy, dataclasses)"
    path = Path(filename)
    if ROOT / "monitor" in path.parents:
        return "monitor (ours)"
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    return f"stdlib {path.parent.name if path.name == '__init__.py' else path.stem}".replace(
        "stdlib python3.", "stdlib "
    )


def by_owner(profile: cProfile.Profile, builtins: bool = False) -> dict[str, float]:
    """Own time per owner (our package, each library, the stdlib module, C builtins, idle);
    ``builtins``: each C builtin apart."""
    raw: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    owners: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        key = owner(filename, function)
        if builtins and key == "builtins (C)":
            key = function.removeprefix("<built-in method ").removeprefix("<method ").rstrip(">")[:31]
        owners[key] = owners.get(key, 0.0) + tottime
    return owners


def print_profiles(run: Run, bare: Baseline | None = None) -> None:
    print(
        "\n  profiles (CPU time of each thread, not wall time; cProfile slows everything down:"
        " the figures above are inflated by it)"
    )
    for title, profile in (
        ("event-loop thread", run.loop_profile),
        ("database worker thread", run.clocks.worker_profile),
    ):
        if profile is None:
            continue
        owners = by_owner(profile)
        total = sum(owners.values())
        print(f"\n  {title}: own time by owner ({total:.2f} s profiled)")
        for key, seconds in sorted(owners.items(), key=lambda kv: -kv[1])[:12]:
            print(f"    {key:<32}{seconds:6.2f} s {seconds / total:4.0%}")
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(r"monitor/", 8)
        lines = [line for line in out.getvalue().splitlines() if "/monitor/" in line]
        if lines:
            print("    our functions, by own time (ncalls tottime percall cumtime percall):")
            print("\n".join("    " + line.strip() for line in lines))
    if bare is None or bare.loop_profile is None or run.loop_profile is None:
        return
    mine, theirs = by_owner(run.loop_profile, True), by_owner(bare.loop_profile, True)
    print(
        "\n  event-loop thread, ours against the bare loop: own time by owner (C builtins each apart),"
        " profiled ms an alert"
    )
    print(f"    {'owner':<32}{'ours':>8}{'bare':>8}{'more':>8}")
    rows = sorted(
        (
            (key, 1e3 * mine.get(key, 0.0) / run.sent, 1e3 * theirs.get(key, 0.0) / bare.sent)
            for key in {*mine, *theirs}
        ),
        key=lambda row: -(row[1] - row[2]),
    )
    for key, ours_ms, bare_ms in [row for row in rows if abs(row[1] - row[2]) >= 0.01]:
        print(f"    {key:<32}{ours_ms:8.3f}{bare_ms:8.3f}{ours_ms - bare_ms:+8.3f}")
    busy = [
        (sum(v for k, v in o.items() if not k.startswith("waiting")), n)
        for o, n in ((mine, run.sent), (theirs, bare.sent))
    ]
    print(
        f"    {'all but epoll':<32}{1e3 * busy[0][0] / busy[0][1]:8.3f}{1e3 * busy[1][0] / busy[1][1]:8.3f}"
    )


def header(args: argparse.Namespace, ours: set[int] | None, theirs: int | None) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    where = f"this process on CPU(s) {sorted(ours)}, receiver on CPU {theirs}" if ours else "not pinned"
    channels = f"{args.channels} webhook channel{'s' if args.channels > 1 else ''}"
    print(f"bench_alerts: {args.alerts:,} alerts queued to {channels} on a local receiver")
    print(
        f"  machine: {os.cpu_count()} CPUs, load {load}; Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, httpx {httpx.__version__}; {where}"
    )


def pinning(enabled: bool) -> tuple[set[int] | None, int | None]:
    """Receiver on the last allowed CPU, us on the others, when there are at least two."""
    allowed = sorted(os.sched_getaffinity(0))
    if not enabled or len(allowed) < 2:
        return None, None
    return set(allowed[:-1]), allowed[-1]


def sample_body() -> bytes:
    """A body as ours sends (the documented webhook JSON of an alert like the backlog's)."""
    now = datetime.now(UTC)
    alert = Alert(
        key="0" * 32,
        channel="hook0",
        rule_id=RULE.rule_id,
        rule_name=RULE.rule_name,
        title="Cessate il fuoco a Gaza, giorno 1000: le parti firmano la tregua",
        url="https://news.example.org/esteri/1000",
        source="Esteri",
        published=now,
        language="it",
        terms=("cessate il fuoco", "tregua"),
        snippet=RULE.snippet,
        matched_at=now,
        rule_tags=RULE.tags,
    )
    return encode_body(render_webhook(alert))


@dataclass
class Baseline:
    seconds: float = 0.0
    sent: int = 0
    loop_cpu: float = 0.0
    loop_profile: cProfile.Profile | None = None


async def baseline_all(
    http: HttpSettings, base: str, alerts: int, channels: int, body: bytes, profile: bool = False
) -> Baseline:
    """The bare loop: one sequential ``post`` loop per channel, ``alerts`` requests in all."""
    result = Baseline(loop_profile=cProfile.Profile(time.thread_time) if profile else None)
    async with httpx.AsyncClient(
        headers={"User-Agent": http.agent}, timeout=http.timeout, trust_env=False
    ) as client:

        async def loop(channel: int, count: int) -> None:
            url = f"{base}/_baseline/{channel}"
            for i in range(count):
                headers = {"Content-Type": "application/json", "webhook-id": f"{channel}-{i}"}
                response = await client.post(url, content=body, headers=headers)
                response.raise_for_status()
                result.sent += 1

        shares = [alerts // channels + (1 if i < alerts % channels else 0) for i in range(channels)]
        if result.loop_profile is not None:
            result.loop_profile.enable()
        loop_cpu, started = time.thread_time(), time.perf_counter()
        await asyncio.gather(*(loop(i, n) for i, n in enumerate(shares)))
        result.seconds = time.perf_counter() - started
        result.loop_cpu = time.thread_time() - loop_cpu
        if result.loop_profile is not None:
            result.loop_profile.disable()
    return result


@dataclass
class Ours:
    run: Run
    receiver: dict[str, Any]
    receiver_cpu: float
    counts: dict[str, int]
    log_lines: int


async def ours_once(args: argparse.Namespace, receiver: Receiver, profile: bool) -> Ours:
    """A fresh store with the backlog, delivered by ``Pipeline.deliver_due`` until nothing is due."""
    delivery = ", ".join(
        f"{key}: {value}"
        for key, value in (("record_batch", args.record_batch), ("record_wait", args.record_wait))
        if value is not None
    )
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        config = write_config(Path(tmp), receiver.base, args.channels, delivery)
        settings = load_settings(str(config), env={})
        with logging_to(Path(tmp) / "monitor.log"):
            pipeline = build_pipeline(settings)
            recorded = record_backlog(pipeline.store, settings, args.alerts)
            pending = sum(pipeline.store.pending_by_channel().values())
            if pending != args.alerts:
                raise RuntimeError(f"{pending} alerts pending, {args.alerts} expected")
            log.debug("backlog recorded in %.2f s", recorded)
            receiver.reset()
            receiver_cpu = float(receiver.stats()["cpu"])
            run = await deliver_all(pipeline, settings, profile)
            counts = pipeline.store.delivery_counts()
            log_lines = sum(1 for _ in (Path(tmp) / "monitor.log").open(encoding="utf-8"))
        pipeline.store.engine.dispose()
    return Ours(run, receiver.stats(), receiver_cpu, counts, log_lines)


async def main(args: argparse.Namespace) -> None:
    ours, theirs = pinning(not args.no_pin)
    header(args, ours, theirs)
    receiver = Receiver(theirs)
    try:
        if ours:
            os.sched_setaffinity(0, ours)
        http = HttpSettings()
        body = sample_body()
        results: list[tuple[Ours, Baseline]] = []
        for turn in range(args.runs):
            profile = args.profile and turn == args.runs - 1
            if turn % 2:  # alternating turns: neither side always runs on a warmer machine
                bare = await baseline_all(http, receiver.base, args.alerts, args.channels, body, profile)
                mine = await ours_once(args, receiver, profile)
            else:
                mine = await ours_once(args, receiver, profile)
                bare = await baseline_all(http, receiver.base, args.alerts, args.channels, body, profile)
            results.append((mine, bare))
            print_turn(turn, mine, bare, args.alerts)
        mine = results[-1][0]
        print(f"\n  the last run of ours in detail{' (profiled)' if args.profile else ''}:")
        print_run(mine.run, mine.receiver, mine.receiver_cpu, args.alerts, args.channels)
        print(f"  outbox afterwards: {mine.counts}; {mine.log_lines:,} log lines written")
        if args.profile:
            print_profiles(mine.run, results[-1][1])
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\n  load average at the end: {load}")
    finally:
        receiver.close()


def print_turn(turn: int, mine: Ours, bare: Baseline, alerts: int) -> None:
    run = mine.run
    exact = mine.receiver["requests"] == mine.receiver["keys"] == alerts == run.sent
    ours_rate, bare_rate = run.sent / run.seconds, bare.sent / bare.seconds
    overhead = 1e3 / ours_rate - 1e3 / bare_rate
    loop_ms, db_ms, bare_ms = (
        1e3 * x for x in (run.loop_cpu / run.sent, run.clocks.db_cpu / run.sent, bare.loop_cpu / bare.sent)
    )
    print(
        f"  run {turn + 1}: ours {ours_rate:,.0f} alerts/s (event loop {loop_ms:.2f} ms,"
        f" database thread {db_ms:.2f} ms an alert; {'exactly once' if exact else 'NOT exactly once'})"
        f" | bare httpx {bare_rate:,.0f} requests/s (event loop {bare_ms:.2f} ms)"
        f" | ours costs {overhead:+.2f} ms an alert more"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts to queue and deliver (10,000)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ALERTS:,} alerts")
    parser.add_argument("--channels", type=int, default=1, help="webhook channels, delivered in parallel (1)")
    parser.add_argument("--runs", type=int, default=3, help="turns of ours and the baseline (3)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile of both threads, in the last run of ours"
    )
    parser.add_argument("--record-batch", type=int, default=None, help="delivery.record_batch (default)")
    parser.add_argument("--record-wait", default=None, help="delivery.record_wait, e.g. 5ms (default)")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the receiver and us to separate CPUs"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.alerts = QUICK_ALERTS
    if args.alerts < 1 or args.channels < 1 or args.runs < 1:
        parser.error("--alerts, --channels and --runs must be at least 1")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        asyncio.run(_serve(arguments.serve_cpu))
    else:
        asyncio.run(main(arguments))
