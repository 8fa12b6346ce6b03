"""Bloomberg's load on one machine: the real daemon polling a live feed farm for minutes.

    python bench/bench_load.py [--feeds 75000] [--stories-per-minute 625] [--rules 350000]
        [--minutes 10] [--drain-minutes M] [--database URL] [--max-concurrency 50] [--workdir DIR]

``monitor run`` (a subprocess, on a generated monitor.yaml, SQLite by default) polls
``--feeds`` feeds every ``--interval`` (10 minutes: 125 polls a second at 75,000 feeds)
from a live farm on 127.0.x.y (bench/loadfarm.py over bench/feedfarm.py: a process of
its own), matches ``--rules`` rules generated as bench/corpus.py generates them, and
posts its alerts to a local webhook receiver (another process).  The database starts as
a daemon that had polled every feed once would leave it (each feed's ETag stored), so
the polls are conditional and most answer ``304``.  From the moment the daemon says it
has started, ``--stories-per-minute`` stories (corpus.py's articles: ~700 words, each
planting the words of three rules) are published for ``--minutes``, evenly spaced, each
into a feed of its language drawn at random; the farm changes that feed's ETag.  Then
nothing more is published for ``--drain-minutes`` (by default one interval and its
jitter, plus a minute), so that every story's feed is polled once more and every
latency is counted; the daemon's figures are those of the ``--minutes`` window, and of
the drain apart.

Printed: a line a minute (polls, stories, alerts, the daemon's CPU and memory, the load
average); then the daemon's CPU share from /proc/<pid>/stat (its process, every thread,
and its parser processes) and its peak and average RSS; polls done against polls due, how
long the first round took, feeds polled late; stories published, fetched, ingested and
alerted; the latency from publication to the receiver (and its two parts: waiting for
the feed's next poll, and the daemon's own work from the farm's answer to the alert);
errors (the farm's, the receiver's, the daemon's log by level, the outbox, the feeds'
error streaks); the CPU of the farm, the receiver (and PostgreSQL's processes, with
``--database``) apart; and from all this how many replicas the load needs.

The farm and the receiver run at a lower priority (``--nice``), so they never take a
core the daemon wants; the farm reports how late its own loop woke, which says whether
it was starved instead.  Generated data on a shared machine: the figures describe this
machine at this load, they are not a promise.  Nothing is asserted; pytest never
collects this.  At full scale: about 15 minutes of set-up (generating and loading
350,000 rules), then the minutes and the drain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from feedfarm import LAST_MODIFIED, host_address  # noqa: E402
from loadfarm import STORY_LINK, live_specs  # noqa: E402
from loadreport import DaemonRun, Outcome, Run, load, log_summary, minute_line, report  # noqa: E402
from procstat import Sampler, read_proc, thread_cpu  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from monitor.store.engine import make_engine, prepare_schema  # noqa: E402
from monitor.store.tables import FeedRow  # noqa: E402
from monitor.yamlfile import MAX_YAML_BYTES  # noqa: E402

LOADFARM = Path(__file__).resolve().parent / "loadfarm.py"
DEFAULT_INTERVAL = 600.0  # the daemon's default, left out of monitor.yaml: 75,000 feeds must fit in 4 MiB
RULES_PER_FILE = 10_000  # a rule file stays far below the 4 MiB a YAML file may hold


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "unknown") + (
        " (with changes)" if git("status", "-s") else ""
    )


# -- generating the rules and the stories (a process of its own: 350,000 rules take a GB) ---------


def generate(out: Path, rules: int, stories: int) -> None:
    """Rule files and the stories' JSON lines, from bench/corpus.py's seeded generators."""
    from corpus import ArticleGenerator, RuleGenerator, common_vocabularies

    started = time.perf_counter()
    common = common_vocabularies()
    generator = RuleGenerator(common)
    stream = generator.rules(rules)
    folder = out / "rules"
    folder.mkdir()
    for first in range(0, rules, RULES_PER_FILE):
        lines = ["rules:"]
        for i in range(first, min(rules, first + RULES_PER_FILE)):
            rule = stream[i]
            lines += [f"  - id: r{i}", "    query: '" + rule.query.replace("'", "''") + "'"]
            if rule.languages:
                lines.append(f"    languages: [{', '.join(rule.languages)}]")
        (folder / f"bench-{first // RULES_PER_FILE:03d}.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    rules_s = time.perf_counter() - started
    articles = ArticleGenerator(common, stream, generator.bank)
    with (out / "stories.jsonl").open("w", encoding="utf-8") as lines_out:
        for i in range(stories):
            article = articles.article(i)
            story = {
                "title": article.title,
                "paragraphs": article.body.split("\n\n"),
                "lang": article.language,
            }
            lines_out.write(json.dumps(story, ensure_ascii=False) + "\n")
    print(json.dumps({"rules_s": rules_s, "stories_s": time.perf_counter() - started - rules_s}), flush=True)


def run_generate(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--generate-into", str(tmp), "--rules", str(args.rules)]
    command += ["--stories", str(args.stories)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, preexec_fn=niced(args.nice))
    if done.returncode:
        raise SystemExit(f"generating the rules and stories failed:\n{done.stderr[-2000:]}")
    answer: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return answer


def niced(increment: int) -> Any:
    return lambda: os.nice(increment)


# -- the peers --------------------------------------------------------------------------------------


class Peer:
    """A loadfarm.py process (farm or receiver): its first line of output, its control URL."""

    def __init__(self, role: list[str], nice: int) -> None:
        command = [sys.executable, str(LOADFARM), *role]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=niced(nice))
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        try:
            self.ready: dict[str, Any] = json.loads(line)
        except ValueError:
            self.close()
            raise SystemExit(
                f"loadfarm.py {role[0]} did not start (exit code {self.process.returncode})"
            ) from None
        port = self.ready.get("control") or self.ready.get("port")
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, timeout: float = 60.0) -> dict[str, Any]:
        with httpx.Client(trust_env=False, timeout=timeout) as client:
            answer: dict[str, Any] = client.get(self.base + path).json()
            return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def peers(args: argparse.Namespace, tmp: Path) -> Iterator[tuple[Peer, Peer]]:
    farm = Peer(
        [
            "farm",
            "--feeds",
            str(args.feeds),
            "--hosts",
            str(args.hosts),
            "--stories",
            str(tmp / "stories.jsonl"),
            "--per-minute",
            str(args.stories_per_minute),
            "--entries",
            str(args.entries),
            "--latency",
            *(str(x) for x in args.latency),
            "--seed",
            str(args.seed),
        ],
        args.nice,
    )
    try:
        receiver = Peer(["receiver"], args.nice)
        try:
            yield farm, receiver
        finally:
            receiver.close()
    finally:
        farm.close()


# -- the configuration and the database ---------------------------------------------------------------


def feed_urls(args: argparse.Namespace, farm: Peer) -> list[str]:
    ports = farm.ready["ports"]
    return [
        f"http://{host_address(s.host)}:{ports[str(s.host)]}{s.path}"
        for s in live_specs(args.feeds, args.hosts, args.seed)
    ]


def write_config(args: argparse.Namespace, tmp: Path, urls: list[str], hook: str) -> Path:
    """monitor.yaml: every feed on a line of its own; refused here if the daemon would refuse it."""
    every = "" if args.interval == DEFAULT_INTERVAL else f", interval: {args.interval:g}"
    feeds = "".join(f"    - {{url: {url}{every}}}\n" for url in urls)
    config = tmp / "monitor.yaml"
    config.write_text(
        f"database: {args.database_url}\n"
        f"state_dir: {tmp / 'state'}\n"
        f"rules: [{tmp / 'rules'}]\n"
        "language_models: {it: blank, en: blank}\n"
        "default_language: it\n"
        f"http: {{max_concurrency: {args.max_concurrency}, per_host: {args.per_host}}}\n"
        f"channels:\n  hook: {{type: webhook, url: '{hook}'}}\n"
        f"sources:\n  folders: []\n  feeds:\n{feeds}",
        encoding="utf-8",
    )
    size = config.stat().st_size
    if size > MAX_YAML_BYTES:
        raise SystemExit(
            f"monitor.yaml would be {size:,} bytes for {len(urls):,} feeds: past the {MAX_YAML_BYTES:,} bytes"
            " the daemon reads (fewer --feeds, or fewer --hosts for shorter URLs)"
        )
    return config


def seed_database(url: str, urls: list[str], interval: float) -> float:
    """Each feed's state as after one poll: its ETag stored, so the daemon's first poll is conditional."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as db:
                db.execute(text("DROP SCHEMA public CASCADE"))
                db.execute(text("CREATE SCHEMA public"))
        prepare_schema(engine)
        then = datetime.now(UTC) - timedelta(seconds=interval)
        rows = [
            {
                "url": u,
                "etag": f'"f{n}-v0"',
                "last_modified": LAST_MODIFIED,
                "last_fetch_at": then,
                "last_status": 304,
                "error_streak": 0,
                "entries_seen": 0,
                "last_new": 0,
            }
            for n, u in enumerate(urls)
        ]
        with engine.begin() as db:
            for first in range(0, len(rows), 5000):
                db.execute(insert(FeedRow.__table__), rows[first : first + 5000])  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    return time.perf_counter() - started


