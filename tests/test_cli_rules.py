"""``monitor rules schema``, ``rules test --explain`` and ``rules backtest``, as users call them."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor.cli import main
from monitor.config import load_settings
from monitor.matching.rulefile import RULE_SUFFIXES, SCHEMA_URL, RuleFile, RuleModel
from monitor.models import make_article
from monitor.pipeline.dryrun import marked_sentence
from monitor.sources.files import read_article_file
from monitor.store.engine import make_engine, open_store, prepare_schema
from monitor.store.repo import Routed, Store
from monitor.store.tables import ARTICLES, DELIVERIES, HITS
from monitor.yamlfile import load_yaml, to_plain
from tests.conftest import REPO
from tests.test_cli import SEED, invoke

SCHEMA_FILE = REPO / "schema" / "rules.schema.json"
DATA = REPO / "tests" / "sources" / "data"
[SEED_ARTICLE] = read_article_file(SEED, SEED.read_bytes(), source="seeds")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The shipped rules plus a concepts file of our own, a SQLite file in tmp_path."""
    concepts = tmp_path / "context" / "concepts.yaml"
    concepts.parent.mkdir()
    concepts.write_text("concepts:\n  test_shoigu: [Shoigu, Šojgu]\n", encoding="utf-8")
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"database: sqlite:///state/monitor.db\nrules: [{REPO / 'rules'}, {concepts.parent}]\n"
        "sources: {folders: []}\ndelivery: {retry_initial: 0s}\n",
        encoding="utf-8",
    )
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# -- monitor rules schema -----------------------------------------------------------------


def schema_output() -> str:
    result = CliRunner().invoke(main, ["rules", "schema"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_rules_schema_prints_a_draft_2020_12_schema_with_id_and_title() -> None:
    schema = json.loads(schema_output())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_URL
    assert schema["title"] == "news-monitor rule file"
    assert schema["type"] == "object"


def test_rules_schema_committed_file_is_the_commands_output() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    assert committed == schema_output(), (
        "schema/rules.schema.json is out of date with the rule models: "
        "run `monitor rules schema > schema/rules.schema.json` and commit it"
    )


def test_rules_schema_describes_every_rule_key_and_forbids_unknown_ones() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert set(schema["properties"]) == {"$schema", "concepts", "rules"}
    assert schema["additionalProperties"] is False
    rule = schema["$defs"]["RuleModel"]
    assert schema["properties"]["rules"]["items"] == {"$ref": "#/$defs/RuleModel"}
    assert {"id", "query", "lemmas", "min_mentions", "in_title", "examples"} <= set(rule["properties"])
    assert set(rule["properties"]) == set(RuleModel.model_fields)
    assert set(rule["required"]) == {"id", "query"}
    assert rule["additionalProperties"] is False
    assert schema["$defs"]["Examples"]["additionalProperties"] is False
    assert rule["properties"]["min_mentions"]["minimum"] == 1
    assert all(p.get("description") for p in rule["properties"].values())  # editors show them


def test_rules_schema_accepts_one_name_where_the_loader_accepts_one() -> None:
    rule = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["$defs"]["RuleModel"]
    for key in ("notify", "tags", "languages"):  # `notify: slack` means `notify: [slack]`
        kinds = [option.get("type") for option in rule["properties"][key]["anyOf"]]
        assert kinds == ["string", "array"], key
    loaded = RuleFile.model_validate({"rules": [{"id": "a", "query": "x", "notify": "console"}]})
    assert loaded.rules[0].notify == ["console"]


def shipped_rule_files() -> list[Path]:
    files = sorted(p for p in (REPO / "rules").rglob("*") if p.suffix in RULE_SUFFIXES)
    assert files, "no rule files under rules/"
    return files


@pytest.mark.parametrize("path", shipped_rule_files(), ids=lambda p: p.name)
def test_rules_shipped_rule_file_references_the_schema(path: Path) -> None:
    relative = Path(os.path.relpath(SCHEMA_FILE, path.parent)).as_posix()
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema={relative}"
    assert (path.parent / relative).resolve() == SCHEMA_FILE


@pytest.mark.parametrize("path", shipped_rule_files(), ids=lambda p: p.name)
def test_rules_shipped_rule_file_validates_against_the_schema(path: Path) -> None:
    document = to_plain(load_yaml(path))
    RuleFile.model_validate(document)  # the models the schema is generated from
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))  # and the schema's own key lists
    assert set(document) <= set(schema["properties"])
    allowed = set(schema["$defs"]["RuleModel"]["properties"])
    for rule in document.get("rules", []):
        assert set(rule) <= allowed, rule["id"]
        assert set(rule.get("examples") or {}) <= set(schema["$defs"]["Examples"]["properties"])


# -- monitor rules test --explain ----------------------------------------------------------


