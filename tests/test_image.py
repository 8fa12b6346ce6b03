"""The container image built and run for real: deploy/Dockerfile with podman, buildah and runc.

Minutes of work, so only on request: ``make image-test`` (MONITOR_IMAGE_TEST=1), as root, with
podman, buildah and runc installed (Debian's packages).  Without a registry the base image is
the stand-in that deploy/podman/make-base-image.sh makes (debootstrap), built when missing.
The image is built from a clean clone of the repository (what is committed, not the working
tree) with the command deploy/README.md gives, then run as a user would, with the runtime
options this kind of host needs (``PODMAN``, ``RUN_OPTIONS``), against a webhook receiver on
127.0.0.1 (``--network host``) and, given MONITOR_TEST_DATABASE_URL, a fresh PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO
from tests.notify.receivers import WebhookReceiver

T = TypeVar("T")

BASE_IMAGE = "docker.io/library/python:3.11-slim"  # what the Dockerfile's FROM python:3.11-slim names
MAKE_BASE_IMAGE = REPO / "deploy" / "podman" / "make-base-image.sh"
DEPLOY_README = REPO / "deploy" / "README.md"
SIZE_GOAL_MB = 600
STOP_GRACE_S = 45  # deploy/README.md and compose.yaml's stop_grace_period
HEALTH_PORT = 9464  # the image's config and HEALTHCHECK; on the host's loopback with --network host
PATIENCE_S = 600  # only catches a hang: a cold start on a loaded 2-core machine takes a minute
UID = "10001"

# podman on a host with hybrid cgroups (v1) and no systemd: crun refuses it, runc does not.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
RUN_OPTIONS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "host"]

# One article per check, each firing one shipped rule; distinct stories, so none is a duplicate.
AIRSTRIKES = (  # "attacchi aerei" matches "attacco aereo" only through the lemma tables
    "Attacchi aerei nella notte sul porto",
    "Attacchi aerei nella notte sul porto: colpiti due depositi di carburante e una banchina, "
    "nessuna vittima secondo le autorità locali, che hanno chiuso lo scalo fino a nuovo ordine.",
    "attacchi-aerei",
)
FINLAND = (
    "Helsinki presenta il piano per le foreste",
    "Il governo di Helsinki ha presentato il nuovo piano nazionale per le foreste: la Finlandia "
    "pianterà cento milioni di alberi entro il 2030, con fondi per i comuni del nord.",
    "finlandia",
)
TRUCE = (
    "Tregua di tre giorni nella regione",
    "Le parti hanno concordato una tregua di tre giorni nella regione per far passare gli aiuti "
    "umanitari, annunciano i mediatori al termine di una lunga notte di colloqui.",
    "cessate-il-fuoco",
)


def _why_not() -> str | None:
    if os.environ.get("MONITOR_IMAGE_TEST") != "1":
        return "builds and runs the container image (minutes): `make image-test` or MONITOR_IMAGE_TEST=1"
    if os.geteuid() != 0:
        return "podman here runs as root (rootful storage, runc, cgroupfs)"
    missing = [tool for tool in ("podman", "buildah", "runc", "git") if shutil.which(tool) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install podman buildah runc)"
    return None


pytestmark = [pytest.mark.image, pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")]


# -- helpers -------------------------------------------------------------------------------------
def podman(*args: str, check: bool = True, timeout: float = PATIENCE_S) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False, errors="replace"
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {shlex.join(args)}: exit {result.returncode}\n{result.stderr[-3000:]}")
    return result


def wait_for(what: str, probe: Callable[[], T | None], container: str) -> T:
    """Poll ``probe`` until it returns something, while ``container`` runs; the deadline only
    catches a hang."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container).stdout
        if not state.startswith("running"):
            break
        time.sleep(0.5)
    else:
        state = f"still running after {PATIENCE_S} s"
    logs = podman("logs", "--tail", "60", container, check=False)
    raise AssertionError(f"no {what}: container {state.strip()}\n{logs.stdout}{logs.stderr}")


def readme_build_command() -> list[str]:
    """The buildah command deploy/README.md gives podman users, word for word."""
    lines = [line.strip() for line in DEPLOY_README.read_text(encoding="utf-8").splitlines()]
    [command] = [line for line in lines if line.startswith("buildah bud ")]
    return shlex.split(command.split(" #", 1)[0])


