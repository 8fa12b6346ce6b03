"""The web app over a large history: page latency, and ingestion while people browse.

    python bench/bench_web.py [--quick] [--articles N] [--database URL] [--requests R] [--no-daemon]
                              [--backtest-only] [--runs N] [--profile]

N generated articles (default 100,000; ``--quick``: 10,000), two hits each, are stored
once (a SQLite file cached under .cache/bench_web/; ``--database`` a PostgreSQL database,
emptied and filled unless it holds N articles already), then analyzed.  Served by uvicorn in
this process over a real socket: R requests each (default 60) of the hits page, a search,
one rule's hits, an article page (its rules explained), the hits API and the rules page, p50
and p95; beside them the same hits through the library calls of ``monitor hits``
(``History.hits``), and one ``monitor hits`` process end to end.  Then the playground's
backtest over every stored article (``POST /api/v1/backtest``, 30 days): three kinds of rule,
``--runs`` times each, and the same backtests through the library with the prefilter and as a
full scan, in alternating turns (``--backtest-only``: this part alone; ``--profile``: then a
cProfile of each prefiltered one).  Last, a daemon over (a copy of) that history: the time
from a file dropped in its watched folder to its alert at a local receiver, idle and while 20
clients browse (a page a second each).  Printed: figures for this machine, not targets.  Not
a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import common_vocabularies
from monitor.config import Settings
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import parse_query
from monitor.matching.rulefile import RuleSpec
from monitor.models import Match, TermHit, make_article
from monitor.pipeline.backtest import scan
from monitor.pipeline.prefilter import Prefilter
from monitor.service.ops import AppServer
from monitor.store.engine import make_engine, prepare_schema
from monitor.store.repo import Routed, Store
from monitor.store.search import History, HitFilter
from monitor.store.tables import ARTICLES
from monitor.web import WebContext, create_app
from tests.notify.receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent
RULES = 50
BATCH = 1000
WORDS = 120
NOW = datetime.now(UTC).replace(microsecond=0)
CACHE = ROOT / ".cache" / "bench_web"


def rule_specs(keywords: list[str]) -> list[RuleSpec]:
    return [
        RuleSpec(f"r{i}", f"Rule {i}", word, parse_query(word), "bench.yaml", i + 1)
        for i, word in enumerate(keywords)
    ]


def fill(store: Store, count: int, keywords: list[str]) -> None:
    """``count`` articles over the last 30 days, each with two hits of rules whose word it holds."""
    vocab = common_vocabularies()["it"]
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        rng = random.Random(first)
        routed = []
        for i in range(first, min(first + BATCH, count)):
            words = rng.choices(vocab.words, cum_weights=vocab.cumulative, k=WORDS)
            a, b = rng.sample(range(len(keywords)), 2)
            words[3], words[60] = keywords[a], keywords[b]
            body = ". ".join(" ".join(words[k : k + 20]).capitalize() for k in range(0, WORDS, 20)) + "."
            title = " ".join(words[:8]).capitalize()
            article = make_article(
                title=title, body=body, source=f"fonte-{i % 20}", origin=f"bench/{i}", language="it"
            )
            matches = [
                (
                    Match(
                        f"r{k}", f"Rule {k}", (TermHit(keywords[k], keywords[k], "body", 0, 1),), body[:160]
                    ),
                    [],
                )
                for k in (a, b)
            ]
            routed.append(Routed(article, matches))
        at = NOW - timedelta(seconds=(count - first) * 30 * 86400 / count)
        store.record(routed, [], at)
        done = min(first + BATCH, count)
        if done % 10_000 == 0:
            print(f"  stored {done:,} articles ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


def open_history(args: argparse.Namespace, keywords: list[str]) -> tuple[Store, str]:
    if args.database:
        url = args.database
        engine = make_engine(url)
        with engine.connect() as db:
            have = db.execute(text("SELECT to_regclass('articles') IS NOT NULL")).scalar_one()
            stored = db.execute(text("SELECT count(*) FROM articles")).scalar_one() if have else 0
        if (
            not args.articles <= stored <= args.articles + 1000
        ):  # kept from an earlier run (its daemon adds a few)
            with engine.begin() as db:
                db.execute(text("DROP SCHEMA public CASCADE"))
                db.execute(text("CREATE SCHEMA public"))
            prepare_schema(engine)
            fill(Store(engine), args.articles, keywords)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
                db.execute(text("VACUUM ANALYZE"))  # what autovacuum does soon after a bulk load
        return Store(engine), url
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"sqlite-{args.articles}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        partial = path.with_suffix(".partial")
        for leftover in CACHE.glob(f"{partial.name}*"):
            leftover.unlink()
        engine = make_engine(f"sqlite:///{partial}")
        prepare_schema(engine)
        fill(Store(engine), args.articles, keywords)
        with engine.connect() as db:
            db.exec_driver_sql("ANALYZE")
            db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        partial.replace(path)
    engine = make_engine(url)
    return Store(engine), url


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


async def timed(count: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - started)
    return out


async def measure_pages(store: Store, specs: list[RuleSpec], keywords: list[str], requests: int) -> None:
    settings = Settings(database=str(store.engine.url), state_dir=Path(tempfile.mkdtemp()))
    ctx = WebContext(settings=lambda: settings, store=store, rules=lambda: specs)
    server = AppServer(create_app(ctx), "127.0.0.1", 0)
    _host, port = await server.start()
    newest = store.engine.connect().execute(select(func.max(ARTICLES.c.id))).scalar_one()
    rng = random.Random(5)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

            async def get(path: str) -> None:
                response = await client.get(path)
                response.raise_for_status()

            await get("/")  # the first request builds what later ones reuse
            await get(f"/articles/{newest}")
            pages = {
                "hits page (/)": lambda i: get("/"),
                "search (/?q=…)": lambda i: get(f"/?q={keywords[i % len(keywords)]}"),
                "hits page, one rule": lambda i: get(f"/?rule=r{i % RULES}"),
                "article page (/articles/N)": lambda i: get(f"/articles/{rng.randrange(1, newest + 1)}"),
                "hits API (/api/v1/hits)": lambda i: get("/api/v1/hits"),
                "rules page (/rules)": lambda i: get("/rules"),
            }
            for name, call in pages.items():
                print(f"  {name:<30} {percentiles(await timed(requests, call))}")
    finally:
        await server.close()
    history = History(store)
    loop = asyncio.get_running_loop()
    for name, wanted in (
        ("monitor hits --limit 50", lambda i: HitFilter(limit=50)),
        (
            "monitor hits --search W --limit 50",
            lambda i: HitFilter(search=keywords[i % len(keywords)], limit=50),
        ),
    ):

        async def call(i: int, wanted: Callable[[int], HitFilter] = wanted) -> None:
            await loop.run_in_executor(None, lambda: list(history.hits(wanted(i))))

        print(f"  {name + ' (library)':<30} {percentiles(await timed(requests, call))}")


def backtest_queries(keywords: list[str]) -> dict[str, str]:
    """A rule of each kind a desk writes: a name, a list of names, a phrase, a prefix."""
    return {
        "one word": keywords[0],
        "three words OR'ed": f"{keywords[1]} OR {keywords[2]} OR {keywords[3]}",
        "a phrase": f'"{keywords[4]} {keywords[5]}"',
        "a prefix (word*)": f"{keywords[6][:5]}*",
    }


async def measure_backtests(
    store: Store, specs: list[RuleSpec], keywords: list[str], runs: int, profile: bool = False
) -> None:
    """The playground's backtest through the API (the web app's thread, its time budget), then the
    same rules through the library, prefiltered and as a full scan, in alternating turns."""
    settings = Settings(database=str(store.engine.url), state_dir=Path(tempfile.mkdtemp()))
    ctx = WebContext(settings=lambda: settings, store=store, rules=lambda: specs)
    server = AppServer(create_app(ctx), "127.0.0.1", 0)
    _host, port = await server.start()
    queries = backtest_queries(keywords)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:

            async def backtest(query: str) -> tuple[tuple[float, float], dict[str, object]]:
                """Wall and CPU seconds (of this process: the web app's thread, the loop, the client)."""
                started, cpu = time.perf_counter(), time.process_time()
                response = await client.post("/api/v1/backtest", json={"query": query, "days": 30})
                response.raise_for_status()
                return (time.perf_counter() - started, time.process_time() - cpu), response.json()

            (first, _), _ = await backtest("zzzz")  # loads the pipelines
            print(f"  backtest, first of the process (pipelines): {first:.2f} s")
            for name, query in queries.items():
                times, out = [], {}
                for _ in range(runs):
                    took, out = await backtest(query)
                    times.append(took)
                print(
                    f"  backtest API, {name:<18} {', '.join(f'{t:.2f}' for t, _ in times)} s "
                    f"(CPU {', '.join(f'{c:.2f}' for _, c in times)} s)   "
                    f"({out['scanned']} articles, {out['matched']} matched, complete {out['complete']})"
                )
    finally:
        await server.close()
        await ctx.close()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, backtest_turns, store, queries, runs, profile)


