"""CPU and memory of a process and its descendants, read from /proc (Linux), for bench_load.py.

``/proc/<pid>/stat`` gives a process's user and system time (clock ticks), the time of
its children that ended and were waited for, and its resident set size; a process's
threads are under ``/proc/<pid>/task``.  Reading every process's stat file takes a
few milliseconds, so a thread samples once a second without weighing on what it
measures.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    cpu: float  # seconds, user + system
    reaped: float  # seconds of its children that ended and were waited for
    rss: int  # bytes


def read_proc(path: str) -> Proc | None:
    try:
        with open(path, encoding="ascii", errors="replace") as stat:
            data = stat.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2 :].split()
    return Proc(
        int(data[: data.index(" ")]),
        int(rest[1]),
        data[data.index("(") + 1 : data.rindex(")")],
        (int(rest[11]) + int(rest[12])) / TICK,
        (int(rest[13]) + int(rest[14])) / TICK,
        int(rest[21]) * PAGE,
    )


def processes() -> dict[int, Proc]:
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            proc = read_proc(f"/proc/{entry.name}/stat")
            if proc is not None:
                found[proc.pid] = proc
    return found


def descendants(procs: dict[int, Proc], root: int) -> list[Proc]:
    children: dict[int, list[Proc]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child.pid)
    return out


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` (the main thread's id is the pid)."""
    out = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(f"/proc/{pid}/task"):
            proc = read_proc(f"/proc/{pid}/task/{entry.name}/stat")
            if proc is not None:
                out[proc.pid] = proc.cpu
    return out


@dataclass(frozen=True)
class Sample:
    t: float
    main_cpu: float  # the daemon's process, all its threads
    child_cpu: float  # its descendants (parser processes), alive or ended
    main_rss: int
    tree_rss: int  # the process and its descendants (shared pages counted in each)
    farm_cpu: float
    receiver_cpu: float
    pg_cpu: float  # every process named postgres, whoever it works for


def take_sample(daemon: int, farm: int, receiver: int, postgres: bool) -> Sample | None:
    procs = processes()
    main = procs.get(daemon)
    if main is None:
        return None
    tree = descendants(procs, daemon)
    farm_cpu, receiver_cpu = (procs[p].cpu if p in procs else 0.0 for p in (farm, receiver))
    pg = sum(p.cpu for p in procs.values() if p.comm.startswith("postgres")) if postgres else 0.0
    return Sample(
        time.time(),
        main.cpu,
        main.reaped + sum(p.cpu + p.reaped for p in tree),
        main.rss,
        main.rss + sum(p.rss for p in tree),
        farm_cpu,
        receiver_cpu,
        pg,
    )


class Sampler:
    """Samples /proc every ``period`` seconds on a thread of its own."""

    def __init__(self, daemon: int, farm: int, receiver: int, postgres: bool, period: float = 1.0) -> None:
        self.args = (daemon, farm, receiver, postgres)
        self.period = period
        self.samples: list[Sample] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """A first sample now, then one every period."""
        sample = take_sample(*self.args)
        if sample is not None:
            self.samples.append(sample)
        self.thread.start()

    def _run(self) -> None:
        self.stop.wait(self.period)
        while not self.stop.is_set():
            sample = take_sample(*self.args)
            if sample is not None:
                self.samples.append(sample)
            self.stop.wait(self.period)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t <= end]
