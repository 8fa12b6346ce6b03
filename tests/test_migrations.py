"""Alembic migrations: they build exactly the models' schema, and the daemon refuses any other.

Runs on SQLite and, with MONITOR_TEST_DATABASE_URL, on PostgreSQL (the
same empty databases as tests/store/conftest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, inspect, text

from monitor.cli import main
from monitor.errors import StoreError
from monitor.store.engine import make_engine, prepare_schema
from monitor.store.schema import MIGRATIONS, TABLES, head_revision, schema_state, upgrade_schema
from monitor.store.searchindex import include_object
from monitor.store.tables import metadata
from tests.conftest import REPO
from tests.store.conftest import open_empty
from tests.store.legacy import make_legacy, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from open_empty(request, tmp_path)


def differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        opts = {"compare_type": True, "include_object": include_object}  # as env.py compares
        context = MigrationContext.configure(connection, opts=opts)
        diff = compare_metadata(context, metadata)
    return [
        d
        for d in diff
        if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")
    ]


def test_migrations_build_exactly_the_models_schema(empty_engine: Engine) -> None:
    prepare_schema(empty_engine)
    assert schema_state(empty_engine).current == (head_revision(),)
    assert differences(empty_engine) == []


def test_migrations_adopted_legacy_database_matches_the_models(empty_engine: Engine) -> None:
    make_legacy(empty_engine, 1)
    upgrade_schema(empty_engine)
    assert differences(empty_engine) == []


def test_migrations_upgrade_twice_changes_nothing_the_second_time(empty_engine: Engine) -> None:
    first_before, first_after = upgrade_schema(empty_engine)
    second_before, second_after = upgrade_schema(empty_engine)
    assert first_before.empty and first_after.up_to_date
    assert second_before.up_to_date and second_after == second_before


def test_migrations_every_revision_downgrades_and_upgrades_again(empty_engine: Engine) -> None:
    prepare_schema(empty_engine)
    with empty_engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    migrate(empty_engine, "head")
    assert differences(empty_engine) == []


def test_migrations_older_revision_is_refused_naming_the_upgrade_command(empty_engine: Engine) -> None:
    prepare_schema(empty_engine)
    with empty_engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    with pytest.raises(StoreError, match=r"at revision 0002, older than .*run `monitor db upgrade`"):
        prepare_schema(empty_engine)


def test_migrations_unknown_newer_revision_is_refused_naming_a_news_monitor_upgrade(
    empty_engine: Engine,
) -> None:
    prepare_schema(empty_engine)
    with empty_engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(StoreError, match=r"9999_from_the_future, newer than .*upgrade news-monitor"):
        prepare_schema(empty_engine)
    with pytest.raises(StoreError, match="upgrade news-monitor"):
        upgrade_schema(empty_engine)  # never "upgrades" a schema it does not know


def test_migrations_concurrent_upgrades_apply_each_revision_once(empty_engine: Engine) -> None:
    """Four replicas upgrading a new database at once: one creates it, the others wait and find it done."""
    url = empty_engine.url.render_as_string(hide_password=False)
    results: list[object] = []

    def replica() -> None:
        engine = make_engine(url)
        try:
            results.append(upgrade_schema(engine))
        except Exception as exc:  # recorded, so the assertion below shows it
            results.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, tuple) for r in results), results
    created = [before for before, _after in results if before.empty]  # type: ignore[misc]
    assert len(created) == 1
    with empty_engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head_revision()
        ]


def test_migrations_ship_in_the_package_directory() -> None:
    names = {p.name for p in (MIGRATIONS / "versions").glob("*.py")}
    assert {"0001_baseline.py", "0002_story_and_feed_health.py", "0003_leases.py"} <= names
    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "script.py.mako").is_file()


# -- the command line ----------------------------------------------------------------------
def cli(tmp_path: Path, url: str, *args: str) -> tuple[int, str, str]:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: {url}\nrules: [{REPO / 'rules'}]\nsources: {{folders: []}}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["--config", str(config), *args], env={"MONITOR_DATABASE_URL": url})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_db_upgrade_adopts_a_legacy_database_and_check_then_passes(
    empty_engine: Engine, tmp_path: Path
) -> None:
    url = empty_engine.url.render_as_string(hide_password=False)
    make_legacy(empty_engine, 2)

    code, _out, err = cli(tmp_path, url, "check")
    assert code == 3 and "run `monitor db upgrade`" in err
    code, out, _err = cli(tmp_path, url, "db", "current")
    assert code == 1 and "schema version 2" in out
    code, out, _err = cli(tmp_path, url, "db", "upgrade")
    assert code == 0 and f"upgraded: schema version 2 -> {head_revision()}" in out
    code, out, _err = cli(tmp_path, url, "db", "upgrade")
    assert code == 0 and "nothing to do" in out
    code, out, _err = cli(tmp_path, url, "db", "current")
    assert code == 0 and "up to date" in out
    code, out, err = cli(tmp_path, url, "check")
    assert code == 0, err
    assert "database: ok" in out


def test_cli_run_refuses_a_newer_schema_with_a_clear_message(empty_engine: Engine, tmp_path: Path) -> None:
    url = empty_engine.url.render_as_string(hide_password=False)
    prepare_schema(empty_engine)
    with empty_engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    code, _out, err = cli(tmp_path, url, "run", "--once")
    assert code == 3  # the database cannot be used
    assert "newer than this news-monitor knows" in err and "upgrade news-monitor" in err
    assert "Traceback" not in err


def test_schema_revisions_are_alembics_in_order() -> None:
    """schema.py reads a database's revision with plain SQL against REVISIONS: they must be
    exactly alembic's, oldest first, ending at alembic's head."""
    from alembic.script import ScriptDirectory

    from monitor.store.schema import REVISIONS

    scripts = ScriptDirectory(str(MIGRATIONS))
    walked = [script.revision for script in scripts.walk_revisions()]
    assert tuple(reversed(walked)) == REVISIONS
    assert scripts.get_current_head() == head_revision()


def test_schema_table_names_are_the_models_tables() -> None:
    """``schema_state`` tells our tables from others by name, without importing the tables."""
    assert set(metadata.tables) == TABLES


def test_schema_opening_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    """Every command opens the database; only creating or upgrading one needs alembic (slow to
    import). A database already at head is checked without it."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    engine = make_engine(url)
    prepare_schema(engine)
    engine.dispose()
    probe = (
        "import sys\n"
        "from monitor.store.engine import open_store\n"
        f"open_store({url!r}).engine.dispose()\n"
        "print(sorted(m for m in ('alembic', 'spacy') if m in sys.modules))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO, timeout=120
    )
    assert found.stdout.strip() == "[]", found.stderr
