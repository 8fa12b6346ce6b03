"""Configuration: defaults that run anywhere, secrets from the environment or files, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings, parse_duration
from monitor.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30.0), ("10m", 600.0), ("1h", 3600.0), ("1d", 86400.0), ("250ms", 0.25), (15, 15.0), ("2", 2.0)],
)
def test_config_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-1s", "10 minutes", True])
def test_config_bad_durations_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_config_builtin_defaults_run_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.database == "sqlite:///data/monitor.db"
    assert [f.path for f in settings.sources.folders] == [Path("seeds")]
    assert list(settings.channels) == ["console"] and settings.default_notify == ["console"]


def test_config_empty_list_and_mapping_defaults_belong_to_each_setting_alone(tmp_path: Path) -> None:
    """Written as values (``[]``, ``{}``), they are copied for each instance: never one shared list."""
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "sources: {feeds: [{url: 'https://a.example/rss'}, {url: 'https://b.example/rss'}]}\n"
        "channels: {hook: {type: webhook, url: 'https://hooks.example/x'}, console: {type: console}}\n",
        encoding="utf-8",
    )
    settings = load_settings(str(config), env={})
    first, second = settings.sources.feeds
    assert first.tags == second.tags == [] and first.tags is not second.tags
    hook, console = settings.channels["hook"], settings.channels["console"]
    assert hook.sources is not console.sources and hook.templates is not console.templates
    assert settings.sources.folders is not load_settings(str(config), env={}).sources.folders


def test_config_rules_naming_no_channel_go_to_every_channel_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  a: {type: console}\n  b: {type: console}\n")
    assert load_settings(str(path), env={}).default_notify == ["a", "b"]
    path = write(tmp_path, "channels:\n  a: {type: console}\n  b: {type: console}\ndefaults: {notify: [b]}\n")
    assert load_settings(str(path), env={}).default_notify == ["b"]


def test_config_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    settings = load_settings(
        str(write(tmp_path, "rules: [my-rules/]\nsources: {folders: [{path: inbox}]}\n")), env={}
    )
    assert settings.rules == [tmp_path / "my-rules"]
    assert settings.sources.folders[0].path == tmp_path / "inbox"
    assert settings.database == f"sqlite:///{tmp_path / 'data' / 'monitor.db'}"


def test_config_database_url_from_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "database: sqlite:///x.db\n")
    settings = load_settings(str(path), env={"MONITOR_DATABASE_URL": "postgresql://u@db/monitor"})
    assert settings.database == "postgresql://u@db/monitor"


def test_config_file_from_monitor_config_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "log_level: DEBUG\n")
    assert load_settings(env={"MONITOR_CONFIG": str(path)}).log_level == "DEBUG"


def test_config_secrets_from_env_and_files_are_masked(tmp_path: Path) -> None:
    secret_file = tmp_path / "slack.secret"
    secret_file.write_text("https://hooks.slack.com/services/T0/B0/filetoken\n", encoding="utf-8")
    path = write(
        tmp_path,
        "channels:\n"
        "  hook: {type: webhook, url: '${HOOK_URL}', headers: {Authorization: 'Bearer ${TOKEN:-none}'}}\n"
        f"  slack: {{type: slack, url_file: '{secret_file}'}}\n",
    )
    settings = load_settings(str(path), env={"HOOK_URL": "https://siem.example.org/hook?key=envtoken"})
    hook, slack = settings.channels["hook"], settings.channels["slack"]
    assert hook.url.get_secret_value() == "https://siem.example.org/hook?key=envtoken"  # type: ignore[union-attr]
    assert hook.headers["Authorization"].get_secret_value() == "Bearer none"  # type: ignore[union-attr]
    assert slack.url.get_secret_value().endswith("/filetoken")  # type: ignore[union-attr]
    assert "envtoken" not in repr(settings) and "filetoken" not in repr(settings)


def test_config_missing_secret_file_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  slack: {type: slack, url_file: /nonexistent/secret}\n")
    with pytest.raises(ConfigError, match=r"channels\.slack\.url_file: cannot read secret file"):
        load_settings(str(path), env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sources:\n  feeds:\n    - {url: 'ftp://x/feed'}\n",
            "monitor.yaml:3: sources.feeds.0.url: a feed URL must start",
        ),
        ("channels:\n  x: {type: pager}\n", "monitor.yaml:2: channels.x"),
        ("defaults: {notify: [slack]}\n", "defaults.notify names unknown channel(s): slack"),
        ("delivery:\n  max_attempts: 0\n", "monitor.yaml:2: delivery.max_attempts"),
        ("rules: [a\n", "monitor.yaml:"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(str(write(tmp_path, text)), env={})
    assert message in str(caught.value)


OPTIONAL_SLACK = (
    "channels:\n"
    "  console: {type: console}\n"
    "  slack: {type: slack, url: '${SLACK_WEBHOOK_URL:-}'}\n"
    "  hook: {type: webhook, url: '${HOOK_URL}'}\n"
)


def test_config_channel_with_an_empty_default_url_is_off_until_its_variable_is_set(tmp_path: Path) -> None:
    """``url: ${VAR:-}``: the channel is on where VAR is set (or VAR_FILE), left out elsewhere."""
    path = write(tmp_path, OPTIONAL_SLACK)
    hook = {"HOOK_URL": "https://siem.example.org/hook"}
    for off in ({}, {"SLACK_WEBHOOK_URL": ""}):
        settings = load_settings(str(path), env={**hook, **off})
        assert list(settings.channels) == ["console", "hook"]
        assert settings.default_notify == ["console", "hook"]
    url = "https://hooks.slack.com/services/T/B/x"
    secret = tmp_path / "slack-url"
    secret.write_text(url + "\n", encoding="utf-8")
    for on in ({"SLACK_WEBHOOK_URL": url}, {"SLACK_WEBHOOK_URL_FILE": str(secret)}):
        settings = load_settings(str(path), env={**hook, **on})
        assert list(settings.channels) == ["console", "slack", "hook"]
        assert settings.channels["slack"].url.get_secret_value() == url  # type: ignore[union-attr]


def test_config_channel_url_without_an_empty_default_stays_required(tmp_path: Path) -> None:
    """Only the explicit ``${VAR:-}`` switches a channel off: ``${VAR}`` unset is still an error, and
    a non-empty default or a literal URL keeps the channel on."""
    with pytest.raises(ConfigError, match=r"channels\.hook\.url: environment variable HOOK_URL"):
        load_settings(str(write(tmp_path, OPTIONAL_SLACK)), env={})
    path = write(
        tmp_path,
        "channels:\n"
        "  a: {type: webhook, url: '${A_URL:-https://a.example.org/in}'}\n"
        "  b: {type: webhook, url: 'https://b.example.org/in?x=${B_TOKEN:-}'}\n",
    )
    assert list(load_settings(str(path), env={}).channels) == ["a", "b"]


def test_config_env_reference_falls_back_to_a_var_file(tmp_path: Path) -> None:
    secret = tmp_path / "hook-url"
    secret.write_text("https://siem.example.org/hook?key=filetoken\n", encoding="utf-8")
    path = write(tmp_path, "channels:\n  hook: {type: webhook, url: '${HOOK_URL}'}\n")
    settings = load_settings(str(path), env={"HOOK_URL_FILE": str(secret)})
    assert settings.channels["hook"].url.get_secret_value().endswith("key=filetoken")  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"HOOK_URL_FILE\): cannot read secret file"):
        load_settings(str(path), env={"HOOK_URL_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            "0 8 * * mon-fry",
            "the day-of-week field 'mon-fry' is not valid (0-7 or sun-sat; 0 and 7 are Sunday)",
        ),
        ("0 8 * * 8", "the day-of-week field '8' is not valid"),
        ("0 25 * * *", "the hour field '25' is not valid (0-23)"),
        ("0 8 * *", "it needs five fields"),
        ("0 8 * * 1-5 2026", "it needs five fields"),
        ("0 8 31 2 *", "never fires"),
    ],
)
def test_config_bad_digest_schedule_names_the_channel_the_line_and_the_field(
    tmp_path: Path, schedule: str, message: str
) -> None:
    path = write(
        tmp_path,
        f"channels:\n  console: {{type: console}}\n  desk: {{type: console, digest: '{schedule}'}}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(str(path), env={})
    assert str(caught.value).startswith(f"{path}:3: channels.desk.digest: '{schedule}'")
    assert message in str(caught.value)


@pytest.mark.parametrize("schedule", ["0 8 * * 1-5", "0 8 * * 0", "0 8 * * 7", "0 8 * * sun", "@weekly"])
def test_config_digest_takes_standard_cron_weekdays(tmp_path: Path, schedule: str) -> None:
    path = write(tmp_path, f"channels:\n  desk: {{type: console, digest: '{schedule}'}}\n")
    assert load_settings(str(path), env={}).channels["desk"].digest == schedule


HOOK_SECRET = "https://hooks.example.org/services/T0SECRET/B0SECRET/xoxSECRETTOKEN?key=qwerty1234"


@pytest.mark.parametrize(
    "channel",
    [
        "{type: webhook, url: '${HOOK_URL}', timeout: '${HOOK_URL}'}",  # a secret under the wrong key
        "{type: slack, url: '${HOOK_URL}', timezone: '${HOOK_URL}'}",
        "{type: webhook, url: 'https://x.org/h', digest: '${HOOK_URL}'}",
        "{type: webhook, url: 'https://x.org/h', timeout_file: '{secret_file}'}",  # from a secret file
    ],
)
def test_config_error_on_a_value_from_the_environment_never_shows_the_value(
    tmp_path: Path, channel: str
) -> None:
    secret_file = tmp_path / "hook-url"
    secret_file.write_text(HOOK_SECRET, encoding="utf-8")
    path = write(tmp_path, "channels:\n  hook: " + channel.replace("{secret_file}", str(secret_file)) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(str(path), env={"HOOK_URL": HOOK_SECRET})
    message = str(caught.value)
    assert "monitor.yaml:2: channels.hook." in message  # the culprit is still named
    for piece in ("T0SECRET", "B0SECRET", "xoxSECRETTOKEN", "qwerty1234", "hooks.example.org/services"):
        assert piece not in message
    assert "not shown" in message
