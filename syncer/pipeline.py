"""Scan → detect → resolve units → outbox: the reading half of a sync, for the daemon and catch-up.

One page's new events and its per-conversation progress are committed in one transaction;
a cursor moves only at a checkpoint, after every page of its slice was committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from syncer import detect, units
from syncer.config import Config
from syncer.detect import Event, Window
from syncer.intercom.client import IntercomClient
from syncer.intercom.scans import Checkpoint, ScanSpec, scan
from syncer.store import outbox, state
from syncer.store.db import Database
from syncer.store.outbox import Goal

log = logging.getLogger("syncer.pipeline")


@dataclass(frozen=True, slots=True)
class Kind:
    """One event kind: what it searches and how it reads an item."""

    name: str
    spec: ScanSpec
    detector: detect.Detector
    fetch_whole: bool = False  # search items lack parts: fetch the conversation


# Admin-initiated (outbound) conversations never start a "conversation started" goal: leave
# them out of the search rather than page through them.
_CONTACT_SOURCE = {"field": "source.author.type", "operator": "IN", "value": ["user", "lead"]}

KINDS: tuple[Kind, ...] = (
    Kind(
        "conversation_started",
        ScanSpec("conversations", "created_at", (_CONTACT_SOURCE,)),
        detect.conversation_started,
    ),
    Kind(
        "conversation_rated",
        ScanSpec("conversations", "conversation_rating.replied_at"),
        detect.conversation_rated,
    ),
    Kind(
        "user_messaged",
        ScanSpec("conversations", "statistics.last_contact_reply_at"),
        detect.user_messaged,
        fetch_whole=True,
    ),
    Kind("ticket_created", ScanSpec("tickets", "created_at"), detect.ticket_created),
)
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}


@dataclass
class Context:
    """What a sync needs, opened once per process."""

    config: Config
    client: IntercomClient
    db: Database
    pool: ThreadPoolExecutor
    stop: threading.Event = field(default_factory=threading.Event)
    on_new: Callable[[list[Goal]], None] | None = None
    # Called after every committed page and checkpoint: progress bars, the systemd watchdog.
    on_progress: Callable[[str, ScanStats, int | None], None] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Where one scan reads: search `[lo, search_hi]`, keep events in `window`."""

    cursor: str
    lo: int
    search_hi: int
    window: Window


@dataclass
class ScanStats:
    pages: int = 0
    items: int = 0
    fetched: int = 0
    new: int = 0
    unattributed: int = 0
    skipped: int = 0
    truncated: int = 0  # conversations with parts beyond the 500 Intercom returns
    complete: bool = False


def live_plan(ctx: Context, kind: Kind, now: int) -> Plan:
    """The daemon's window: from the cursor (less the overlap) to now less the settle time."""
    sync = ctx.config.sync
    hi = now - sync.settle
    with ctx.db.engine.begin() as conn:
        cursor = state.get_cursor(conn, kind.name)
        if cursor is None:
            # A fresh database starts at sync.start; "now" is pinned here so a restart
            # does not skip what happened while it was down.
            floor = sync.start if sync.start is not None else hi
            state.put_cursor(conn, kind.name, floor - 1, floor)
            cursor = state.get_cursor(conn, kind.name)
            assert cursor is not None
    lo = max(cursor.floor, cursor.last_value + 1 - sync.overlap)
    return Plan(kind.name, lo, hi, Window(cursor.floor, hi))


def catchup_plan(ctx: Context, kind: Kind, since: int, until: int, now: int) -> Plan:
    """A catch-up over [since, until], resumable by its own cursor.

    "User messaged" searches on to now: a conversation whose latest contact reply came after
    `until` still holds messages inside the window.
    """
    name = f"{kind.name}@{since}"
    with ctx.db.engine.begin() as conn:
        cursor = state.get_cursor(conn, name)
        if cursor is None:
            state.put_cursor(conn, name, since - 1, since)
            resume = since
        else:
            resume = max(since, cursor.last_value + 1 - ctx.config.sync.overlap)
    search_hi = max(until, now - ctx.config.sync.settle) if kind.fetch_whole else until
    return Plan(name, resume, search_hi, Window(since, until))


def finish_catchup(ctx: Context, kind: Kind, plan: Plan) -> None:
    """Drop the catch-up cursor; carry the live cursor forward where the two meet, never back."""
    since, until = plan.window.lo, plan.window.hi
    with ctx.db.engine.begin() as conn:
        state.drop_cursor(conn, plan.cursor)
        live = state.get_cursor(conn, kind.name)
        if live is None:
            state.put_cursor(conn, kind.name, until, since)
        elif since - 1 <= live.last_value < until:
            state.put_cursor(conn, kind.name, until, min(live.floor, since))