@pytest.fixture
def explain_rules(tmp_path: Path) -> Path:
    return write(
        tmp_path / "explain.yaml",
        "rules:\n"
        "  - id: nato\n    query: NATO OR OTAN\n"
        "  - id: zanzibar\n    query: Zanzibar\n"
        "  - id: shoigu-often\n    query: Shoigu\n    min_mentions: 5\n",
    )


def test_rules_test_explain_shows_each_rules_decision_clause_by_clause(
    config: Path, explain_rules: Path
) -> None:
    code, out, _ = invoke(config, "rules", "test", "--explain", "--rules", str(explain_rules), str(SEED))
    assert code == 0
    start = SEED_ARTICLE.body.index("Nato")
    assert "  ✓ nato: Nato\n      ✓ OR\n" in out
    assert f"        ✓ NATO  @ body[{start}:{start + 4}]\n        ✗ OTAN\n" in out
    assert "  ✗ zanzibar: not fired\n      ✗ Zanzibar\n" in out
    assert "  ✗ shoigu-often: not fired (fewer than min_mentions: 5)\n      ✓ Shoigu  @ body[" in out


def test_rules_test_explain_shows_each_occurrence_in_its_sentence_with_terms_marked(
    config: Path, explain_rules: Path
) -> None:
    _, out, _ = invoke(config, "rules", "test", "--explain", "--rules", str(explain_rules), str(SEED))
    start = SEED_ARTICLE.body.index("Nato")
    [evidence] = [line.strip() for line in out.splitlines() if line.strip().startswith(f"body[{start}:")]
    assert evidence.startswith(f"body[{start}:{start + 4}]: Tra tutti la Finlandia")
    assert "entrare nella **Nato**, che" in evidence and evidence.endswith("in Ucraina.")
    shoigu = SEED_ARTICLE.body.index("Shoigu")
    assert f"body[{shoigu}:{shoigu + 6}]: Il segretario della Difesa" in out and "Sergey **Shoigu**," in out


def test_rules_test_explain_json_keeps_the_keys_and_adds_the_clause_tree(
    config: Path, explain_rules: Path
) -> None:
    code, out, _ = invoke(
        config, "rules", "test", "--json", "--explain", "--rules", str(explain_rules), str(SEED)
    )
    assert code == 0
    rows = {row["rule"]: row for row in json_lines(out)}
    assert set(rows) == {"nato", "zanzibar", "shoigu-often"}  # every rule, fired or not
    for row in rows.values():
        assert {"path", "title", "rule", "terms", "snippet", "explain", "fired"} <= row.keys()
        assert row["path"] == str(SEED) and row["title"] == SEED_ARTICLE.title
    nato = rows["nato"]
    assert nato["fired"] is True and nato["terms"] == ["Nato"] and "Nato" in nato["snippet"]
    tree = nato["explain"]
    assert (tree["label"], tree["value"]) == ("OR", True)
    assert [(c["label"], c["value"]) for c in tree["children"]] == [("NATO", True), ("OTAN", False)]
    [where] = tree["children"][0]["occurrences"]
    assert getattr(SEED_ARTICLE, where["field"])[where["start"] : where["end"]] == "Nato"
    assert tree["children"][1] == {"label": "OTAN", "value": False, "children": [], "occurrences": []}
    missed = rows["zanzibar"]
    assert (missed["fired"], missed["terms"], missed["snippet"]) == (False, [], "")
    often = rows["shoigu-often"]
    assert often["fired"] is False and often["explain"]["value"] is True
    assert often["reason"] == "fewer than min_mentions: 5"


def test_rules_test_json_without_explain_is_unchanged(config: Path, explain_rules: Path) -> None:
    code, out, _ = invoke(config, "rules", "test", "--json", "--rules", str(explain_rules), str(SEED))
    assert code == 0
    [row] = json_lines(out)  # matches only
    assert set(row) == {"path", "title", "rule", "rule_name", "terms", "snippet", "language", "hits"}
    assert row["rule"] == "nato"


def test_rules_test_explain_reads_json_html_and_feed_files(config: Path, tmp_path: Path) -> None:
    rules = write(tmp_path / "r.yaml", "rules:\n  - id: nato-shoigu\n    query: NATO OR Shoigu\n")
    files = [DATA / "notizia.json", DATA / "pagina.html", DATA / "esteri.rss"]
    code, out, err = invoke(config, "rules", "test", "--explain", "--rules", str(rules), *map(str, files))
    assert code == 0, err
    for path in files:
        assert f"{path}: " in out
    assert "✓ nato-shoigu: NATO" in out and "title[8:12]: Vertice **NATO** a Madrid" in out  # .json
    assert "la telefonata tra Austin e **Shoigu**" in out  # .html
    assert "Finlandia e Svezia verso la **NATO**" in out  # .rss


