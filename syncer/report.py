"""`syncer status`: what the database says about cursors, the outbox and the last error."""

from __future__ import annotations

import json
from typing import Any, Final

from syncer import binding, words
from syncer.config import Config
from syncer.store import outbox, parking
from syncer.store.db import open_store
from syncer.store.store import Store
from syncer.timeparse import DAY, iso, seconds_of

REASONS_SHOWN: Final = 10  # reasons of each kind `status` shows before "and N more"
PARKED_SHOWN: Final = 5


def _reading(config: Config) -> Store:
    """The store, read-only: no writer's lock, so it works beside a running daemon."""
    return open_store(config.sync, writer=False)


def status(config: Config, now: float) -> dict[str, Any]:
    """A summary, read without taking the writer's lock."""
    with _reading(config) as store:
        cursors = store.cursors()
        counts = store.counts()
        unattributed = store.reasons(outbox.UNATTRIBUTED)
        filtered = store.reasons(outbox.FILTERED, by_goal=True)
        filtered_goals = store.totals_by_goal(outbox.FILTERED)
        dead = store.reasons(outbox.DEAD)
        notes = store.notes()
        parked = store.parked_reasons()
        skipped, last_skip = store.skipped(parking.UNREADABLE)
        truncated, _ = store.skipped(parking.TRUNCATED)
        where = store.where
        active = store.holder()
        size = store.size()
        oldest = store.oldest_personal()
    return {
        "database": where,
        "workspace": notes.get(binding.NOTE),  # the Intercom workspace the state belongs to
        "active": active,  # PostgreSQL: the instance that holds the lease
        "size_bytes": size,
        "oldest_personal_data": iso(seconds_of(oldest)) if oldest is not None else None,
        "cursors": [
            {
                "name": c.name,
                "last_value": c.last_value,
                "last_value_iso": iso(c.last_value),
                "lag_seconds": max(0, int(now - c.last_value)),
                "floor_iso": iso(c.floor),
            }
            for c in cursors
        ],
        "outbox": counts,
        "unattributed_reasons": [{"reason": r, "count": n} for r, n in unattributed],
        "dead_reasons": [{"reason": r, "count": n} for r, n in dead],
        "filtered_reasons": [{"reason": r, "count": n} for r, n in filtered],
        "filtered_by_goal": [{"goal": g, "count": n} for g, n in filtered_goals],
        "parked": sum(n for _, _, n in parked),
        "parked_reasons": [{"kind": k, "reason": r, "count": n} for k, r, n in parked],
        "skipped_objects": skipped,
        "last_skip": last_skip,
        "truncated_conversations": truncated,
        "reconcile": notes.get("reconcile"),
        "reresolve": notes.get("reresolve"),
        "last_error": notes.get("last_error"),
        "last_cycle": notes.get("last_cycle"),
    }


def render(summary: dict[str, Any]) -> str:
    return "\n".join(
        [
            *_header(summary),
            "",
            *_scans(summary),
            "",
            *_outbox(summary),
            *_parked(summary),
            *_unread(summary),
            "",
            *_last(summary),
            *_reconciliation(summary),
        ]
    )


def _header(summary: dict[str, Any]) -> list[str]:
    """The database, the workspace it belongs to, and who is active on it."""
    size = summary.get("size_bytes")
    lines = [f"database  {summary['database']}" + (f"  ({_bytes(size)})" if size else "")]
    if summary.get("workspace"):
        lines.append(f"workspace {binding.words(summary['workspace'])}")
    if summary.get("oldest_personal_data"):
        lines.append(f"personal data kept from {summary['oldest_personal_data']} on")
    if summary.get("active") is not None or summary["database"].startswith("postgresql"):
        lines.append(f"active    {summary.get('active') or 'none (no instance holds the lease)'}")
    return lines


def _scans(summary: dict[str, Any]) -> list[str]:
    lines = ["scans"]
    if not summary["cursors"]:
        lines.append("  (none yet: the first cycle or sync starts them)")
    for c in summary["cursors"]:
        lines.append(
            f"  {cursor_title(c['name']):<52} read up to {c['last_value_iso']}, "
            f"{_span(c['lag_seconds'])} behind"
        )
    return lines


def _outbox(summary: dict[str, Any]) -> list[str]:
    """The outbox's counts, the filtered events by goal, and the commonest reasons."""
    counts = summary["outbox"]
    lines = ["outbox  " + ", ".join(f"{v} {k}" for k, v in counts.items())]
    by_goal = summary.get("filtered_by_goal") or []
    if by_goal:
        totals = ", ".join(f"{e['goal']} {e['count']}" for e in by_goal[:REASONS_SHOWN])
        more = _more(by_goal, REASONS_SHOWN, "goal", "event")
        lines.append(f"  filtered by goal: {totals}" + (f", {more}" if more else ""))
    for title, key in (
        ("unattributed", "unattributed_reasons"),
        ("dead", "dead_reasons"),
        ("filtered", "filtered_reasons"),
    ):
        for entry in summary[key][:REASONS_SHOWN]:
            lines.append(f"  {title}: {entry['count']} x {entry['reason']}")
        more = _more(summary[key], REASONS_SHOWN, "reason", "event")
        if more:
            lines.append(f"  {title}: {more}")
    return lines


