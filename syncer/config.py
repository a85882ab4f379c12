"""Settings from a TOML file and the environment, validated once at start.

Every problem is reported as one `ConfigError` line that names the key and what is wrong.
Secrets are never in the file: it names the environment variables that hold them.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import time
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from syncer import filters, kinds
from syncer.errors import ConfigError
from syncer.filters import Condition
from syncer.timeparse import DAY, to_epoch

PROPERTY_SOURCES: Final = frozenset(
    {
        "contact.email",
        "contact.name",
        "contact.id",
        "contact.external_id",
        "company.name",
        "rating.score",
        "rating.remark",
        "conversation.id",
        "ticket.id",
        "ticket.type",
    }
)
UNIT_SOURCES: Final = ("external_id", "email", "id")
CUSTOM_ATTRIBUTE_PREFIX: Final = "custom_attributes."
REGIONS: Final = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}
CONFIG_ENV: Final = "SYNCER_CONFIG"
MAX_GOAL_NAME: Final = 128


@dataclass(frozen=True, slots=True)
class IntercomSettings:
    token_env: str
    base_url: str
    timeout: float = 30.0
    concurrency: int = 48
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    endpoint: str
    api_key_env: str
    application: str
    environment: str
    application_version: int = 0
    agent: str = "intercom-absmartly-syncer"
    hash_units: bool = False
    timeout: float = 30.0
    batch_size: int = 500
    max_body_bytes: int = 512 * 1024  # every request body stays under it
    api_key: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class UnitMapping:
    type: str
    source: str  # external_id | email | id | custom_attributes.NAME


@dataclass(frozen=True, slots=True)
class GoalSettings:
    kind: str
    name: str
    enabled: bool
    properties: tuple[tuple[str, str], ...]  # (property name, source)
    # The kinds' own options (kinds.py reads each from its goal's table):
    bot_started: bool = False  # started: count bot-opened ones the contact answered
    quick_replies: bool = False  # messaged: a contact's click on a bot's button counts
    categories: tuple[str, ...] = ("Customer",)  # tickets: the categories that count
    where: tuple[Condition, ...] = ()  # every one must hold (syncer/filters/)
    # AI resolutions: None counts confirmed resolutions only; seconds, assumed ones too,
    # once they have held that long (the contact did not come back; README "Events")
    assumed_hold: int | None = None

    def admits(self, facts: Mapping[str, Any]) -> bool:
        """Whether an event of this goal's kind is one of its events at all, by the kind's
        options (a bot-opened conversation, a button click, a ticket category). An event the
        options leave out is not this goal's: unlike a `where`, nothing is recorded."""
        if facts.get("started.by_bot") and not self.bot_started:
            return False
        if facts.get("message.quick_reply") and not self.quick_replies:
            return False
        if facts.get("ai_agent.resolution_state") == "assumed_resolution":
            held = facts.get("ai_agent.held")
            if self.assumed_hold is None or not isinstance(held, int) or held < self.assumed_hold:
                return False
        category = facts.get("ticket.category")
        return not (isinstance(category, str) and category not in self.categories)


@dataclass(frozen=True, slots=True)
class SyncSettings:
    database: str
    start: int | None  # None: "now", resolved when a fresh database first scans
    password: str = field(default="", repr=False)  # PostgreSQL's, from sync.password_env
    schema: str = ""  # PostgreSQL: the workspace's own schema ("": the default, public)
    # Measured in bench/freshness.py (issue 28): each cycle reads up to now and delivers at
    # once, so freshness is about the poll interval; 3 s costs 20 searches a minute per
    # scan when idle (0.8 % of the budget for the four default goals). `settle` is how far
    # behind now the cursor hands over; the overlap and the reconciliation pass read again.
    poll_interval: int = 3
    settle: int = 10
    overlap: int = 300
    slice_seconds: int = 86_400
    contact_ttl: int = 86_400
    publish_timeout: int = 300
    reconcile_interval: int = 3_600  # 0: off
    reconcile_window: int = 86_400
    reresolve_interval: int = 3_600  # 0: off
    reresolve_days: int = 30
    lease_retry: int = 5  # PostgreSQL: seconds between a standby's tries of the lease
    retain_days: int = 30  # personal data of sent goals kept this long; 0: forever


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """`[webhooks]`: Intercom's app notifications taken as hints to read an object at once
    (syncer/webhooks.py). The secret is read from the environment when `run` starts."""

    listen: str  # host:port, behind the operator's TLS reverse proxy
    path: str
    client_secret_env: str  # the name of the variable, not the secret
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Config:
    intercom: IntercomSettings
    absmartly: CollectorSettings
    units: tuple[UnitMapping, ...]
    goals: tuple[GoalSettings, ...]  # in config order; names are unique
    sync: SyncSettings
    path: Path | None = None
    metrics_listen: str | None = None  # "host:port" for /metrics and /healthz; None: off
    webhooks: WebhookSettings | None = None  # Intercom's app webhooks as hints; None: off

    def enabled_goals(self) -> list[GoalSettings]:
        return [goal for goal in self.goals if goal.enabled]

    def goals_of(self, kind: str) -> list[GoalSettings]:
        """The enabled goals an event of this kind may count for."""
        return [goal for goal in self.goals if goal.enabled and goal.kind == kind]

    def goal_named(self, name: str) -> GoalSettings | None:
        return next((goal for goal in self.goals if goal.enabled and goal.name == name), None)


