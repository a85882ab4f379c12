"""The outbox of goal events: insert once per key, count, and hand out what is due."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, or_, select, update

from syncer.store.dialect import insert
from syncer.store.tables import outbox

PENDING, SENT, DEAD, UNATTRIBUTED = "pending", "sent", "dead", "unattributed"
FILTERED = "filtered"  # a goal's `where` rejected the event: kept, with why, never sent
STATUSES = (PENDING, SENT, DEAD, UNATTRIBUTED, FILTERED)
# What is not yet sent and may still change: resolved again, filtered again.
OPEN = (PENDING, UNATTRIBUTED, FILTERED)
# A reason is stored on every row it explains (a filter may reject thousands of events):
# at most this many characters, whatever made it.
MAX_REASON = 200


def goal_key(event_key: str, goal_name: str) -> str:
    """A goal event's key: its event's and its goal's (one event may count for several
    goals). Event keys hold no "@"."""
    return f"{event_key}@{goal_name}"


def event_key(key: str, goal_name: str) -> str:
    """The event's key within a goal event's key (an earlier version's key is the event's)."""
    return key.removesuffix(f"@{goal_name}") if "@" in key else key


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
    # The keys earlier versions gave this goal event (not stored): one goal per kind, keyed
    # by the event alone, and before that a rating keyed by its time.
    replaces: tuple[str, ...] = ()
    filtered: bool = False  # its goal's `where` rejected it; `reason` says which condition

    @property
    def status(self) -> str:
        if self.filtered:
            return FILTERED
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
    old_keys = {key for goal in unique.values() for key in goal.replaces}
    if old_keys:
        found = conn.execute(
            select(outbox.c.key, outbox.c.name).where(outbox.c.key.in_(sorted(old_keys)))
        )
        # An old row is this goal's if it bears its name, or no name: retention's stubs of
        # earlier versions kept none, and then there was one goal per kind.
        held = {(row.key, row.name) for row in found}
        unique = {
            k: g
            for k, g in unique.items()
            if not any((old, g.name) in held or (old, "") in held for old in g.replaces)
        }
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
        "reason": bounded_reason(goal.reason),
        "attempts": 0,
        "next_attempt_at": 0.0,
        "created_at": now,
        "contact_id": _contact_id(goal.source),
    }


def bounded_reason(reason: str | None) -> str | None:
    """The reason as stored: cut to MAX_REASON characters, the cut marked."""
    if reason is None or len(reason) <= MAX_REASON:
        return reason
    return reason[: MAX_REASON - 1] + "…"


def _contact_id(source: Mapping[str, Any]) -> str | None:
    contact = source.get("contact")
    value = contact.get("id") if isinstance(contact, Mapping) else None
    return str(value) if value is not None else None


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


def oldest_pending(conn: Connection) -> float | None:
    """When the goal that has waited longest was stored (None when nothing waits)."""
    query = select(func.min(outbox.c.created_at)).where(outbox.c.status == PENDING)
    value = conn.scalar(query)
    return float(value) if value is not None else None


def reasons(conn: Connection, status: str, *, by_goal: bool = False) -> list[tuple[str, int]]:
    """How many events of a status share each reason (`by_goal`: each goal and reason),
    most common first."""
    count = func.count().label("n")
    columns = (outbox.c.name, outbox.c.reason) if by_goal else (outbox.c.reason,)
    rows = conn.execute(
        select(*columns, count)
        .where(outbox.c.status == status)
        .group_by(*columns)
        .order_by(count.desc())
    )
    if by_goal:
        return [(f"{row[0]}: {row[1] or '-'}", int(row[2])) for row in rows]
    return [(str(row[0] or "-"), int(row[1])) for row in rows]


def totals_by_goal(conn: Connection, status: str) -> list[tuple[str, int]]:
    """How many events of a status each goal has, most first (then by name)."""
    count = func.count().label("n")
    rows = conn.execute(
        select(outbox.c.name, count)
        .where(outbox.c.status == status)
        .group_by(outbox.c.name)
        .order_by(count.desc(), outbox.c.name)
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
    """The Collector took these goals: they are sent whatever an operator's command beside
    the daemon made of them meanwhile (`outbox resolve --refilter` marking one filtered,
    `forget` one dead). Left as it was, the row would say "not sent", and a later refilter
    that admits it again would send it a second time."""
    wanted = list(ids)
    if wanted:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(wanted), outbox.c.status != SENT)
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
    """Dead goals (all, or those keys) back to pending; returns how many. A goal whose units
    retention or `forget` removed cannot be sent again and stays dead."""
    stmt = update(outbox).where(outbox.c.status == DEAD, outbox.c.units.is_not(None))
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
    statuses: Sequence[str] = (UNATTRIBUTED,),
) -> list[Goal]:
    """Unattributed goals (or goals of these statuses) past `after_id`, in id order:
    achieved since `since_ms`, with `reason`, where given."""
    query = select(outbox).where(
        outbox.c.status.in_(list(statuses)), outbox.c.id > after_id, outbox.c.source != GONE
    )
    if since_ms is not None:
        query = query.where(outbox.c.achieved_at >= since_ms)
    if reason is not None:
        query = query.where(outbox.c.reason == reason)
    rows = conn.execute(query.order_by(outbox.c.id).limit(limit))
    return [from_row(row) for row in rows]


GONE = "{}"  # what a pruned goal keeps of its properties and source
# What retention and `forget` leave of a goal: its key, kind, name, time and status, which is
# all that deduplication needs, so a later catch-up over the same period sends nothing twice.
_WITHOUT_PERSONAL_DATA = {"properties": GONE, "source": GONE, "units": None, "contact_id": None}


_STUB = ("key", "kind", "achieved_at", "status", "reason", "attempts", "created_at")


def prune(
    conn: Connection, statuses: Sequence[str], before_ms: int, limit: int, reason: str | None
) -> int:
    """Reduce up to `limit` goals of these statuses achieved before `before_ms` to what
    deduplication needs (and give them `reason`, if one is given); returns how many.

    Each is deleted and stored again as a stub, in the same transaction: shrinking rows in
    place would leave every old page holding a little data, never freed, while deleted rows
    free whole pages that the database reuses (and SQLite's incremental vacuum returns), and
    the stubs pack densely at the table's end. The key never leaves the table at a commit,
    so no writer can store the same goal again meanwhile.
    """
    chosen = conn.execute(
        select(outbox.c.id, *(outbox.c[name] for name in _STUB))
        .where(
            outbox.c.status.in_(list(statuses)),
            outbox.c.achieved_at < before_ms,
            outbox.c.source != GONE,
        )
        .order_by(outbox.c.id)
        .limit(limit)
    ).fetchall()
    if not chosen:
        return 0
    conn.execute(delete(outbox).where(outbox.c.id.in_([row.id for row in chosen])))
    stubs = [
        {
            **{name: getattr(row, name) for name in _STUB},
            **_WITHOUT_PERSONAL_DATA,
            "name": "",  # a stub is never sent again: its goal's name is not needed
            "reason": reason if reason is not None else row.reason,
            "next_attempt_at": 0.0,
        }
        for row in chosen
    ]
    conn.execute(insert(conn, outbox), stubs)
    return len(chosen)


def forget(conn: Connection, contact_ids: Iterable[str], email: str | None) -> int:
    """Remove one contact's personal data from every goal of theirs; a goal not yet sent is
    never sent (dead, "forgotten on request"). Returns how many goals."""
    ids = list(contact_ids)
    conditions: list[ColumnElement[bool]] = [outbox.c.contact_id.in_(ids)] if ids else []
    if email:
        conditions.append(outbox.c.units.contains(email, autoescape=True))
        conditions.append(outbox.c.properties.contains(email, autoescape=True))
    if not conditions:
        return 0
    match = or_(*conditions)
    unsent = update(outbox).where(match, outbox.c.status.in_(list(OPEN)))
    conn.execute(unsent.values(status=DEAD, reason="forgotten on request"))
    result = conn.execute(update(outbox).where(match).values(**_WITHOUT_PERSONAL_DATA))
    return int(result.rowcount or 0)


def oldest_personal(conn: Connection) -> int | None:
    """The time (ms) of the oldest goal that still holds personal data."""
    value = conn.scalar(select(func.min(outbox.c.achieved_at)).where(outbox.c.source != GONE))
    return int(value) if value is not None else None


def reresolve(conn: Connection, goal: Goal, statuses: Sequence[str] = (UNATTRIBUTED,)) -> None:
    """Store a goal's new resolution (name, units, properties, status, reason) in its row,
    if the row is still of one of these statuses."""
    assert goal.id is not None
    conn.execute(
        update(outbox)
        .where(outbox.c.id == goal.id, outbox.c.status.in_(list(statuses)))
        .values(
            name=goal.name,
            units=units_json(goal.units) if goal.units else None,
            properties=json.dumps(goal.properties, ensure_ascii=False),
            status=goal.status,
            reason=bounded_reason(goal.reason),
            # A merged contact's event now names the contact it was merged into.
            source=json.dumps(goal.source, ensure_ascii=False),
            contact_id=_contact_id(goal.source),
        )
    )