def _parked(summary: dict[str, Any]) -> list[str]:
    if not summary["parked"]:
        return []
    lines = [
        f"parked  {summary['parked']} objects whose requests keep failing, retried each "
        "cycle (`syncer parked list`)"
    ]
    for entry in summary["parked_reasons"][:PARKED_SHOWN]:
        lines.append(f"  {entry['count']} x {entry['kind']}: {entry['reason']}")
    more = _more(summary["parked_reasons"], PARKED_SHOWN, "reason", "object")
    if more:
        lines.append(f"  {more}")
    return lines


def _unread(summary: dict[str, Any]) -> list[str]:
    """What could not be read: objects skipped, conversations cut at 500 parts."""
    lines = []
    if summary["skipped_objects"]:
        lines.append(
            f"skipped objects  {summary['skipped_objects']} (last: {summary['last_skip']})"
        )
    if summary["truncated_conversations"]:
        lines.append(
            f"truncated  {summary['truncated_conversations']} conversations had more than the 500 "
            "parts Intercom returns; their oldest messages could not be read"
        )
    return lines


def _last(summary: dict[str, Any]) -> list[str]:
    """The last error and the last cycle."""
    error = summary["last_error"]
    lines = [f"last error  {iso(error['at'])}  {error['error']}" if error else "last error  none"]
    cycle = summary["last_cycle"]
    if isinstance(cycle, dict):
        lines.append(f"last cycle  {iso(cycle.get('at'))}  {cycle.get('summary', '')}")
    return lines


def _reconciliation(summary: dict[str, Any]) -> list[str]:
    reconciled = summary["reconcile"]
    if not reconciled:
        return []
    return [
        f"reconciliation  last ran {iso(reconciled['at'])}: found {reconciled['found']} "
        f"events the live scans had missed ({reconciled['found_total']} in all)",
        *_reconciled_scans(reconciled.get("scans") or {}),
    ]


def _reconciled_scans(scans: dict[str, dict[str, int]]) -> list[str]:
    """Per scan, what the last reconciliation's unfiltered search says of it: events the
    live scan missed (a lag, or a search filter that loses them), or a day of objects of
    which none was an event (the goal's options may exclude everything)."""
    lines = []
    for name, seen in scans.items():
        if seen.get("found"):
            lines.append(
                f"  {cursor_title(name)}: {words.count(seen['found'], 'event')} missed by the "
                "live scan (search lag, or a search filter that loses events)"
            )
        elif seen.get("items") and not seen.get("events"):
            lines.append(
                f"  {cursor_title(name)}: none of the {words.count(seen['items'], 'object')} "
                "of the window was an event (check the goal's options)"
            )
    return lines


def _more(entries: list[dict[str, Any]], shown: int, what: str, unit: str) -> str:
    """ "and N more reasons (M events)" for a list cut at `shown`; "" when nothing was cut."""
    rest = entries[shown:]
    if not rest:
        return ""
    held = sum(int(e.get("count") or 0) for e in rest)
    return f"and {words.count(len(rest), 'more ' + what)} ({words.count(held, unit)})"


def _bytes(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def cursor_title(name: str) -> str:
    """A cursor in words: `SCAN@1793491200` is a catch-up from that time."""
    kind, _, since = name.partition("@")
    words = kind.replace("_", " ")
    return f"{words} (catch-up from {iso(int(since))})" if since.isdigit() else f"{words} (live)"


def _span(seconds: int) -> str:
    for unit, size in (("d", DAY), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def outbox_rows(config: Config, statuses: list[str], limit: int) -> list[dict[str, Any]]:
    with _reading(config) as store:
        rows = store.listing(statuses, limit)
    return [
        {
            "key": r.key,
            "status": r.status,
            "name": r.name,
            "achievedAt": r.achieved_at,
            "units": [{"type": t, "uid": u} for t, u in json.loads(r.units)] if r.units else [],
            "reason": r.reason,
            "attempts": r.attempts,
            "last_error": r.last_error,
        }
        for r in rows
    ]


def render_row(row: dict[str, Any]) -> str:
    why = row["reason"] or row["last_error"] or ""
    when = iso(seconds_of(row["achievedAt"]))
    return f"{row['status']:<12} {when}  {row['key']:<40} {row['name']}  {why}"


def parked_rows(config: Config) -> list[dict[str, Any]]:
    with _reading(config) as store:
        items = store.parked()
    return [
        {
            "kind": p.kind,
            "id": p.object_id,
            "request": p.request,
            "reason": p.reason,
            "attempts": p.attempts,
            "first_seen": iso(p.first_seen),
            "last_seen": iso(p.last_seen),
            "next_attempt": iso(p.next_attempt_at),
        }
        for p in items
    ]


def render_parked(row: dict[str, Any]) -> str:
    return (
        f"{row['kind']:<12} {row['id']:<20} {row['attempts']} attempts since "
        f"{row['first_seen']}  {row['reason']}"
    )
