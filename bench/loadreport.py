"""What bench_load.py prints: the figures of one run, from the samples and the peers' records.

Every figure is computed here from what the run collected (the /proc samples, the farm's
and the receiver's records, the database and the log once the daemon stopped), so the
definitions sit in one place: a poll is late past its interval, the 10 % jitter and
``LATE_SLACK_S``; a story is overdue when its feed was not polled within that long of
its publication; the replicas are counted from the window's CPU (see ``print_replicas``).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import statistics
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from procstat import Sample

GIL_SHARE = 0.8  # of one core: what a daemon process's threads, sharing one interpreter lock, may use
MACHINE_SHARE = 0.8  # of a machine's cores: what the daemon's processes may use, leaving headroom
LATE_SLACK_S = 30.0  # a feed polled this much later than its interval and jitter was late
FIRST_FIRES_S = 10.0  # the daemon spreads its feeds' first polls over this long (service/schedule.py)


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Outcome:
    """What the database holds once the daemon has stopped."""

    ingested: set[int] = field(default_factory=set)  # stories
    articles: int = 0
    hits: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    failing_feeds: int = 0
    feed_errors: list[str] = field(default_factory=list)


@dataclass
class DaemonRun:
    process: subprocess.Popen[bytes]
    log: Path
    startup_s: float
    start_rss: int
    stop_s: float = 0.0


@dataclass
class Run:
    """Everything the report reads; bench_load.py saves it as JSON in ``--workdir`` (``--report-from``)."""

    pid: int = 0  # the daemon's, and its main thread's id
    startup_s: float = 0.0
    start_rss: int = 0
    stop_s: float = 0.0
    t0: float = 0.0
    window_end: float = 0.0
    end: float = 0.0
    threads: list[dict[int, float]] = field(default_factory=list)  # at t0, window end, end
    farm: dict[str, Any] = field(default_factory=dict)
    receiver: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=Outcome)
    levels: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, int]] = field(default_factory=list)
    exit_code: int | None = None
    died: bool = False
    samples: list[Sample] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["outcome"]["ingested"] = sorted(self.outcome.ingested)
        out["threads"] = [{str(k): v for k, v in t.items()} for t in self.threads]
        out["levels"] = dict(self.levels)  # asdict() rebuilds a Counter from (key, count) pairs: wrong
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        saved = data.pop("outcome")
        outcome = Outcome(**{**saved, "ingested": set(saved["ingested"])})
        run = cls(**{k: v for k, v in data.items() if k not in ("samples", "threads", "levels")})
        run.outcome = outcome
        run.samples = [Sample(**s) for s in data["samples"]]
        run.threads = [{int(k): v for k, v in t.items()} for t in data["threads"]]
        run.levels = Counter(data["levels"])
        run.problems = [(p, n) for p, n in data["problems"]]
        return run


def minute_line(
    elapsed: float,
    farm: dict[str, Any],
    before: dict[str, Any],
    receiver: dict[str, Any],
    samples: tuple[Sample, Sample],
) -> str:
    requests = {k: v - before.get("requests", {}).get(k, 0) for k, v in farm["requests"].items()}
    polls = sum(requests.values())
    a, b = samples
    seconds = max(b.t - a.t, 1e-9)
    main = (b.main_cpu - a.main_cpu) / seconds
    parsers = (b.child_cpu - a.child_cpu) / seconds
    statuses = ", ".join(f"{v:,} × {k}" for k, v in sorted(requests.items()) if v)
    return (
        f"  {elapsed / 60:5.1f}  polls {polls:7,} ({statuses or 'none'}), {polls / seconds:5.1f}/s;"
        f" stories published {farm['published']:,}, fetched {farm['served']:,};"
        f" alerts {receiver['requests']:,} ({receiver['stories']:,} stories);"
        f" daemon {main + parsers:.2f} cores ({main:.2f} + parsers {parsers:.2f}),"
        f" RSS {b.main_rss / 2**20:,.0f} MB; load {load()}"
    )


def log_summary(log: Path) -> tuple[Counter[str], list[tuple[str, int]]]:
    """Lines by level, and the most frequent warnings and errors (numbers and URLs blurred)."""
    levels: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    pattern = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(\S+): (.*)$")
    for line in log.read_text(errors="replace").splitlines():
        found = pattern.match(line)
        if found is None:
            continue
        level, logger, message = found.groups()
        levels[level] += 1
        if level in ("WARNING", "ERROR", "CRITICAL"):
            message = re.sub(r"https?://\S+", "URL", message)
            message = re.sub(r"'[^']*'", "'…'", message)
            message = re.sub(r"(/[\w.-]+)+", "PATH", message)
            message = re.sub(r"\d+(\.\d+)?", "N", message)[:150]
            problems[f"{level} {logger}: {message}"] += 1
    return levels, problems.most_common(6)


# -- the report --------------------------------------------------------------------------------


def cores(samples: Sequence[Sample], start: float, end: float, attr: str) -> float:
    inside = [s for s in samples if start <= s.t <= end]
    if len(inside) < 2:
        return float("nan")
    first, last = inside[0], inside[-1]
    spent: float = getattr(last, attr) - getattr(first, attr)
    return spent / max(last.t - first.t, 1e-9)


def print_cpu(args: argparse.Namespace, run: Run) -> None:
    """The CPU table: the window, the drain; the daemon's threads."""
    samples = run.samples
    spans = (("window", run.t0, run.window_end), ("drain", run.window_end, run.end))
    print(f"\n  CPU, in cores (1.00 = one core busy all the time; this machine has {os.cpu_count()}):")
    print(f"    {'':<34}{'window':>8}{'drain':>8}")
    rows = [
        ("daemon process (every thread)", "main_cpu"),
        ("its parser processes", "child_cpu"),
        (f"feed farm (nice +{args.nice})", "farm_cpu"),
        (f"webhook receiver (nice +{args.nice})", "receiver_cpu"),
    ]
    if args.database is not None:
        rows.append(("PostgreSQL (all its processes)", "pg_cpu"))
    values = {}
    for label, attr in rows:
        values[attr] = [cores(samples, a, b, attr) for _, a, b in spans]
        print(f"    {label:<34}" + "".join(f"{v:8.2f}" for v in values[attr]))
    main, parsers = values["main_cpu"][0], values["child_cpu"][0]
    share = (main + parsers) / (os.cpu_count() or 1)
    drain = values["main_cpu"][1] + values["child_cpu"][1]
    print(
        f"    {'daemon in all':<34}{main + parsers:8.2f}{drain:8.2f}"
        f"   = {share:.0%} of the machine in the window"
    )
    if len(run.threads) >= 2:
        window = run.window_end - run.t0
        before, after = run.threads[0], run.threads[1]
        spent = sorted(((after[t] - before.get(t, 0.0), t) for t in after), reverse=True)
        main_tid = run.pid  # the main thread's id is the process id
        parts = [
            f"{'the main thread (event loop)' if tid == main_tid else f'thread {tid}'} {cpu / window:.2f}"
            for cpu, tid in spent[:4]
        ]
        print(f"    the daemon's busiest threads in the window, cores: {'; '.join(parts)}")


