"""deploy/: the systemd unit, the container image, the compose file and the example configs.

There is no systemd PID 1 and no Docker engine here, so the unit is checked with
``systemd-analyze`` (``verify`` and the offline ``security`` review), the Dockerfile
and the compose file are parsed and their invariants asserted, and the example
configs are loaded with the real config loader.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from ruamel.yaml import YAML

from monitor.config import SlackChannel, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "news-monitor.service"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
MAX_EXPOSURE = 3.0  # systemd-analyze security: 0 = fully sandboxed … 10 = "UNSAFE"
PACKAGED_MONITOR = "/opt/news-monitor/venv/bin/monitor"

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (package systemd): unit not checked"
)


# -- helpers: systemd unit ------------------------------------------------------------------------
def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Section → ordered (key, value) pairs; keys may repeat, as in systemd."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(key: str, section: str = "Service") -> list[str]:
    return [v for k, v in parse_unit(UNIT.read_text(encoding="utf-8"))[section] if k == key]


def runnable_unit_copy(tmp_path: Path, extra: str = "") -> Path:
    """The unit with ExecStart pointed at an existing executable (the venv is not installed
    here) and ``extra`` lines appended to [Service]; otherwise byte-for-byte the same."""
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={PACKAGED_MONITOR} " in text
    text = text.replace(f"ExecStart={PACKAGED_MONITOR} ", f"ExecStart={sys.executable} ", 1)
    text = text.replace("\n[Install]", f"\n{extra}\n[Install]") if extra else text
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    return copy


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        timeout=30,
        check=False,
    )


def verify_problems(unit: Path) -> tuple[int, list[str]]:
    """Exit code and the lines systemd-analyze verify prints about ``unit`` itself."""
    result = systemd_analyze("verify", "--recursive-errors=no", "--man=no", str(unit))
    lines = (result.stdout + result.stderr).splitlines()
    return result.returncode, [line for line in lines if unit.name in line]


# -- helpers: Dockerfile ------------------------------------------------------------------------
@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.args(keyword)
        assert found, f"stage {self.name or self.base}: no {keyword}"
        return found[-1]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also drops comment lines inside a continuation, as Docker does
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def dockerfile_stages() -> list[Stage]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m[1], m[0]), args).split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)  # shell form is not JSON: fails here
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """COPY/ADD arguments → (flags, sources, destination)."""
    words = shlex.split(args)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    if words and words[0].startswith("["):
        words = exec_form(" ".join(words))
    return flags, words[:-1], words[-1]


def env_vars(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for args in stage.args("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            found[key] = value
    return found


@pytest.fixture(scope="module")
def final_stage() -> Stage:
    return dockerfile_stages()[-1]


# -- helpers: YAML ----------------------------------------------------------------------------------
def load_yaml_file(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml_file(COMPOSE)
    assert isinstance(data, dict)
    return data


def compose_env(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, dict):
        return env
    return {k: (v if sep else None) for k, sep, v in (item.partition("=") for item in env)}


# == the systemd unit ================================================================================
@needs_systemd_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    code, problems = verify_problems(runnable_unit_copy(tmp_path))
    assert problems == [] and code == 0, "\n".join(problems) or f"systemd-analyze verify exited {code}"


@needs_systemd_analyze
@pytest.mark.parametrize("bad_line", ["Foo=bar", "ProtectSystem=bogus", "RestrictAddressFamilies=AF_BOGUS"])
def test_unit_verify_catches_broken_directives(tmp_path: Path, bad_line: str) -> None:
    """The verify test above is meaningful: a mistyped directive is reported."""
    _, problems = verify_problems(runnable_unit_copy(tmp_path, extra=bad_line))
    assert problems, f"systemd-analyze verify accepted {bad_line!r}"


@needs_systemd_analyze
def test_unit_security_exposure_is_low(tmp_path: Path) -> None:
    result = systemd_analyze("security", "--offline=yes", "--no-pager", str(runnable_unit_copy(tmp_path)))
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposed = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert float(match[1]) < MAX_EXPOSURE and match[2] == "OK", "\n".join([match[0], *exposed])


def test_unit_runs_the_packaged_daemon_with_its_lifecycle() -> None:
    assert unit_values("Type") == ["notify"]  # READY=1 from the daemon (monitor/service/systemd.py)
    assert unit_values("NotifyAccess") == ["main"]
    assert unit_values("ExecStart") == [f"{PACKAGED_MONITOR} --config /etc/news-monitor/monitor.yaml run"]
    assert unit_values("ExecReload") == ["/bin/kill -HUP $MAINPID"]  # SIGHUP reloads the rules
    assert unit_values("KillSignal") == ["SIGTERM"]
    assert unit_values("TimeoutStopSec") == ["45"]  # > the daemon's own 30 s drain
    assert unit_values("Restart") == ["on-failure"]
    assert unit_values("WantedBy", "Install") == ["multi-user.target"]


def test_unit_watchdog_leaves_room_for_the_daemon_heartbeat() -> None:
    """The daemon pings every min(HEARTBEAT_S, WatchdogSec/2): at least two pings per deadline."""
    from monitor.service.daemon import STOP_TIMEOUT_S
    from monitor.service.health import HEARTBEAT_S

    [watchdog] = unit_values("WatchdogSec")
    assert float(watchdog) >= 2 * HEARTBEAT_S
    assert float(unit_values("TimeoutStartSec")[0]) >= 60  # spaCy and the rule index load before READY=1
    assert float(unit_values("TimeoutStopSec")[0]) > STOP_TIMEOUT_S


def test_unit_sandbox_leaves_only_the_state_directory_writable() -> None:
    assert unit_values("DynamicUser") == ["yes"]
    assert unit_values("ProtectSystem") == ["strict"]
    assert unit_values("StateDirectory")[0].split()[0] == "news-monitor"
    assert "MONITOR_STATE_DIR=%S/news-monitor" in unit_values("Environment")
    assert unit_values("EnvironmentFile") == ["-/etc/news-monitor/env"]
    assert "/etc/news-monitor" in " ".join(unit_values("ReadOnlyPaths")).split()
    assert unit_values("CapabilityBoundingSet") == [""]
    assert unit_values("RestrictAddressFamilies") == ["AF_UNIX AF_INET AF_INET6"]
    for flag in (
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "LockPersonality",
    ):
        assert unit_values(flag) == ["yes"], flag


def test_unit_config_paths_fit_the_sandbox() -> None:
    """deploy/monitor.yaml writes only under the StateDirectory and reads rules from /etc."""
    state = PurePosixPath("/var/lib") / unit_values("StateDirectory")[0].split()[0]  # %S = /var/lib
    config = unit_values("ExecStart")[0].split("--config ")[1].split()[0]
    read_only = [PurePosixPath(p) for p in " ".join(unit_values("ReadOnlyPaths")).split()]
    assert any(PurePosixPath(config).is_relative_to(p) for p in read_only)

    settings = load_settings(str(DEPLOY / "monitor.yaml"), env={"MONITOR_STATE_DIR": str(state)})
    assert settings.database == f"sqlite:///{state}/monitor.db"
    for folder in settings.sources.folders:
        assert PurePosixPath(folder.path).is_relative_to(state), folder.path
    for rules in settings.rules:
        assert any(PurePosixPath(rules).is_relative_to(p) for p in read_only), rules


MDWE_PROBE = textwrap.dedent("""
    import ctypes, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux >= 6.3)
        sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("W+X mapping allowed: MDWE is not in force")
    except OSError:
        pass
    import numpy, psycopg, spacy, trafilatura  # noqa
    from lingua import Language, LanguageDetectorBuilder
    LanguageDetectorBuilder.from_languages(Language.ITALIAN, Language.ENGLISH).build() \\
        .detect_language_of("Il ministro ha parlato con il collega russo")
    from monitor.cli import main
    sys.argv = ["monitor", "--config", sys.argv[1], "run", "--once"]
    main()
