"""Hostile rules and words against the real daemon: no freeze, and a bad rule never stops it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.notify.receivers import WebhookReceiver
from tests.ops_support import BASE_CONFIG, Daemon, make_workdir, wait_for
from tests.test_daemon import monitor

WILDCARD_RULES = """rules:
  - id: inner
    query: 'ab*c*d*e'
  - id: repeated
    query: 'aa*a*a*a*a*a*b'
  - id: nato
    query: NATO
"""
# One word each that a backtracking ab.*c.*d.*e or aa.*a.*a.*a.*a.*a.*b took minutes to refuse,
# with the GIL held; and a short word the first rule matches.
HOSTILE = {
    "title": "Hostile words",
    "body": f"{'ab' + 'cd' * 8_000} {'a' * 20_000} abxcydze",
    "url": "https://news.example.org/hostile",
    "language": "en",
}
AFTER = {
    "title": "NATO summit in Vilnius",
    "body": "NATO leaders met in Vilnius on Tuesday.",
    "url": "https://news.example.org/vilnius",
    "language": "en",
}


def drop(inbox: Path, name: str, article: dict[str, str]) -> None:
    tmp = inbox / f".{name}.part"
    tmp.write_text(json.dumps(article), encoding="utf-8")
    tmp.rename(inbox / name)


@pytest.mark.slow
def test_daemon_hostile_word_against_inner_wildcards_leaves_it_alive_and_alerting(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, BASE_CONFIG, WILDCARD_RULES)
    with WebhookReceiver() as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})

        def alerted() -> list[tuple[str, str]]:
            return [(b["data"]["rule"]["id"], b["data"]["article"]["title"]) for _, b in hook.received]

        try:
            assert wait_for(lambda: len(hook.received) == 1, 60), daemon.log  # the seed, by NATO
            drop(workdir / "inbox", "hostile.json", HOSTILE)
            # the endpoint answers all the while the article is read and matched
            assert wait_for(
                lambda: daemon.get("/livez").status_code == 200 and len(hook.received) == 2, 60
            ), daemon.log
            assert alerted()[1] == ("inner", HOSTILE["title"])
            drop(workdir / "inbox", "after.json", AFTER)
            assert wait_for(lambda: len(hook.received) == 3, 60), f"the daemon stopped working:\n{daemon.log}"
            assert alerted()[2] == ("nato", AFTER["title"])
            assert daemon.get("/livez").status_code == 200
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log


def test_daemon_starts_with_the_valid_rules_beside_a_query_nested_1000_deep(tmp_path: Path) -> None:
    deep = "(" * 1_000 + "NATO" + ")" * 1_000
    rules = f"rules:\n  - id: deep\n    query: '{deep}'\n  - id: nato\n    query: NATO\n"
    workdir = make_workdir(tmp_path, BASE_CONFIG.replace("server: {enabled: true, port: 0}\n", ""), rules)
    with WebhookReceiver() as hook:
        done = monitor(workdir, "run", "--once", env={"HOOK_URL": hook.url})
    assert done.returncode == 0, done.stderr
    assert f"{workdir / 'rules' / 'one.yaml'}:3" in done.stderr and "rule 'deep'" in done.stderr
    assert "nested 1000 levels deep; the limit is 50" in done.stderr
    assert "RecursionError" not in done.stderr
    assert [body["data"]["rule"]["id"] for _, body in hook.received] == ["nato"]
