"""Settings from a TOML file and the environment, validated once at start.

Every problem is reported as one `ConfigError` line that names the key and what is wrong.
Secrets are never in the file: it names the environment variables that hold them.
"""

from __future__ import annotations

import logging
import os
import re
import time
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from syncer import filters, kinds
from syncer.config.settings import (
    CONFIG_ENV,
    CUSTOM_ATTRIBUTE_PREFIX,
    MAX_GOAL_NAME,
    PROPERTY_SOURCES,
    REGIONS,
    UNIT_SOURCES,
    CollectorSettings,
    Config,
    GoalSettings,
    IntercomSettings,
    SyncSettings,
    UnitMapping,
    WebhookSettings,
)
from syncer.config.values import (
    Table,
    clipped,
    header_text,
    host_port,
    printable_ascii,
    secret_from_env,
    url,
)
from syncer.errors import ConfigError
from syncer.timeparse import to_epoch


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
    raw = read_toml(path)
    config = parse(raw, secrets=secrets, env=os.environ if env is None else env, path=path)
    _warn_if_exposed(path, config)
    return config


def read_toml(path: Path) -> dict[str, Any]:
    """The config file's TOML, or one line saying why it cannot be read."""
    try:
        # utf-8-sig: a byte-order mark some editors put at the top is not TOML's concern.
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:  # a folder, no permission, an I/O error
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


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
    root = Table(raw, "")
    wanted = set(secrets)
    intercom = _intercom(Table(root.get("intercom", dict, {}), "intercom"), env, wanted)
    absmartly = _absmartly(Table(root.get("absmartly", dict), "absmartly"), env, wanted)
    units = _units(root.get("units", list))
    goals = _goals(root)
    sync = _sync(Table(root.get("sync", dict, {}), "sync"), path, env)
    listen = _metrics(Table(root.get("metrics", dict, {}), "metrics"))
    webhooks = _webhooks(Table(root.get("webhooks", dict, {}), "webhooks"), env)
    root.finish()
    return Config(intercom, absmartly, units, goals, sync, path, listen, webhooks)


def _webhooks(table: Table, env: Mapping[str, str]) -> WebhookSettings | None:
    """`[webhooks]` (issue 28): off unless `listen` is set. The client secret is needed only
    by `run`, which refuses to start without it (the other commands never listen)."""
    listen = table.get("listen", str, None)
    path = table.text("path", "/intercom/webhooks")
    variable, secret = secret_from_env(
        table, "client_secret_env", "INTERCOM_CLIENT_SECRET", env, needed=False, header=False
    )
    table.finish()
    if listen is None:
        return None
    host_port("webhooks.listen", listen, 8473)
    if not path.startswith("/") or not printable_ascii(path) or " " in path or "?" in path:
        raise ConfigError(
            f"webhooks.path: expected a URL path like /intercom/webhooks, got {clipped(path)!r}"
        )
    return WebhookSettings(str(listen), path, variable, secret)


def _metrics(table: Table) -> str | None:
    listen = table.get("listen", str, None)
    table.finish()
    if listen is None:
        return None
    host_port("metrics.listen", listen, 9464)
    return str(listen)


def _intercom(table: Table, env: Mapping[str, str], wanted: set[str]) -> IntercomSettings:
    token_env, token = secret_from_env(
        table, "token_env", "INTERCOM_ACCESS_TOKEN", env, "intercom" in wanted
    )
    region = table.text("region", "us")
    if region not in REGIONS:
        raise ConfigError(f"intercom.region: must be one of us, eu, au, got {region!r}")
    base_url = url(table, "base_url", table.get("base_url", str, REGIONS[region]))
    settings = IntercomSettings(
        token_env=token_env,
        base_url=base_url.rstrip("/"),
        timeout=table.declared(IntercomSettings, "timeout"),
        concurrency=table.declared(IntercomSettings, "concurrency"),
        token=token,
    )
    table.finish()
    return settings


def _absmartly(table: Table, env: Mapping[str, str], wanted: set[str]) -> CollectorSettings:
    key_env, key = secret_from_env(
        table, "api_key_env", "ABSMARTLY_API_KEY", env, "absmartly" in wanted
    )
    settings = CollectorSettings(
        endpoint=url(table, "endpoint", table.text("endpoint")).rstrip("/"),
        api_key_env=key_env,
        application=header_text(table, "application"),
        environment=header_text(table, "environment"),
        application_version=table.declared(CollectorSettings, "application_version"),
        agent=header_text(table, "agent", "intercom-absmartly-syncer"),
        hash_units=table.get("hash_units", bool, False),
        timeout=table.declared(CollectorSettings, "timeout"),
        batch_size=_batch_size(table),
        max_body_bytes=table.declared(CollectorSettings, "max_body_bytes"),
        api_key=key,
    )
    table.finish()
    return settings


