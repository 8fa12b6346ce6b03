"""The daemon's Prometheus metrics, in a registry of its own.

A registry per daemon (not prometheus_client's global one) keeps tests and
several daemons in one process apart, and keeps the library's process and
platform collectors out unless asked for.  Names follow the Prometheus
conventions: a ``monitor_`` prefix, base units (seconds), ``_total`` on
counters, labels for the dimensions that stay few (channel, outcome, feed).
The hooks are small methods so the pipeline only calls ``metrics.x(...)``.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "OUTCOMES", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
OUTCOMES = ("sent", "failed", "dead", "held")
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Every metric the daemon exposes; one instance per daemon."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if process:  # process_cpu_seconds_total, process_resident_memory_bytes, … (Linux /proc)
            ProcessCollector(registry=self.registry)
        r = self.registry
        self.articles_ingested = Counter(
            "monitor_articles_ingested", "New articles recorded, by source kind.", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "monitor_articles_duplicate",
            "Articles seen again and skipped, by source kind.",
            ["kind"],
            registry=r,
        )
        self.hits = Counter("monitor_hits", "Rule hits recorded.", registry=r)
        self.alerts_queued = Counter("monitor_alerts_queued", "Alerts put in the outbox.", registry=r)
        self.deliveries = Counter(
            "monitor_deliveries",
            "Delivery attempts by channel and outcome (sent, failed = retried later, dead, held).",
            ["channel", "outcome"],
            registry=r,
        )
        self.fetch_duration = Histogram(
            "monitor_feed_fetch_duration_seconds",
            "Time to fetch and process one feed poll.",
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.fetch_errors = Counter(
            "monitor_feed_fetch_errors", "Feed polls that failed, by feed name.", ["feed"], registry=r
        )
        self.outbox_pending = Gauge(
            "monitor_outbox_pending", "Alerts waiting in the outbox, by channel.", ["channel"], registry=r
        )
        self.outbox_stalled = Gauge(
            "monitor_outbox_stalled_since_timestamp_seconds",
            "Unix time delivery was paused because the database did not record what was sent; 0 if running.",
            registry=r,
        )
        self.rules = Gauge("monitor_rule_index_rules", "Rules in the active index.", registry=r)
        self.build_seconds = Gauge(
            "monitor_rule_index_build_seconds", "How long the active rule index took to build.", registry=r
        )
        self.job_runs = Counter(
            "monitor_job_runs",
            "Scheduled job runs by kind and outcome (ok, failed, timeout).",
            ["job", "outcome"],
            registry=r,
        )
        self.reloads = Counter(
            "monitor_reloads", "Reloads by outcome (ok, refused).", ["outcome"], registry=r
        )
        self.last_tick = Gauge(
            "monitor_scheduler_last_tick_timestamp_seconds",
            "Unix time of the scheduler's last heartbeat.",
            registry=r,
        )
        self._pending_channels: set[str] = set()

    # -- hooks ---------------------------------------------------------------------------------
    def channels(self, names: list[str]) -> None:
        """Create each channel's series at zero, so a rate() sees the very first delivery."""
        for name in names:
            for outcome in OUTCOMES:
                self.deliveries.labels(name, outcome)

    def ingested(self, kind: str, articles: int, duplicates: int, hits: int, alerts: int) -> None:
        self.articles_ingested.labels(kind).inc(articles)
        self.duplicates.labels(kind).inc(duplicates)
        self.hits.inc(hits)
        self.alerts_queued.inc(alerts)

    def delivered(self, channel: str, outcome: str) -> None:
        self.deliveries.labels(channel, outcome).inc()

    def feed_polled(self, feed: str, seconds: float, *, failed: bool) -> None:
        self.fetch_duration.observe(seconds)
        if failed:
            self.fetch_errors.labels(feed).inc()

    def pending(self, by_channel: dict[str, int]) -> None:
        """Set the outbox gauge; a channel that emptied reads 0 rather than vanishing."""
        for channel in self._pending_channels - by_channel.keys():
            self.outbox_pending.labels(channel).set(0)
        for channel, count in by_channel.items():
            self.outbox_pending.labels(channel).set(count)
        self._pending_channels |= by_channel.keys()

    def index_built(self, rules: int, seconds: float) -> None:
        self.rules.set(rules)
        self.build_seconds.set(seconds)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