def read_outcome(url: str) -> Outcome:
    out = Outcome()
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            for (link,) in db.execute(text("SELECT url FROM articles")):
                out.articles += 1
                found = STORY_LINK.search(link or "")
                if found:
                    out.ingested.add(int(found.group(1)))
            out.hits = db.execute(text("SELECT count(*) FROM hits")).scalar_one()
            rows = db.execute(text("SELECT status, count(*) FROM deliveries GROUP BY status"))
            out.deliveries = {status: count for status, count in rows}
            failing = db.execute(text("SELECT last_error FROM feeds WHERE error_streak > 0")).scalars().all()
            out.failing_feeds = len(failing)
            out.feed_errors = [e for e, _ in Counter(failing).most_common(3) if e]
    finally:
        engine.dispose()
    return out


# -- the daemon ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def daemon(config: Path, log: Path, timeout: float) -> Iterator[DaemonRun]:
    """``monitor run`` on this checkout until it logs that it started; SIGTERM and a wait on the way out."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=config.parent,
            env=env,
        )
    try:
        while b"monitor started" not in log.read_bytes():
            if process.poll() is not None or time.perf_counter() - started > timeout:
                tail = log.read_text(errors="replace").splitlines()[-10:]
                raise SystemExit("the daemon did not start:\n      " + "\n      ".join(tail))
            time.sleep(0.2)
        proc = read_proc(f"/proc/{process.pid}/stat")
        yield DaemonRun(process, log, time.perf_counter() - started, proc.rss if proc else 0)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- the run ------------------------------------------------------------------------------------------


def drive(args: argparse.Namespace, config: Path, tmp: Path, farm: Peer, receiver: Peer) -> Run:
    run = Run()
    log = tmp / "daemon.log"
    print(f"  starting monitor run ({args.rules:,} rules, {args.feeds:,} feeds)…", flush=True)
    with daemon(config, log, args.start_timeout) as proc:
        print(
            f"  daemon up in {proc.startup_s:.0f} s, RSS {proc.start_rss / 2**20:,.0f} MB; load {load()}",
            flush=True,
        )
        pid = run.pid = proc.process.pid
        run.startup_s, run.start_rss = proc.startup_s, proc.start_rss
        sampler = Sampler(pid, farm.process.pid, receiver.process.pid, args.database is not None)
        sampler.start()
        run.t0 = time.time()
        farm.get(f"/_start?at={run.t0}")
        run.threads.append(thread_cpu(pid))
        run.window_end = run.t0 + args.minutes * 60
        run.end = run.window_end + args.drain_minutes * 60
        print(f"\n  minute (from the daemon's start; after {args.minutes:g}, the drain: nothing published)")
        watch(run, proc, sampler, farm, receiver)
        run.threads.append(thread_cpu(pid))
        run.farm, run.receiver = farm.get("/_report", 300), receiver.get("/_report", 300)
        sampler.stop.set()
        stopping = time.perf_counter()
    run.stop_s = time.perf_counter() - stopping
    run.samples = sampler.samples
    run.exit_code = proc.process.returncode
    run.outcome = read_outcome(args.database_url)
    run.levels, run.problems = log_summary(log)
    return run


def watch(run: Run, proc: DaemonRun, sampler: Sampler, farm: Peer, receiver: Peer) -> None:
    """A line a minute, and at the window's end, until the end or the daemon's death."""
    steps = int((run.end - run.t0) // 60)
    marks = sorted({*(run.t0 + 60 * k for k in range(1, steps + 1)), run.window_end, run.end})
    before: dict[str, Any] = {}
    last = sampler.samples[0]
    for mark in marks:
        while time.time() < mark and proc.process.poll() is None:
            time.sleep(min(1.0, max(0.0, mark - time.time())))
        if proc.process.poll() is not None:
            run.died = True
            print(f"  the daemon exited during the run, exit code {proc.process.returncode}")
            return
        if mark == run.window_end:
            run.threads.append(thread_cpu(proc.process.pid))
        now_farm, now_receiver = farm.get("/_stats"), receiver.get("/_stats")
        current = sampler.samples[-1]
        print(minute_line(mark - run.t0, now_farm, before, now_receiver, (last, current)), flush=True)
        before, last = now_farm, current


# -- main ---------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--feeds", type=int, default=75_000, help="feeds in the farm (75,000)")
    parser.add_argument("--stories-per-minute", type=float, default=625.0, help="new stories a minute (625)")
    parser.add_argument("--rules", type=int, default=350_000, help="generated rules (350,000)")
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of publishing measured (10)")
    parser.add_argument(
        "--drain-minutes",
        type=float,
        help="minutes after, nothing published (default: interval + jitter + 1)",
    )
    parser.add_argument(
        "--interval", type=float, default=600.0, help="seconds between two polls of a feed (600)"
    )
    parser.add_argument("--hosts", type=int, help="virtual hosts on 127.0.x.y (default: a host per 25 feeds)")
    parser.add_argument("--entries", type=int, default=20, help="newest stories a feed's body holds (20)")
    parser.add_argument(
        "--latency",
        type=float,
        nargs=2,
        default=(50.0, 300.0),
        metavar=("MIN_MS", "MAX_MS"),
        help="the farm's think time per request (50 300)",
    )
    parser.add_argument("--max-concurrency", type=int, default=50, help="http.max_concurrency (50)")
    parser.add_argument("--per-host", type=int, default=2, help="http.per_host (2)")
    parser.add_argument("--database", help="a PostgreSQL URL (emptied!); default: SQLite in the work folder")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the farm and the receiver (10)")
    parser.add_argument(
        "--start-timeout", type=float, default=1800.0, help="seconds the daemon may take to start"
    )
    parser.add_argument("--workdir", type=Path, help="keep the config, rules, stories and log here")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--report-from", type=Path, help="print the report of a run kept in --workdir (run.json)"
    )
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stories", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into is None:
        if min(args.feeds, args.rules, args.minutes, args.stories_per_minute, args.interval) <= 0:
            parser.error("--feeds, --rules, --minutes, --stories-per-minute and --interval must be positive")
        args.hosts = args.hosts or max(1, args.feeds // 25)
        if args.drain_minutes is None:
            args.drain_minutes = math.ceil(args.interval * 1.1 / 60) + 1
        args.stories = round(args.stories_per_minute * args.minutes)
    return args


def check_limits(args: argparse.Namespace) -> None:
    """What would make a long run fail late, refused before anything starts."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.hosts + 2 * args.max_concurrency + 256  # the farm: a listening socket per host
    if need > hard:
        raise SystemExit(f"the farm needs about {need:,} open files, the limit is {hard:,}: fewer --hosts")
    if args.hosts > 65_000:
        raise SystemExit("at most 65,000 --hosts (127.0.0.2 to 127.0.254.x)")