def image_tag(command: list[str]) -> str:
    return command[command.index("-t") + 1]


def article(tmp_path: Path, story: tuple[str, str, str]) -> Path:
    title, body, _rule = story
    path = tmp_path / f"{_rule}.txt"
    path.write_text(f"{title}\n{body}\n", encoding="utf-8")
    path.chmod(0o644)
    return path


def alerts_for(receiver: WebhookReceiver, rule: str) -> list[dict[str, Any]]:
    bodies = [body["data"] for _headers, body in receiver.received if body]
    return [data for data in bodies if data["rule"]["id"] == rule]


def health_port_is_free() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", HEALTH_PORT)) != 0


@dataclass
class Container:
    """One ``podman run -d`` of the image; removed (with nothing left running) at the end."""

    name: str
    image: str

    def run(self, volume: str, env: dict[str, str]) -> None:
        assert health_port_is_free(), f"127.0.0.1:{HEALTH_PORT} is taken: the image's endpoint needs it"
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        podman("run", "-d", "--name", self.name, *RUN_OPTIONS, "-v", f"{volume}:/data", *env_args, self.image)

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, check=False)

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).stdout.strip()

    def drop(self, path: Path) -> None:
        """Into the watched folder, as deploy/README.md says (`docker cp article.txt ...:/data/inbox/`)."""
        podman("cp", str(path), f"{self.name}:/data/inbox/{path.name}")

    def healthy(self) -> bool | None:
        """The image's own HEALTHCHECK, run now; None while it fails (the daemon still starting)."""
        return True if podman("healthcheck", "run", self.name, check=False).returncode == 0 else None

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


@pytest.fixture
def containers() -> Iterator[Callable[[], Container]]:
    made: list[Container] = []
    image = image_tag(readme_build_command())

    def make() -> Container:
        made.append(Container(f"news-monitor-test-{uuid.uuid4().hex[:8]}", image))
        return made[-1]

    yield make
    for container in made:
        container.remove()


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"news-monitor-test-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "--force", name, check=False)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