def run_scans(ctx: Context, scan_one: Callable[[Kind], ScanStats]) -> dict[str, ScanStats]:
    """`scan_one` for every enabled kind, each in its own thread.

    A scan's search pages are sequential: one scan after another would leave most of the
    rate budget unspent while each waits on latency. The pacer keeps them inside it.
    """
    kinds = [KINDS_BY_NAME[goal.kind] for goal in ctx.config.enabled_goals()]
    with ThreadPoolExecutor(max(1, len(kinds)), thread_name_prefix="scan") as scans:
        futures = {kind.name: scans.submit(scan_one, kind) for kind in kinds}
    return {name: future.result() for name, future in futures.items()}


def run_scan(ctx: Context, kind: Kind, plan: Plan) -> ScanStats:
    """Read the plan's window into the outbox; stops between pages when `ctx.stop` is set."""
    stats = ScanStats()
    if ctx.stop.is_set():
        return stats
    if plan.lo > plan.search_hi:
        stats.complete = True
        return stats
    slice_seconds = ctx.config.sync.slice_seconds
    for step in scan(ctx.client, kind.spec, plan.lo, plan.search_hi, slice_seconds):
        if ctx.stop.is_set():
            return stats
        if isinstance(step, Checkpoint):
            with ctx.db.engine.begin() as conn:
                state.put_cursor(conn, plan.cursor, step.value, plan.window.lo)
            if ctx.on_progress is not None:
                ctx.on_progress(kind.name, stats, step.value)
            continue
        stats.pages += 1
        stats.items += len(step.items)
        _store_page(ctx, kind, plan, step.items, stats)
        if ctx.on_progress is not None:
            ctx.on_progress(kind.name, stats, None)
    stats.complete = True
    return stats


def _store_page(
    ctx: Context, kind: Kind, plan: Plan, items: list[dict[str, Any]], stats: ScanStats
) -> None:
    progress: dict[str, tuple[int, int]] = {}
    skipped: list[str] = []
    truncated = stats.truncated
    if kind.fetch_whole:
        objects, progress, skipped = _whole_conversations(ctx, plan.window, items, stats)
    else:
        objects = items
    if stats.truncated > truncated:
        _add_to_note(ctx, "truncated_conversations", stats.truncated - truncated)
    events: list[Event] = []
    for obj in objects:
        try:
            events.extend(kind.detector(obj, plan.window))
        except Exception as exc:  # one odd object must not stop the page: skip and count it
            reason = (
                str(exc) if isinstance(exc, detect.Unreadable) else f"{type(exc).__name__}: {exc}"
            )
            skipped.append(reason[:300])
    if skipped:
        stats.skipped += len(skipped)
        log.warning("%s: skipped %d unreadable objects (%s)", kind.name, len(skipped), skipped[0])
        _note_skips(ctx, kind, skipped)
    goals = resolve_goals(ctx, events)
    with ctx.db.engine.begin() as conn:
        new = outbox.insert_new(conn, goals)
        state.put_progress(conn, progress)
    stats.new += len(new)
    stats.unattributed += sum(1 for g in new if not g.units)
    if new and ctx.on_new is not None:
        ctx.on_new(new)


def _whole_conversations(
    ctx: Context, window: Window, items: list[dict[str, Any]], stats: ScanStats
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, int]], list[str]]:
    """The conversations whose last contact reply moved since we last read them: fetched,
    unless the search item already holds all of it (the opening message alone)."""
    replies: dict[str, int] = {}
    by_id: dict[str, dict[str, Any]] = {}
    unreadable: list[str] = []
    for item in items:
        conv_id = item.get("id")
        statistics = item.get("statistics")
        lcra = statistics.get("last_contact_reply_at") if isinstance(statistics, dict) else None
        if isinstance(conv_id, bool) or not isinstance(conv_id, str | int) or conv_id == "":
            unreadable.append(f"conversation without a usable id: {conv_id!r}"[:300])
        elif isinstance(lcra, int) and not isinstance(lcra, bool):
            replies[str(conv_id)] = lcra
            by_id[str(conv_id)] = item
        else:
            unreadable.append(f"conversation {conv_id!r}: last_contact_reply_at is {lcra!r}"[:300])
    with ctx.db.engine.connect() as conn:
        seen = state.get_progress(conn, replies)
    wanted = [
        cid
        for cid, lcra in replies.items()
        if not (cid in seen and seen[cid][0] >= lcra and seen[cid][1] <= window.lo)
    ]
    to_fetch = [cid for cid in wanted if not detect.opening_only(by_id[cid])]
    fetched = dict(zip(to_fetch, ctx.pool.map(ctx.client.conversation, to_fetch), strict=True))
    stats.fetched += len(to_fetch)
    conversations: list[dict[str, Any]] = []
    progress: dict[str, tuple[int, int]] = {}
    for cid in wanted:
        conversation = fetched[cid] if cid in fetched else by_id[cid]
        if conversation is not None:
            conversations.append(conversation)
            missing = detect.missing_parts(conversation)
            if missing:
                # Intercom returns only the 500 most recent parts and has no way to page back.
                # The daemon reads a conversation as it grows, so this bites only a catch-up
                # over history: count it where `status` shows it.
                stats.truncated += 1
                log.warning(
                    "conversation %s: %d older parts are beyond Intercom's 500", cid, missing
                )
        # Progress only where every contact message up to that reply was in the window.
        if replies[cid] <= window.hi:
            progress[cid] = (replies[cid], window.lo)
    return conversations, progress, unreadable