def print_memory(run: Run) -> None:
    window = [s for s in run.samples if run.t0 <= s.t <= run.window_end]
    if not window:
        return
    main = [s.main_rss / 2**20 for s in window]
    tree = [s.tree_rss / 2**20 for s in window]
    after = [s for s in run.samples if run.window_end <= s.t]
    peak_all = max(s.main_rss for s in run.samples) / 2**20
    print(
        f"\n  memory (RSS): daemon process {run.start_rss / 2**20:,.0f} MB once started;"
        f" in the window average {statistics.fmean(main):,.0f} MB, peak {max(main):,.0f} MB"
        f" (peak over the whole run {peak_all:,.0f} MB); with its parser processes average"
        f" {statistics.fmean(tree):,.0f} MB, peak {max(tree):,.0f} MB"
        + (f"; at the end {after[-1].main_rss / 2**20:,.0f} MB" if after else "")
    )


@dataclass
class Polls:
    done: int  # in the window
    due: float  # in the window: every feed once at the start, then once an interval
    rate: float  # done / window
    peak_rate: float  # polls/s over the busiest 10 s
    bursty: float  # seconds of the run (in 10-s bins) that held 90 % of its polls
    first_round_s: float  # until every feed had been polled once (inf: not all were)
    never: int  # feeds not polled in the window
    late: int  # intervals between two polls of a feed longer than interval + jitter + slack
    gaps: int
    longest_gap: float
    feeds: int

    @property
    def burst_rate(self) -> float:
        """Polls a second in the first round: every feed is due in the daemon's first seconds."""
        return self.feeds / self.first_round_s if math.isfinite(self.first_round_s) else 0.0