""")


@pytest.mark.slow
def test_unit_memory_deny_write_execute_suits_the_pipeline(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes is safe: a full pass (spaCy, numpy, lingua, SQLite) runs under
    the kernel's equivalent, prctl(PR_SET_MDWE)."""
    if unit_values("MemoryDenyWriteExecute") != ["yes"]:
        pytest.skip("the unit does not set MemoryDenyWriteExecute=yes")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"state_dir: state\nrules: [{ROOT / 'rules'}]\nsources: {{folders: [{{path: {ROOT / 'seeds'}}}]}}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    result = subprocess.run(
        [sys.executable, "-c", MDWE_PROBE, str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    if result.returncode == 77:
        pytest.skip("kernel without PR_SET_MDWE (Linux < 6.3): MemoryDenyWriteExecute not exercised")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rules loaded" in result.stderr


# == the Dockerfile ==================================================================================
def test_dockerfile_builds_venv_in_builder_and_copies_it(final_stage: Stage) -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder = stages[0]
    assert {s.base for s in stages} == {"python:3.11-slim"}  # same interpreter path in both
    assert any("-m venv /opt/venv" in run for run in builder.args("RUN"))
    assert any(re.search(r"pip install (--[\w-]+ )*['\"]?\.\[postgres\]", run) for run in builder.args("RUN"))
    copies = [copy_parts(args) for args in final_stage.args("COPY")]
    assert ({"from": builder.name}, ["/opt/venv"], "/opt/venv") in copies
    assert env_vars(final_stage)["PATH"].startswith("/opt/venv/bin:")


def test_dockerfile_compiles_against_the_packages_the_image_runs() -> None:
    """The build requirements, the dependencies and Cython are installed first, then the wheel is
    built without isolation: setup.py compiles the optional scan only beside an installed Cython
    and spaCy, and so against the spaCy and numpy the image runs.  A failed compile (the modules
    are optional) fails the build."""
    runs = dockerfile_stages()[0].args("RUN")
    first = next(i for i, run in enumerate(runs) if "['build-system']['requires']" in run)
    install = next(i for i, run in enumerate(runs) if "pip install --no-build-isolation" in run)
    assert first < install
    for table in ("['project']['dependencies']", "['project']['optional-dependencies']['postgres']"):
        assert table in runs[first]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [cython] = [r for r in pyproject["project"]["optional-dependencies"]["test"] if r.startswith("Cython")]
    assert f"pip install -r /tmp/requirements.txt '{cython}'" in runs[first]  # the version the tests build
    assert "compiled()" in runs[install] and "deploy/slim_venv.py" in runs[install]


def test_dockerfile_final_stage_runs_as_non_root_user(final_stage: Stage) -> None:
    user = final_stage.last("USER").split(":")[0]
    assert user not in ("root", "0") and user.isdigit(), user  # numeric: runAsNonRoot can check it
    assert user == "10001"


def test_dockerfile_entrypoint_is_exec_form_monitor(final_stage: Stage) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    entrypoint = exec_form(final_stage.last("ENTRYPOINT"))
    assert entrypoint == ["monitor"] and "monitor" in scripts
    assert exec_form(final_stage.last("CMD")) == ["run"]
    assert final_stage.last("STOPSIGNAL") == "SIGTERM"


def healthcheck_command(final_stage: Stage) -> tuple[str, list[str]]:
    options, _, command = final_stage.last("HEALTHCHECK").partition("CMD ")
    return options, exec_form(command)


def test_dockerfile_healthcheck_asks_healthz_of_the_configured_endpoint(final_stage: Stage) -> None:
    options, command = healthcheck_command(final_stage)
    assert command[:3] == ["python", "-I", "-c"]  # the slim image has no curl
    assert "--timeout=" in options and "--start-period=" in options
    url = re.search(r"'(http://[^']+)'", command[3])
    assert url and url[1].endswith("/healthz")
    server = load_settings(str(DEPLOY / "docker.yaml"), env={}).server
    assert server.enabled and url[1] == f"http://127.0.0.1:{server.port}/healthz"
    assert final_stage.last("EXPOSE") == str(server.port)


async def test_dockerfile_healthcheck_command_passes_on_a_live_endpoint_and_fails_without(
    final_stage: Stage, tmp_path: Path
) -> None:
    """The HEALTHCHECK's Python line run for real: exit 0 against /healthz, non-zero when refused."""
    import asyncio

    from monitor.config import Settings
    from monitor.service.ops import AppServer
    from monitor.store.engine import open_store
    from monitor.web.serve import for_database

    _options, command = healthcheck_command(final_stage)
    settings = Settings(database=f"sqlite:///{tmp_path / 'monitor.db'}", state_dir=tmp_path)
    store = open_store(settings.database)
    app = for_database(settings, store)
    server = AppServer(app, "127.0.0.1", 0)
    _host, port = await server.start()
    try:
        code = command[3].replace(":9464/", f":{port}/")
        healthy = await asyncio.create_subprocess_exec(sys.executable, *command[1:3], code)
        assert await healthy.wait() == 0
    finally:
        await server.close()
        store.engine.dispose()
    sick = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:3], code, stderr=asyncio.subprocess.DEVNULL
    )
    assert await sick.wait() != 0


