"""Build the long-lived parts from Settings: store, language pipelines, rule index, pipeline.

Kept apart from the CLI and the daemon so both (and the tests) assemble the
system the same way, and so start-up validation happens in one place.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from weakref import WeakKeyDictionary

import httpx

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rebuild import rebuild_index
from monitor.matching.rulefile import RuleSet, load_rules
from monitor.notify.base import build_notifiers
from monitor.notify.sample import TestOutcome, sample_alert, send_test
from monitor.pipeline.ingest import Pipeline
from monitor.sources.language import LanguageGuesser
from monitor.store.engine import open_store
from monitor.store.repo import Store

log = logging.getLogger(__name__)
_BUILD_SECONDS: WeakKeyDictionary[RuleIndex, float] = WeakKeyDictionary()


def make_pipelines(settings: Settings) -> LanguagePipelines:
    """The pipelines, each built when a language is first met; a trained one is loaded now, so
    a package that is not installed fails at start-up.  A blank one cannot fail (an unknown
    language falls back to spaCy's multi-language tokenizer), and building each would hold back
    the daemon's first alert."""
    pipelines = LanguagePipelines(dict(settings.language_models), settings.default_language)
    for lang, model in settings.language_models.items():
        if model != "blank":
            pipelines.article_nlp(lang)
    return pipelines


def load_rule_set(settings: Settings) -> RuleSet:
    """Load the configured rules, logging every problem with its file and line."""
    rules = load_rules(settings.rules, channels=settings.channels.keys())
    for problem in rules.errors:
        log.error("invalid rule, left out: %s", problem)
    for problem in rules.warnings:
        log.warning("%s", problem)
    if not rules.rules:
        log.warning(
            "no rules loaded from %s: articles are stored but nothing will alert",
            ", ".join(str(p) for p in settings.rules),
        )
    else:
        log.info("rules loaded: %d from %d file(s)", len(rules.rules), len(rules.files))
    return rules


def build_matcher(settings: Settings, pipelines: LanguagePipelines | None = None) -> ArticleMatcher:
    pipelines = pipelines or make_pipelines(settings)
    return ArticleMatcher(build_index(load_rule_set(settings), pipelines, settings))


def build_index(
    rules: RuleSet,
    pipelines: LanguagePipelines,
    settings: Settings,
    *,
    also: Iterable[str] = (),
    previous: RuleIndex | None = None,
) -> RuleIndex:
    """The index with the default language's tables built now, and those of ``also`` (a reload
    passes the languages the running index has met, so their articles never wait for a build).

    Another language's tables are built when its first article is matched: a language costs a
    pipeline and, for lemma rules, its lemma table (Italian's is large), so building every
    configured one first would hold back the daemon's first alert.  A reload passes the running
    index as ``previous``: the new one is made of what it compiled (monitor.matching.rebuild).
    """
    languages = sorted({settings.default_language, *also})
    started = time.perf_counter()
    if previous is not None and previous.pipelines is pipelines:
        index = rebuild_index(previous, rules.rules, languages)
    else:
        index = RuleIndex(rules.rules, pipelines).build(languages)
    _BUILD_SECONDS[index] = time.perf_counter() - started
    return index


def index_build_seconds(index: RuleIndex) -> float:
    """How long ``index`` took to build (for the metrics); 0 for one built elsewhere."""
    return _BUILD_SECONDS.get(index, 0.0)


def build_guesser(settings: Settings) -> LanguageGuesser:
    return LanguageGuesser(settings.language_models.keys(), settings.default_language)


def orphaned_alerts(settings: Settings, store: Store) -> dict[str, int]:
    """Pending alerts for channels no longer in the config: kept, but nobody will send them."""
    pending = store.pending_by_channel()
    return {name: count for name, count in pending.items() if name not in settings.channels}


def build_pipeline(settings: Settings) -> Pipeline:
    """Everything the daemon and ``monitor scan`` need, validated now rather than mid-run."""
    store = open_store(settings.database)
    for channel, count in orphaned_alerts(settings, store).items():
        log.warning(
            "%d alert(s) wait for channel %r, which is no longer configured: they stay in the "
            "outbox and are sent if the channel comes back",
            count,
            channel,
        )
    return Pipeline(settings, store, build_matcher(settings), build_guesser(settings))


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The client feeds and channels share: our User-Agent, the configured overall timeout."""
    return httpx.AsyncClient(headers={"User-Agent": settings.http.agent}, timeout=settings.http.timeout)


async def test_channels(settings: Settings, names: Sequence[str], now: datetime) -> list[TestOutcome]:
    """``monitor notify test``: one sample alert through each named channel, and what each receiver said.

    The channels are built exactly as the daemon builds them (same client
    settings, same validation), so a channel that passes here works there.
    Raises ConfigError naming the channels that are not configured.
    """
    unknown = [name for name in names if name not in settings.channels]
    if unknown:
        raise ConfigError(
            f"no channel named {', '.join(map(repr, unknown))} in the config; "
            f"configured: {', '.join(settings.channels) or 'none'}"
        )
    chosen = {name: settings.channels[name] for name in names}
    async with http_client(settings) as client:
        notifiers = build_notifiers(chosen, client, state_dir=settings.state_dir)
        return [await send_test(notifiers[name], sample_alert(name, now)) for name in names]


def check_channels(settings: Settings) -> None:
    """Build every channel as the daemon will (templates compiled, secrets decoded); raises ConfigError."""
    with io.StringIO() as out:
        build_notifiers(settings.channels, http_client(settings), out=out, state_dir=settings.state_dir)
