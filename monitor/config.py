"""monitor.yaml + environment → one validated, typed Settings object.

This is the only module that reads the environment.  Secrets (webhook URLs,
tokens) come from ``${VAR}`` references or ``*_file`` keys and are held as
``SecretStr`` so they never show up in a repr or a log line.  Every value has
a default, so a fresh checkout runs with no config file at all.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.identity import user_agent
from monitor.redact import Redactor, secret_parts
from monitor.yamlfile import YamlSyntaxError, load_yaml, locate, to_plain

DEFAULT_CONFIG = Path("monitor.yaml")
ENV_CONFIG = "MONITOR_CONFIG"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_OPTIONAL_URL = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-\}")  # url: "${SLACK_WEBHOOK_URL:-}"


def parse_duration(value: Any) -> float:
    """``30s``, ``10m``, ``1h``, ``1d``, ``250ms`` or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 10m, 1h)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    """Empty lists and mappings are written as default values (``tags: list[str] = []``), which
    pydantic copies for each instance: a factory (``default_factory=list``) would cost an
    inspection of its signature for every such field, when every command loads the settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_PATTERNS = ["*.txt", "*.json", "*.jsonl", "*.html", "*.htm", "*.xml", "*.rss", "*.atom"]


class FolderSource(_Model):
    """A folder whose files are ingested once each (by content), rescanned every ``interval``."""

    path: Path
    name: str | None = Field(None, description="source name shown in alerts (default: folder name)")
    interval: Duration = Field(30.0, description="how often the folder is rescanned")
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_PATTERNS))
    recursive: bool = True
    watch: bool = Field(True, description="react to file-system events (inotify) between scans")
    follow_symlinks: bool = Field(
        False,
        description="read symbolic links that lead outside the folder (links inside it are always read)",
    )
    language: str | None = Field(None, description="force this language for every file")
    tags: list[str] = []

    @property
    def source_name(self) -> str:
        return self.name or self.path.name or str(self.path)


class FeedSource(_Model):
    """An RSS/Atom feed polled every ``interval`` (plus jitter)."""

    url: str
    name: str | None = None
    interval: Duration = Field(600.0, description="time between two fetches")
    jitter: Duration | None = Field(None, description="random delay added (default: 10% of interval)")
    language: str | None = None
    tags: list[str] = []
    full_text: bool = Field(False, description="fetch each entry's page and extract the article text")

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if not re.match(r"^https?://", url, re.IGNORECASE):
            raise ValueError("a feed URL must start with http:// or https://")
        return url

    @property
    def source_name(self) -> str:
        return self.name or self.url


class Sources(_Model):
    folders: list[FolderSource] = []
    feeds: list[FeedSource] = []
    feed_parsers: int | None = Field(
        None, ge=0, description="processes parsing feeds (default: one per CPU, at most 4, from 20 feeds)"
    )


CRON_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The ``@`` shorthands a digest schedule may use, as the five fields they stand for."""
_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-7 or sun-sat; 0 and 7 are Sunday"),
)
_CRON_START = datetime(2000, 1, 1, tzinfo=UTC)


def check_cron(value: str) -> str:
    """``value`` as five standard cron fields (a shorthand expanded); ValueError naming the bad field.

    Standard means what crontab(5) says: weekday 0 and 7 are Sunday, 1-5 is
    Monday to Friday, names (``mon-fri``, ``jan``) are accepted.  A schedule
    that can never fire (``0 8 31 2 *``) is refused too.
    """
    from croniter import croniter  # here: only a configured digest needs it, and it is slow to import

    fields = CRON_NICKNAMES.get(value.strip().lower(), value).split()
    if len(fields) != 5:
        raise ValueError(
            f"{value!r} is not a cron schedule: it needs five fields "
            "(minute hour day-of-month month day-of-week, e.g. '0 8 * * 1-5') or @daily, @weekly…"
        )
    for position, (name, allowed) in enumerate(_CRON_FIELDS):
        probe = ["*"] * 5
        probe[position] = fields[position]
        try:
            croniter(" ".join(probe), _CRON_START)
        except ValueError:  # croniter's errors are ValueErrors
            raise ValueError(
                f"{value!r}: the {name} field {fields[position]!r} is not valid ({allowed})"
            ) from None
    expression = " ".join(fields)
    try:
        croniter(expression, _CRON_START).get_next(datetime)
    except ValueError:
        raise ValueError(f"{value!r} never fires: no date has that day and month") from None
    return expression