def test_dockerfile_keeps_state_in_data_volume(final_stage: Stage) -> None:
    volume = final_stage.last("VOLUME")
    volumes = exec_form(volume) if volume.startswith("[") else volume.split()
    assert "/data" in volumes
    env = env_vars(final_stage)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert final_stage.last("WORKDIR") == "/app"
    assert load_settings(str(DEPLOY / "docker.yaml"), env={}).state_dir == Path("/data")


def test_dockerfile_copy_sources_exist(final_stage: Stage) -> None:
    stage_names = set()
    for stage in dockerfile_stages():
        for keyword, args in stage.instructions:
            if keyword not in ("COPY", "ADD"):
                continue
            flags, sources, _ = copy_parts(args)
            if "from" in flags:
                assert flags["from"] in stage_names, f"COPY --from={flags['from']}: no such earlier stage"
                continue
            for source in sources:
                assert list(ROOT.glob(source.rstrip("/"))), f"{keyword} {source}: not in the build context"
        stage_names.add(stage.name)


def test_dockerfile_config_and_rules_match_docker_yaml(final_stage: Stage) -> None:
    copies = {
        dest: sources
        for flags, sources, dest in map(copy_parts, final_stage.args("COPY"))
        if "from" not in flags
    }
    config = env_vars(final_stage)["MONITOR_CONFIG"]
    assert config == "/app/monitor.yaml" and copies[config] == ["deploy/docker.yaml"]
    settings = load_settings(str(DEPLOY / "docker.yaml"), env={})
    copied_dirs = {PurePosixPath(dest) for dest, sources in copies.items() if sources == ["rules/"]}
    assert {PurePosixPath(p) for p in settings.rules} <= copied_dirs
    assert all(PurePosixPath(f.path).is_relative_to("/data") for f in settings.sources.folders)