def poll_figures(args: argparse.Namespace, run: Run) -> Polls:
    window = run.window_end - run.t0
    polls: list[list[float]] = run.farm["polls"]
    done = sum(1 for times in polls for t in times if run.t0 <= t <= run.window_end)
    bins: Counter[int] = Counter(
        int((t - run.t0) // 10) for times in polls for t in times if run.t0 <= t <= run.window_end
    )
    firsts = [min((t for t in times if t >= run.t0), default=math.inf) for times in polls]
    last_first = max(firsts, default=math.inf)
    limit = args.interval * 1.1 + LATE_SLACK_S
    gaps = [b - a for times in polls for a, b in itertools.pairwise(times)]
    return Polls(
        done,
        args.feeds * (1 + max(0.0, window - args.interval) / args.interval),
        done / window,
        max(bins.values(), default=0) / 10,
        10.0 * _holding(Counter(int((t - run.t0) // 10) for times in polls for t in times), 0.9),
        last_first - run.t0,
        sum(1 for f in firsts if f > run.window_end),
        sum(1 for g in gaps if g > limit),
        len(gaps),
        max(gaps, default=0.0),
        len(firsts),
    )


def _holding(bins: Counter[int], share: float) -> int:
    """How few bins hold ``share`` of the counts."""
    total, held = sum(bins.values()), 0
    for n, (_bin, count) in enumerate(bins.most_common(), 1):
        held += count
        if held >= share * total:
            return n
    return len(bins)


def print_polls(args: argparse.Namespace, run: Run, p: Polls) -> list[str]:
    """Polls done against due; why the daemon did not keep up (its first round within an interval,
    and no feed polled late after it), if it did not."""
    requests = run.farm["requests"]
    statuses = ", ".join(f"{v:,} × {k}" for k, v in sorted(requests.items()))
    due_rate = args.feeds / args.interval
    think = sum(args.latency) / 2e3
    round_text = (
        f"{p.first_round_s:.0f} s ({p.burst_rate:.1f} polls/s; the fetcher's limit at this think time"
        f" is {args.max_concurrency / think:.0f}/s)"
        if math.isfinite(p.first_round_s)
        else "longer than the run"
    )
    print(
        f"\n  polls: {p.done:,} in the window, {p.due:,.0f} due (every feed at the start, then one an"
        f" interval: {args.feeds:,} feeds every {args.interval:g} s is {due_rate:.1f}/s);"
        f" {p.rate:.1f}/s on average, {p.peak_rate:.1f}/s over the busiest 10 s; 90 % of the run's"
        f" polls fell in {p.bursty:.0f} s of its {run.end - run.t0:.0f}"
    )
    print(
        f"    the first round (the daemon fires every feed in its first {FIRST_FIRES_S:.0f} s)"
        f" took {round_text}" + (f"; {p.never:,} feeds never polled in the window" if p.never else "")
    )
    print(
        f"    whole run: {statuses}; {run.farm['connections']:,} connections opened;"
        f" at most {run.farm['peak_total']} requests in flight, {run.farm['peak_per_host']} on one host;"
        f" {p.gaps:,} intervals between two polls of a feed, the longest {p.longest_gap:.0f} s,"
        f" {p.late:,} later than the interval + 10 % jitter + {LATE_SLACK_S:.0f} s"
    )
    lags = run.farm["lags"]
    if lags:
        print(
            f"    the farm's loop woke late by {quantile(lags, 0.5) * 1e3:.1f} ms (median),"
            f" {quantile(lags, 0.99) * 1e3:.0f} ms (p99), {max(lags) * 1e3:.0f} ms (max): its answers were"
            " that much later than its think time"
        )
    return [
        *([f"{p.late:,} polls late"] if p.late else []),
        *([f"a first round of {p.first_round_s:.0f} s"] if p.first_round_s > args.interval else []),
    ]


def print_stories(args: argparse.Namespace, run: Run) -> list[str]:
    """Stories and latency; the overdue ones, if any, as a reason it did not keep up."""
    published: list[float] = run.farm["published_at"]
    served = {int(k): v for k, v in run.farm["served_at"].items()}
    first = {int(k): v for k, v in run.receiver["first"].items()}
    ingested = run.outcome.ingested
    limit = args.interval * 1.1 + LATE_SLACK_S
    unserved = [k for k in range(len(published)) if k not in served]
    overdue = [k for k in unserved if run.end - published[k] > limit]
    alerts: dict[str, int] = run.receiver["alerts"]
    print(
        f"\n  stories: {len(published):,} published, {len(served):,} fetched (in a 200),"
        f" {len(ingested & set(range(len(published)))):,} ingested, {len(first):,} alerted"
        f" ({sum(alerts.values()) / max(len(first), 1):.1f} alerts each);"
        f" {len(unserved):,} never fetched, of which {len(overdue):,} overdue"
        f" (published more than {limit:.0f} s before the end)"
    )
    if served.keys() - ingested:
        print(f"    fetched but not in the database: {len(served.keys() - ingested):,}")
    rows = (
        ("publication → alert received", [first[k] - published[k] for k in first]),
        (
            "  publication → fetched (the poll's wait)",
            [served[k] - published[k] for k in first if k in served],
        ),
        ("  fetched → alert received (the daemon)", [first[k] - served[k] for k in first if k in served]),
    )
    print(f"    {'latency, s':<44}{'p50':>8}{'p95':>8}{'max':>8}")
    for label, values in rows:
        if values:
            cells = "".join(f"{x:8.1f}" for x in (quantile(values, 0.5), quantile(values, 0.95), max(values)))
            print(f"    {label:<44}{cells}")
    return [f"{len(overdue):,} stories overdue"] if overdue else []


def print_errors(run: Run) -> None:
    requests = run.farm["requests"]
    receiver = run.receiver
    out = run.outcome
    other = {k: v for k, v in requests.items() if k not in ("200", "304")}
    print(
        f"\n  errors: the farm answered {sum(other.values()):,} other than 200/304 {other or ''};"
        f" the receiver got {receiver['requests']:,} alerts under {receiver['keys']:,} keys"
        f" ({receiver['requests'] - receiver['keys']:,} repeated), {receiver['unknown']} for no story;"
        f" outbox at the end {out.deliveries}; {out.failing_feeds:,} feeds with an error streak"
    )
    for error in out.feed_errors:
        print(f"    feed error: {error[:160]}")
    print(
        f"    daemon log: {dict(run.levels)}; stopped on SIGTERM in {run.stop_s:.1f} s,"
        f" exit code {run.exit_code}"
    )
    for problem, count in run.problems:
        print(f"    {count:6,} × {problem}")


@dataclass(frozen=True)
class Costs:
    """CPU as a linear function of the work: ``base`` cores, plus CPU seconds a poll, a story, an alert."""

    base: float
    poll: float
    story: float
    alert: float
    r2: float
    bins: int

    def cores(self, polls: float, stories: float, alerts: float) -> float:
        return self.base + self.poll * polls + self.story * stories + self.alert * alerts


def nonnegative_lstsq(design: np.ndarray[Any, Any], target: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Least squares with every coefficient ≥ 0 (no work has a negative cost): the best of every
    subset of the columns whose unconstrained fit is non-negative (four columns, sixteen subsets)."""
    best, best_error = np.zeros(design.shape[1]), float(np.sum(target**2))
    for k in range(1, design.shape[1] + 1):
        for columns in itertools.combinations(range(design.shape[1]), k):
            picked = list(columns)
            fitted, *_ = np.linalg.lstsq(design[:, picked], target, rcond=None)
            if (fitted < 0).any():
                continue
            error = float(np.sum((target - design[:, picked] @ fitted) ** 2))
            if error < best_error:
                best, best_error = np.zeros(design.shape[1]), error
                best[picked] = fitted
    return best


def fit_costs(run: Run, attr: str, step: float = 10.0) -> Costs:
    """Least squares (non-negative) over ``step``-second bins of the run: cores against polls/s,
    stories/s and alerts/s.

    The first round (polls, few stories), the minutes after it (stories, few polls) and the
    alerts' own pace (they queue behind the stories that made them) pull the three apart.
    A poll is counted when the farm answered it, a story when the farm served it, an alert
    when the receiver got it: the CPU each costs follows closely.
    """
    edges = np.arange(run.t0, run.end + step / 2, step)
    if len(edges) < 6 or len(run.samples) < 2:
        return Costs(math.nan, math.nan, math.nan, math.nan, math.nan, 0)
    polls = np.histogram([t for times in run.farm["polls"] for t in times], edges)[0] / step
    stories = np.histogram(list(run.farm["served_at"].values()), edges)[0] / step
    seconds = run.receiver.get("per_second", {})
    alerts = np.histogram([float(k) for k in seconds], edges, weights=list(seconds.values()))[0] / step
    times = np.array([x.t for x in run.samples])
    spent = np.array([getattr(x, attr) for x in run.samples])
    used = np.diff(np.interp(edges, times, spent)) / step
    design = np.column_stack([np.ones_like(polls), polls, stories, alerts])
    fitted = nonnegative_lstsq(design, used)
    residual = used - design @ fitted
    total = float(((used - used.mean()) ** 2).sum())
    r2 = 1 - float((residual**2).sum()) / total if total else math.nan
    base, poll, story, alert = (float(x) for x in fitted)
    return Costs(base, poll, story, alert, r2, len(used))


def print_replicas(args: argparse.Namespace, run: Run, polls: Polls, behind: list[str]) -> None:
    """How many replicas the load needs, from the run's own figures (the formulas are printed)."""
    main, parsers = fit_costs(run, "main_cpu"), fit_costs(run, "child_cpu")
    if not main.bins:
        return
    per_story = sum(run.receiver["alerts"].values()) / max(len(run.receiver["alerts"]), 1)
    due_polls, due_stories = args.feeds / args.interval, args.stories_per_minute / 60
    due_alerts = due_stories * per_story
    print(
        f"\n  cost model, least squares over {main.bins} bins of 10 s:"
        " cores = base + CPU a poll × polls/s + CPU a story × stories/s + CPU an alert × alerts/s"
    )
    for label, c in (("daemon process", main), ("parser processes", parsers)):
        print(
            f"    {label:<18} base {c.base:5.2f} cores, {c.poll * 1e3:6.2f} ms a poll,"
            f" {c.story * 1e3:6.1f} ms a story, {c.alert * 1e3:5.2f} ms an alert (R² {c.r2:.2f})"
        )
    need_main = main.cores(due_polls, due_stories, due_alerts)
    need_all = need_main + parsers.cores(due_polls, due_stories, due_alerts)
    print(
        f"    at the due rates, {due_polls:.1f} polls/s, {due_stories:.1f} stories/s and {due_alerts:.0f}"
        f" alerts/s ({per_story:.1f} a story at {args.rules:,} rules): the daemon process {need_main:.2f}"
        f" cores, with its parsers {need_all:.2f} ({need_all / 2:.0%} of a 2-core machine)"
    )
    first = [s for s in run.samples if run.t0 <= s.t <= run.t0 + min(polls.first_round_s, run.end - run.t0)]
    busy = (
        (first[-1].main_cpu - first[0].main_cpu) / max(first[-1].t - first[0].t, 1e-9)
        if len(first) > 1
        else 0
    )
    paced = polls.burst_rate > 0 and polls.first_round_s > 2 * FIRST_FIRES_S
    if not paced:
        held = f"as fast as its first polls were fired (over {FIRST_FIRES_S:.0f} s): no limit seen"
    elif busy < GIL_SHARE:
        held = (
            "below its lock's one core: what held it back was the machine's other load or waiting"
            " (the fetcher's limits, the database)"
        )
    else:
        held = "at its interpreter lock's limit"
    print(
        f"    the first round ran at {polls.burst_rate:.0f} polls/s with the daemon process"
        f" at {busy:.2f} cores, {held}"
    )
    by_cpu = max(1, math.ceil(need_main / GIL_SHARE))
    by_pace = max(1, math.ceil(due_polls / (GIL_SHARE * polls.burst_rate))) if paced else 1
    replicas = max(by_cpu, by_pace)
    machines = max(1, math.ceil(need_all / (2 * MACHINE_SHARE)))
    pace = (
        f"by the first round's pace, ⌈{due_polls:.1f} / ({GIL_SHARE} × {polls.burst_rate:.0f})⌉ = {by_pace}"
        " (an overestimate when the machine's other load slowed it)"
        if paced
        else "the first round showed no limit to its pace"
    )
    print(
        f"  replicas: {replicas} (in this run the daemon"
        f" {'did NOT keep up: ' + ', '.join(behind) if behind else 'kept up'})."
        f" By CPU (a process's threads share one interpreter lock: count {GIL_SHARE:.0%} of a core a"
        f" process), ⌈{need_main:.2f} / {GIL_SHARE}⌉ = {by_cpu}; {pace}; machines of 2 cores,"
        f" {MACHINE_SHARE:.0%} of them for the"
        f" daemon: ⌈{need_all:.2f} / {2 * MACHINE_SHARE:.1f}⌉ = {machines}"
        + ("" if args.database else ". Beyond one replica SQLite will not do: they share a PostgreSQL")
    )


def report(args: argparse.Namespace, run: Run) -> None:
    print(
        f"\n  results ({args.minutes:g}-minute window from the daemon's start,"
        f" then a {args.drain_minutes:g}-minute drain)"
    )
    print_cpu(args, run)
    print_memory(run)
    polls = poll_figures(args, run)
    behind = print_polls(args, run, polls)
    behind += print_stories(args, run)
    print_errors(run)
    print_replicas(args, run, polls, behind)