class _ChannelModel(_Model):
    """What every channel takes: which sources' alerts it wants (all by default)."""

    sources: list[str] = Field(default=[], description="only alerts from these sources (names, * wildcards)")
    tags: list[str] = Field(
        default=[], description="only alerts from sources with one of these tags (* wildcards)"
    )

    digest: str | None = Field(
        None,
        description="hold alerts and send one digest on this cron schedule (standard cron: "
        "weekday 0 and 7 are Sunday), e.g. '0 8 * * 1-5' for 08:00 Monday to Friday",
    )
    quiet_hours: str | None = Field(
        None, description="HH:MM-HH:MM: alerts held, then sent as one summary (urgent rules still go)"
    )
    timezone: str = Field("UTC", description="time zone of digest and quiet_hours, e.g. Europe/Rome")
    templates: dict[str, str] = Field(
        default={},
        description="Jinja2 templates replacing parts of the message (parts depend on the channel type)",
    )

    template_parts: ClassVar[tuple[str, ...]] = ()
    """The parts of this channel type's message a template may replace."""

    @model_validator(mode="after")
    def _template_parts(self) -> Self:
        unknown = sorted(set(self.templates) - set(self.template_parts))
        if unknown:
            kind = getattr(self, "type", "this channel")
            raise ValueError(
                f"templates: {kind} has no part {', '.join(map(repr, unknown))}; "
                f"it has: {', '.join(self.template_parts) or 'none'}"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use a name such as Europe/Rome)") from None
        return value

    @field_validator("digest")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            check_cron(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"\s*([01]?\d|2[0-3]):[0-5]\d\s*-\s*([01]?\d|2[0-3]):[0-5]\d\s*", value
        ):
            raise ValueError(f"quiet_hours: {value!r} is not HH:MM-HH:MM, e.g. 22:00-07:00")
        return value

    def wants(self, source: str, tags: Sequence[str]) -> bool:
        """Routing by source: a desk's Slack channel gets its own feeds' alerts only."""
        if self.sources and not any(
            fnmatch.fnmatchcase(source.casefold(), p.casefold()) for p in self.sources
        ):
            return False
        return not self.tags or any(
            fnmatch.fnmatchcase(tag.casefold(), p.casefold()) for tag in tags for p in self.tags
        )


class ConsoleChannel(_ChannelModel):
    """Prints alerts to standard output: the default when nothing else is configured."""

    template_parts: ClassVar[tuple[str, ...]] = ("text",)
    type: Literal["console"]


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str | SecretStr) else value


class WebhookChannel(_ChannelModel):
    """POSTs a documented JSON body to any HTTP endpoint, signed per Standard Webhooks."""

    template_parts: ClassVar[tuple[str, ...]] = ("body",)
    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = {}
    timeout: Duration = 10.0
    secret: Annotated[list[SecretStr], BeforeValidator(_listed)] = Field(
        default=[],
        description="whsec_… signing secret(s); several sign each message during a key rotation",
    )


class SlackChannel(_ChannelModel):
    """A Slack incoming webhook (https://hooks.slack.com/services/...)."""

    template_parts: ClassVar[tuple[str, ...]] = ("text", "message")
    type: Literal["slack"]
    url: SecretStr
    timeout: Duration = 10.0


class DiscordChannel(_ChannelModel):
    """A Discord channel webhook (https://discord.com/api/webhooks/...)."""

    template_parts: ClassVar[tuple[str, ...]] = ("title", "message")
    type: Literal["discord"]
    url: SecretStr
    timeout: Duration = 10.0


class TeamsChannel(_ChannelModel):
    """A Microsoft Teams Workflows webhook ("Post to a channel when a webhook request is received")."""

    template_parts: ClassVar[tuple[str, ...]] = ("message",)
    type: Literal["teams"]
    url: SecretStr
    timeout: Duration = 10.0


