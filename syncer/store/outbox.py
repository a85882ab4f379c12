"""The outbox of goal events: insert once per key, count, and hand out what is due."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

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
    """Insert the goals whose key is new; return those (the others were stored before)."""
    if not goals:
        return []
    keys = [g.key for g in goals]
    existing = set(conn.scalars(select(outbox.c.key).where(outbox.c.key.in_(keys))))
    fresh: dict[str, Goal] = {}
    for goal in goals:
        if goal.key not in existing:
            fresh.setdefault(goal.key, goal)
    if fresh:
        now = time.time()
        conn.execute(outbox.insert(), [_row(goal, now) for goal in fresh.values()])
    return list(fresh.values())


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
    found = {status: n for status, n in rows}  # noqa: C416
    return {status: int(found.get(status, 0)) for status in STATUSES}


def reasons(conn: Connection, status: str) -> list[tuple[str, int]]:
    """How many events of a status share each reason, most common first."""
    count = func.count().label("n")
    rows = conn.execute(
        select(outbox.c.reason, count)
        .where(outbox.c.status == status)
        .group_by(outbox.c.reason)
        .order_by(count.desc())
    )
    return [(reason or "-", int(n)) for reason, n in rows]


def listing(conn: Connection, statuses: Iterable[str], limit: int) -> list[Any]:
    rows = conn.execute(
        select(outbox).where(outbox.c.status.in_(list(statuses))).order_by(outbox.c.id).limit(limit)
    )
    return list(rows)