def _batch_size(table: Table) -> int:
    size = table.integer("batch_size", 500, minimum=1)
    if size > 500:  # said so, rather than as a bare bound
        raise ConfigError(f"absmartly.batch_size: the Collector takes at most 500, got {size}")
    return size


def _goal_name(table: Table, default: Any) -> str:
    """A name the ABsmartly console can show: short, printable."""
    name: str = table.text("name", default)
    if len(name) > MAX_GOAL_NAME:
        raise ConfigError(
            f"{table.key('name')}: at most {MAX_GOAL_NAME} characters, got {len(name)}"
        )
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ConfigError(f"{table.key('name')}: must not hold control characters")
    return name.strip()


def _units(raw: list[Any]) -> tuple[UnitMapping, ...]:
    if not raw:
        raise ConfigError("units: at least one [[units]] table is required")
    units: list[UnitMapping] = []
    for index, item in enumerate(raw):
        table = Table(item, f"units[{index}]")
        unit = UnitMapping(
            type=header_text(table, "type", sent="names an ABsmartly unit type"),
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


def _goals(root: Table) -> tuple[GoalSettings, ...]:
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
        table = Table(legacy or {}, "goals")
        goals = tuple(
            _goal(Table(table.get(kind, dict, {}), table.key(kind)), kind) for kind in kinds.BY_NAME
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
    table = Table(raw, where)
    kind = table.text("kind")
    if kind not in kinds.BY_NAME:
        known = ", ".join(kinds.BY_NAME)
        raise ConfigError(f"{table.key('kind')}: unknown kind {kind!r} (known: {known})")
    return _goal(table, kind, named=True)


def _goal(table: Table, kind: str, *, named: bool = False) -> GoalSettings:
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
    props = Table(props_raw, table.key("properties"))
    pairs = []
    for prop in props_raw:
        source = props.text(prop)
        if source not in PROPERTY_SOURCES:
            known = ", ".join(sorted(PROPERTY_SOURCES))
            raise ConfigError(f"{props.key(prop)}: unknown source {source!r} (known: {known})")
        pairs.append((prop, source))
    return GoalSettings(kind, name, enabled, tuple(pairs), **options)


def _sync(table: Table, path: Path | None, env: Mapping[str, str]) -> SyncSettings:
    database = _database(table, path)
    password = ""
    if "password_env" in table.data:
        if not database.startswith("postgresql"):
            raise ConfigError("sync.password_env: only for a postgresql database")
        _, password = secret_from_env(table, "password_env", "", env, needed=True, header=False)
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
        **{name: table.declared(SyncSettings, name) for name in _SYNC_NUMBERS},
        reconcile_interval=_interval(table, "reconcile_interval"),
        reresolve_interval=_interval(table, "reresolve_interval"),
    )
    table.finish()
    return settings


# A schema name the syncer creates and quotes as it is: lower case, as PostgreSQL folds it.
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _schema(table: Table, database: str) -> str:
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


def _database(table: Table, path: Path | None) -> str:
    """The state database's URL; a relative SQLite path is taken from the config's folder
    (the folder must exist when the database is opened: see store/db.py)."""
    database: str = table.text("database", "sqlite:////var/lib/syncer/state.db")
    if database.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return _postgresurl(database)
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


def _postgresurl(url: str) -> str:
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


# The [sync] numbers read as declared alone; the intervals below also refuse 1 to 59.
_SYNC_NUMBERS = (
    "poll_interval",
    "settle",
    "overlap",
    "slice_seconds",
    "contact_ttl",
    "publish_timeout",
    "reconcile_window",
    "reresolve_days",
    "lease_retry",
    "retain_days",
)


def _interval(table: Table, name: str) -> int:
    """Seconds between periodic passes: 0 turns the pass off, else at least a minute."""
    value = int(table.declared(SyncSettings, name))
    if 0 < value < 60:
        raise ConfigError(f"{table.key(name)}: 0 (off) or at least 60 seconds, got {value}")
    return value
