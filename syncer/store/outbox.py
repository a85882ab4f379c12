"""The outbox of goal events: insert once per key, count, and hand out what is due."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from syncer.store.dialect import insert
from syncer.store.tables import outbox

PENDING, SENT, DEAD, UNATTRIBUTED = "pending", "sent", "dead", "unattributed"
STATUSES = (PENDING, SENT, DEAD, UNATTRIBUTED)


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal event as the outbox holds it."""

    key: str
    kind: str
    name: str
    achieved_at: int  # ms
    units: tuple[tuple[str, str], ...]  # empty when unattributed
    properties: Mapping[str, Any]
    source: Mapping[str, Any]  # the event's contact and facts, to re-resolve later
    reason: str | None = None
    id: int | None = None

    @property
    def status(self) -> str:
        return PENDING if self.units else UNATTRIBUTED


def units_json(units: Sequence[tuple[str, str]]) -> str:
    """Canonical text of a unit set: equal sets group into one PublishRequest."""
    return json.dumps([list(pair) for pair in units], separators=(",", ":"))


def insert_new(conn: Connection, goals: Sequence[Goal]) -> list[Goal]:
    """Insert the goals whose key is new; return those (the others were stored before).

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING key`: no select-then-insert, so two
    writers (a catch-up beside a daemon) can never both insert one key.
    """
    unique: dict[str, Goal] = {}
    for goal in goals:
        unique.setdefault(goal.key, goal)  # the first of a key wins
    if not unique:
        return []
    now = time.time()
    stmt = insert(conn, outbox).on_conflict_do_nothing(index_elements=[outbox.c.key])
    rows = [_row(goal, now) for goal in unique.values()]
    inserted = set(conn.scalars(stmt.returning(outbox.c.key), rows))
    return [goal for key, goal in unique.items() if key in inserted]


def _row(goal: Goal, now: float) -> dict[str, Any]:
    return {
        "key": goal.key,
        "kind": goal.kind,
        "name": goal.name,
        "achieved_at": goal.achieved_at,
        "units": units_json(goal.units) if goal.units else None,
        "properties": json.dumps(goal.properties, ensure_ascii=False),
        "source": json.dumps(goal.source, ensure_ascii=False),
        "status": goal.status,
        "reason": goal.reason,
        "attempts": 0,
        "next_attempt_at": 0.0,
        "created_at": now,
    }


def from_row(row: Any) -> Goal:
    units = tuple((t, u) for t, u in json.loads(row.units)) if row.units else ()
    return Goal(
        key=row.key,
        kind=row.kind,
        name=row.name,
        achieved_at=row.achieved_at,
        units=units,
        properties=json.loads(row.properties),
        source=json.loads(row.source),
        reason=row.reason,
        id=row.id,
    )


def counts(conn: Connection) -> dict[str, int]:
    """Events by status, every status present (zero where none)."""
    rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
    # Not dict(rows): a result has .keys(), so dict() would read it as a mapping of columns.
    found = {str(row[0]): int(row[1]) for row in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def pending(conn: Connection) -> int:
    """How many goals wait to be sent: a range of the `outbox_due` index, not a whole scan."""
    query = select(func.count()).select_from(outbox).where(outbox.c.status == PENDING)
    return int(conn.scalar(query) or 0)


def reasons(conn: Connection, status: str) -> list[tuple[str, int]]:
    """How many events of a status share each reason, most common first."""
    count = func.count().label("n")
    rows = conn.execute(
        select(outbox.c.reason, count)
        .where(outbox.c.status == status)
        .group_by(outbox.c.reason)
        .order_by(count.desc())
    )
    return [(str(row[0] or "-"), int(row[1])) for row in rows]


def listing(conn: Connection, statuses: Iterable[str], limit: int) -> list[Any]:
    """Events of these statuses, oldest event first (by the time it happened)."""
    rows = conn.execute(
        select(outbox)
        .where(outbox.c.status.in_(list(statuses)))
        .order_by(outbox.c.achieved_at, outbox.c.id)
        .limit(limit)
    )
    return list(rows)


def due(conn: Connection, limit: int) -> list[Goal]:
    """Pending goals, oldest first."""
    rows = conn.execute(
        select(outbox).where(outbox.c.status == PENDING).order_by(outbox.c.id).limit(limit)
    )
    return [from_row(row) for row in rows]


def mark_sent(conn: Connection, ids: Iterable[int]) -> None:
    wanted = list(ids)
    if wanted:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(wanted), outbox.c.status == PENDING)
            .values(status=SENT, sent_at=time.time(), last_error=None)
        )


def mark_dead(conn: Connection, reasons: Mapping[int, str]) -> None:
    for goal_id, reason in reasons.items():
        conn.execute(
            update(outbox)
            .where(outbox.c.id == goal_id)
            .values(status=DEAD, reason=reason, attempts=outbox.c.attempts + 1)
        )


def mark_failed(conn: Connection, ids: Iterable[int], error: str) -> None:
    """A transient failure: the goals stay pending; the attempt is counted for `status`."""
    wanted = list(ids)
    if wanted:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(wanted))
            .values(attempts=outbox.c.attempts + 1, last_error=error[:500])
        )


def mark_sending(conn: Connection, ids: Iterable[int], now: float) -> None:
    """The goals are about to be sent: a write that must succeed first, so a database that
    can no longer record "sent" (a full disk) stops delivery before a batch goes out."""
    wanted = list(ids)
    if wanted:
        conn.execute(update(outbox).where(outbox.c.id.in_(wanted)).values(next_attempt_at=now))


def retry_dead(conn: Connection, keys: Sequence[str] = ()) -> int:
    """Dead goals (all, or those keys) back to pending; returns how many."""
    stmt = update(outbox).where(outbox.c.status == DEAD)
    if keys:
        stmt = stmt.where(outbox.c.key.in_(list(keys)))
    result = conn.execute(stmt.values(status=PENDING, reason=None, attempts=0))
    return int(result.rowcount or 0)


def unattributed_after(
    conn: Connection,
    after_id: int,
    limit: int,
    *,
    since_ms: int | None = None,
    reason: str | None = None,
) -> list[Goal]:
    """Unattributed goals past `after_id`, in id order: achieved since `since_ms`, with
    `reason`, where given."""
    query = select(outbox).where(outbox.c.status == UNATTRIBUTED, outbox.c.id > after_id)
    if since_ms is not None:
        query = query.where(outbox.c.achieved_at >= since_ms)
    if reason is not None:
        query = query.where(outbox.c.reason == reason)
    rows = conn.execute(query.order_by(outbox.c.id).limit(limit))
    return [from_row(row) for row in rows]


def reresolve(conn: Connection, goal: Goal) -> None:
    """Store a goal's new resolution (name, units, properties, reason) in its row."""
    assert goal.id is not None
    conn.execute(
        update(outbox)
        .where(outbox.c.id == goal.id, outbox.c.status == UNATTRIBUTED)
        .values(
            name=goal.name,
            units=units_json(goal.units) if goal.units else None,
            properties=json.dumps(goal.properties, ensure_ascii=False),
            status=goal.status,
            reason=goal.reason,
        )
    )
