"""Scan → detect → resolve units → outbox: the reading half of a sync, for the daemon and catch-up.

One page's new events and its per-conversation progress are committed in one transaction;
a cursor moves only at a checkpoint, after every page of its slice was committed. An object
whose request keeps failing is parked (see `store/parking.py`) and the page goes on without
it; a scan that fails stops only itself, never the other scans or delivery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from syncer import detect, units
from syncer.config import Config
from syncer.detect import Event, Window
from syncer.errors import IntercomObjectError, PermanentError, SyncerError
from syncer.intercom.client import IntercomClient
from syncer.intercom.scans import Checkpoint, scan
from syncer.kinds import Kind, kinds_for
from syncer.learned import PartsReading
from syncer.store import parking
from syncer.store.outbox import Goal
from syncer.store.store import Store

log = logging.getLogger("syncer.pipeline")
T = TypeVar("T")


@dataclass
class Context:
    """What a sync needs, opened once per process."""

    config: Config
    client: IntercomClient
    store: Store
    pool: ThreadPoolExecutor
    stop: threading.Event = field(default_factory=threading.Event)
    parts: PartsReading = field(default_factory=PartsReading)
    on_new: Callable[[list[Goal]], None] | None = None
    # Called after every committed page and checkpoint: progress bars, the systemd watchdog.
    on_progress: Callable[[str, ScanStats, int | None], None] | None = None


# Why an event waits, unattributed, for a contact or company Intercom would not give us: the
# lookup is parked and retried each cycle, and the event re-resolved once it succeeds.
LOOKUP_FAILED = "contact lookup failed (parked; retried each cycle)"


@dataclass(frozen=True, slots=True)
class Plan:
    """Where one scan reads: search `[lo, search_hi]`, keep events in `window`. A plan with no
    cursor (the reconciliation pass) moves none."""

    cursor: str | None
    lo: int
    search_hi: int
    window: Window


@dataclass
class ScanStats:
    pages: int = 0
    items: int = 0
    fetched: int = 0
    new: int = 0
    detected: int = 0  # events the detectors found in the window, new or stored before
    unattributed: int = 0
    skipped: int = 0  # objects this scan could not read (each counted once in `status`)
    parked: int = 0  # objects whose request kept failing: retried later
    truncated: int = 0  # conversations whose unread parts lay beyond the 500 Intercom returns
    complete: bool = False
    error: str | None = None  # why the scan stopped early; the other scans went on

    def add(self, other: ScanStats) -> None:
        """Count another scan's figures in (the reconciliation pass sums its scans)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.error = self.error or other.error


_COUNTS = (
    "pages",
    "items",
    "fetched",
    "new",
    "detected",
    "unattributed",
    "skipped",
    "parked",
    "truncated",
)


def live_plan(ctx: Context, kind: Kind, now: int) -> Plan:
    """The daemon's window: from the cursor (less the overlap) to now less the settle time."""
    sync = ctx.config.sync
    hi = now - sync.settle
    # A fresh database starts at sync.start; "now" is pinned here so a restart does not
    # skip what happened while it was down.
    cursor = ctx.store.start_cursor(kind.name, sync.start if sync.start is not None else hi)
    lo = max(cursor.floor, cursor.last_value + 1 - sync.overlap)
    return Plan(kind.name, lo, hi, Window(cursor.floor, hi))


def reconcile_plan(ctx: Context, kind: Kind, now: int) -> Plan | None:
    """The trailing window the live scan already passed, to find what the search index
    showed it late: `[now - settle - reconcile_window, live cursor]`. None if empty."""
    cursor = ctx.store.cursor(kind.name)
    if cursor is None:
        return None
    lo = max(cursor.floor, now - ctx.config.sync.settle - ctx.config.sync.reconcile_window)
    if lo > cursor.last_value:
        return None
    return Plan(None, lo, cursor.last_value, Window(lo, cursor.last_value))


def catchup_plan(ctx: Context, kind: Kind, since: int, until: int, now: int) -> Plan:
    """A catch-up over [since, until], resumable by its own cursor.

    "User messaged" searches on to now: a conversation whose latest contact reply came after
    `until` still holds messages inside the window.
    """
    cursor = ctx.store.start_cursor(f"{kind.name}@{since}", since)
    resume = max(since, cursor.last_value + 1 - ctx.config.sync.overlap)
    search_hi = max(until, now - ctx.config.sync.settle) if kind.fetch_whole else until
    return Plan(cursor.name, resume, search_hi, Window(since, until))