def resolve_goals(ctx: Context, events: Iterable[Event]) -> list[Goal]:
    """Units and properties for each event, fetching only contacts the events leave unknown."""
    config = ctx.config
    events = list(events)
    needed = {
        e.kind: units.contact_fields_needed(config.goals[e.kind], config.units) for e in events
    }
    contact_ids = {str(e.contact["id"]) for e in events if units.needs_fetch(e, needed[e.kind])}
    contacts = _cached_lookup(ctx, "contact", contact_ids, ctx.client.contact)
    company_ids = set()
    if any("companies" in fields for fields in needed.values()):
        company_ids = {cid for c in contacts.values() if (cid := units.company_id(c))}
    companies = _cached_lookup(ctx, "company", company_ids, ctx.client.company)
    goals = []
    for event in events:
        goal_cfg = config.goals[event.kind]
        contact = contacts.get(str(event.contact.get("id")))
        company = companies.get(units.company_id(contact) or "")
        resolution = units.resolve(event, goal_cfg, config.units, contact, company)
        goals.append(
            Goal(
                key=event.key,
                kind=event.kind,
                name=goal_cfg.name,
                achieved_at=event.achieved_at,
                units=resolution.units,
                properties=resolution.properties,
                source={"contact": dict(event.contact), "facts": dict(event.facts)},
                reason=resolution.reason,
            )
        )
    return goals


def _cached_lookup(
    ctx: Context, kind: str, ids: set[str], fetch: Callable[[str], Any]
) -> Mapping[str, Any]:
    if not ids:
        return {}
    ttl = ctx.config.sync.contact_ttl
    with ctx.db.engine.connect() as conn:
        found = state.cached(conn, kind, ids, ttl)
    missing = sorted(ids - set(found))
    fetched = dict(zip(missing, ctx.pool.map(fetch, missing), strict=True))
    if fetched:
        with ctx.db.engine.begin() as conn:
            state.put_cached(conn, kind, fetched)
    return {**found, **fetched}


def _note_skips(ctx: Context, kind: Kind, reasons: list[str]) -> None:
    _add_to_note(ctx, "skipped_objects", len(reasons), last_skip=f"{kind.name}: {reasons[-1]}")


def _add_to_note(ctx: Context, key: str, count: int, **also: str) -> None:
    with ctx.db.engine.begin() as conn:
        state.set_note(conn, key, state.notes(conn).get(key, 0) + count)
        for name, value in also.items():
            state.set_note(conn, name, value)


def reresolve_unattributed(ctx: Context, batch: int = 500) -> tuple[int, int]:
    """Resolve unattributed goals again, with the current config and freshly fetched contacts.

    Returns (recovered, still unattributed).
    """
    recovered = still = 0
    after = 0
    while goals := _unattributed(ctx, after, batch):
        after = goals[-1].id or after
        events = [
            Event(
                g.key, g.kind, g.achieved_at, g.source.get("contact", {}), g.source.get("facts", {})
            )
            for g in goals
        ]
        fresh = resolve_goals(ctx, events)
        with ctx.db.engine.begin() as conn:
            for old, new in zip(goals, fresh, strict=True):
                outbox.reresolve(conn, replace(new, id=old.id))
        recovered += sum(1 for g in fresh if g.units)
        still += sum(1 for g in fresh if not g.units)
    return recovered, still


def _unattributed(ctx: Context, after: int, limit: int) -> list[Goal]:
    with ctx.db.engine.connect() as conn:
        return outbox.unattributed_after(conn, after, limit)


def record_error(ctx: Context, exc: BaseException) -> None:
    """Remember the error for `syncer status`; never let that hide the error itself."""
    try:
        with ctx.db.engine.begin() as conn:
            state.set_note(conn, "last_error", {"at": time.time(), "error": str(exc)})
    except Exception:  # the original error matters more than this note
        log.debug("could not record the last error", exc_info=True)
