"""The installed package, not the source tree: what the Dockerfile and the systemd guide install.

Builds the wheel offline (as `pip install .` does in the image), checks it holds
every module and the `monitor` entry point, then runs the unpacked package in
the image's layout (/app/monitor.yaml, /app/rules, /data) from a folder where
the source tree cannot be imported by accident.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, SEEDS, SHIPPED_RULE_IDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel for the whole run, whichever xdist worker asks first.

    It is built in the source tree (build/, the .egg-info), so two workers building at once break
    each other's build: the others wait on a lock in the run's shared temporary folder and reuse it.
    """
    base = tmp_path_factory.getbasetemp()
    out = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "wheel"
    out.mkdir(exist_ok=True)
    with (out / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        built = list(out.glob("news_monitor-*.whl"))
        if not built:
            build_wheel(out)
            built = list(out.glob("news_monitor-*.whl"))
    [wheel] = built
    return wheel


def build_wheel(out: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )


def test_packaging_wheel_holds_every_module_and_the_entry_point(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(REPO)) for p in (REPO / "monitor").rglob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "monitor = monitor.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_packaging_wheel_holds_the_web_apps_templates_and_assets(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        str(p.relative_to(REPO))
        for folder in ("templates", "static")
        for p in (REPO / "monitor" / "web" / folder).iterdir()
    }
    assert shipped and shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler: no compiled sentence scan")
def test_packaging_wheel_holds_the_compiled_sentence_scan(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("monitor/matching/_sentences.") and n.endswith((".so", ".pyd")) for n in names)


def test_packaging_installed_package_runs_in_the_image_layout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    app, data = tmp_path / "app", tmp_path / "data"
    shutil.copytree(REPO / "rules", app / "rules")
    (data / "inbox").mkdir(parents=True)
    shutil.copy(next(SEEDS.glob("*.txt")), data / "inbox")
    config = (REPO / "deploy" / "docker.yaml").read_text(encoding="utf-8")
    (app / "monitor.yaml").write_text(
        config.replace("/app/", f"{app}/").replace("/data", str(data)), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "MONITOR_CONFIG": str(app / "monitor.yaml")}
    env.pop("MONITOR_DATABASE_URL", None)

    def monitor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import monitor; print(monitor.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))  # the installed copy, not the source tree
    if shutil.which("gcc"):  # the installed copy loads the module built with the wheel
        probe = "from monitor.matching import snippet; print(snippet.compiled())"
        compiled = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert compiled.stdout.strip() == "True", compiled.stderr
    run = monitor("run", "--once")
    assert run.returncode == 0, run.stderr
    assert "[NATO] Prima chiamata tra Usa e Russia" in run.stdout  # an alert on the console channel
    assert (data / "monitor.db").exists()
    check = monitor("check")
    assert check.returncode == 0 and f"rules: {len(SHIPPED_RULE_IDS)} valid" in check.stdout
