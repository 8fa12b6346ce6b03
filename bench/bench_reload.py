"""A rule reload after one edit, against a cold load of the same rules in the same process.

    python bench/bench_reload.py [--rules 10000] [--files 100] [--runs 3] [--quick]

10,000 generated rules (bench/corpus.py, seeded) in 100 YAML files.  The baseline is a cold
load: every file parsed and checked (an empty cache), the index built.  Then, ``--runs``
times, one file is edited (a rule appended, the way editors save: a temporary file renamed
over it) and the rules reloaded as the daemon does: the rule-file watcher
(monitor/service/rulewatch.py) sees the save, then ``load_rules`` with the process's cache,
the index rebuilt on the running one (monitor/matching/rebuild.py), swapped into the matcher;
the time runs from the edit to the first article matched by the new rule.  Meanwhile a thread
matches articles back to back through the same matcher, as the daemon's ingestion does while
a reload runs on its own thread: its longest wait for one article, and how many it matched,
say whether the reload starves it.

Figures are wall-clock seconds, and CPU seconds of the loading thread; the load average is printed, since
other work on the machine inflates them.  Nothing is asserted: pytest never collects this.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import ArticleGenerator, RuleGenerator, common_vocabularies  # noqa: E402

from monitor.matching.compiler import RuleIndex  # noqa: E402
from monitor.matching.matcher import ArticleMatcher  # noqa: E402
from monitor.matching.nlp import LanguagePipelines  # noqa: E402
from monitor.matching.rebuild import rebuild_index  # noqa: E402
from monitor.matching.rulefile import RuleFileCache, RuleSet, load_rules  # noqa: E402
from monitor.models import Article, make_article  # noqa: E402
from monitor.service.rulewatch import RuleFileWatcher  # noqa: E402

LANGUAGES = ("it", "en")
CHANNELS = ("desk",)


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_rules(folder: Path, rules: int, files: int) -> list[Path]:
    """``rules`` generated rules in ``files`` files, each rule with the keys a desk writes."""
    stream = RuleGenerator(common_vocabularies()).rules(rules)
    per_file = -(-rules // files)
    paths = []
    for number in range(files):
        lines = ["rules:"]
        for i in range(number * per_file, min(rules, (number + 1) * per_file)):
            rule = stream[i]
            lines += [
                f"  - id: r{i}",
                f"    name: Rule number {i}",
                f"    query: {quoted(rule.query)}",
                "    notify: [desk]",
                f"    tags: [bench, desk-{number}]",
            ]
            if rule.languages:
                lines.append(f"    languages: [{', '.join(rule.languages)}]")
        path = folder / f"desk-{number:03d}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@dataclass
class Ingest:
    """Matches articles back to back on a thread; notes how long each took."""

    matcher: ArticleMatcher
    articles: list[Article]
    waits: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            self.matcher.match(self.articles[i % len(self.articles)])
            self.waits.append((started, time.perf_counter() - started))
            i += 1

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for begun, seconds in self.waits if start <= begun + seconds and begun <= end]


class Watch:
    """The daemon's rule-file watcher over the folder, on a thread with its own event loop: ``seen``
    is set each time it reports a settled change."""

    def __init__(self, folder: Path) -> None:
        self.seen = threading.Event()
        self._stop = threading.Event()
        self._watcher = RuleFileWatcher([folder], stop_event=self._stop)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._watcher.watching and time.monotonic() < deadline:
            time.sleep(0.05)

    async def _run(self) -> None:
        async for _changed in self._watcher:
            self.seen.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def build(rules: RuleSet, pipelines: LanguagePipelines) -> RuleIndex:
    return RuleIndex(rules.rules, pipelines).build(LANGUAGES)


def timed(fn: object) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()  # type: ignore[operator]
    return out, time.perf_counter() - wall, time.process_time() - cpu


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def reload(
    run: int,
    paths: list[Path],
    folder: Path,
    cache: RuleFileCache,
    matcher: ArticleMatcher,
    watch: Watch,
    ingest: Ingest | None,
) -> None:
    """Append a rule to one file, reload as the daemon does, match an article the rule fires on."""
    path = paths[(run * 37 + 11) % len(paths)]
    word = f"Zorblatt{run}"
    witness = make_article(
        title=f"{word} summit", body=f"{word} met.", language="en", source="b", origin=f"w{run}"
    )
    saving = path.with_name(f".{path.name}.swp")
    saving.write_text(
        path.read_text(encoding="utf-8") + f"  - id: new-{run}\n    query: {word}\n    notify: [desk]\n",
        encoding="utf-8",
    )
    watch.seen.clear()
    wall = time.perf_counter()
    os.replace(saving, path)
    assert watch.seen.wait(30), "the watcher never saw the save"
    seen, cpu = time.perf_counter(), time.thread_time()
    reloaded = load_rules([folder], CHANNELS, cache)
    loaded = time.perf_counter()
    matcher.swap(rebuild_index(matcher.index, reloaded.rules, LANGUAGES))
    built = time.perf_counter()
    fired = [m.rule_id for m in matcher.match(witness)]
    active, active_cpu = time.perf_counter() - wall, time.thread_time() - cpu
    assert f"new-{run}" in fired, fired
    beside = "alone"
    if ingest is not None:
        during = ingest.between(wall, wall + active)
        beside = f"ingest meanwhile {len(during)} articles, longest {max(during, default=0) * 1000:.0f} ms"
    print(
        f"reload {run + 1}: edit of {path.name} → rule active in {active:.2f} s: seen {seen - wall:.2f} s, "
        f"then CPU {active_cpu:.2f} s on its thread: read {loaded - seen:.2f} s "
        f"({len(reloaded.parsed)} file parsed), index {built - loaded:.2f} s, "
        f"first match {wall + active - built:.2f} s; {beside}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 rules in 10 files, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.rules, args.files, args.runs = 1_000, 10, 1
    print(f"load before: {load()}")
    pipelines = LanguagePipelines(dict.fromkeys(LANGUAGES, "blank"), "it")
    for lang in LANGUAGES:
        pipelines.article_nlp(lang)
        pipelines.pattern_nlp(lang)
    common = common_vocabularies()
    generator = RuleGenerator(common)
    generated = ArticleGenerator(common, generator.rules(args.rules), generator.bank).batch(0, 200)
    articles = [
        make_article(title=g.title, body=g.body, language=g.language, source="bench", origin=f"a{i}")
        for i, g in enumerate(generated)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_rules(folder, args.rules, args.files)
        cache = RuleFileCache()
        for run in range(args.runs):
            cold_rules, cold_load, cold_load_cpu = timed(
                lambda: load_rules([folder], CHANNELS, RuleFileCache())
            )
            assert isinstance(cold_rules, RuleSet)
            index, cold_build, cold_build_cpu = timed(lambda r=cold_rules: build(r, pipelines))
            print(
                f"cold load {run + 1}: {len(cold_rules.rules):,} rules; read and checked {cold_load:.2f} s "
                f"(CPU {cold_load_cpu:.2f}), index {cold_build:.2f} s (CPU {cold_build_cpu:.2f}), "
                f"total {cold_load + cold_build:.2f} s"
            )
        rules = load_rules([folder], CHANNELS, cache)  # the daemon's start: the cache filled
        assert isinstance(index, RuleIndex)
        matcher = ArticleMatcher(build(rules, pipelines))
        matcher.match_many(articles)  # warm-up: vocabularies, flags, memory zones
        watch = Watch(folder)
        for run in range(args.runs):
            reload(run, paths, folder, cache, matcher, watch, None)
        ingest = Ingest(matcher, articles)
        thread = threading.Thread(target=ingest.run, daemon=True)
        thread.start()
        time.sleep(2.0)
        idle = ingest.between(time.perf_counter() - 1.5, time.perf_counter())
        print(f"ingest alone: {len(idle) / 1.5:.0f} articles/s, longest {max(idle) * 1000:.0f} ms")
        for run in range(args.runs, 2 * args.runs):
            time.sleep(1.0)
            reload(run, paths, folder, cache, matcher, watch, ingest)
        ingest.stop.set()
        thread.join()
        watch.close()
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
