"""`syncer check`: does the config hold, and do both APIs take our credentials?"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from syncer import config as config_mod
from syncer import words
from syncer.absmartly.publisher import check_key
from syncer.config import Config, IntercomSettings
from syncer.errors import IntercomAuthError, SyncerError
from syncer.intercom.client import IntercomClient, who
from syncer.store.db import is_postgres, open_store, sqlite_path
from syncer.store.lease import holder


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
    yield _database(config)
    yield _intercom(config)
    yield _collector(config)


def _database(config: Config) -> Finding:
    if is_postgres(config.sync.database):
        return _postgres(config)
    path = sqlite_path(config.sync.database)
    folder = next((p for p in (path, *path.parents) if p.exists()), None)
    if path.exists():
        return Finding("database", True, f"{path}")
    if folder is not None and folder.is_dir() and os.access(folder, os.W_OK):
        return Finding("database", True, f"{path} (created at the first run)")
    return Finding("database", False, f"{path}: cannot be created here")


def _postgres(config: Config) -> Finding:
    """Reach the server, read (or create and migrate) the schema, say who is active."""
    try:
        store = open_store(config.sync, lock=False)
    except SyncerError as exc:
        return Finding("database", False, str(exc))
    try:
        active = holder(store.engine)
    finally:
        store.close()
    return Finding("database", True, f"{store.where}; active: {active or 'none yet'}")


def _intercom(config: Config) -> Finding:
    try:
        with IntercomClient(config.intercom, attempts=2) as client:
            me = client.me()
    except IntercomAuthError as exc:
        hint = _other_region(config) if "401" in str(exc) else None
        return Finding("intercom", False, f"{exc}{'; ' + hint if hint else ''}")
    except SyncerError as exc:
        return Finding("intercom", False, f"{exc} ({config.intercom.base_url})")
    return Finding("intercom", True, who(me))


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
    try:
        return Finding(
            "collector", True, f"{config.absmartly.endpoint}: {check_key(config.absmartly)}"
        )
    except SyncerError as exc:
        return Finding("collector", False, str(exc))
