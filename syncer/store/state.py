"""Cursors, per-conversation progress, the contact cache and status notes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, select

from syncer.store.dialect import insert
from syncer.store.tables import cache, cursors, meta, progress


@dataclass(frozen=True, slots=True)
class Cursor:
    name: str
    last_value: int  # every slice up to and including this second was read and stored
    floor: int
    updated_at: float


def get_cursor(conn: Connection, name: str) -> Cursor | None:
    row = conn.execute(select(cursors).where(cursors.c.name == name)).first()
    return Cursor(row.name, row.last_value, row.floor, row.updated_at) if row else None


def all_cursors(conn: Connection) -> list[Cursor]:
    rows = conn.execute(select(cursors).order_by(cursors.c.name))
    return [Cursor(r.name, r.last_value, r.floor, r.updated_at) for r in rows]


def put_cursor(conn: Connection, name: str, last_value: int, floor: int) -> None:
    values = {"last_value": last_value, "floor": floor, "updated_at": time.time()}
    stmt = insert(conn, cursors).values(name=name, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[cursors.c.name], set_=values))


def drop_cursor(conn: Connection, name: str) -> None:
    conn.execute(delete(cursors).where(cursors.c.name == name))


@dataclass(frozen=True, slots=True)
class Progress:
    """What was read of one conversation: every message up to `marker` (the kind's time
    field, e.g. last_contact_reply_at) was stored, from `floor` on, and `seen` holds the
    fields a new part moves as they were read ({} in rows written before 0005, when only the
    marker was kept)."""

    marker: int
    floor: int
    seen: Mapping[str, int] = field(default_factory=dict)
    legacy: bool = False  # a row from before 0005: `seen` was not recorded


def get_progress(conn: Connection, conversation_ids: Iterable[str]) -> dict[str, Progress]:
    ids = list(conversation_ids)
    if not ids:
        return {}
    rows = conn.execute(select(progress).where(progress.c.conversation_id.in_(ids)))
    return {
        r.conversation_id: Progress(
            r.last_contact_reply_at,
            r.floor,
            _seen(r.seen),
            legacy=r.seen is None,
        )
        for r in rows
    }


def _seen(raw: str | None) -> dict[str, int]:
    try:
        loaded = json.loads(raw) if raw else {}
    except ValueError:  # a row written by hand: treated as seen without fields
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {str(k): v for k, v in loaded.items() if isinstance(v, int) and not isinstance(v, bool)}


def put_progress(conn: Connection, entries: Mapping[str, Progress]) -> None:
    if not entries:
        return
    rows = [
        {
            "conversation_id": cid,
            "last_contact_reply_at": entry.marker,
            "floor": entry.floor,
            "seen": json.dumps(dict(entry.seen), sort_keys=True),
        }
        for cid, entry in entries.items()
    ]
    stmt = insert(conn, progress)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[progress.c.conversation_id],
            set_={
                "last_contact_reply_at": stmt.excluded.last_contact_reply_at,
                "floor": stmt.excluded.floor,
                "seen": stmt.excluded.seen,
            },
        ),
        rows,
    )


def cached(conn: Connection, kind: str, ids: Iterable[str], max_age: float) -> dict[str, Any]:
    """Fresh cache entries: id -> object, or None where Intercom said it does not exist."""
    wanted = list(ids)
    if not wanted:
        return {}
    oldest = time.time() - max_age
    rows = conn.execute(
        select(cache.c.id, cache.c.data).where(
            cache.c.kind == kind, cache.c.id.in_(wanted), cache.c.fetched_at >= oldest
        )
    )
    return {r.id: (json.loads(r.data) if r.data is not None else None) for r in rows}


def put_cached(conn: Connection, kind: str, objects: Mapping[str, Any]) -> None:
    if not objects:
        return
    now = time.time()
    rows = [
        {
            "kind": kind,
            "id": oid,
            "data": None if obj is None else json.dumps(obj, default=str),
            "fetched_at": now,
        }
        for oid, obj in objects.items()
    ]
    stmt = insert(conn, cache)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[cache.c.kind, cache.c.id],
            set_={"data": stmt.excluded.data, "fetched_at": stmt.excluded.fetched_at},
        ),
        rows,
    )


def prune_cache(conn: Connection, max_age: float) -> int:
    """Forget cached contacts and companies older than `max_age` seconds. Every cycle runs
    this, so what it deletes at once is at most a cycle's worth of lookups going stale."""
    stale = delete(cache).where(cache.c.fetched_at < time.time() - max_age)
    return int(conn.execute(stale).rowcount or 0)


def forget_cached(conn: Connection, contact_ids: Iterable[str], email: str | None) -> set[str]:
    """Drop cached contacts by id or email; returns the ids of those found by email too."""
    ids = set(contact_ids)
    if email:
        found = conn.execute(
            select(cache.c.id).where(
                cache.c.kind == "contact", cache.c.data.contains(email, autoescape=True)
            )
        )
        ids |= {str(row[0]) for row in found}
    if ids:
        conn.execute(delete(cache).where(cache.c.kind == "contact", cache.c.id.in_(list(ids))))
    return ids


def set_note(conn: Connection, key: str, value: Any) -> None:
    stmt = insert(conn, meta).values(key=key, value=json.dumps(value))
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[meta.c.key], set_={"value": stmt.excluded.value})
    )


def notes(conn: Connection) -> dict[str, Any]:
    return {r.key: json.loads(r.value) for r in conn.execute(select(meta))}


# PostgreSQL: the tables (with their indexes and TOAST) of the schema the store uses, not
# the whole database, which other workspaces' schemas and other programs may share.
_SCHEMA_SIZE = (
    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
)


def schema_size(conn: Connection) -> int:
    """PostgreSQL: the bytes the store's own schema takes."""
    return int(conn.exec_driver_sql(_SCHEMA_SIZE).scalar() or 0)
