"""`syncer check`: does the config hold, and do both APIs take our credentials?

Each finding fails where `run` would fail: the database is opened (read, never written) as
`run` opens it, `[metrics] listen` is bound, and the Collector must answer as the Collector
does (JSON of its shape), not merely answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx

from syncer import binding, metrics, names, words
from syncer import config as config_mod
from syncer.absmartly.collector import CHECK_TIMEOUT, Collector
from syncer.config import Config, IntercomSettings
from syncer.errors import ConfigError, IntercomAuthError, SyncerError
from syncer.intercom.client import IntercomClient, who
from syncer.listening import split_listen
from syncer.retries import INTERCOM_CHECK
from syncer.store.db import inspect, is_postgres, open_store


@dataclass(frozen=True, slots=True)
class Finding:
    what: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.what:<10} {'ok' if self.ok else 'FAILED'}  {self.detail}"


def run_checks(config: Config) -> Iterator[Finding]:
    yield Finding(
        "config",
        True,
        f"{config.path} ({words.count(len(config.enabled_goals()), 'goal')} enabled, "
        f"{words.count(len(config.units), 'unit')})",
    )
    if config.metrics_listen is not None:
        yield _metrics(config.metrics_listen)
    yield _database(config)
    intercom = _intercom(config)
    yield intercom
    if intercom.ok:
        _workspace_names(config)
    yield _collector(config)


def _workspace_names(config: Config) -> None:
    """The tags, segments, ticket types and attributes a goal's `where` names must exist in
    the workspace: ConfigError (exit 2) with what there is, as `sync` and `run` refuse it."""
    try:
        with IntercomClient(config.intercom, attempts=INTERCOM_CHECK.attempts) as client:
            names.check_workspace_names(config, client)
    except ConfigError:
        raise
    except SyncerError as exc:
        raise ConfigError(f"goals: cannot check the names their filters use: {exc}") from None


def _metrics(listen: str) -> Finding:
    """`run` binds `[metrics] listen` first: bind it, and let go at once."""
    try:
        metrics.bind(listen, keep=False).server_close()
    except SyncerError as exc:
        if _is_syncer(listen):
            return Finding("metrics", True, f"{listen}: served by a running syncer")
        return Finding("metrics", False, str(exc).removeprefix("metrics.listen: "))
    return Finding("metrics", True, f"{listen} can be bound")


def _is_syncer(listen: str) -> bool:
    """Whether what holds the port answers /healthz as the syncer does."""
    host, port = split_listen(listen)
    host = f"[{host}]" if ":" in host else host
    try:
        answer = httpx.get(f"http://{host}:{port}/healthz", timeout=1.0)
    except httpx.HTTPError:
        return False
    said = answer.text.strip()
    return said in ("active", "standby") or said.startswith(("no completed cycle", "database:"))


def _database(config: Config) -> Finding:
    if is_postgres(config.sync.database):
        return _postgres(config)
    try:
        return Finding("database", True, inspect(config.sync))
    except SyncerError as exc:
        return Finding("database", False, str(exc))


def _postgres(config: Config) -> Finding:
    """Reach the server, read (or create and migrate) the schema, say who is active."""
    try:
        store = open_store(config.sync, lock=False)
    except SyncerError as exc:
        return Finding("database", False, str(exc))
    try:
        active = store.holder()
    finally:
        store.close()
    return Finding("database", True, f"{store.where}; active: {active or 'none yet'}")


def _intercom(config: Config) -> Finding:
    try:
        with IntercomClient(config.intercom, attempts=INTERCOM_CHECK.attempts) as client:
            me = client.me()
    except IntercomAuthError as exc:
        hint = _other_region(config) if "401" in str(exc) else None
        return Finding("intercom", False, f"{exc}{'; ' + hint if hint else ''}")
    except SyncerError as exc:
        return Finding("intercom", False, f"{exc} ({config.intercom.base_url})")
    # Another workspace's state is refused as every command refuses it: one line, exit 2.
    _bound_to(config, me)
    return Finding("intercom", True, who(me))


def _bound_to(config: Config, me: dict[str, Any]) -> None:
    """The state, if there is one yet, must belong to the workspace the token reads."""
    try:
        store = open_store(config.sync, writer=False, lock=False)
    except SyncerError:
        return  # no database yet (or one `database` already reported on)
    with store:
        binding.bind(store, me, write=False)


def _other_region(config: Config) -> str | None:
    """A token refused here may belong to a workspace hosted in another region."""
    here = config.intercom.base_url
    if here not in config_mod.REGIONS.values():
        return None  # an explicit base_url: not ours to second-guess
    for region, url in config_mod.REGIONS.items():
        if url == here:
            continue
        settings: IntercomSettings = replace(config.intercom, base_url=url)
        try:
            with IntercomClient(settings, attempts=1) as client:
                client.me()
        except SyncerError:
            continue
        return f'the token works in region {region}: set intercom.region = "{region}"'
    return None


def _collector(config: Config) -> Finding:
    settings = config.absmartly
    with Collector(settings, timeout=CHECK_TIMEOUT) as collector:
        try:
            verdict = collector.key()
        except SyncerError as exc:
            return Finding("collector", False, str(exc))
        problem = collector.shape()
    if problem is not None:
        return Finding("collector", False, f"{settings.endpoint}: {problem}")
    return Finding("collector", True, f"{settings.endpoint}: {verdict}")