def finish_catchup(ctx: Context, kind: Kind, plan: Plan, *, hand_over: bool) -> None:
    """Drop the catch-up cursor. With `hand_over` (the window reached now), carry the live
    cursor forward where the two meet, never back; a window in the past leaves it alone."""
    assert plan.cursor is not None
    ctx.store.finish_catchup(
        plan.cursor, kind.name, plan.window.lo, plan.window.hi, hand_over=hand_over
    )


def run_scans(ctx: Context, scan_one: Callable[[Kind], ScanStats]) -> dict[str, ScanStats]:
    """`scan_one` for every scan the enabled goals need, each in its own thread.

    A scan's search pages are sequential: one scan after another would leave most of the
    rate budget unspent while each waits on latency. The pacer keeps them inside it. A scan
    that fails reports its error in its stats and the others go on; only a permanent error
    (a refused credential, an unusable database) is raised, once every scan has stopped.
    """
    kinds = kinds_for(ctx.config)
    with ThreadPoolExecutor(max(1, len(kinds)), thread_name_prefix="scan") as scans:
        futures = {kind.name: scans.submit(_isolated, ctx, kind, scan_one) for kind in kinds}
    return {name: future.result() for name, future in futures.items()}


def _isolated(ctx: Context, kind: Kind, scan_one: Callable[[Kind], ScanStats]) -> ScanStats:
    try:
        stats, failure = guarded(kind.name, scan_one, kind)
    except PermanentError:
        ctx.stop.set()  # an unusable database or a refused credential stops every scan now
        raise
    return stats if stats is not None else ScanStats(error=failure)