class EmailChannel(_ChannelModel):
    """Email through an SMTP server: implicit TLS (465) or STARTTLS (587), certificates verified."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    template_parts: ClassVar[tuple[str, ...]] = ("subject", "text", "html")
    type: Literal["email"]
    host: str
    port: int | None = Field(None, description="default: 465 for tls, 587 for starttls, 25 for none")
    security: Literal["tls", "starttls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from", description="From: address, e.g. News Monitor <alerts@example.org>")
    to: Annotated[list[str], BeforeValidator(_listed)] = Field(min_length=1)
    ca_file: Path | None = Field(None, description="extra CA certificates to trust (a private relay)")
    allow_insecure: bool = Field(
        False, description="allow a relay without TLS (security: none, or no STARTTLS offered): local only"
    )
    subject_prefix: str = "[news-monitor]"
    timeout: Duration = 30.0


class AtomChannel(_ChannelModel):
    """An Atom feed file per rule, for any feed reader (serve the folder with a web server)."""

    type: Literal["atom"]
    folder: Path | None = Field(None, description="where the feeds are written (default: <state_dir>/atom)")
    max_entries: int = Field(50, ge=1, le=10_000, description="newest alerts kept in each rule's feed")


class AppriseChannel(_ChannelModel):
    """Any service Apprise reaches by URL (tgram://, matrix://, ntfy://, …); the apprise extra."""

    template_parts: ClassVar[tuple[str, ...]] = ("title", "message")
    type: Literal["apprise"]
    urls: Annotated[list[SecretStr], BeforeValidator(_listed)] = Field(min_length=1)


Channel = Annotated[
    ConsoleChannel
    | WebhookChannel
    | SlackChannel
    | DiscordChannel
    | TeamsChannel
    | EmailChannel
    | AtomChannel
    | AppriseChannel,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("console", "webhook", "slack", "discord", "teams", "email", "atom", "apprise")


class Defaults(_Model):
    notify: list[str] | None = Field(None, description="channels for rules that name none (default: all)")


class DeliverySettings(_Model):
    """How the outbox dispatcher sends and retries alerts."""

    interval: Duration = Field(5.0, description="how often pending alerts are looked for")
    batch_size: int = Field(100, ge=1)
    max_attempts: int = Field(12, ge=1, description="after this many failures an alert is dead")
    retry_initial: Duration = Field(30.0, description="delay before the first retry")
    retry_max: Duration = Field(3600.0, description="longest delay between two retries")
    send_timeout: Duration = Field(
        120.0,
        gt=0,
        description="longest one attempt may take, answer included: a receiver dripping its answer "
        "(which never trips a read timeout) is cut off and retried with backoff",
    )
    record_batch: int = Field(
        50,
        ge=1,
        description="most send outcomes recorded in one commit: after a crash, at most these (and the "
        "sends in flight) go out again, under the same idempotency key",
    )
    record_wait: Duration = Field(
        0.005,
        description="longest an outcome waits to be recorded with others (0: each in its own commit)",
    )


class DedupSettings(_Model):
    """Near duplicates: the same wire story republished by several outlets alerts once."""

    enabled: bool = True
    threshold: float = Field(
        0.5, gt=0, le=1, description="estimated share of 4-word runs two texts must share to be one story"
    )
    min_words: int = Field(30, ge=1, description="shorter texts are never grouped (exact copies still are)")
    window: Duration = Field(172800.0, description="how far back a republication is looked for (2d)")
    max_articles: int = Field(20000, ge=1, description="most recent articles remembered for the comparison")


class HttpSettings(_Model):
    """How feeds and linked pages are fetched: politely, bounded, never into the local network."""

    contact: str | None = Field(None, description="URL or mailto: put in the User-Agent for site owners")
    user_agent: str | None = Field(None, description="the whole User-Agent (default from contact)")
    timeout: Duration = Field(20.0, description="overall deadline of one fetch, redirects included")
    connect_timeout: Duration = Field(10.0, gt=0, description="longest wait for a connection to open")
    read_timeout: Duration = Field(10.0, gt=0, description="longest silence of a server while answering")
    max_bytes: int = Field(20_000_000, ge=1024, description="larger responses are cut off and reported")
    max_concurrency: int = Field(20, ge=1, description="fetches in flight at once")
    per_host: int = Field(2, ge=1, description="fetches in flight to one host at once")
    allow_private_networks: bool = Field(
        False, description="let links inside feeds reach loopback/private addresses (full text)"
    )

    @field_validator("contact")
    @classmethod
    def _contact(cls, contact: str | None) -> str | None:
        _agent_for(contact)  # refuses what cannot go in a header
        return contact

    @property
    def agent(self) -> str:
        return self.user_agent or _agent_for(self.contact)


def _agent_for(contact: str | None) -> str:
    return user_agent(contact)


class HealthSettings(_Model):
    """When a feed's trouble becomes an alert (to ``channel``), and its recovery another."""

    channel: str | None = Field(None, description="channel for source-health alerts (default: log only)")
    failing_after: Duration = Field(21600.0, description="a feed failing this long alerts (6h)")
    stale_after: float = Field(
        5.0, gt=1, description="a feed with nothing new for this many times its usual gap alerts"
    )
    stale_min: Duration = Field(86400.0, description="never call a feed stale sooner than this (1d)")


DAY = 86400.0


class RetentionSettings(_Model):
    """How long the history is kept; ``null`` keeps it forever (the default for everything)."""

    article_bodies: Duration | None = Field(
        None, description="empty the body of articles ingested longer ago (titles, hits, dedup stay)"
    )
    articles: Duration | None = Field(
        None, description="delete articles ingested longer ago that have no hit (left)"
    )
    hits: Duration | None = Field(
        None, description="delete hits older than this with their alerts, unless one is still to be sent"
    )
    deliveries_sent: Duration | None = Field(
        None, description="delete the outbox rows of alerts sent longer ago"
    )
    interval: Duration = Field(DAY, ge=60, description="how often the daemon applies the policy")

    @field_validator("article_bodies", "articles", "hits", "deliveries_sent")
    @classmethod
    def _at_least_a_day(cls, value: float | None) -> float | None:
        if value is not None and value < DAY:
            raise ValueError("keep the history at least 1d (null keeps it forever)")
        return value

    @property
    def enabled(self) -> bool:
        return any(
            v is not None for v in (self.article_bodies, self.articles, self.hits, self.deliveries_sent)
        )


class LeaseSettings(_Model):
    """How replicas on one PostgreSQL share the work (SQLite: one process does it all)."""

    ttl: Duration = Field(
        60.0,
        gt=0,
        description="a claim on a feed, folder or alert lapses this long after its holder stops renewing "
        "it (a killed replica's work is taken over then); renewed every third of it",
    )


class ServerSettings(_Model):
    """The web app and its operations endpoints (/livez, /readyz, /metrics, /atom/): off unless enabled."""

    enabled: bool = Field(False, description="serve the web app, the API and the operations endpoints")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0 only inside a container)")
    port: int = Field(9464, ge=0, le=65535, description="TCP port (0: any free port, written in the log)")
    token: SecretStr | None = Field(
        None,
        description="required by the API (Bearer) and the pages (login) when set; the server refuses "
        "to listen beyond loopback without one (token_file: read it from a file)",
    )

    @field_validator("token")
    @classmethod
    def _strong_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            return None  # ${WEB_TOKEN:-} left empty: no token, as if absent
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("server.token: use at least 16 characters (e.g. openssl rand -hex 32)")
        return token


class JobSettings(_Model):
    """Bounds on the scheduled jobs, so one hung fetch or send never blocks its job for good."""

    timeout: Duration = Field(
        600.0, gt=0, description="longest one run of a scheduled job (a scan, a feed poll, a delivery round)"
    )


class ServiceEnvironment(_Model):
    """What a service manager hands the process (systemd's NOTIFY_SOCKET, WATCHDOG_USEC, JOURNAL_STREAM)."""

    notify_socket: str | None = None
    watchdog_usec: int | None = None
    journal_stream: tuple[int, int] | None = None


def service_environment(env: Mapping[str, str] | None = None, pid: int | None = None) -> ServiceEnvironment:
    """Read systemd's variables; a watchdog meant for another process (WATCHDOG_PID) is not ours."""
    env = os.environ if env is None else env
    pid = os.getpid() if pid is None else pid
    watchdog: int | None = None
    if env.get("WATCHDOG_USEC", "").isdigit() and env.get("WATCHDOG_PID", str(pid)) == str(pid):
        watchdog = int(env["WATCHDOG_USEC"]) or None
    stream: tuple[int, int] | None = None
    device, _, inode = env.get("JOURNAL_STREAM", "").partition(":")
    if device.isdigit() and inode.isdigit():
        stream = (int(device), int(inode))
    return ServiceEnvironment(
        notify_socket=env.get("NOTIFY_SOCKET") or None, watchdog_usec=watchdog, journal_stream=stream
    )


def secret_values(settings: Settings) -> list[str]:
    """Every secret in the configuration, and the pieces of each a message may quote, for masking.

    Secret URLs give their path, segments, query values and user info too
    (:func:`monitor.redact.secret_parts`); so do header values and passwords.
    """
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.extend(secret_parts(value.get_secret_value()))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(settings)
    password = urlsplit(settings.database).password if "://" in settings.database else None
    if password:
        found.extend(secret_parts(password))
    return list(dict.fromkeys(found))


def _default_channels() -> dict[str, Channel]:
    return {"console": ConsoleChannel(type="console")}


class Settings(_Model):
    """The whole configuration; every field has a default that runs on a fresh machine."""

    database: str = Field("", description="SQLAlchemy URL; MONITOR_DATABASE_URL overrides")
    state_dir: Path = Path("data")
    rules: list[Path] = Field(default_factory=lambda: [Path("rules")])
    rules_reload_interval: Duration = Field(
        5.0, description="seconds between checks of the rule files for edits (0: reload on SIGHUP only)"
    )
    rules_watch: bool = Field(
        True,
        description="reload a rule file as soon as it is saved (inotify); the periodic check stays as "
        "the safety net, and rules_reload_interval: 0 turns both off",
    )
    language_models: dict[str, str] = Field(
        default_factory=lambda: {"it": "blank", "en": "blank"},
        description="spaCy pipeline per language: 'blank' or an installed package name",
    )
    default_language: str = Field("en", description="used when detection is unsure")
    sources: Sources = Field(default_factory=lambda: Sources(folders=[FolderSource(path=Path("seeds"))]))
    channels: dict[str, Channel] = Field(default_factory=lambda: _default_channels())
    defaults: Defaults = Field(default_factory=Defaults)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    leases: LeaseSettings = Field(default_factory=LeaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    log_level: str = "INFO"
    log_format: Literal["auto", "human", "json", "journal"] = Field(
        "auto", description="auto: journal under systemd's journald, else human; MONITOR_LOG_FORMAT overrides"
    )
    config_path: Path | None = Field(None, exclude=True)

    @property
    def default_notify(self) -> list[str]:
        """Channels for rules that name none: ``defaults.notify``, else every configured channel."""
        if self.defaults.notify is not None:
            return list(self.defaults.notify)
        return list(self.channels)

    def model_post_init(self, __context: Any) -> None:
        unknown = [n for n in self.default_notify if n not in self.channels]
        if unknown:
            raise ValueError(f"defaults.notify names unknown channel(s): {', '.join(unknown)}")
        if self.health.channel is not None and self.health.channel not in self.channels:
            raise ValueError(f"health.channel names an unknown channel: {self.health.channel}")
        if self.retention.articles is not None and self.retention.articles < self.dedup.window:
            raise ValueError(
                "retention.articles must be at least dedup.window: republications need their story"
            )


def _read_secret(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None


def _expand_env(value: Any, env: Mapping[str, str], where: str, expanded: list[str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` and resolve ``key_file:`` secrets.

    Every value brought in from the environment or a file is added to
    ``expanded``: errors about the result must not show it (a webhook URL put
    under the wrong key would otherwise be printed whole).
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and key.endswith("_file") and isinstance(item, str):
                secret = _read_secret(Path(_expand_env(item, env, path, expanded)), path)
                expanded.append(secret)
                out[key[: -len("_file")]] = secret
                continue
            out[key] = _expand_env(item, env, path, expanded)
        return out
    if isinstance(value, list):
        return [_expand_env(v, env, f"{where}[{i}]", expanded) for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                found = env[name]
            elif f"{name}_FILE" in env:  # the Docker/systemd-credentials convention
                found = _read_secret(Path(env[f"{name}_FILE"]), f"{where} (${name}_FILE)")
            elif default is not None:
                return default
            else:
                raise ConfigError(f"{where}: environment variable {name} (or {name}_FILE) is not set")
            expanded.append(found)
            return found

        return _ENV_REF.sub(substitute, value)
    return value


def _channels_switched_off(data: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Channels whose ``url`` is only ``${VAR:-}`` (an empty default) while VAR is unset or empty.

    They are left out, so that one config (the container image's) can offer a channel that each
    deployment turns on by setting the variable; ``monitor check`` lists the channels that are on.
    """
    channels = data.get("channels")
    off = []
    for name, channel in channels.items() if isinstance(channels, dict) else ():
        url = channel.get("url") if isinstance(channel, dict) else None
        match = _OPTIONAL_URL.fullmatch(url.strip()) if isinstance(url, str) else None
        if match and not env.get(match[1]) and f"{match[1]}_FILE" not in env:
            off.append(name)
    return off


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in the config are relative to the config file, not to the cwd."""

    def fix(p: Any) -> Any:
        return str(base / p) if isinstance(p, str) and not Path(p).is_absolute() else p

    if "state_dir" in data:
        data["state_dir"] = fix(data["state_dir"])
    if isinstance(data.get("rules"), list):
        data["rules"] = [fix(p) for p in data["rules"]]
    folders = data.get("sources", {}).get("folders") if isinstance(data.get("sources"), dict) else None
    for folder in folders or []:
        if isinstance(folder, dict) and "path" in folder:
            folder["path"] = fix(folder["path"])
    channels = data.get("channels")
    for channel in channels.values() if isinstance(channels, dict) else ():
        for key in ("folder", "ca_file"):
            if isinstance(channel, dict) and key in channel:
                channel[key] = fix(channel[key])


def _sqlite_path_fix(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(base / url[len(prefix) :])
    return url


def resolve_config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """Which config file to read: the one asked for, else monitor.yaml if present, else none."""
    if explicit:
        return Path(explicit)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def load_settings(path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, expand and validate the configuration; raises ConfigError naming file and line."""
    env = os.environ if env is None else env
    config_path = resolve_config_path(path, env)
    raw: Any = {}
    base = Path.cwd()
    if config_path is not None:
        if not config_path.exists():
            raise ConfigError(f"{config_path}: config file not found")
        try:
            raw = load_yaml(config_path)
        except YamlSyntaxError as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot read: {exc.strerror}") from None
        base = config_path.resolve().parent
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of settings")
    expanded: list[str] = []
    plain = to_plain(raw)
    for name in _channels_switched_off(plain, env):
        del plain["channels"][name]
    data = _expand_env(plain, env, "", expanded)
    for var, key in (
        ("MONITOR_DATABASE_URL", "database"),
        ("MONITOR_STATE_DIR", "state_dir"),
        ("MONITOR_LOG_LEVEL", "log_level"),
        ("MONITOR_LOG_FORMAT", "log_format"),
    ):
        if env.get(var):
            data[key] = env[var]
    if config_path is not None:  # defaults too are relative to the config file, not the cwd
        data.setdefault("state_dir", "data")
        data.setdefault("rules", ["rules"])
    _resolve_paths(data, base)
    try:
        settings = Settings(**data, config_path=config_path)
    except ValidationError as exc:
        raise ConfigError(_hide_expanded(_describe(exc, raw, config_path), expanded)) from None
    if not settings.database:
        settings = settings.model_copy(update={"database": f"sqlite:///{settings.state_dir / 'monitor.db'}"})
    else:
        settings = settings.model_copy(update={"database": _sqlite_path_fix(settings.database, base)})
    return settings


def _hide_expanded(message: str, expanded: list[str]) -> str:
    """An error about a value from the environment or a secret file names the key, never the value."""
    hidden = Redactor(expanded)(message)
    return (
        hidden
        if hidden == message
        else f"{hidden}\n(values from the environment or secret files are not shown)"
    )


def _describe(exc: ValidationError, raw: Any, path: Path | None) -> str:
    name = str(path) if path else "<built-in defaults>"
    lines = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p in CHANNEL_TYPES))
        line = locate(raw, loc) if path else None
        dotted = ".".join(str(p) for p in loc) or "config"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{name}:{line}: {dotted}: {message}" if line else f"{name}: {dotted}: {message}")
    return "\n".join(lines)
