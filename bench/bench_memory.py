"""What each dependency costs resident, and the daemon's memory after warm-up.

    python bench/bench_memory.py [--quick] [--rules N] [--articles N]

Each figure is measured in a fresh interpreter (this script run again with ``--one PART``), as
the growth of its resident set (RSS) from a starting point to after the part is loaded and used
once, so parts do not share pages with each other:

- ``spacy``: spaCy's blank it and en pipelines, the article and pattern ones, as the matcher
  builds them (from after ``import monitor.models``);
- ``lingua``: the language detector for it and en, after one detection (its models load lazily);
- ``trafilatura``: its import and one article extraction;
- ``lemmas``: the it and en lemma tables (from after spaCy's import);
- ``index``: the rule index of N generated rules (default 10,000; from after the blank pipelines
  and the rules were generated);
- ``daemon-2`` and ``daemon-N``: the daemon's pipeline as ``monitor run`` builds it
  (``build_pipeline`` from a monitor.yaml, SQLite in a temporary folder) with 2 rules and with
  N rules, after it processed ``--articles`` generated articles (default 1,000, the matcher's
  warm-up): the absolute RSS.

RSS is what the kernel reports (``/proc/self/statm``); Python's allocator keeps freed memory,
so a figure is an upper bound of what the part holds.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PAGE = """<html><head><title>Talks in Helsinki</title></head><body><nav><a href="/">Home</a></nav>
<article><h1>Talks in Helsinki</h1><p>Finland and Sweden signed their application to join NATO on
Tuesday, after weeks of talks with the alliance's members.</p><p>Officials said the next round would
start in the autumn, once every member state has ratified the protocol.</p></article></body></html>"""


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _spacy() -> Callable[[], object]:
    import monitor.models  # noqa: F401  (the starting point: the project's own light modules)

    def load() -> object:
        from monitor.matching.nlp import LanguagePipelines

        pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
        for lang in ("it", "en"):
            pipelines.article_nlp(lang)("Il governo e la NATO")
            pipelines.pattern_nlp(lang)
        return pipelines

    return load


def _lingua() -> Callable[[], object]:
    import monitor.models  # noqa: F401

    def load() -> object:
        from monitor.sources.language import LanguageGuesser

        guesser = LanguageGuesser(["it", "en"], "it")
        guesser.guess("Il governo ha approvato la legge di bilancio dopo un lungo dibattito in aula")
        return guesser

    return load


def _trafilatura() -> Callable[[], object]:
    import monitor.models  # noqa: F401

    def load() -> object:
        import trafilatura

        return trafilatura.bare_extraction(PAGE, with_metadata=False)

    return load


def _lemmas() -> Callable[[], object]:
    import spacy  # noqa: F401

    def load() -> object:
        from monitor.matching.lemmas import lemma_table

        return [lemma_table("it"), lemma_table("en")]

    return load


def _index(rules: int) -> Callable[[], object]:
    from corpus import RuleGenerator, common_vocabularies

    from monitor.matching.compiler import RuleIndex
    from monitor.matching.nlp import LanguagePipelines

    pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
    for lang in ("it", "en"):
        pipelines.article_nlp(lang)
        pipelines.pattern_nlp(lang)
    specs = [rule.spec(i) for i, rule in enumerate(RuleGenerator(common_vocabularies()).rules(rules))]

    def load() -> object:
        return RuleIndex(specs, pipelines).build(("it", "en"))

    return load


def _yaml_quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def daemon(rules: int, articles: int) -> dict[str, float]:
    """The daemon's pipeline with ``rules`` rules after ``articles`` articles: absolute RSS."""
    from corpus import ArticleGenerator, RuleGenerator, common_vocabularies

    from monitor.config import load_settings
    from monitor.models import make_article
    from monitor.service.wiring import build_pipeline

    common = common_vocabularies()
    generator = RuleGenerator(common)
    stream = generator.rules(max(rules, 2))[:rules]
    generated = ArticleGenerator(common, stream, generator.bank).batch(0, articles)
    items = [
        make_article(title=g.title, body=g.body, source="bench", origin=f"a{i}")
        for i, g in enumerate(generated)
    ]
    del generated, generator, common
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = ["rules:"]
        for i, rule in enumerate(stream):
            lines += [f"  - id: r{i}", f"    query: {_yaml_quoted(rule.query)}"]
            if rule.languages:
                lines.append(f"    languages: [{', '.join(rule.languages)}]")
        (folder / "rules.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        del stream, lines
        (folder / "monitor.yaml").write_text(
            "database: sqlite:///monitor.db\nrules: [rules.yaml]\nsources: {folders: [], feeds: []}\n"
            "channels: {desk: {type: console}}\ndefaults: {notify: [desk]}\n",
            encoding="utf-8",
        )
        started = time.perf_counter()
        pipeline = build_pipeline(load_settings(str(folder / "monitor.yaml"), env={}))
        built = rss_mb()
        build_s = time.perf_counter() - started
        for start in range(0, len(items), 200):
            pipeline.process(items[start : start + 200])
        warm = rss_mb()
        pipeline.store.engine.dispose()
    return {"built": built, "warm": warm, "build_s": build_s, "peak": _peak_mb()}


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(part: str, args: argparse.Namespace) -> dict[str, float]:
    if part.startswith("daemon-"):
        return daemon(int(part.split("-", 1)[1]), args.articles)
    makers: dict[str, Callable[[], Callable[[], object]]] = {
        "spacy": _spacy,
        "lingua": _lingua,
        "trafilatura": _trafilatura,
        "lemmas": _lemmas,
        "index": lambda: _index(args.rules),
    }
    load = makers[part]()
    before = rss_mb()
    started = time.perf_counter()
    kept = load()
    seconds = time.perf_counter() - started
    after = rss_mb()
    del kept
    return {"before": before, "after": after, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 rules and 200 articles")
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=1_000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--parts", default="spacy,lingua,trafilatura,lemmas,index,daemon-2,daemon-RULES")
    args = parser.parse_args()
    if args.quick:
        args.rules, args.articles = 1_000, 200
    if args.one:
        print(json.dumps(one(args.one, args)))
        return
    print(f"bench_memory: load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}, RSS in MB")
    for part in args.parts.replace("RULES", str(args.rules)).split(","):
        command = [sys.executable, __file__, "--one", part, "--rules", str(args.rules)]
        command += ["--articles", str(args.articles)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ)
        if done.returncode:
            print(f"  {part}: failed\n{done.stderr[-2000:]}")
            continue
        got = json.loads(done.stdout.strip().splitlines()[-1])
        if part.startswith("daemon-"):
            print(
                f"  {part:12} built {got['built']:.0f} MB in {got['build_s']:.1f} s; after {args.articles:,}"
                f" articles {got['warm']:.0f} MB (peak {got['peak']:.0f} MB)"
            )
        else:
            print(
                f"  {part:12} +{got['after'] - got['before']:.0f} MB"
                f" ({got['before']:.0f} → {got['after']:.0f} MB, {got['seconds']:.1f} s)"
            )
    print(f"load average now {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