class _Table:
    """Reads one TOML table, remembering which keys were used so leftovers are errors."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise ConfigError(f"{self.key(name)}: missing (required)")
            return default
        value = self.data[name]
        expected = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in expected:
            raise ConfigError(f"{self.key(name)}: expected {_names(expected)}, got a boolean")
        if not isinstance(value, expected):
            raise ConfigError(f"{self.key(name)}: expected {_names(expected)}, got {_kind(value)}")
        return value

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default)
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"{self.key(name)}: must not be empty")
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.get(name, int, default)
        if value < minimum:
            raise ConfigError(f"{self.key(name)}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self.key(name)}: must be at most {maximum}, got {value}")
        return int(value)

    def seconds(self, name: str, default: float, maximum: float = 600.0) -> float:
        """A finite number of seconds in (0, maximum]."""
        value = float(self.get(name, (int, float), default))
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise ConfigError(
                f"{self.key(name)}: must be more than 0 and at most {maximum:g} seconds, "
                f"got {value:g}"
            )
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise ConfigError(f"{self.key(unknown[0])}: unknown key (known here: {known})")


def _kind(value: object) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _names(kinds: Iterable[type]) -> str:
    return " or ".join(_kind(k()) if k is not float else "a number" for k in kinds)


def config_path(cli_value: str | None) -> Path:
    """The config file: `--config` wins over $SYNCER_CONFIG."""
    raw = cli_value or os.environ.get(CONFIG_ENV)
    if not raw:
        raise ConfigError(f"no config file: pass --config PATH or set {CONFIG_ENV}")
    return Path(raw)


def load(
    path: Path,
    *,
    secrets: Iterable[str] = ("intercom", "absmartly"),
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate the config; `secrets` names the sections whose secret must be set."""
    try:
        # utf-8-sig: a byte-order mark some editors put at the top is not TOML's concern.
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:  # a folder, no permission, an I/O error
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    config = parse(raw, secrets=secrets, env=os.environ if env is None else env, path=path)
    _warn_if_exposed(path, config)
    return config


def _warn_if_exposed(path: Path, config: Config) -> None:
    """A config that others can read must not hold a secret (say, pasted into a comment)."""
    try:
        if not path.stat().st_mode & 0o044:
            return
        text = path.read_text(encoding="utf-8")
    except OSError:
        return
    exposed = [
        name
        for name, value in (
            (config.intercom.token_env, config.intercom.token),
            (config.absmartly.api_key_env, config.absmartly.api_key),
        )
        if len(value) >= 8 and value in text
    ]
    if exposed:
        logging.getLogger("syncer.config").warning(
            "%s is readable by other users and contains the value of $%s; keep secrets in the "
            "environment (or chmod 600 the file)",
            path,
            exposed[0],
        )


def parse(
    raw: dict[str, Any],
    *,
    secrets: Iterable[str] = (),
    env: Mapping[str, str],
    path: Path | None = None,
) -> Config:
    """Validate an already-parsed TOML document."""
    root = _Table(raw, "")
    wanted = set(secrets)
    intercom = _intercom(_Table(root.get("intercom", dict, {}), "intercom"), env, wanted)
    absmartly = _absmartly(_Table(root.get("absmartly", dict), "absmartly"), env, wanted)
    units = _units(root.get("units", list))
    goals = _goals(root)
    sync = _sync(_Table(root.get("sync", dict, {}), "sync"), path, env)
    listen = _metrics(_Table(root.get("metrics", dict, {}), "metrics"))
    webhooks = _webhooks(_Table(root.get("webhooks", dict, {}), "webhooks"), env)
    root.finish()
    return Config(intercom, absmartly, units, goals, sync, path, listen, webhooks)


