"""Command start-up: what a person waits for at the prompt, and how soon a new daemon alerts.

    python bench/bench_startup.py [--articles N] [--runs N] [--tree PATH] [--vs PATH]
                                  [--no-commands] [--no-daemon] [--instructions]

Each figure is a whole process, started as a person starts it (``python -m monitor …``), timed
from outside: wall time from start to exit and the peak resident memory of the process.

- The read-only commands (``hits``, ``articles``, ``feeds``, ``deliveries``, ``db current``,
  ``--help``) run over a SQLite database of N generated articles (default 3,000; every other
  one has a hit and an alert pending) with 20 configured feeds; so does ``rules check`` on
  the shipped rules (their examples need the Italian and English pipelines and lemma tables).
- The daemon (``monitor run``) runs on the shipped monitor.yaml (rules/, seeds/, the console
  channel, the web app on a free port), on an empty database already at the newest schema,
  and on no database at all (created at start-up, with the migrations); the figure is the time
  from start to the first alert printed on the console. Then it is stopped (SIGTERM).

``--tree PATH`` runs the monitor of another checkout (its ``monitor/`` is put first on
PYTHONPATH); ``--vs PATH`` runs a second one in turns with the first (A B A B …), so a
before/after comparison shares the machine's moods. The database and the configs are made
with this checkout's code. Each checkout's bytecode is compiled first and used, as an
installed package's is (pip compiles it; PYTHONDONTWRITEBYTECODE in the environment would
otherwise make every run compile every module of ``monitor/`` again). Printed: min, median
and max of ``--runs`` runs (default 3), and the load average before and after.

``--instructions`` adds, per checkout, the instructions each of these commands and
``monitor run --once`` execute (cachegrind's ``I refs``, valgrind needed): unlike times, no
load changes them. No targets: the figures describe this machine, they are not a promise.
This is a benchmark, not a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import common_vocabularies
from monitor.models import Match, TermHit, make_article
from monitor.store.engine import make_engine, open_store, prepare_schema
from monitor.store.repo import Routed

REPO = Path(__file__).resolve().parent.parent
COMMANDS: list[list[str]] = [
    ["hits"],
    ["articles"],
    ["feeds"],
    ["deliveries"],
    ["db", "current"],
    ["--help"],
    ["rules", "check"],
]
NOW = datetime.now(UTC)
BATCH = 500
FIRST_ALERT_TIMEOUT_S = 180.0
TIME = Path("/usr/bin/time")  # GNU time: the peak memory of the command alone
VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    peak_mb: float


def make_history(url: str, count: int, seed: int = 5) -> None:
    """``count`` generated articles, one in two with a hit routed to the console (pending)."""
    vocab = common_vocabularies()["it"]
    store = open_store(url)
    for first in range(0, count, BATCH):
        batch = []
        for i in range(first, min(first + BATCH, count)):
            rng = random.Random(seed * 1_000_003 + i)
            words = rng.choices(vocab.words, cum_weights=vocab.cumulative, k=300)
            title = " ".join(words[:9]).capitalize()
            body = ". ".join(" ".join(words[k : k + 20]).capitalize() for k in range(0, 300, 20)) + "."
            article = make_article(title=title, body=body, source="bench", origin=f"a{i}", language="it")
            match = Match(f"rule-{i % 9}", "Bench", (TermHit(words[0], words[0], "body", 0, 1),), words[0])
            batch.append(Routed(article, [(match, ["console"])] if i % 2 == 0 else []))
        store.record(batch, [], NOW - timedelta(minutes=count - first))
    store.engine.dispose()


def write_configs(folder: Path) -> tuple[Path, Path]:
    """The commands' config (the database with history, 20 feeds) and the daemon's (the shipped
    monitor.yaml, its paths made absolute and the web app on a free port)."""
    feeds = "".join(f"    - {{url: 'https://news{i}.example.org/rss.xml'}}\n" for i in range(20))
    commands = folder / "commands.yaml"
    commands.write_text(
        f"database: sqlite:///{folder / 'history.db'}\nrules: [{REPO / 'rules'}]\n"
        f"sources:\n  feeds:\n{feeds}channels: {{console: {{type: console}}}}\n",
        encoding="utf-8",
    )
    shipped = (REPO / "monitor.yaml").read_text(encoding="utf-8")
    daemon = folder / "daemon" / "monitor.yaml"
    daemon.parent.mkdir()
    replaced = (
        shipped.replace("rules: [rules/]", f"rules: [{REPO / 'rules'}]")
        .replace("path: seeds/", f"path: {REPO / 'seeds'}")
        .replace("port: 9464", "port: 0")
    )
    if replaced.count(str(REPO)) != 2 or "port: 0" not in replaced:
        raise SystemExit("the shipped monitor.yaml changed shape: update write_configs")
    daemon.write_text(replaced, encoding="utf-8")
    return commands, daemon


def environment(tree: Path) -> dict[str, str]:
    """The tree first on the path, no MONITOR_* variable, and bytecode read and written."""
    unwanted = ("MONITOR_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unwanted)}
    return {**env, "PYTHONPATH": str(tree)}


def compile_bytecode(tree: Path) -> None:
    """What pip does at install: every module of the checkout compiled ahead of the runs."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree / "monitor")],
        env=environment(tree),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def instructions(tree: Path, config: Path, args: Sequence[str]) -> int:
    """The instructions ``monitor ARGS`` executes, counted by cachegrind (``I refs``)."""
    done = subprocess.run(
        [*VALGRIND, sys.executable, "-m", "monitor", "--config", str(config), *args],
        env=environment(tree),
        cwd=config.parent,
        capture_output=True,
        text=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"cachegrind counted nothing for monitor {' '.join(args)}: {done.stderr[-500:]}")
    return int(found[1].replace(",", ""))


