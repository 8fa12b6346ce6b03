"""The metrics: Prometheus naming conventions, one registry per daemon, hooks that count right."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_settings
from monitor.metrics import Metrics
from monitor.service.daemon import Daemon
from monitor.service.ops import Check
from monitor.service.wiring import build_pipeline
from tests.conftest import REPO

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
UNIT_SUFFIXES = ("_seconds", "_bytes", "_total", "_rules", "_pending", "_info")


def families(metrics: Metrics) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(metrics.exposition().decode())}


def test_metrics_follow_prometheus_naming_conventions() -> None:
    metrics = Metrics(process=False)
    found = families(metrics)
    assert found, "no metric exposed"
    for name, kind in found.items():
        assert NAME.match(name) and name.startswith("monitor_"), name
        if kind == "counter":  # the parser drops _total from the family name; the samples carry it
            assert not name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
    text = metrics.exposition().decode()
    counters = [n for n, k in found.items() if k == "counter"]
    assert counters and all(f"# TYPE {n}_total counter" in text for n in counters)
    metrics.ingested("feed", 1, 1, 1, 1)
    metrics.feed_polled("x", 0.1, failed=True)
    metrics.delivered("hook", "sent")
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        if family.type == "counter":
            assert all(s.name in (f"{family.name}_total", f"{family.name}_created") for s in family.samples)
    assert "monitor_feed_fetch_duration_seconds_bucket" in text
    gauges = [n for n, k in found.items() if k == "gauge" and not n.endswith("_created")]
    assert all(n.endswith(UNIT_SUFFIXES) for n in gauges), gauges


def test_metrics_registries_are_isolated_from_each_other_and_the_global_one() -> None:
    first, second = Metrics(process=False), Metrics(process=False)
    first.ingested("folder", 3, 1, 2, 2)
    first.delivered("hook", "sent")
    assert "monitor_hits_total 2.0" in first.exposition().decode()
    assert "monitor_hits_total 0.0" in second.exposition().decode()
    assert REGISTRY.get_sample_value("monitor_hits_total") is None


def test_metrics_hooks_count_by_label() -> None:
    metrics = Metrics(process=False)
    metrics.channels(["hook", "slack"])
    metrics.delivered("hook", "sent")
    metrics.delivered("hook", "failed")
    metrics.delivered("hook", "failed")
    metrics.feed_polled("Esteri", 0.3, failed=True)
    metrics.feed_polled("Esteri", 0.02, failed=False)
    metrics.pending({"hook": 4, "slack": 1})
    metrics.pending({"hook": 2})  # slack emptied: reads 0, not a stale 1
    metrics.index_built(10_000, 1.25)
    r = metrics.registry
    assert r.get_sample_value("monitor_deliveries_total", {"channel": "hook", "outcome": "failed"}) == 2
    assert r.get_sample_value("monitor_deliveries_total", {"channel": "slack", "outcome": "dead"}) == 0
    assert r.get_sample_value("monitor_feed_fetch_errors_total", {"feed": "Esteri"}) == 1
    assert r.get_sample_value("monitor_feed_fetch_duration_seconds_count") == 2
    assert r.get_sample_value("monitor_feed_fetch_duration_seconds_bucket", {"le": "0.05"}) == 1
    assert r.get_sample_value("monitor_outbox_pending", {"channel": "slack"}) == 0
    assert r.get_sample_value("monitor_outbox_pending", {"channel": "hook"}) == 2
    assert r.get_sample_value("monitor_rule_index_rules") == 10_000
    assert r.get_sample_value("monitor_rule_index_build_seconds") == 1.25


def test_metrics_process_collector_is_opt_in_per_registry() -> None:
    assert "process_resident_memory_bytes" in Metrics().exposition().decode()
    assert "process_resident_memory_bytes" not in Metrics(process=False).exposition().decode()


async def test_daemon_readiness_names_the_database_when_it_is_gone(tmp_path: Path) -> None:
    """The database check really queries: the SQLite file's folder removed, it fails by name."""
    (tmp_path / "rules").mkdir()
    shutil.copy(REPO / "rules" / "esteri.yaml", tmp_path / "rules")
    (tmp_path / "monitor.yaml").write_text("state_dir: state\nsources: {folders: []}\n", encoding="utf-8")
    settings = load_settings(str(tmp_path / "monitor.yaml"), env={})
    daemon = Daemon(settings, build_pipeline(settings))
    await daemon.health.heartbeat_tick()
    checks = {c.name: c for c in await daemon.health.readiness()}
    assert all(c.ok for c in checks.values()), checks
    assert checks["rules"].detail.endswith("rules") and checks["scheduler"].detail.startswith("last tick")
    shutil.rmtree(tmp_path / "state")
    daemon.pipeline.store.engine.dispose()  # no pooled connection to the deleted file
    failed = {c.name: c for c in await daemon.health.readiness()}
    assert failed["database"] == Check("database", False, failed["database"].detail)
    assert "OperationalError" in failed["database"].detail
    assert [name for name, c in failed.items() if not c.ok] == ["database"]
