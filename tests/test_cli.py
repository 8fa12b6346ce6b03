"""The command line as users call it: exit codes, messages and the documented JSON keys."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.conftest import REPO, SEEDS, SHIPPED_RULE_IDS
from tests.docs_support import readme_commands

SHIPPED = len(SHIPPED_RULE_IDS)

SEED = next(SEEDS.glob("*.txt"))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"database: sqlite:///state/monitor.db\nrules: [{REPO / 'rules'}]\n"
        "sources: {folders: []}\ndelivery: {retry_initial: 0s}\n",
        encoding="utf-8",
    )
    return path


def invoke(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_rules_check_ok(config: Path) -> None:
    code, out, _ = invoke(config, "rules", "check")
    assert code == 0 and out.startswith(f"ok: {SHIPPED} rule(s), 10 example(s) in 3 file(s)")


def test_cli_rules_check_reports_every_problem_and_exits_1(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n"
        "  - id: a\n    query: ''\n"
        "  - id: b\n    query: '(x'\n"
        "  - id: c\n    query: x\n    notify: [nowhere]\n"
        "  - id: a\n    query: y\n"
        "  - id: d\n    query: x\n    colour: red\n",
        encoding="utf-8",
    )
    code, _, err = invoke(config, "rules", "check", str(bad))
    assert code == 1
    for expected in (
        f"{bad}:3:",
        "the query is empty",
        f"{bad}:5:",
        "never closed",
        f"{bad}:6:",
        "unknown channel(s) nowhere",
        f"{bad}:9:",
        "duplicate rule id",
        f"{bad}:13:",
        "unknown key 'colour'",
        "5 problem(s)",
    ):
        assert expected in err


def test_cli_rules_check_names_a_query_nested_too_deep_and_checks_the_others(
    config: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "deep.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: before\n    query: 'att*co OR Finlandia'\n"
        f"  - id: deep\n    query: '{'(' * 1000}NATO{')' * 1000}'\n"
        "  - id: after\n    query: '(Svezia'\n",
        encoding="utf-8",
    )
    code, _, err = invoke(config, "rules", "check", str(rules))
    assert code == 1
    assert f"{rules}:5:" in err and "rule 'deep'" in err and "nested 1000 levels deep; the limit is 50" in err
    assert f"{rules}:7:" in err and "never closed" in err  # the rule after it was checked too
    assert f"{rules}:3:" in err and "'att*co' is a pattern" in err and "every word of every article" in err
    assert "2 problem(s), 1 warning(s): 1 rule(s)" in err


def test_cli_rules_test_json_lines_have_documented_keys(config: Path) -> None:
    code, out, _ = invoke(config, "rules", "test", "--json", str(SEED))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert {"cessate-il-fuoco", "nato", "attacchi-aerei"} <= SHIPPED_RULE_IDS
    assert {row["rule"] for row in rows} == SHIPPED_RULE_IDS  # the seed fires every shipped rule
    for row in rows:
        assert {"path", "title", "rule", "terms", "snippet"} <= row.keys()
        assert row["path"] == str(SEED)
        assert row["title"].startswith("Prima chiamata tra Usa e Russia")
    nato = next(row for row in rows if row["rule"] == "nato")
    assert nato["terms"] == ["Nato"] and "Nato" in nato["snippet"]


def test_cli_rules_test_stores_nothing(config: Path, tmp_path: Path) -> None:
    invoke(config, "rules", "test", str(SEED))
    assert not (tmp_path / "state").exists()


def test_cli_rules_test_with_other_rules(config: Path, tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text("rules:\n  - id: shoigu\n    query: Shoigu OR Šojgu\n", encoding="utf-8")
    code, out, _ = invoke(config, "rules", "test", "--rules", str(rules), str(SEED))
    assert code == 0 and "✓ shoigu: Shoigu" in out and "nato" not in out


@pytest.mark.slow
def test_cli_scan_backfills_and_summarises(config: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (archive / "2024").mkdir(parents=True)
    (archive / "2024" / "seed.txt").write_bytes(SEED.read_bytes())
    (archive / "copy.txt").write_bytes(SEED.read_bytes())  # same content, other name
    (archive / "bad.json").write_text("[1, 2", encoding="utf-8")
    code, out, err = invoke(config, "scan", str(archive))
    assert code == 1  # one file failed
    summary = f"articles read: 1, skipped as already seen: 1, failed: 1, hits: {SHIPPED}, alerts: {SHIPPED}"
    assert summary in out
    assert "bad.json" in err
    code, out, _ = invoke(config, "scan", str(archive))
    assert "articles read: 0" in out and "hits: 0" in out


def test_cli_hits_lists_recorded_hits(config: Path) -> None:
    invoke(config, "scan", str(SEED))
    code, out, _ = invoke(config, "hits", "--rule", "nato", "--json")
    assert code == 0
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["rule"] == "nato" and row["terms"] == ["Nato"]
    code, out, _ = invoke(config, "hits", "--since", "1h")
    assert len(out.splitlines()) == SHIPPED
    code, _, err = invoke(config, "hits", "--since", "yesterday-ish")
    assert code == 2 and "--since" in err


def test_cli_check_reports_health(config: Path) -> None:
    code, out, _ = invoke(config, "check")
    assert code == 0 and f"rules: {SHIPPED} valid, 0 problem(s)" in out


def test_cli_check_fails_on_a_channel_template_that_cannot_render(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text + "channels:\n  c: {type: console, templates: {text: '{{ rule.nmae }}'}}\n")
    code, _, err = invoke(config, "check")
    assert code == 3 and "channel 'c': template 'text'" in err and "nmae" in err


def test_cli_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = invoke(tmp_path / "nope.yaml", "check")
    assert code == 3 and "config file not found" in err


def every_command(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command under ``monitor`` (groups that run on their own too), walked from click's tree
    (loading each command, as ``monitor`` loads only the one it runs)."""
    found: list[list[str]] = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        if not isinstance(command, click.Group) or command.invoke_without_command:
            found.append([*prefix, name])
        if isinstance(command, click.Group):
            found += every_command(command, (*prefix, name))
    return found


