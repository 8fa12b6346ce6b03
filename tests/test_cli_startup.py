"""What a command loads before it runs: only its own module, and nothing it does not use.

The read-only commands are what people type at the prompt; the daemon's libraries (spaCy,
alembic, the web app, the HTTP client, the scheduler) would make each of them wait. Imports are
checked in a fresh interpreter, through ``sys.modules``: never by timing them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from monitor.cli import COMMANDS, main
from monitor.store.engine import make_engine, prepare_schema
from tests.conftest import REPO

# Libraries and modules that serve the daemon, the web app, matching or schema changes.
DAEMON_ONLY = (
    "alembic",
    "apscheduler",
    "croniter",
    "httpx",
    "jinja2",
    "lingua",
    "numpy",
    "spacy",
    "starlette",
    "trafilatura",
    "uvicorn",
    "sqlalchemy.dialects.postgresql",
    "monitor.matching",
    "monitor.notify",
    "monitor.sources",
    "monitor.web",
)
READ_ONLY = [["hits"], ["articles"], ["feeds"], ["deliveries"], ["db", "current"]]
PROBE = """
import json, runpy, sys
sys.argv = ["monitor", *sys.argv[1:]]
try:
    runpy.run_module("monitor", run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


# Which cyclic collections ran while a command's own function was running, and whether what is
# left is frozen (left out of the collections of the interpreter's exit) once the exit hooks ran.
COLLECTIONS_PROBE = """
import atexit, gc, json, runpy, sys
command = sys.argv[1]
during = []

def watch(phase, info):
    frame = sys._getframe()
    while phase == "start" and frame is not None:
        if frame.f_code.co_name == command and frame.f_globals["__name__"].startswith("monitor.cli."):
            during.append(info["generation"])
            break
        frame = frame.f_back

gc.callbacks.append(watch)
sys.argv = ["monitor", *sys.argv[2:]]
try:
    runpy.run_module("monitor", run_name="__main__")
except SystemExit:
    pass
atexit._run_exitfuncs()
print(json.dumps({"during": during, "frozen": gc.get_freeze_count()}), file=sys.stderr)
"""


def probe(cwd: Path, script: str, *args: str) -> Any:
    """What ``script`` (run with ARGS in a fresh interpreter) prints last on stderr, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
            "PYTHONPATH": str(REPO),
        },
    )
    return json.loads(done.stderr.splitlines()[-1])


def loaded_by(cwd: Path, *args: str) -> set[str]:
    """The modules a fresh ``monitor ARGS`` has imported when it ends."""
    return set(probe(cwd, PROBE, *args))


def among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(f"{n}.") for m in modules))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config with a feed, a console channel and a database already at the newest schema."""
    folder = tmp_path_factory.mktemp("startup")
    (folder / "monitor.yaml").write_text(
        "database: sqlite:///state/monitor.db\n"
        f"rules: [{REPO / 'rules'}]\n"
        "sources: {feeds: [{url: 'https://example.org/rss.xml'}]}\n"
        "channels: {console: {type: console}}\n",
        encoding="utf-8",
    )
    engine = make_engine(f"sqlite:///{folder / 'state' / 'monitor.db'}")
    prepare_schema(engine)
    engine.dispose()
    return folder


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_cli_startup_read_only_commands_import_none_of_the_daemons_modules(
    workspace: Path, command: list[str]
) -> None:
    loaded = loaded_by(workspace, "--config", "monitor.yaml", *command)
    assert "monitor.store.engine" in loaded, "the probe ran the command"
    assert among(loaded, DAEMON_ONLY) == []
    assert sorted(m for m in loaded if m.startswith("monitor.service")) == [
        "monitor.service",
        "monitor.service.runlock",  # its error is caught by every command: it imports nothing
    ]
    commands = {entry.module for entry in COMMANDS.values()}
    assert sorted(m for m in commands if m in loaded) == [COMMANDS[command[0]].module]


# Whether the store's models had their mappers configured (the ORM's first use) or an ORM
# session was made, by the time a command ends.
MAPPER_PROBE = """
import json, runpy, sys
sys.argv = ["monitor", *sys.argv[1:]]
try:
    runpy.run_module("monitor", run_name="__main__")
except SystemExit:
    pass
models = sys.modules.get("monitor.store.models")
orm = sys.modules.get("sqlalchemy.orm.session")
configured = [m.__name__ for m in vars(models).values()
              if isinstance(m, type) and getattr(getattr(m, "__mapper__", None), "configured", False)]
sessions = len(orm._sessions) if orm is not None else 0
seen = {"models": models is not None, "configured": configured, "sessions": sessions}
print(json.dumps(seen), file=sys.stderr)
"""


@pytest.mark.parametrize("command", READ_ONLY[:4], ids=" ".join)
def test_cli_startup_read_only_commands_configure_no_object_mapper(
    workspace: Path, command: list[str]
) -> None:
    """The store queries the SQLModel models' tables with SQLAlchemy Core: reading the history
    configures no mapper and opens no ORM session, work a short command would pay for nothing."""
    seen = probe(workspace, MAPPER_PROBE, "--config", "monitor.yaml", *command)
    assert seen["models"], "the probe ran a command that reads the store"
    assert seen["configured"] == [] and seen["sessions"] == 0, seen


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_cli_startup_settings_are_read_without_the_yaml_writer(workspace: Path, command: list[str]) -> None:
    """monitor.yaml is read with libyaml (monitor/yamltree.py); ruamel, which keeps comments when
    a file is written back (`monitor feeds import`), is imported by that command alone."""
    loaded = loaded_by(workspace, "--config", "monitor.yaml", *command)
    assert "monitor.config" in loaded, "the probe read the settings"
    assert among(loaded, ("ruamel",)) == []


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_cli_startup_read_only_commands_run_and_end_without_cyclic_collections(
    workspace: Path, command: list[str]
) -> None:
    """What they build is kept until they end (modules, models, tables): the collector would walk
    it for nothing while they run, and again while the interpreter exits."""
    function = "_".join(command)  # the command's function: hits, db_current
    seen = probe(workspace, COLLECTIONS_PROBE, function, "--config", "monitor.yaml", *command)
    assert seen["during"] == []
    assert seen["frozen"] > 10_000


def test_cli_startup_db_current_reads_the_schema_without_the_tables(workspace: Path) -> None:
    """Where a database stands is plain SQL against table names: the tables are not imported."""
    loaded = loaded_by(workspace, "--config", "monitor.yaml", "db", "current")
    assert among(loaded, ("monitor.store.tables", "monitor.store.repo")) == []


def test_cli_startup_help_imports_no_command_and_no_settings(workspace: Path) -> None:
    loaded = loaded_by(workspace, "--help")
    assert among(loaded, ("monitor.config", "pydantic", "sqlalchemy", *DAEMON_ONLY)) == []
    assert sorted(m for m in loaded if m.startswith("monitor.cli.")) == [
        "monitor.cli.base",
        "monitor.cli.lazy",
    ]


def test_cli_startup_command_table_is_the_commands_own_names_and_summaries() -> None:
    """``monitor --help`` lists the table's summaries without importing the commands: each must
    be its command's own (the first sentence of its docstring), under its own name."""
    for name, entry in COMMANDS.items():
        command = main.get_command(click.Context(main), name)
        assert command is not None and command.name == name
        assert command.callback is not None and command.callback.__module__ == entry.module
        assert entry.summary == command.get_short_help_str(limit=10_000), name


def test_cli_startup_help_lists_each_command_as_click_would() -> None:
    lazy = CliRunner().invoke(main, ["--help"]).output
    context = click.Context(main)
    eager = click.Group(
        "main",
        commands={name: main.get_command(context, name) for name in main.list_commands(context)},
        params=main.params,
        help=main.help,
        context_settings=main.context_settings,
    )
    assert lazy.split("Commands:")[1] == CliRunner().invoke(eager, ["--help"]).output.split("Commands:")[1]
    assert all(f"\n  {name} " in lazy for name in COMMANDS)


def test_cli_startup_shared_options_are_added_once_however_often_a_command_loads() -> None:
    for _ in range(2):
        result = CliRunner().invoke(main, ["hits", "--help"])
        assert result.exit_code == 0
        assert result.output.count("--log-format") == 1