def backtest_turns(store: Store, queries: dict[str, str], runs: int, profile: bool = False) -> None:
    pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
    prefilter = Prefilter(pipelines)
    since = NOW - timedelta(days=30)
    warm = ArticleMatcher(RuleIndex(rule_specs(["zzzz"]), pipelines))
    for _, matching in scan(store, warm, None, since):  # as the API's pipelines: their chunks cut once
        matching()
    for name, written in queries.items():
        spec = rule_specs([written])[0]
        matcher = ArticleMatcher(RuleIndex([spec], pipelines))
        timings: dict[str, list[float]] = {"prefiltered": [], "full scan": []}
        for _ in range(runs):
            for kind in timings:
                query = prefilter.query([spec]) if kind == "prefiltered" else None
                started = time.perf_counter()
                matched = sum(
                    len(matches)
                    for _, matching in scan(store, matcher, query, since)
                    for _, matches in matching()
                )
                timings[kind].append(time.perf_counter() - started)
        fast, full = (", ".join(f"{t:.2f}" for t in timings[kind]) for kind in ("prefiltered", "full scan"))
        print(f"  backtest library, {name:<18} prefiltered {fast} s  full scan {full} s  ({matched} matched)")
        if profile:
            profiler = cProfile.Profile()
            chunks = scan(store, matcher, prefilter.query([spec]), since)
            profiler.runcall(lambda chunks=chunks: [matching() for _, matching in chunks])
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)


