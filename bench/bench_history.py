"""The history at scale: what the full-text index costs ingestion, search latency, export and prune rates.

    python bench/bench_history.py [--quick] [--articles N] [--database URL]

N generated ~700-word articles (Italian and English, Zipfian vocabulary from
bench/corpus.py; one in five with a hit) are recorded with ``Store.record`` in
batches of 500, as the pipeline does, twice: on a database at revision 0003
(no full-text index) and at head (0004: FTS5 on SQLite, tsvector + GIN on
PostgreSQL).  Then on the indexed one: ``History.hits`` / ``History.articles``
searches (median of 5 runs, first 100 results), a streamed CSV export of every
article, a dry-run count and a prune of every body.  Printed: figures for this
machine, not targets.  Not a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import common_vocabularies
from monitor.models import Article, Match, TermHit, make_article
from monitor.pipeline.export import ARTICLE_FIELDS, article_record, csv_lines
from monitor.store.engine import make_engine, prepare_schema
from monitor.store.repo import Routed, Store
from monitor.store.retention import Cutoffs, Retention
from monitor.store.schema import MIGRATIONS
from monitor.store.search import ArticleFilter, History, HitFilter

BATCH = 500
NOW = datetime(2026, 12, 1, tzinfo=UTC)
MATCH = Match("bench", "Bench", (TermHit("x", "x", "body", 0, 1),), "…snippet…")


def articles(count: int, seed: int = 11) -> list[Article]:
    common = common_vocabularies()
    out = []
    for i in range(count):
        rng = random.Random(seed * 1_000_003 + i)
        lang = "it" if i % 2 == 0 else "en"
        vocab = common[lang]
        words = rng.choices(vocab.words, cum_weights=vocab.cumulative, k=700)
        title = " ".join(rng.choices(vocab.words, cum_weights=vocab.cumulative, k=9)).capitalize()
        body = ". ".join(" ".join(words[k : k + 20]).capitalize() for k in range(0, 700, 20)) + "."
        out.append(make_article(title=title, body=body, source="bench", origin=f"a{i}", language=lang))
    return out


def fresh(url: str | None, directory: Path, name: str) -> Engine:
    if url is None:
        return make_engine(f"sqlite:///{directory / name}.db")
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(text("DROP SCHEMA public CASCADE"))
        db.execute(text("CREATE SCHEMA public"))
    return engine


def migrate(engine: Engine, target: str) -> None:
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, target)


def upgrade(engine: Engine) -> None:
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def ingest(store: Store, items: list[Article]) -> float:
    start = time.perf_counter()
    for first in range(0, len(items), BATCH):
        batch = [
            Routed(a, [(MATCH, [])] if (first + i) % 5 == 0 else [])
            for i, a in enumerate(items[first : first + BATCH])
        ]
        store.record(batch, [], NOW - timedelta(days=200))
    return len(items) / (time.perf_counter() - start)


def settle(engine: Engine) -> None:
    """What autovacuum does within a minute of a bulk load: without it, PostgreSQL plans the first
    searches over a GIN pending list as a sequential scan (about 0.8 s at 20,000 articles)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM ANALYZE articles"))


def median_ms(run: Callable[[], object], times: int = 5) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def size(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        return f"{total / 1e6:.0f} MB (file + WAL)"
    with engine.connect() as db:
        value = db.execute(text("SELECT pg_total_relation_size('articles')")).scalar() or 0
    return f"{value / 1e6:.0f} MB (articles, with indexes and TOAST)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 articles")
    parser.add_argument("--database", help="a PostgreSQL URL (emptied!); default: SQLite files in a temp dir")
    args = parser.parse_args()
    count = 2_000 if args.quick else args.articles
    items = articles(count)
    with tempfile.TemporaryDirectory() as tmp:
        plain = fresh(args.database, Path(tmp), "plain")
        prepare_schema(plain)
        migrate(plain, "0003")
        rate_plain = ingest(Store(plain), items)
        start = time.perf_counter()
        upgrade(plain)
        indexing = time.perf_counter() - start
        plain.dispose()
        engine = fresh(args.database, Path(tmp), "indexed")
        prepare_schema(engine)
        store = Store(engine)
        rate = ingest(store, items)
        settle(engine)
        print(f"{engine.dialect.name}: {count} articles of ~700 words, batches of {BATCH}")
        print(f"  ingest without index: {rate_plain:,.0f} articles/s; with: {rate:,.0f} articles/s")
        print(
            f"  monitor db upgrade to 0004 over them: {indexing:.1f} s ({count / indexing:,.0f} articles/s)"
        )
        print(f"  database size: {size(engine)}")
        searches(History(store))
        export(History(store))
        prune(engine)
        engine.dispose()


def searches(history: History) -> None:
    vocab = common_vocabularies()["it"].words
    for label, words in [
        ("common word", vocab[3]),
        ("mid word", vocab[300]),
        ("rare word", vocab[5000]),
        ("two words", f"{vocab[40]} {vocab[400]}"),
        ("phrase", f'"{vocab[0]} {vocab[1]}"'),
        ("OR", f"{vocab[2000]} OR {vocab[3000]}"),
    ]:
        hits = median_ms(lambda w=words: list(history.hits(HitFilter(search=w, limit=100))))
        arts = median_ms(lambda w=words: list(history.articles(ArticleFilter(search=w, limit=100))))
        found = sum(1 for _ in history.articles(ArticleFilter(search=words, limit=None)))
        print(f"  search {label:<12} {found:>6} articles match: hits {hits:6.1f} ms, articles {arts:6.1f} ms")


def export(history: History) -> None:
    start = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        records = map(article_record, history.articles(ArticleFilter(limit=None)))
        rows = sum(sink.write(line) >= 0 for line in csv_lines(records, ARTICLE_FIELDS)) - 1
    elapsed = time.perf_counter() - start
    tracemalloc.start()  # a second pass, traced (slower): the most Python memory held at once
    records = map(article_record, history.articles(ArticleFilter(limit=None)))
    for _line in csv_lines(records, ARTICLE_FIELDS):
        pass
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    print(f"  export csv: {rows:,} articles at {rows / elapsed:,.0f} rows/s, at most {peak:.1f} MB held")


def prune(engine: Engine) -> None:
    retention = Retention(engine)
    cut = Cutoffs(article_bodies=NOW - timedelta(days=90))
    start = time.perf_counter()
    forecast = retention.count(cut)
    counted = time.perf_counter() - start
    start = time.perf_counter()
    done = retention.prune(cut)
    pruned = time.perf_counter() - start
    assert done == forecast, (done, forecast)
    print(
        f"  prune: dry-run count {counted * 1000:.0f} ms; {done.bodies:,} bodies emptied in "
        f"{pruned:.1f} s ({done.bodies / pruned:,.0f}/s, index updated); size after: {size(engine)}"
    )


if __name__ == "__main__":
    main()
