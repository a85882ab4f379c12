"""Parked objects (a request that kept failing) and skipped objects (read but unusable).

A parked object is retried with backoff until it is read; a skipped one is only counted,
once per object however often it is read again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, delete, func, select, update

from syncer.retries import PARKED
from syncer.store.dialect import insert
from syncer.store.tables import parked, skipped

UNREADABLE, TRUNCATED = "unreadable", "truncated"


@dataclass(frozen=True, slots=True)
class Parked:
    kind: str  # conversation | contact | company
    object_id: str
    window_lo: int
    window_hi: int
    request: str
    reason: str
    attempts: int = 1
    first_seen: float = 0.0
    last_seen: float = 0.0
    next_attempt_at: float = 0.0


def park(
    conn: Connection,
    kind: str,
    object_id: str,
    lo: int,
    hi: int,
    failure: str,
    request: str,
    now: float | None = None,
) -> None:
    """Record a failed object, widening the window it is wanted for if it was parked before."""
    now = time.time() if now is None else now
    stmt = insert(conn, parked).values(
        kind=kind,
        object_id=object_id,
        window_lo=lo,
        window_hi=hi,
        request=request,
        reason=failure[:500],
        attempts=1,
        first_seen=now,
        last_seen=now,
        next_attempt_at=now + PARKED.base,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[parked.c.kind, parked.c.object_id],
            set_={
                "window_lo": case(
                    (stmt.excluded.window_lo < parked.c.window_lo, stmt.excluded.window_lo),
                    else_=parked.c.window_lo,
                ),
                "window_hi": case(
                    (stmt.excluded.window_hi > parked.c.window_hi, stmt.excluded.window_hi),
                    else_=parked.c.window_hi,
                ),
                "request": stmt.excluded.request,
                "reason": stmt.excluded.reason,
                "last_seen": stmt.excluded.last_seen,
            },
        )
    )


def failed_again(conn: Connection, item: Parked, failure: str, now: float) -> None:
    """A retry failed too: count it and push the next one out (60 s doubling to an hour)."""
    wait = PARKED.delay(item.attempts)
    conn.execute(
        update(parked)
        .where(parked.c.kind == item.kind, parked.c.object_id == item.object_id)
        .values(
            reason=failure[:500],
            attempts=parked.c.attempts + 1,
            last_seen=now,
            next_attempt_at=now + wait,
        )
    )


def unpark(conn: Connection, kind: str, object_id: str) -> None:
    conn.execute(delete(parked).where(parked.c.kind == kind, parked.c.object_id == object_id))


def due(conn: Connection, now: float, kinds: Sequence[str], limit: int = 500) -> list[Parked]:
    """Parked objects of these kinds whose next retry is due, oldest retry first."""
    rows = conn.execute(
        select(parked)
        .where(parked.c.kind.in_(list(kinds)), parked.c.next_attempt_at <= now)
        .order_by(parked.c.next_attempt_at)
        .limit(limit)
    )
    return [_from_row(row) for row in rows]


def listing(conn: Connection) -> list[Parked]:
    rows = conn.execute(select(parked).order_by(parked.c.first_seen, parked.c.object_id))
    return [_from_row(row) for row in rows]


def make_due(conn: Connection, ids: Iterable[str] = ()) -> int:
    """Retry these objects (all when none are named) at the next cycle or sync."""
    stmt = update(parked)
    wanted = list(ids)
    if wanted:
        stmt = stmt.where(parked.c.object_id.in_(wanted))
    return int(conn.execute(stmt.values(next_attempt_at=0.0)).rowcount or 0)


def drop(conn: Connection, ids: Iterable[str]) -> int:
    """Give up on these objects: their events will never be read."""
    wanted = list(ids)
    return int(conn.execute(delete(parked).where(parked.c.object_id.in_(wanted))).rowcount or 0)


def reasons(conn: Connection) -> list[tuple[str, str, int]]:
    """(kind, reason, how many) of the parked objects, most common first."""
    count = func.count().label("n")
    rows = conn.execute(
        select(parked.c.kind, parked.c.reason, count)
        .group_by(parked.c.kind, parked.c.reason)
        .order_by(count.desc())
    )
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def note_skipped(conn: Connection, what: str, objects: dict[str, str], now: float) -> None:
    """Count objects once each: object -> reason (the latest reason wins)."""
    if not objects:
        return
    rows = [
        {"what": what, "object": o[:300], "reason": r[:300], "at": now} for o, r in objects.items()
    ]
    stmt = insert(conn, skipped)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[skipped.c.what, skipped.c.object],
            set_={"reason": stmt.excluded.reason, "at": stmt.excluded.at},
        ),
        rows,
    )


def skipped_summary(conn: Connection, what: str) -> tuple[int, str | None]:
    """How many objects, and the latest one with its reason."""
    total = int(
        conn.scalar(select(func.count()).select_from(skipped).where(skipped.c.what == what)) or 0
    )
    last = conn.execute(
        select(skipped.c.object, skipped.c.reason)
        .where(skipped.c.what == what)
        .order_by(skipped.c.at.desc())
        .limit(1)
    ).first()
    return total, (f"{last.object}: {last.reason}" if last else None)


def _from_row(row: Any) -> Parked:
    return Parked(**row._mapping)