def _webhooks(table: _Table, env: Mapping[str, str]) -> WebhookSettings | None:
    """`[webhooks]` (issue 28): off unless `listen` is set. The client secret is needed only
    by `run`, which refuses to start without it (the other commands never listen)."""
    listen = table.get("listen", str, None)
    path = table.text("path", "/intercom/webhooks")
    variable, secret = _secret(
        table, "client_secret_env", "INTERCOM_CLIENT_SECRET", env, needed=False, header=False
    )
    table.finish()
    if listen is None:
        return None
    _host_port("webhooks.listen", listen)
    if not path.startswith("/") or not _printable_ascii(path) or " " in path or "?" in path:
        raise ConfigError(
            f"webhooks.path: expected a URL path like /intercom/webhooks, got {_shown(path)!r}"
        )
    return WebhookSettings(str(listen), path, variable, secret)


def _host_port(key: str, listen: str) -> None:
    """`host:port`, or `[v6]:port`, with a port in 1..65535."""
    host, _, port = listen.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if (
        not host.strip("[]")
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65_536
        or not _printable_ascii(host)
        or (":" in host and not bracketed)
    ):
        raise ConfigError(
            f"{key}: expected host:port (127.0.0.1:8473, or [::1]:8473 for IPv6), "
            f"got {_shown(listen)!r}"
        )


def _metrics(table: _Table) -> str | None:
    listen = table.get("listen", str, None)
    table.finish()
    if listen is None:
        return None
    host, _, port = listen.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if (
        not host.strip("[]")
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65_536
        or not _printable_ascii(host)
        or (":" in host and not bracketed)
    ):
        raise ConfigError(
            "metrics.listen: expected host:port (127.0.0.1:9464, or [::1]:9464 for IPv6), "
            f"got {_shown(listen)!r}"
        )
    return str(listen)


def _printable_ascii(text: str) -> bool:
    """What an HTTP header value may hold: printable ASCII, space included."""
    return all(" " <= ch <= "~" for ch in text)


def _shown(text: str, limit: int = 40) -> str:
    """A value for an error line: cut to `limit` characters."""
    return text if len(text) <= limit else text[:limit] + "…"


def _header_text(
    table: _Table, name: str, default: Any = ..., *, sent: str = "is sent as an HTTP header"
) -> str:
    """A value sent as an HTTP header (or an identifier the Collector keys on): printable
    ASCII, no space at either end."""
    value: str = table.text(name, default)
    if not _printable_ascii(value) or value != value.strip():
        raise ConfigError(
            f"{table.key(name)}: {sent}, so it must be printable ASCII with no space at "
            f"either end, got {_shown(value)!r}"
        )
    return value


def _secret(
    table: _Table,
    name: str,
    default: str,
    env: Mapping[str, str],
    needed: bool,
    *,
    header: bool = True,
) -> tuple[str, str]:
    variable = table.text(name, default)
    if variable != variable.upper():
        # Most likely the secret pasted where its variable's name belongs: never echoed.
        raise ConfigError(
            f"{table.key(name)}: must name the environment variable that holds the secret, "
            f"in upper case (like {default or 'SYNCER_DB_PASSWORD'}); what is there looks "
            "like a secret itself, so it is not shown"
        )
    if not variable.replace("_", "").isalnum() or not variable.isascii():
        raise ConfigError(
            f"{table.key(name)}: {_shown(variable)!r} is not an environment variable name"
        )
    value = env.get(variable, "")
    if needed and not value.strip():
        raise ConfigError(f"{table.key(name)}: environment variable {variable} is not set")
    if needed and header and not _printable_ascii(value.strip()):
        # Never the value: it is a secret.
        raise ConfigError(
            f"{table.key(name)}: the value of ${variable} holds a character an HTTP header "
            "cannot carry (only printable ASCII); export it again, without control "
            "characters or typographic quotes"
        )
    return variable, value.strip()