# == compose ==========================================================================================
def test_compose_builds_the_deploy_dockerfile(compose: dict[str, Any]) -> None:
    build = compose["services"]["monitor"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_monitor_waits_for_healthy_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["monitor"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16-alpine"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_compose_services_keep_data_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})

    def mounted_at(service: str, target: str) -> str:
        for volume in compose["services"][service].get("volumes", []):
            source, _, rest = volume.partition(":")
            if rest.split(":")[0] == target:
                return str(source)
        raise AssertionError(f"{service}: nothing mounted at {target}")

    assert mounted_at("monitor", "/data") in declared
    assert mounted_at("postgres", "/var/lib/postgresql/data") in declared


def test_compose_monitor_environment_and_lifecycle(compose: dict[str, Any]) -> None:
    monitor, postgres = compose["services"]["monitor"], compose["services"]["postgres"]
    env, pg_env = compose_env(monitor), compose_env(postgres)
    url = env["MONITOR_DATABASE_URL"]
    assert url == (
        f"postgresql://{pg_env['POSTGRES_USER']}:{pg_env['POSTGRES_PASSWORD']}"
        f"@postgres/{pg_env['POSTGRES_DB']}"
    )
    assert "SLACK_WEBHOOK_URL" in env and env["SLACK_WEBHOOK_URL"] is None  # passed through from the host
    # the endpoint listens on the container network, published on the host's loopback only
    assert env["MONITOR_SERVER_HOST"] == "0.0.0.0"
    port = load_settings(str(DEPLOY / "docker.yaml"), env={}).server.port
    assert monitor["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert load_settings(str(DEPLOY / "docker.yaml"), env={"MONITOR_SERVER_HOST": "0.0.0.0"}).server.host == (
        "0.0.0.0"
    )
    assert monitor["restart"] == "unless-stopped"
    assert monitor["stop_grace_period"] == "45s"


# == the example configs =============================================================================
@pytest.mark.parametrize("name", ["monitor.yaml", "docker.yaml"])
def test_config_example_loads(name: str) -> None:
    settings = load_settings(str(DEPLOY / name), env={})
    # Absolute paths everywhere: a relative one resolves against the config file's folder,
    # which here is deploy/ rather than /etc/news-monitor or /app.
    paths = [settings.state_dir, *settings.rules, *(f.path for f in settings.sources.folders)]
    assert not [p for p in paths if p.is_relative_to(DEPLOY)]
    assert settings.database == f"sqlite:///{settings.state_dir}/monitor.db"
    assert settings.default_notify == ["console"]


@pytest.mark.parametrize("name", ["monitor.yaml", "docker.yaml"])
def test_config_example_commented_channels_load(tmp_path: Path, name: str) -> None:
    """Each commented channel example, uncommented alone, is a valid channel."""
    lines = (DEPLOY / name).read_text(encoding="utf-8").splitlines()
    examples = [i for i, line in enumerate(lines) if re.match(r"^\s+# [\w-]+: \{type: ", line)]
    assert examples
    (tmp_path / "slack").write_text("https://hooks.slack.com/services/T/B/file\n", encoding="utf-8")
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
        "SIEM_TOKEN": "t",
        "SIEM_WEBHOOK_URL": "https://siem.example.org/in",
        "CREDENTIALS_DIRECTORY": str(tmp_path),
    }
    for i in examples:
        variant = [*lines[:i], lines[i].replace("# ", "", 1), *lines[i + 1 :]]
        config = tmp_path / "monitor.yaml"
        config.write_text("\n".join(variant) + "\n", encoding="utf-8")
        channel = variant[i].split(":")[0].strip()
        settings = load_settings(str(config), env=env)
        assert channel in settings.channels, variant[i]
        if isinstance(settings.channels[channel], SlackChannel):
            assert settings.channels[channel].url.get_secret_value().startswith("https://hooks.slack.com/")