# -- the build -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Built:
    tag: str
    size_mb: float
    config: dict[str, Any]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Built once per run, from a clean clone, exactly as deploy/README.md tells a podman user."""
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        if shutil.which("debootstrap") is None:
            pytest.skip(
                f"no {BASE_IMAGE}, and no debootstrap to make its stand-in (apt-get install debootstrap)"
            )
        subprocess.run([str(MAKE_BASE_IMAGE)], check=True, capture_output=True, timeout=1800)
    clone = tmp_path_factory.mktemp("image") / "news-monitor"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    command = readme_build_command()
    tag = image_tag(command)
    previous = podman("image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()
    started = time.monotonic()
    build = subprocess.run(command, cwd=clone, capture_output=True, text=True, timeout=3600, errors="replace")
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    minutes = (time.monotonic() - started) / 60
    [config] = json.loads(podman("image", "inspect", tag).stdout)
    if previous and previous != config["Id"]:  # the last run's image, now untagged
        podman("rmi", previous, check=False)
    size_mb = int(config["Size"]) / 1e6
    print(f"\nimage {tag}: {size_mb:.0f} MB, built in {minutes:.1f} min: {shlex.join(command)}")
    return Built(tag, size_mb, config)


def test_image_builds_from_a_clean_checkout_as_documented(image: Built) -> None:
    assert image.size_mb < SIZE_GOAL_MB, f"{image.size_mb:.0f} MB"
    config = image.config["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["monitor"] and config["Cmd"] == ["run"]
    assert config["StopSignal"] == "SIGTERM"
    # OCI images have no HEALTHCHECK: the README's build command must ask for the docker format.
    healthcheck = image.config.get("Healthcheck") or {}
    assert healthcheck.get("Test", [])[:2] == ["CMD", "python"], healthcheck


# -- running it ----------------------------------------------------------------------------------
def test_image_runs_as_non_root_monitor_pid1_and_alerts_from_the_inbox(
    image: Built, containers: Callable[[], Container], volume: str, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    container = containers()
    container.run(volume, {"WEBHOOK_URL": receiver.url})
    container.drop(article(tmp_path, AIRSTRIKES))
    [alert] = wait_for("webhook alert", lambda: alerts_for(receiver, AIRSTRIKES[2]) or None, container.name)
    assert alert["article"]["title"] == AIRSTRIKES[0]
    assert wait_for("healthy HEALTHCHECK", container.healthy, container.name)
    assert container.inspect("{{.State.Health.Status}}") == "healthy"

    pid1 = container.exec("cat", "/proc/1/cmdline").stdout.split("\0")
    assert Path(pid1[1]).name == "monitor" and pid1[2] == "run", pid1  # python /opt/venv/bin/monitor run
    status = container.exec("cat", "/proc/1/status").stdout
    [uids] = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
    assert uids == [UID] * 4  # real, effective, saved, filesystem
    checks = container.exec("sh", "-c", 'test -w "$HOME" && ! test -w /app/monitor.yaml && echo "$HOME"')
    assert checks.returncode == 0 and checks.stdout.strip() != "/app", checks.stdout + checks.stderr
    assert "channels: console, webhook" in container.exec("monitor", "check").stdout


def test_image_stops_on_sigterm_and_a_restart_sends_nothing_twice(
    image: Built, containers: Callable[[], Container], volume: str, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    first = containers()
    first.run(volume, {"WEBHOOK_URL": receiver.url})
    first.drop(article(tmp_path, AIRSTRIKES))
    wait_for("webhook alert", lambda: alerts_for(receiver, AIRSTRIKES[2]) or None, first.name)

    podman("stop", "--time", str(STOP_GRACE_S), first.name)
    # Exit code 0: the daemon drained and exited on SIGTERM itself (SIGKILL after the grace period is 137).
    assert first.inspect("{{.State.ExitCode}}") == "0", first.logs()[-3000:]
    first.remove()

    second = containers()
    second.run(volume, {"WEBHOOK_URL": receiver.url})
    second.drop(article(tmp_path, FINLAND))
    wait_for("alert after the restart", lambda: alerts_for(receiver, FINLAND[2]) or None, second.name)
    # The restarted daemon has scanned the inbox (the new file alerted): the old file sent nothing again.
    assert len(alerts_for(receiver, AIRSTRIKES[2])) == 1
    keys = [headers["webhook-id"] for headers, _body in receiver.received]
    assert len(keys) == len(set(keys)) == 2, keys


def compose_environment(database_url: str, webhook_url: str) -> dict[str, str]:
    """deploy/compose.yaml's environment for the monitor service, pointed at this machine: its
    database at ``database_url``; its endpoint on the host's loopback (what compose publishes);
    its pass-through variables set where this test has a value for them."""
    compose = YAML(typ="safe").load((REPO / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    here = {
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_SERVER_HOST": "127.0.0.1",
        "MONITOR_WEB_TOKEN": "image-test-token-" + "0" * 32,  # compose refuses to start without one
        "WEBHOOK_URL": webhook_url,
    }
    env: dict[str, str] = {}
    for item in compose["services"]["monitor"]["environment"]:
        key, has_value, value = item.partition("=")
        if key in here:
            env[key] = here[key]
        elif has_value:
            env[key] = value
    assert set(here) <= set(env), f"compose.yaml no longer sets {sorted(set(here) - set(env))}"
    return env


@pytest.mark.postgres
def test_image_runs_against_postgresql_with_the_compose_environment(
    image: Built,
    containers: Callable[[], Container],
    volume: str,
    receiver: WebhookReceiver,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    import psycopg

    container = containers()
    container.run(volume, compose_environment(postgres_url, receiver.url))
    container.drop(article(tmp_path, TRUCE))
    wait_for("webhook alert", lambda: alerts_for(receiver, TRUCE[2]) or None, container.name)
    assert wait_for("healthy HEALTHCHECK", container.healthy, container.name)
    with psycopg.connect(postgres_url) as conn:
        hits = conn.execute("SELECT rule_id FROM hits").fetchall()
    assert (TRUCE[2],) in hits
    listing = container.exec("ls", "-A", "/data").stdout.split()
    assert "monitor.db" not in listing, listing  # nothing went to the SQLite default
    podman("stop", "--time", str(STOP_GRACE_S), container.name)
    assert container.inspect("{{.State.ExitCode}}") == "0", container.logs()[-3000:]