def _intercom(table: _Table, env: Mapping[str, str], wanted: set[str]) -> IntercomSettings:
    token_env, token = _secret(
        table, "token_env", "INTERCOM_ACCESS_TOKEN", env, "intercom" in wanted
    )
    region = table.text("region", "us")
    if region not in REGIONS:
        raise ConfigError(f"intercom.region: must be one of us, eu, au, got {region!r}")
    base_url = _url(table, "base_url", table.get("base_url", str, REGIONS[region]))
    settings = IntercomSettings(
        token_env=token_env,
        base_url=base_url.rstrip("/"),
        timeout=table.seconds("timeout", 30.0),
        concurrency=table.integer("concurrency", 48, minimum=1, maximum=256),
        token=token,
    )
    table.finish()
    return settings


def _absmartly(table: _Table, env: Mapping[str, str], wanted: set[str]) -> CollectorSettings:
    key_env, key = _secret(table, "api_key_env", "ABSMARTLY_API_KEY", env, "absmartly" in wanted)
    settings = CollectorSettings(
        endpoint=_url(table, "endpoint", table.text("endpoint")).rstrip("/"),
        api_key_env=key_env,
        application=_header_text(table, "application"),
        environment=_header_text(table, "environment"),
        application_version=table.integer("application_version", 0),
        agent=_header_text(table, "agent", "intercom-absmartly-syncer"),
        hash_units=table.get("hash_units", bool, False),
        timeout=table.seconds("timeout", 30.0),
        batch_size=_batch_size(table),
        max_body_bytes=table.integer(
            "max_body_bytes", 512 * 1024, minimum=16 * 1024, maximum=16 * 1024 * 1024
        ),
        api_key=key,
    )
    table.finish()
    return settings


def _batch_size(table: _Table) -> int:
    size = table.integer("batch_size", 500, minimum=1)
    if size > 500:
        raise ConfigError(f"absmartly.batch_size: the Collector takes at most 500, got {size}")
    return size


def _goal_name(table: _Table, default: Any) -> str:
    """A name the ABsmartly console can show: short, printable."""
    name: str = table.text("name", default)
    if len(name) > MAX_GOAL_NAME:
        raise ConfigError(
            f"{table.key('name')}: at most {MAX_GOAL_NAME} characters, got {len(name)}"
        )
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ConfigError(f"{table.key('name')}: must not hold control characters")
    return name.strip()