def test_rules_test_prints_a_warning_as_a_warning_and_runs_the_rule(config: Path, tmp_path: Path) -> None:
    rules = write(
        tmp_path / "r.yaml",
        "rules:\n  - id: short\n    query: Ue OR Usa\n  - id: broken\n    query: 'Usa AND ('\n",
    )
    code, out, err = invoke(config, "rules", "test", "--rules", str(rules), str(SEED))
    assert code == 1  # the broken rule is an error
    [warning] = [line for line in err.splitlines() if "'short'" in line]
    assert warning.startswith(f"{rules}:") and " warning: rule 'short':" in warning
    assert "left out" not in warning and "invalid" not in warning
    [error] = [line for line in err.splitlines() if "'broken'" in line]
    assert error.startswith(f"invalid rule, left out: {rules}:")
    assert "short" in out and "broken" not in out  # the rule with a warning ran


def test_rules_test_explain_cuts_a_long_sentence_around_its_terms() -> None:
    text = " ".join(["parola"] * 200) + " Nato " + " ".join(["altro"] * 200) + "."
    start = text.index("Nato")
    line = marked_sentence(text, 0, len(text), [(start, start + 4)], limit=100)
    assert line.startswith("…parola") and line.endswith("altro…") and "**Nato**" in line
    assert len(line) <= 100 + 6


# -- monitor rules backtest ----------------------------------------------------------------


def table_counts(config: Path) -> dict[str, int]:
    store = open_store(load_settings(str(config)).database)
    with store.engine.connect() as connection:
        counts = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (ARTICLES, HITS, DELIVERIES)
        }
    store.engine.dispose()
    return counts


@pytest.fixture
def scanned(config: Path) -> Path:
    """The config, with the seed article scanned into its database as `monitor scan` does."""
    code, out, _ = invoke(config, "scan", str(SEED))
    assert code == 0 and "articles read: 1" in out
    return config


@pytest.fixture
def new_rules(tmp_path: Path) -> Path:
    return write(
        tmp_path / "new.yaml",
        "rules:\n"
        "  - id: ministro-russo\n    query: '@test_shoigu'\n"  # a concept of the configured rule files
        "  - id: nato-finlandia\n    query: Finlandia NEAR/10 NATO\n"
        "  - id: zanzibar\n    query: Zanzibar\n",
    )


def test_rules_backtest_reports_what_new_rules_would_have_matched(scanned: Path, new_rules: Path) -> None:
    code, out, err = invoke(scanned, "rules", "backtest", str(new_rules))
    assert code == 0, err
    lines = out.splitlines()
    hit = next(i for i, line in enumerate(lines) if " ministro-russo " in line)
    assert SEED_ARTICLE.title[:40] in lines[hit] and lines[hit].endswith("[Shoigu]")
    assert re.match(rf"{datetime.now(UTC):%Y-%m-%d} \d\d:\d\d ministro-russo ", lines[hit])
    assert lines[hit + 1] == "    seeds"  # source (and the URL when there is one)
    assert "Sergey Shoigu" in lines[hit + 2]  # snippet
    assert any(" nato-finlandia " in line and line.endswith("[Finlandia, Nato]") for line in lines)
    assert lines[-3:] == [
        "rule ministro-russo: 1 of 1 articles",
        "rule nato-finlandia: 1 of 1 articles",
        "rule zanzibar: 0 of 1 articles",
    ]
    assert "backtest: 3 rule(s)" in err


def test_rules_backtest_records_nothing_and_alerts_nothing(scanned: Path, new_rules: Path) -> None:
    before = table_counts(scanned)
    assert before["hits"] > 0 and before["deliveries"] > 0
    code, _, _ = invoke(scanned, "rules", "backtest", str(new_rules))
    assert code == 0
    assert table_counts(scanned) == before


def test_rules_backtest_json_lines_have_the_article_and_the_match(scanned: Path, new_rules: Path) -> None:
    code, out, err = invoke(scanned, "rules", "backtest", "--json", str(new_rules))
    assert code == 0
    rows = json_lines(out)  # stdout stays JSON: the summary goes to stderr
    assert [row["rule"] for row in rows] == ["ministro-russo", "nato-finlandia"]
    row = rows[0]
    assert row["title"] == SEED_ARTICLE.title and row["source"] == "seeds" and row["url"] is None
    assert row["terms"] == ["Shoigu"] and "Shoigu" in row["snippet"]
    assert datetime.fromisoformat(row["ingested_at"]) > datetime.now(UTC) - timedelta(hours=1)
    assert "rule zanzibar: 0 of 1 articles" in err


def test_rules_backtest_a_changed_copy_of_a_configured_rule_replaces_it(
    scanned: Path, tmp_path: Path
) -> None:
    copy = write(tmp_path / "nato.yaml", "rules:\n  - id: nato\n    query: Zanzibar\n")  # same id as shipped
    code, out, err = invoke(scanned, "rules", "backtest", str(copy))
    assert code == 0 and "duplicate" not in err
    assert out.splitlines() == ["rule nato: 0 of 1 articles"]