def monitor_hits_process(url: str) -> None:
    env = {**os.environ, "MONITOR_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "monitor", "hits", "--limit", "50"], env=env, capture_output=True, check=True
    )
    print(f"  monitor hits --limit 50, a whole process: {time.perf_counter() - started:.2f} s")


def measure_ingestion(url: str, keywords: list[str], drops: int) -> None:
    """Seconds from a file dropped in the watched folder to its alert, idle and while 20 clients browse."""
    work = Path(tempfile.mkdtemp())
    if url.startswith("sqlite:///"):
        shutil.copy(url.removeprefix("sqlite:///"), work / "monitor.db")
        url = f"sqlite:///{work / 'monitor.db'}"
    (work / "rules").mkdir()
    (work / "rules" / "bench.yaml").write_text(
        "rules:\n" + "".join(f"  - {{id: r{i}, query: {word}}}\n" for i, word in enumerate(keywords)),
        encoding="utf-8",
    )
    (work / "inbox").mkdir()
    with WebhookReceiver() as hook:
        (work / "monitor.yaml").write_text(
            f"database: {url}\nstate_dir: state\nrules: [rules/]\ndefault_language: it\n"
            "sources: {folders: [{path: inbox/, interval: 30s}]}\n"
            f'channels: {{hook: {{type: webhook, url: "{hook.url}"}}}}\n'
            "delivery: {interval: 0.5s}\nserver: {enabled: true, port: 0}\n",
            encoding="utf-8",
        )
        log = (work / "daemon.log").open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(work / "monitor.yaml"), "run"],
            cwd=work,
            env={**env, "PYTHONPATH": str(ROOT)},
            stderr=log,
            stdout=subprocess.DEVNULL,
        )
        try:
            port = _port(work / "daemon.log")
            _drop(work, hook, keywords, 2, "warm")
            idle = _drop(work, hook, keywords, drops, "idle")
            stop = threading.Event()
            browsing = threading.Thread(target=_browse, args=(port, keywords, stop), daemon=True)
            browsing.start()
            time.sleep(WARM_S)  # past each page's first view (the article page's pipelines, the counts)
            warm_served = SERVED[0]
            busy = _drop(work, hook, keywords, drops, "busy")
            served = SERVED[0] - warm_served
            stop.set()
            browsing.join()
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
            log.close()
    print(
        f"  ingest-to-alert, idle:             median {statistics.median(idle):.2f} s  max {max(idle):.2f} s"
    )
    print(
        f"  ingest-to-alert, 20 clients browse: median {statistics.median(busy):.2f} s  max {max(busy):.2f} s"
    )
    print(
        f"  ratio of medians: {statistics.median(busy) / statistics.median(idle):.2f}x; "
        f"pages served during the busy drops: {served}"
    )
    shutil.rmtree(work, ignore_errors=True)