def main() -> None:
    args = parse_args()
    if args.generate_into is not None:
        generate(args.generate_into, args.rules, args.stories)
        return
    if args.report_from is not None:
        saved = json.loads(args.report_from.read_text(encoding="utf-8"))
        report(argparse.Namespace(**saved["args"]), Run.from_json(saved["run"]))
        return
    check_limits(args)
    args.database_url = args.database or ""
    print(
        f"bench_load: {args.feeds:,} feeds on {args.hosts:,} hosts polled every {args.interval:g} s"
        f" ({args.feeds / args.interval:.1f} polls/s), {args.stories_per_minute:g} stories a minute,"
        f" {args.rules:,} rules; {args.minutes:g} minutes + {args.drain_minutes:g} of drain;"
        f" {'PostgreSQL' if args.database else 'SQLite'}; http.max_concurrency {args.max_concurrency},"
        f" per_host {args.per_host}"
    )
    print(
        f"  machine: {os.cpu_count()} CPUs, load {load()}; Python {platform.python_version()};"
        f" code {commit()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-")))
        else:
            tmp = args.workdir
            tmp.mkdir(parents=True, exist_ok=False)
        args.database_url = args.database or f"sqlite:///{tmp / 'state' / 'monitor.db'}"
        generated = run_generate(args, tmp)
        print(
            f"  generated {args.rules:,} rules in {generated['rules_s']:.0f} s"
            f" and {args.stories:,} stories in {generated['stories_s']:.0f} s"
        )
        with peers(args, tmp) as (farm, receiver):
            urls = feed_urls(args, farm)
            config = write_config(args, tmp, urls, f"{receiver.base}/hook")
            seeded = seed_database(args.database_url, urls, args.interval)
            print(
                f"  farm up in {farm.ready['build_s']:.1f} s;"
                f" monitor.yaml {config.stat().st_size / 2**20:.1f} MiB"
                f" (the daemon reads at most {MAX_YAML_BYTES / 2**20:.0f}); {len(urls):,} feed states stored"
                f" in {seeded:.1f} s"
            )
            run = drive(args, config, tmp, farm, receiver)
        (tmp / "run.json").write_text(json.dumps({"args": vars(args), "run": run.to_json()}, default=str))
        report(args, run)
    print(
        f"\n  load average at the end: {load()} (figures from one run of generated data; nothing is asserted)"
    )


if __name__ == "__main__":
    main()