def launch(
    tree: Path, config: Path, args: Sequence[str], peak: Path, **streams: int
) -> subprocess.Popen[str]:
    """``python -m monitor ARGS`` under GNU time, when installed, for the peak memory: the kernel
    counts a child's memory from before its exec, so this process (with the store loaded) would
    set the floor."""
    command = [sys.executable, "-m", "monitor", "--config", str(config), *args]
    if TIME.exists():
        command = [str(TIME), "-f", "%M", "-o", str(peak), *command]
    return subprocess.Popen(command, env=environment(tree), cwd=config.parent, text=True, **streams)


def peak_mb(peak: Path) -> float:
    """What GNU time wrote (KB), in MB; NaN without it."""
    try:
        return int(peak.read_text(encoding="utf-8").split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return float("nan")


def time_command(tree: Path, config: Path, command: Sequence[str]) -> Run:
    peak = config.parent / "peak.txt"
    peak.unlink(missing_ok=True)
    started = time.perf_counter()
    process = launch(tree, config, command, peak, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.wait()
    return Run(time.perf_counter() - started, peak_mb(peak))


def time_first_alert(tree: Path, config: Path, pristine: Path | None) -> Run:
    """From start to the first line on stdout (the console channel), on a fresh state folder."""
    data = config.parent / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    if pristine is not None:
        shutil.copy(pristine, data / "monitor.db")
    peak = config.parent / "peak.txt"
    peak.unlink(missing_ok=True)
    started = time.perf_counter()
    process = launch(tree, config, ["run"], peak, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    deadline = threading.Timer(FIRST_ALERT_TIMEOUT_S, process.kill)  # a daemon that never alerts
    deadline.daemon = True
    deadline.start()
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    deadline.cancel()
    stop(process)
    process.stdout.read()
    process.wait()
    if not line:
        raise SystemExit(f"the daemon of {tree} printed no alert (exit {process.returncode})")
    return Run(elapsed, peak_mb(peak))


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the daemon: GNU time's child when it runs under it (time would die of it)."""
    if TIME.exists():
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text(encoding="utf-8")
        for pid in children.split():
            os.kill(int(pid), signal.SIGTERM)
    else:
        process.send_signal(signal.SIGTERM)


def summary(runs: Sequence[Run]) -> str:
    seconds = sorted(r.seconds for r in runs)
    return (
        f"{statistics.median(seconds):6.2f} s (min {seconds[0]:.2f}, max {seconds[-1]:.2f})"
        f"  peak {max(r.peak_mb for r in runs):5.0f} MB"
    )


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout to time (default: this one)")
    parser.add_argument("--vs", type=Path, help="a second checkout, timed in turns with the first")
    parser.add_argument("--no-commands", action="store_true")
    parser.add_argument("--no-daemon", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count instructions too (valgrind)")
    args = parser.parse_args()
    trees = [args.tree.resolve(), *([args.vs.resolve()] if args.vs else [])]
    for tree in trees:
        compile_bytecode(tree)
    print(f"{load()}; python {sys.version.split()[0]}; trees: {', '.join(map(str, trees))}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        commands, daemon = write_configs(folder)
        make_history(f"sqlite:///{folder / 'history.db'}", args.articles)
        pristine = folder / "pristine.db"
        engine = make_engine(f"sqlite:///{pristine}")
        prepare_schema(engine)
        engine.dispose()
        if not args.no_commands:
            print(f"commands, {args.articles} articles, {args.runs} runs each:")
            for command in COMMANDS:
                runs: dict[Path, list[Run]] = {tree: [] for tree in trees}
                for _ in range(args.runs):
                    for tree in trees:
                        runs[tree].append(time_command(tree, commands, command))
                for tree in trees:
                    label = f"  [{tree.name}]" if len(trees) > 1 else ""
                    print(f"  monitor {' '.join(command):<12} {summary(runs[tree])}{label}")
        if not args.no_daemon:
            print(f"monitor run on the shipped config: start to first alert, {args.runs} runs:")
            for label, base in (("database at head", pristine), ("new database", None)):
                runs = {tree: [] for tree in trees}
                for _ in range(args.runs):
                    for tree in trees:
                        runs[tree].append(time_first_alert(tree, daemon, base))
                for tree in trees:
                    tag = f"  [{tree.name}]" if len(trees) > 1 else ""
                    print(f"  {label:<18} {summary(runs[tree])}{tag}")
        if args.instructions:
            count_instructions(trees, commands, daemon, pristine, args)
    print(load())


def count_instructions(
    trees: Sequence[Path], commands: Path, daemon: Path, pristine: Path, args: argparse.Namespace
) -> None:
    """Each command and ``run --once`` (on a database at head), once per checkout."""
    print("instructions (cachegrind I refs), once each:")
    for command in [] if args.no_commands else COMMANDS:
        counts = "  ".join(f"{instructions(tree, commands, command) / 1e9:5.2f} G" for tree in trees)
        print(f"  monitor {' '.join(command):<12} {counts}")
    if args.no_daemon:
        return
    once = []
    for tree in trees:
        data = daemon.parent / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        shutil.copy(pristine, data / "monitor.db")
        once.append(f"{instructions(tree, daemon, ['run', '--once']) / 1e9:5.2f} G")
    print(f"  monitor run --once {'  '.join(once)}  (database at head)")


if __name__ == "__main__":
    main()