def _url(table: _Table, name: str, value: str) -> str:
    """An API address must be HTTPS, except on loopback where the fakes and tunnels live. It
    holds no credentials (they come from the environment), and an error never echoes them."""
    key = table.key(name)
    authority = value.partition("://")[2] if "://" in value else value
    for end in "/?#":
        authority = authority.split(end, 1)[0]
    if "@" in authority:
        raise ConfigError(
            f"{key}: holds a user name or password (user:password@); credentials come from "
            "the environment (the *_env keys), never the URL"
        )
    shown = _shown(value, 80)
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        raise ConfigError(f"{key}: {shown!r} holds a space or a control character")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port could not be cast to integer ..."
        raise ConfigError(f"{key}: {shown!r} is not a valid URL ({exc})") from None
    if port == 0:
        raise ConfigError(f"{key}: {shown!r}: the port must be 1 to 65535")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: {shown!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(f"{table.key(name)}: must use https (plain http only for loopback)")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _units(raw: list[Any]) -> tuple[UnitMapping, ...]:
    if not raw:
        raise ConfigError("units: at least one [[units]] table is required")
    units: list[UnitMapping] = []
    for index, item in enumerate(raw):
        table = _Table(item, f"units[{index}]")
        unit = UnitMapping(
            type=_header_text(table, "type", sent="names an ABsmartly unit type"),
            source=table.text("from"),
        )
        if unit.source not in UNIT_SOURCES and not _is_custom_attribute(unit.source):
            raise ConfigError(
                f"{table.key('from')}: must be external_id, email, id or "
                f"custom_attributes.NAME, got {unit.source!r}"
            )
        if any(seen.type == unit.type for seen in units):
            raise ConfigError(f"{table.key('type')}: unit type {unit.type!r} is listed twice")
        table.finish()
        units.append(unit)
    return tuple(units)


def _is_custom_attribute(source: str) -> bool:
    return source.startswith(CUSTOM_ATTRIBUTE_PREFIX) and len(source) > len(CUSTOM_ATTRIBUTE_PREFIX)


def _goals(root: _Table) -> tuple[GoalSettings, ...]:
    """`[[goal]]` rules, or the `[goals.KIND]` tables of earlier versions (one goal per kind,
    four of them on by default); not both, so that what is measured is what is written."""
    rules = root.get("goal", list, None)
    legacy = root.get("goals", dict, None)
    if rules is not None and legacy is not None:
        kind = next(iter(legacy), "KIND")
        raise ConfigError(
            f"goals.{kind}: with [[goal]] rules, write every goal as one: [[goal]] "
            f'kind = "{kind}", name = "...", and its options (the [goals] tables are the '
            "older form)"
        )
    if rules is None:
        table = _Table(legacy or {}, "goals")
        goals = tuple(
            _goal(_Table(table.get(kind, dict, {}), table.key(kind)), kind)
            for kind in kinds.BY_NAME
        )
        table.finish()
    else:
        if not rules:
            raise ConfigError("goal: an empty list; give at least one [[goal]]")
        goals = tuple(_rule(raw, f"goal[{i}]") for i, raw in enumerate(rules, 1))
    if not any(goal.enabled for goal in goals):
        raise ConfigError("goals: every goal is disabled; enable at least one")
    seen: dict[str, str] = {}
    for i, goal in enumerate(goals, 1):
        where = goal.kind if rules is None else f"goal[{i}]"
        if goal.name in seen:
            raise ConfigError(
                f"{'goals.' if rules is None else ''}{where}.name: {goal.name!r} is also the "
                f"name of {seen[goal.name]}; each goal needs its own"
            )
        seen[goal.name] = where
    return goals


def _rule(raw: object, where: str) -> GoalSettings:
    table = _Table(raw, where)
    kind = table.text("kind")
    if kind not in kinds.BY_NAME:
        known = ", ".join(kinds.BY_NAME)
        raise ConfigError(f"{table.key('kind')}: unknown kind {kind!r} (known: {known})")
    return _goal(table, kind, named=True)


def _goal(table: _Table, kind: str, *, named: bool = False) -> GoalSettings:
    """One goal's table; a rule (`named`) must give its name, a `[goals.KIND]` table has one."""
    declared = kinds.BY_NAME[kind]
    name = _goal_name(table, ... if named else declared.default_goal)
    enabled = table.get("enabled", bool, named or declared.on)
    props_raw = table.get("properties", dict, None)
    where_raw = table.get("where", dict, None)
    options: dict[str, Any] = declared.options(table) if declared.options else {}
    options["where"] = filters.parse_where(where_raw, table.key("where"), kind, kinds.SUBJECTS)
    table.finish()
    if props_raw is None:
        defaults = tuple(declared.properties.items())
        return GoalSettings(kind, name, enabled, defaults, **options)
    props = _Table(props_raw, table.key("properties"))
    pairs = []
    for prop in props_raw:
        source = props.text(prop)
        if source not in PROPERTY_SOURCES:
            known = ", ".join(sorted(PROPERTY_SOURCES))
            raise ConfigError(f"{props.key(prop)}: unknown source {source!r} (known: {known})")
        pairs.append((prop, source))
    return GoalSettings(kind, name, enabled, tuple(pairs), **options)


def _sync(table: _Table, path: Path | None, env: Mapping[str, str]) -> SyncSettings:
    database = _database(table, path)
    password = ""
    if "password_env" in table.data:
        if not database.startswith("postgresql"):
            raise ConfigError("sync.password_env: only for a postgresql database")
        _, password = _secret(table, "password_env", "", env, needed=True, header=False)
    # TOML gives an unquoted time as a datetime; to_epoch takes both forms.
    start_raw = table.get("start", object, "now")
    is_now = isinstance(start_raw, str) and start_raw.strip().lower() == "now"
    start = None if is_now else to_epoch(start_raw, "sync.start")
    if start is not None and start > time.time():
        raise ConfigError(
            f"sync.start: {start_raw} is in the future; the daemon would read nothing until "
            'then (use "now")'
        )
    settings = SyncSettings(
        database=database,
        start=start,
        password=password,
        schema=_schema(table, database),
        poll_interval=table.integer("poll_interval", 3, minimum=2, maximum=3_600),
        settle=table.integer("settle", 10, maximum=3_600),
        overlap=table.integer("overlap", 300, maximum=DAY),
        slice_seconds=table.integer("slice", DAY, minimum=60, maximum=366 * DAY),
        contact_ttl=table.integer("contact_ttl", DAY, maximum=30 * DAY),
        publish_timeout=table.integer("publish_timeout", 300, minimum=1, maximum=DAY),
        reconcile_interval=_interval(table, "reconcile_interval", 3_600),
        reconcile_window=table.integer("reconcile_window", DAY, minimum=60, maximum=30 * DAY),
        reresolve_interval=_interval(table, "reresolve_interval", 3_600),
        reresolve_days=table.integer("reresolve_days", 30, minimum=1, maximum=366),
        lease_retry=table.integer("lease_retry", 5, minimum=1, maximum=60),
        retain_days=table.integer("retain_days", 30, maximum=3_650),
    )
    table.finish()
    return settings


# A schema name the syncer creates and quotes as it is: lower case, as PostgreSQL folds it.
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _schema(table: _Table, database: str) -> str:
    """`sync.schema`: each workspace's tables in a schema of its own on one PostgreSQL
    database, with a lease of its own."""
    if "schema" not in table.data:
        return ""
    schema = str(table.get("schema", str))
    if not database.startswith("postgresql"):
        raise ConfigError("sync.schema: only for a postgresql database")
    if not schema:
        raise ConfigError(
            'sync.schema: "" names no schema; leave the key out for the default (public), '
            'or name one ("intercom_eu")'
        )
    # PostgreSQL keeps pg_* and information_schema for itself: the syncer's tables there
    # would sit among the system catalogs (it created them in information_schema once).
    if schema == "information_schema" or schema.startswith("pg_"):
        raise ConfigError(
            f"sync.schema: {schema[:40]!r} is PostgreSQL's own (pg_* and information_schema "
            'are reserved); name one of your own ("intercom_eu"), or "public"'
        )
    if not _SCHEMA.fullmatch(schema):
        raise ConfigError(
            f"sync.schema: {schema[:40]!r} is not a schema name the syncer can use (lower-case "
            "letters, digits and _, at most 63, not starting with a digit)"
        )
    return schema


def _database(table: _Table, path: Path | None) -> str:
    """The state database's URL; a relative SQLite path is taken from the config's folder
    (the folder must exist when the database is opened: see store/db.py)."""
    database: str = table.text("database", "sqlite:////var/lib/syncer/state.db")
    if database.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return _postgres_url(database)
    if not database.startswith("sqlite:///"):
        raise ConfigError(
            "sync.database: must be a sqlite:/// or postgresql+psycopg:// URL, got "
            f"{database.split('@')[-1]!r}"
        )
    if not database.removeprefix("sqlite:///").strip():
        raise ConfigError(
            'sync.database: "sqlite:///" names no file; give its path '
            '("sqlite:////var/lib/syncer/state.db", or "sqlite:///state.db" beside the config)'
        )
    file = Path(database.removeprefix("sqlite:///"))
    if not file.is_absolute():
        file = (path.parent if path is not None else Path.cwd()) / file
    return f"sqlite:///{file}"


def _postgres_url(url: str) -> str:
    """A PostgreSQL URL for psycopg 3, with no password in it (it belongs in the environment:
    sync.password_env, PGPASSWORD or a .pgpass file)."""
    rest = url.partition("://")[2]
    userinfo = rest.split("@", 1)[0] if "@" in rest else ""
    if ":" in userinfo:
        raise ConfigError(
            "sync.database: holds a password; put it in the environment (sync.password_env, "
            "PGPASSWORD or ~/.pgpass), never in the file"
        )
    try:
        import psycopg  # noqa: F401 - only to tell whether the extra is installed
    except ImportError:
        raise ConfigError(
            "sync.database: PostgreSQL needs psycopg: pip install 'intercom-absmartly-syncer"
            "[postgres]'"
        ) from None
    return f"postgresql+psycopg://{rest}"


def _interval(table: _Table, name: str, default: int) -> int:
    """Seconds between periodic passes: 0 turns the pass off, else at least a minute."""
    value = table.integer(name, default, maximum=7 * DAY)
    if 0 < value < 60:
        raise ConfigError(f"{table.key(name)}: 0 (off) or at least 60 seconds, got {value}")
    return value