@pytest.mark.parametrize("command", every_command(), ids=" ".join)
def test_cli_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output
    assert " ".join(command) in readme_commands(), "every command has a row in the README's table"


def test_cli_rules_test_reports_invalid_rules_on_stderr_and_exits_1(config: Path, tmp_path: Path) -> None:
    rules = tmp_path / "mixed.yaml"
    rules.write_text(
        "rules:\n  - id: nato\n    query: NATO\n  - id: bad\n    query: '(x'\n", encoding="utf-8"
    )
    code, out, err = invoke(config, "rules", "test", "--json", "--rules", str(rules), str(SEED))
    assert code == 1
    assert [json.loads(line)["rule"] for line in out.splitlines()] == ["nato"]  # stdout stays JSON
    assert f"{rules}:5" in err and "never closed" in err


def test_cli_check_warns_about_alerts_for_a_channel_no_longer_configured(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    base = f"database: sqlite:///state/monitor.db\nrules: [{REPO / 'rules'}]\nsources: {{folders: []}}\n"
    config.write_text(
        base + "channels:\n  hook: {type: webhook, url: 'http://127.0.0.1:9/h'}\n", encoding="utf-8"
    )
    invoke(config, "scan", str(SEED))  # nothing listens on port 9: the five alerts stay pending
    config.write_text(base + "channels:\n  console: {type: console}\n", encoding="utf-8")
    code, out, _ = invoke(config, "check")
    assert code == 0
    assert f"warning: {SHIPPED} alert(s) pending for channel 'hook', which is not configured" in out


def bare(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_config_after_the_command_name_is_accepted(config: Path, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    code, out, err = bare("rules", "check", "--config", str(config))
    assert code == 0, err
    assert out.startswith(f"ok: {SHIPPED} rule(s)")
    code, _, err = bare("db", "upgrade", "-c", str(config), "--log-level", "DEBUG", "--log-format", "json")
    assert code == 0, err
    code, out, err = bare("hits", "--json", "--config", str(config))
    assert code == 0 and out == "" and "no hits" not in err


def test_cli_config_after_the_command_wins_over_the_one_before(config: Path, tmp_path: Path) -> None:
    code, _, err = bare("--config", str(tmp_path / "nope.yaml"), "check", "--config", str(config))
    assert "config file not found" not in err
    code, _, err = bare("--config", str(config), "check", "--config", str(tmp_path / "nope.yaml"))
    assert code == 3 and "config file not found" in err


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("hits", "--no-such-option"), 2),  # usage error: click's own code
        (("rules", "test"), 2),  # a missing argument
        (("hits", "--since", "last week"), 2),  # a value the command cannot use
    ],
)
def test_cli_usage_errors_exit_2(config: Path, args: tuple[str, ...], code: int) -> None:
    assert invoke(config, *args)[0] == code


def test_cli_unusable_config_exits_3_distinct_from_usage_errors(tmp_path: Path) -> None:
    broken = tmp_path / "monitor.yaml"
    broken.write_text("sources: {folders: [{path: in/, intervall: 1s}]}\n", encoding="utf-8")
    code, _, err = bare("check", "--config", str(broken))
    assert code == 3 and "intervall: unknown setting" in err