def guarded(what: str, run: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
    """Run one part of a cycle (a scan, a pass): its result, or None and why it failed. A
    failure is logged and the rest of the cycle goes on; only a permanent one is raised."""
    try:
        return run(*args), None
    except PermanentError:
        raise
    except SyncerError as exc:
        log.error("%s failed: %s; the rest goes on", what, exc)
        return None, f"{what}: {exc}"
    except Exception as exc:  # a months-long daemon outlives one odd scan or pass
        log.exception("%s failed unexpectedly; the rest goes on", what)
        return None, f"{what}: {type(exc).__name__}: {exc}"


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
            if plan.cursor is not None:
                ctx.store.move_cursor(plan.cursor, step.value, plan.window.lo)
            if ctx.on_progress is not None:
                ctx.on_progress(kind.name, stats, step.value)
            continue
        stats.pages += 1
        stats.items += len(step.items)
        _store_page(ctx, kind, plan.window, step.items, stats)
        if ctx.on_progress is not None:
            ctx.on_progress(kind.name, stats, None)
    stats.complete = True
    return stats


def _store_page(
    ctx: Context, kind: Kind, window: Window, items: list[dict[str, Any]], stats: ScanStats
) -> None:
    if not kind.fetch_whole:
        store_objects(ctx, kind, window, items, stats)
        return
    read = _whole_conversations(ctx, window, items, stats)
    _note_skips(ctx, kind, read.unreadable, stats)
    store_objects(ctx, kind, window, read.conversations, stats, read.progress)


def store_objects(
    ctx: Context,
    kind: Kind,
    window: Window,
    objects: list[dict[str, Any]],
    stats: ScanStats,
    progress: Mapping[str, tuple[int, int]] | None = None,
    *,
    unpark: tuple[str, str] | None = None,
) -> None:
    """Detect, resolve and store the objects' events, with the progress they make and the
    parked object they settle, in one transaction."""
    events: list[Event] = []
    unreadable: dict[str, str] = {}
    for obj in objects:
        try:
            events.extend(kind.detector(obj, window))
        except Exception as exc:  # one odd object must not stop the page: skip and count it
            reason = (
                str(exc) if isinstance(exc, detect.Unreadable) else f"{type(exc).__name__}: {exc}"
            )
            unreadable[_object_name(kind, obj, reason)] = reason
    _note_skips(ctx, kind, unreadable, stats)
    stats.detected += len(events)
    new = ctx.store.store_page(resolve_goals(ctx, events), progress or {}, unpark)
    stats.new += len(new)
    stats.unattributed += sum(1 for g in new if not g.units)
    if new and ctx.on_new is not None:
        ctx.on_new(new)


@dataclass
class _Read:
    conversations: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, tuple[int, int]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def _whole_conversations(
    ctx: Context, window: Window, items: list[dict[str, Any]], stats: ScanStats
) -> _Read:
    """The conversations whose last contact reply moved since we last read them: fetched,
    unless the search item already holds all of it (the opening message alone). One whose
    fetch keeps failing is parked, with no progress recorded for it."""
    read = _Read()
    replies: dict[str, int] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for item in items:
        conv_id = item.get("id")
        lcra = detect.last_contact_reply(item)
        if isinstance(conv_id, bool) or not isinstance(conv_id, str | int) or conv_id == "":
            read.unreadable[f"conversation {conv_id!r}"] = "without a usable id"
        elif lcra is not None:
            replies[str(conv_id)] = lcra
            by_id[str(conv_id)] = item
        else:
            stats_ = item.get("statistics")
            value = stats_.get("last_contact_reply_at") if isinstance(stats_, dict) else None
            read.unreadable[f"conversation {conv_id!r}"] = f"last_contact_reply_at is {value!r}"
    seen = ctx.store.progress(replies)
    wanted = [
        cid
        for cid, lcra in replies.items()
        if not (cid in seen and seen[cid][0] >= lcra and seen[cid][1] <= window.lo)
    ]
    reading = ctx.parts.reading
    to_fetch = [cid for cid in wanted if not detect.opening_only(by_id[cid], reading)]
    fetched = dict(
        zip(to_fetch, ctx.pool.map(_attempt(ctx.client.conversation), to_fetch), strict=True)
    )
    stats.fetched += len(to_fetch)
    failed = {cid: got for cid, got in fetched.items() if isinstance(got, IntercomObjectError)}
    _park(ctx, "conversation", failed, window, stats)
    truncated: dict[str, str] = {}
    for cid in wanted:
        if cid in failed:
            continue
        conversation = fetched[cid] if cid in fetched else by_id[cid]
        if isinstance(conversation, dict):
            if cid in fetched:
                ctx.parts.observe(conversation)
            read.conversations.append(conversation)
            missed = missed_parts(conversation, seen.get(cid), window, ctx.parts.reading)
            if missed:
                truncated[f"conversation {cid}"] = f"{missed} older parts beyond Intercom's 500"
        # Progress only where every contact message up to that reply was in the window.
        if replies[cid] <= window.hi:
            read.progress[cid] = (replies[cid], window.lo)
    if truncated:
        stats.truncated += len(truncated)
        log.warning(
            "%d conversations had unread parts beyond Intercom's 500 (%s: %s)",
            len(truncated),
            *next(iter(truncated.items())),
        )
        ctx.store.note_skipped(parking.TRUNCATED, truncated)
    return read


def missed_parts(
    conversation: Mapping[str, Any],
    seen: tuple[int, int] | None,
    window: Window,
    reading: str | None = None,
) -> int:
    """How many of the parts Intercom did not return (it returns the newest 500) may hold
    messages we never read: none if they all predate the window, or if an earlier read of
    this conversation already covered everything up to its oldest returned part."""
    missing = detect.missing_parts(conversation, reading)
    oldest = detect.oldest_part_at(conversation)
    if not missing or oldest is None or oldest < window.lo:
        return 0
    if seen is not None and seen[1] <= window.lo and seen[0] >= oldest:
        return 0
    return missing


def _attempt(fetch: Callable[[str], Any]) -> Callable[[str], Any]:
    """`fetch`, with a failed object's error returned rather than raised (for pool.map)."""

    def attempt(object_id: str) -> Any:
        try:
            return fetch(object_id)
        except IntercomObjectError as exc:
            return exc

    return attempt


def _park(
    ctx: Context,
    kind: str,
    failed: Mapping[str, IntercomObjectError],
    window: Window,
    stats: ScanStats | None = None,
) -> None:
    if not failed:
        return
    reasons = {object_id: (str(exc), exc.request) for object_id, exc in failed.items()}
    ctx.store.park(kind, reasons, window.lo, window.hi)
    if stats is not None:
        stats.parked += len(failed)
    log.warning(
        "parked %d %ss whose requests keep failing (%s); they are retried each cycle",
        len(failed),
        kind,
        next(iter(failed.values())),
    )


def resolve_goals(ctx: Context, events: Iterable[Event], *, fresh: bool = False) -> list[Goal]:
    """Units and properties for each event, fetching only contacts the events leave unknown
    (`fresh`: every contact they name, ignoring the cache)."""
    config = ctx.config
    events = list(events)
    needed = {
        e.kind: units.contact_fields_needed(config.goals[e.kind], config.units) for e in events
    }
    contact_ids = {
        str(e.contact["id"])
        for e in events
        if e.contact.get("id") is not None and (fresh or units.needs_fetch(e, needed[e.kind]))
    }
    contacts, failed = _cached_lookup(ctx, "contact", contact_ids, ctx.client.contact, fresh)
    company_ids = set()
    if any("companies" in fields for fields in needed.values()):
        company_ids = {cid for c in contacts.values() if (cid := units.company_id(c))}
    companies, failed_companies = _cached_lookup(
        ctx, "company", company_ids, ctx.client.company, fresh
    )
    goals = []
    for event in events:
        goal_cfg = config.goals[event.kind]
        contact_id = str(event.contact.get("id"))
        contact = contacts.get(contact_id)
        company_id = units.company_id(contact) or ""
        company = companies.get(company_id)
        gone = contact_id in contacts and contact is None
        resolution = units.resolve(event, goal_cfg, config.units, contact, company, gone=gone)
        unit_set, reason = resolution.units, resolution.reason
        if str(event.contact.get("id")) in failed or company_id in failed_companies:
            unit_set, reason = (), LOOKUP_FAILED
        goals.append(
            Goal(
                key=event.key,
                kind=event.kind,
                name=goal_cfg.name,
                achieved_at=event.achieved_at,
                units=unit_set,
                properties=resolution.properties,
                source={"contact": dict(event.contact), "facts": dict(event.facts)},
                reason=reason,
                replaces=event.replaces,
            )
        )
    return goals


def _cached_lookup(
    ctx: Context, kind: str, ids: set[str], fetch: Callable[[str], Any], fresh: bool
) -> tuple[Mapping[str, Any], set[str]]:
    """(id -> object or None where Intercom has none, the ids whose lookup failed: parked)."""
    if not ids:
        return {}, set()
    found = {} if fresh else ctx.store.cached(kind, ids, ctx.config.sync.contact_ttl)
    missing = sorted(ids - set(found))
    results = dict(zip(missing, ctx.pool.map(_attempt(fetch), missing), strict=True))
    failed = {i: r for i, r in results.items() if isinstance(r, IntercomObjectError)}
    fetched = {i: r for i, r in results.items() if i not in failed}
    if fetched:
        ctx.store.cache(kind, fetched)
    _park(ctx, kind, failed, Window(0, 0))
    return {**found, **fetched}, set(failed)


def _object_name(kind: Kind, obj: Mapping[str, Any], reason: str) -> str:
    """What `status` calls a skipped object: its scan and id (the reason, if it has none)."""
    oid = obj.get("id")
    if isinstance(oid, str | int) and not isinstance(oid, bool) and oid != "":
        return f"{kind.name}: {kind.spec.resource.rstrip('s')} {str(oid)!r}"
    return f"{kind.name}: {reason}"


def _note_skips(ctx: Context, kind: Kind, unreadable: Mapping[str, str], stats: ScanStats) -> None:
    if not unreadable:
        return
    stats.skipped += len(unreadable)
    name, reason = next(iter(unreadable.items()))
    log.warning(
        "%s: skipped %d unreadable objects (%s: %s)", kind.name, len(unreadable), name, reason
    )
    ctx.store.note_skipped(parking.UNREADABLE, unreadable)


def record_error(ctx: Context, exc: BaseException | str) -> None:
    """Remember the error for `syncer status`; never let that hide the error itself."""
    try:
        ctx.store.note("last_error", {"at": time.time(), "error": str(exc)})
    except Exception:  # the original error matters more than this note
        log.debug("could not record the last error", exc_info=True)