SERVED = [0]
WARM_S = 10.0
THINK_S = 1.0  # a browsing client's pause between pages (the hits page itself polls every 3 s)


def _port(log: Path) -> int:
    import re

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", log.read_text())
        if found:
            return int(found[1])
        time.sleep(0.2)
    raise SystemExit(f"the daemon did not start:\n{log.read_text()}")


def _drop(work: Path, hook: WebhookReceiver, keywords: list[str], count: int, tag: str) -> list[float]:
    out = []
    for n in range(count):
        before = len(hook.received)
        path = work / "inbox" / f"{tag}-{n}.txt"
        started = time.perf_counter()
        path.write_text(
            f"Notizia {tag} {n}\n\nOggi si parla di {keywords[n % len(keywords)]}.", encoding="utf-8"
        )
        while len(hook.received) == before:
            if time.perf_counter() - started > 60:
                raise SystemExit(f"no alert within 60 s for {path.name}")
            time.sleep(0.005)
        out.append(time.perf_counter() - started)
        time.sleep(0.3)
    return out


def _browse(port: int, keywords: list[str], stop: threading.Event) -> None:
    async def client(number: int) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while not stop.is_set():
                path = rng.choice(
                    ["/", f"/?q={rng.choice(keywords)}", f"/articles/{rng.randrange(1, 5000)}", "/rules"]
                )
                await http.get(path)
                SERVED[0] += 1
                await asyncio.sleep(THINK_S * rng.uniform(0.5, 1.5))  # a person reads, then clicks

    async def everyone() -> None:
        await asyncio.gather(*(client(n) for n in range(20)))

    asyncio.run(everyone())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 articles")
    parser.add_argument("--database", help="a PostgreSQL URL (emptied); default: a cached SQLite file")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--drops", type=int, default=8, help="files dropped idle and again while browsing")
    parser.add_argument("--no-daemon", action="store_true", help="pages only")
    parser.add_argument("--backtest-only", action="store_true", help="the backtests alone")
    parser.add_argument("--runs", type=int, default=3, help="backtests of each rule")
    parser.add_argument("--profile", action="store_true", help="cProfile of each prefiltered backtest")
    args = parser.parse_args()
    if args.quick:
        args.articles = 10_000
    vocab = common_vocabularies()["it"]
    keywords = sorted({w for w in vocab.words[2000:2600] if len(w) > 6})[:RULES]
    specs = rule_specs(keywords)
    print(f"history: {args.articles:,} articles, {2 * args.articles:,} hits, {RULES} rules", file=sys.stderr)
    store, url = open_history(args, keywords)
    if args.backtest_only:
        print(f"backtests ({store.engine.dialect.name}, {args.articles:,} articles):")
        asyncio.run(measure_backtests(store, specs, keywords, args.runs, args.profile))
        store.engine.dispose()
        return
    print(
        f"pages ({args.requests} requests each, one client, uvicorn over a socket, "
        f"{store.engine.dialect.name}):"
    )
    asyncio.run(measure_pages(store, specs, keywords, args.requests))
    print(f"backtests ({store.engine.dialect.name}, {args.articles:,} articles):")
    asyncio.run(measure_backtests(store, specs, keywords, args.runs))
    monitor_hits_process(url)
    store.engine.dispose()
    if not args.no_daemon:
        print(f"a daemon over a copy of the history ({args.drops} files each):")
        measure_ingestion(url, keywords, args.drops)


if __name__ == "__main__":
    main()
