"""``monitor web``: the app alone over a database a daemon filled, reading and never ingesting."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from monitor.cli.base import ExitCode
from monitor.config import Settings
from monitor.service.ops import AppServer
from monitor.store.engine import open_store
from monitor.web.serve import for_database
from tests.ops_support import make_workdir, wait_for
from tests.web.support import CONFIG


@contextlib.contextmanager
def _web(workdir: Path, *options: str) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`monitor web` as a child process, its log (stderr) in a file; stopped (SIGTERM) at the end."""
    log = workdir / "web.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    with log.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.yaml"), "web", *options],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
        try:
            yield process, log
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def test_standalone_serves_the_database_read_only(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, CONFIG)
    scanned = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.yaml"), "run", "--once"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scanned.returncode == 0, scanned.stderr
    with _web(workdir, "--port", "0") as (process, log):
        pattern = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")
        assert wait_for(lambda: bool(pattern.search(log.read_text())) or process.poll() is not None, 90)
        found = pattern.search(log.read_text())
        assert found, log.read_text()
        base = f"http://127.0.0.1:{found[1]}"
        hits = httpx.get(f"{base}/api/v1/hits", timeout=30).json()
        page = httpx.get(f"{base}/", timeout=30)
        rules = httpx.get(f"{base}/api/v1/rules", timeout=30).json()
        posted = httpx.post(f"{base}/api/v1/articles", json={"title": "NATO"}, timeout=30)
        ready = httpx.get(f"{base}/readyz", timeout=30)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, log.read_text()
    assert hits["items"] and "monitor web (read-only, no ingestion)" in page.text
    assert [rule["id"] for rule in rules["rules"]] == ["nato"]
    assert posted.status_code == 405 and "only reads" in posted.json()["error"]
    assert ready.status_code == 200 and ready.text.startswith("ready")
    assert "ingests nothing" in log.read_text()


async def test_standalone_serves_metrics_of_its_own_process(tmp_path: Path) -> None:
    """As the daemon does, through prometheus_client's ASGI app: the process's figures, no daemon's."""
    settings = Settings(database=f"sqlite:///{tmp_path / 'monitor.db'}", state_dir=tmp_path)
    store = open_store(settings.database)
    server = AppServer(for_database(settings, store), "127.0.0.1", 0)
    _host, port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            metrics = await client.get("/metrics")
    finally:
        await server.close()
        store.engine.dispose()
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "process_cpu_seconds_total" in metrics.text and "process_resident_memory_bytes" in metrics.text
    assert "monitor_articles_ingested" not in metrics.text


def test_standalone_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, CONFIG)
    with _web(workdir, "--host", "0.0.0.0", "--port", "0") as (process, log):
        code = process.wait(timeout=120)
    assert code == ExitCode.UNUSABLE
    assert "beyond this machine, and server.token is not set" in log.read_text()