def test_rules_backtest_a_configured_rule_file_runs_only_its_own_rules(scanned: Path) -> None:
    code, out, err = invoke(scanned, "rules", "backtest", str(REPO / "rules" / "esteri.yaml"))
    assert code == 0 and "duplicate" not in err and "declared twice" not in err
    summary = [line for line in out.splitlines() if line.startswith("rule ")]
    ids = [spec["id"] for spec in to_plain(load_yaml(REPO / "rules" / "esteri.yaml"))["rules"]]
    assert [line.split(":")[0] for line in summary] == [f"rule {rule_id}" for rule_id in ids]


def test_rules_backtest_since_and_limit_bound_the_articles_newest_first(
    scanned: Path, new_rules: Path, tmp_path: Path
) -> None:
    later = write(tmp_path / "later.txt", "Vertice a Madrid\n\nShoigu non partecipa al vertice.\n")
    invoke(scanned, "scan", str(later))
    _, out, _ = invoke(scanned, "rules", "backtest", str(new_rules))
    assert "rule ministro-russo: 2 of 2 articles" in out
    _, out, _ = invoke(scanned, "rules", "backtest", "--limit", "1", str(new_rules))
    assert "rule ministro-russo: 1 of 1 articles" in out and "Vertice a Madrid" in out
    assert SEED_ARTICLE.title[:40] not in out
    _, out, _ = invoke(scanned, "rules", "backtest", "--since", "2999-01-01", str(new_rules))
    assert "rule ministro-russo: 0 of 0 articles" in out


def test_rules_backtest_rule_file_errors_exit_1_with_file_and_line(scanned: Path, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.yaml",
        "rules:\n  - id: ok\n    query: Shoigu\n  - id: broken\n    query: '(Shoigu'\n"
        "  - id: unknown\n    query: '@nowhere'\n",
    )
    code, out, err = invoke(scanned, "rules", "backtest", str(bad))
    assert code == 1
    assert f"{bad}:5:" in err and "never closed" in err
    assert f"{bad}:7:" in err and "nowhere" in err
    assert "rule ok: 1 of 1 articles" in out  # the valid rules still ran
    code, _, err = invoke(scanned, "rules", "backtest", str(tmp_path / "missing.yaml"))
    assert code == 1 and "no such file" in err and "no rules to backtest" in err


def test_rules_backtest_unusable_config_or_database_exits_2(tmp_path: Path) -> None:
    new_rules = write(tmp_path / "new.yaml", "rules:\n  - id: shoigu\n    query: Shoigu\n")
    (tmp_path / "db-is-a-folder").mkdir()
    config = write(
        tmp_path / "broken.yaml",
        f"database: sqlite:///{tmp_path / 'db-is-a-folder'}\nrules: [{REPO / 'rules'}]\n"
        "sources: {folders: []}\n",
    )
    if os.environ.get("MONITOR_DATABASE_URL"):
        pytest.skip("MONITOR_DATABASE_URL overrides the database of the config")
    code, _, err = invoke(config, "rules", "backtest", str(new_rules))
    assert code == 3 and err.startswith("error: database unreachable or unusable")
    code, _, err = invoke(config, "rules", "backtest", "--since", "last week", str(new_rules))
    assert code == 2 and "--since" in err


@pytest.mark.parametrize("command", [["rules", "schema"], ["rules", "backtest"], ["rules", "test"]])
def test_rules_commands_have_help_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and f"Example: monitor {' '.join(command)}" in result.output


def test_store_iter_articles_reads_newest_first_in_chunks(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    prepare_schema(engine)
    store = Store(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(7):  # two articles share each ingestion time: ties must not be lost between chunks
        article = make_article(title=f"n{n}", body="testo", source="s", origin=f"{n}.txt")
        store.record([Routed(article, [])], [], start + timedelta(hours=n // 2))
    titles = [stored.article.title for stored in store.iter_articles(chunk=2)]
    assert sorted(titles) == [f"n{n}" for n in range(7)] and len(titles) == 7
    assert titles[0] == "n6" and set(titles[-2:]) == {"n0", "n1"}
    recent = list(store.iter_articles(start + timedelta(hours=2), chunk=2))
    assert {s.article.title for s in recent} == {"n4", "n5", "n6"}
    assert all(s.ingested_at >= start + timedelta(hours=2) for s in recent)
    assert [s.article.title for s in store.iter_articles(limit=3, chunk=2)] == titles[:3]
    [first] = store.iter_articles(limit=1)
    assert first.article.source == "s" and first.article.origin == "6.txt" and first.article.body == "testo"
    engine.dispose()
