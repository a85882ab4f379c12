"""Scan → detect → resolve units → outbox: the reading half of a sync, for the daemon and catch-up.

One page's new events and its per-conversation progress are committed in one transaction;
a cursor moves only at a checkpoint, after every page of its slice was committed. An object
whose request keeps failing is parked (see `store/parking.py`) and the page goes on without
it; a scan that fails stops only itself, never the other scans or delivery.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from syncer import detect, filters, units
from syncer.config import Config, GoalSettings
from syncer.detect import Event, Window
from syncer.errors import (
    IntercomObjectError,
    IntercomUnavailable,
    PermanentError,
    SyncerError,
)
from syncer.intercom.client import IntercomClient
from syncer.intercom.scans import Checkpoint, scan
from syncer.kinds import Kind, kinds_for
from syncer.learned import PartsReading
from syncer.store import parking
from syncer.store.outbox import UNATTRIBUTED, Goal
from syncer.store.outbox import goal_key as outbox_goal_key
from syncer.store.state import Progress
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
    # Search fields the start-up probes found not matching as documented (kinds_for).
    unsearched: frozenset[str] = frozenset()
    on_new: Callable[[list[Goal]], None] | None = None
    # Called after every committed page and checkpoint: progress bars, the systemd watchdog.
    on_progress: Callable[[str, ScanStats, int | None], None] | None = None


# Why an event waits, unattributed, for a contact or company Intercom would not give us: the
# lookup is parked and retried each cycle, and the event re-resolved once it succeeds.
LOOKUP_FAILED = "contact lookup failed (parked; retried each cycle)"


@dataclass(frozen=True, slots=True)
class Plan:
    """Where one scan reads: search `[lo, search_hi]`, keep events in `window`. A plan with no
    cursor (the reconciliation pass) moves none; one with `settled` moves it no further than
    that, however far it read."""

    cursor: str | None
    lo: int
    search_hi: int
    window: Window
    settled: int | None = None


@dataclass
class ScanStats:
    pages: int = 0
    items: int = 0
    fetched: int = 0
    new: int = 0
    detected: int = 0  # events the detectors found in the window, new or stored before
    unattributed: int = 0
    filtered: int = 0  # goal events a goal's `where` rejected (kept, with why)
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
    "filtered",
    "skipped",
    "parked",
    "truncated",
)


def live_plan(ctx: Context, kind: Kind, now: int) -> Plan:
    """The daemon's window: from the cursor (less the overlap) to now, read and delivered in
    this cycle; the cursor hands over only to `now - settle`, where the search index has
    settled. What the index shows late is thus searched again by the next cycles (for
    `settle + overlap` seconds, then by the reconciliation pass), and the event keys make
    each read again free of duplicates."""
    sync = ctx.config.sync
    settled = now - sync.settle
    # A fresh database starts at sync.start; "now" is pinned here so a restart does not
    # skip what happened while it was down.
    cursor = ctx.store.start_cursor(kind.name, sync.start if sync.start is not None else settled)
    lo = max(cursor.floor, cursor.last_value + 1 - sync.overlap)
    # Never back: a catch-up may have handed the cursor over to a later point.
    hand_over = max(settled, cursor.last_value)
    return Plan(kind.name, lo, now, Window(cursor.floor, now), hand_over)


def reconcile_plan(ctx: Context, kind: Kind, now: int) -> Plan | None:
    """The trailing window the live scan already handed over, to find what the search
    index showed it late: `[now - settle - reconcile_window, live cursor]`. None if empty.
    (What lies past the cursor the live scans read every cycle.)"""
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
    kinds = kinds_for(ctx.config, ctx.unsearched)
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
                moved_to = step.value if plan.settled is None else min(step.value, plan.settled)
                ctx.store.move_cursor(plan.cursor, moved_to, plan.window.lo)
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
    read = _whole_conversations(ctx, kind, window, items, stats)
    _note_skips(ctx, kind, read.unreadable, stats)
    store_objects(ctx, kind, window, read.conversations, stats, read.progress)


def store_objects(
    ctx: Context,
    kind: Kind,
    window: Window,
    objects: list[dict[str, Any]],
    stats: ScanStats,
    progress: Mapping[str, Progress] | None = None,
    *,
    unpark: tuple[str, str] | None = None,
) -> None:
    """Detect, resolve and store the objects' events, with the progress they make and the
    parked object they settle, in one transaction."""
    events: list[Event] = []
    unreadable: dict[str, str] = {}
    for obj in objects:
        try:
            found = kind.detector(obj, window)
            if found:
                seen = filters.subject(kind.spec.resource, obj)
                events.extend(dataclasses.replace(event, subject=seen) for event in found)
        except Exception as exc:  # one odd object must not stop the page: skip and count it
            reason = (
                str(exc) if isinstance(exc, detect.Unreadable) else f"{type(exc).__name__}: {exc}"
            )
            unreadable[_object_name(kind, obj, reason)] = reason
    _note_skips(ctx, kind, unreadable, stats)
    stats.detected += len(events)
    new = ctx.store.store_page(resolve_goals(ctx, events), progress or {}, unpark)
    stats.new += len(new)
    stats.unattributed += sum(1 for g in new if g.status == UNATTRIBUTED)
    stats.filtered += sum(1 for g in new if g.filtered)
    if new and ctx.on_new is not None:
        ctx.on_new(new)


@dataclass
class _Read:
    conversations: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, Progress] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def _whole_conversations(
    ctx: Context, kind: Kind, window: Window, items: list[dict[str, Any]], stats: ScanStats
) -> _Read:
    """The conversations that may hold what was not read of them (`moved`): fetched,
    unless the search item already holds all of it (the opening message alone). One whose
    fetch keeps failing is parked, with no progress recorded for it."""
    read = _Read()
    replies: dict[str, int] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for item in items:
        conv_id = item.get("id")
        lcra = detect.marker(item, kind.marker)
        if isinstance(conv_id, bool) or not isinstance(conv_id, str | int) or conv_id == "":
            read.unreadable[f"conversation {conv_id!r}"] = "without a usable id"
        elif lcra is not None:
            replies[str(conv_id)] = lcra
            by_id[str(conv_id)] = item
        else:
            value = detect.dotted(item, kind.marker)
            read.unreadable[f"conversation {conv_id!r}"] = f"{kind.marker} is {value!r}"
    stored = ctx.store.progress(kind.progress_key(cid) for cid in replies)
    seen = {
        cid: stored[kind.progress_key(cid)] for cid in replies if kind.progress_key(cid) in stored
    }
    # The fetch-skip may lose a message on a wrong reading: it takes the count as this
    # workspace has shown it, not the evidence's starting point (learned.PartsReading).
    reading = ctx.parts.shown
    wanted = [
        cid
        for cid, lcra in replies.items()
        if moved(kind, by_id[cid], lcra, seen.get(cid), window, reading)
    ]
    for cid in replies.keys() - set(wanted):
        if seen[cid].legacy:  # a row from before 0005 takes what the item shows from now on
            old = seen[cid]
            read.progress[kind.progress_key(cid)] = Progress(
                old.marker, old.floor, seen_fields(by_id[cid])
            )
    to_fetch = [
        cid
        for cid in wanted
        if not (kind.opening_may_do and detect.opening_only(by_id[cid], reading))
    ]
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
        # Progress only where every contact message up to that reply was in the window; it
        # keeps what was read (the fetched conversation, else the item): a part read later
        # moves its fields past these, and fetches it again.
        if replies[cid] <= window.hi:
            read.progress[kind.progress_key(cid)] = Progress(
                replies[cid],
                window.lo,
                seen_fields(conversation if isinstance(conversation, Mapping) else by_id[cid]),
            )
    if truncated:
        stats.truncated += len(truncated)
        log.warning(
            "%d conversations had unread parts beyond Intercom's 500 (%s: %s)",
            len(truncated),
            *next(iter(truncated.items())),
        )
        ctx.store.note_skipped(parking.TRUNCATED, truncated)
    return read


# The fields of a conversation that a new part moves. The count is the one that moves when
# the part lands in the same second as the last one, as a contact's second message often
# does; `updated_at`, when the count is not kept up to date with the rest.
WATCHED = ("statistics.count_conversation_parts", "updated_at")


def seen_fields(conversation: Mapping[str, Any]) -> dict[str, int]:
    """The WATCHED fields the conversation (or search item) shows, by name."""
    return {
        name: value for name in WATCHED if (value := detect.marker(conversation, name)) is not None
    }


def moved(
    kind: Kind,
    item: Mapping[str, Any],
    marker: int,
    stored: Progress | None,
    window: Window,
    reading: str | None = None,
) -> bool:
    """Whether a search item may show what was not read of its conversation: never read
    from this window's start, its marker moved, or a field a new part moves went past what
    was read. A lagging index shows a conversation's parts late: the item it showed first
    may hold the opening alone, and only the part count grows when a second message of the
    same second arrives; no decision rests on that first item.

    A row from before 0005 kept the marker alone: trusted as before, unless it may have come
    from an item showing the opening alone (the only progress kept without a fetch) and the
    item now shows more: that conversation is fetched once."""
    if stored is None or stored.floor > window.lo or marker > stored.marker:
        return True
    if stored.legacy:
        return (
            kind.opening_may_do
            and stored.marker == item.get("created_at")
            and not detect.opening_only(item, reading)
        )
    return any(value > stored.seen.get(name, -1) for name, value in seen_fields(item).items())


def missed_parts(
    conversation: Mapping[str, Any],
    seen: Progress | None,
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
    if seen is not None and seen.floor <= window.lo and seen.marker >= oldest:
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
    """Each event as a goal event of every enabled goal of its kind that admits it, with
    units and properties, and filtered where the goal's `where` rejects it."""
    pairs = [
        (event, goal)
        for event in events
        for goal in ctx.config.goals_of(event.kind)
        if goal.admits(event.facts)
    ]
    return resolve_pairs(ctx, pairs, fresh=fresh)


@dataclass
class _Lookups:
    """What Intercom says of the events' contacts: fetched once for a batch, through the
    cache (`fresh`: ignoring it), each kind of lookup only where a goal reads it."""

    contacts: Mapping[str, Any] = field(default_factory=dict)
    companies: Mapping[str, Any] = field(default_factory=dict)
    segments: Mapping[str, Any] = field(default_factory=dict)
    # A contact object lists at most 10 tags and 10 companies (register:
    # R-contact-companies), sometimes fewer than it counts without saying `has_more`
    # (R-contact-list-counts); where it shows fewer, its own lists give them all.
    contact_tags: Mapping[str, Any] = field(default_factory=dict)
    contact_companies: Mapping[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # "contact:ID", "company:ID", ...


def resolve_pairs(
    ctx: Context, pairs: Sequence[tuple[Event, GoalSettings]], *, fresh: bool = False
) -> list[Goal]:
    """(event, goal) pairs as goal events; see `resolve_goals`."""
    found = _lookups(ctx, pairs, fresh)
    return [_goal_event(ctx, event, goal, found) for event, goal in pairs]


def _lookups(ctx: Context, pairs: Sequence[tuple[Event, GoalSettings]], fresh: bool) -> _Lookups:
    config = ctx.config
    needed = {goal.name: _contact_fields(goal, config) for _, goal in pairs}
    contact_ids = {
        str(event.contact["id"])
        for event, goal in pairs
        if event.contact.get("id") is not None
        and (fresh or units.needs_fetch(event, needed[goal.name]))
    }
    # What a filter judges is read no longer ago than one poll cycle; what units alone read
    # may come from the cache for contact_ttl (README "What a filter sees").
    judging = _judging_age(config)
    judged = {
        str(event.contact["id"])
        for event, goal in pairs
        if event.contact.get("id") is not None
        and any(c.needs in ("contact", "companies") for c in goal.where)
    }
    found = _Lookups()
    judged_contacts, failed = _cached_lookup(
        ctx, "contact", contact_ids & judged, ctx.client.contact, fresh, judging
    )
    other_contacts, failed_too = _cached_lookup(
        ctx, "contact", contact_ids - judged, ctx.client.contact, fresh
    )
    found.contacts = {**other_contacts, **judged_contacts}
    found.failed |= {f"contact:{i}" for i in failed | failed_too}
    company_ids: set[str] = set()
    judged_companies: set[str] = set()
    lists: dict[str, set[str]] = {
        "segments": set(),
        "contact_tags": set(),
        "contact_companies": set(),
    }
    for event, goal in pairs:
        cid = str(event.contact.get("id"))
        contact = found.contacts.get(cid)
        reads = {condition.needs for condition in goal.where}
        if "segments" in reads and event.contact.get("id") is not None:
            lists["segments"].add(cid)  # the contact object does not show them
        if contact is None:
            continue
        if "companies" in reads and _incomplete(contact, "companies"):
            lists["contact_companies"].add(cid)
        elif "companies" in reads:
            judged_companies.update(units.company_ids(contact))
        if "companies" in needed[goal.name]:
            if first := units.company_id(contact):
                company_ids.add(first)
            elif _incomplete(contact, "companies"):  # none shown, some counted
                lists["contact_companies"].add(cid)
        if any(c.field == "contact.tags" for c in goal.where) and _incomplete(contact, "tags"):
            lists["contact_tags"].add(cid)
    found.companies, failed = _cached_lookup(
        ctx, "company", company_ids - judged_companies, ctx.client.company, fresh
    )
    judged_found, failed_too = _cached_lookup(
        ctx, "company", judged_companies, ctx.client.company, fresh, judging
    )
    found.companies = {**found.companies, **judged_found}
    found.failed |= {f"company:{i}" for i in failed | failed_too}
    fetchers = contact_lists(ctx.client)
    for what, ids in lists.items():
        got, failed = _cached_lookup(ctx, what, ids, fetchers[what], fresh, judging)
        setattr(found, what, got)
        found.failed |= {f"{what}:{i}" for i in failed}
    if any(c.field.endswith(".tags") for _, goal in pairs for c in goal.where):
        found.tags = workspace_tags(ctx, fresh=fresh, max_age=judging)
    return found


def _judging_age(config: Config) -> float:
    """How old a lookup a filter judges by may be: one poll cycle (never more than the
    cache keeps anything)."""
    return min(config.sync.poll_interval, config.sync.contact_ttl)


def contact_lists(client: IntercomClient) -> dict[str, Callable[[str], Any]]:
    """The lookups of a contact's own lists, by their cache kind."""
    return {
        "segments": lambda i: client.contact_segments(i),
        "contact_tags": lambda i: client.contact_tags(i),
        "contact_companies": lambda i: client.contact_companies(i),
    }


def _incomplete(contact: Mapping[str, Any], what: str) -> bool:
    """Whether the contact's embedded `tags` or `companies` list shows fewer than it has:
    `has_more`, or a `total_count` above the items shown. A real contact showed 11 tag ids
    with `total_count: 14, has_more: false` (register: R-contact-list-counts), so `has_more`
    alone is not trusted."""
    listed = contact.get(what)
    if not isinstance(listed, Mapping):
        return False
    if listed.get("has_more") is True:
        return True
    total, shown = listed.get("total_count"), listed.get("data")
    count = len(shown) if isinstance(shown, list) else 0
    return isinstance(total, int) and not isinstance(total, bool) and total > count


def _contact_fields(goal: GoalSettings, config: Config) -> set[str]:
    """The contact fields the goal's units, properties and `where` read."""
    fields = units.contact_fields_needed(goal, config.units)
    for condition in goal.where:
        if condition.needs == "contact":
            fields.add(condition.field.removeprefix("contact.").split(".")[0])
        elif condition.needs == "companies":
            fields.add("companies")
    return fields


WORKSPACE = "workspace"  # the cache id of the workspace's tag list


def workspace_tags(
    ctx: Context, *, fresh: bool = False, max_age: float | None = None
) -> dict[str, str]:
    """Tag name -> id, from GET /tags, cached for `max_age` (`sync.contact_ttl` unless
    told). A failure is raised: every tag condition of the batch would otherwise be a guess."""
    listed, failed = _cached_lookup(
        ctx, "tags", {WORKSPACE}, lambda _: ctx.client.tags(), fresh, max_age
    )
    if failed:
        raise IntercomUnavailable("GET /tags failed; the events that need tags wait")
    tags = listed.get(WORKSPACE) or []
    return {
        str(tag["name"]): str(tag["id"])
        for tag in tags
        if isinstance(tag, Mapping) and tag.get("name") and tag.get("id") is not None
    }


def check_tag_names(ctx: Context) -> None:
    """Refuse to start (ConfigError, exit 2) when a goal names a tag, segment, ticket type
    or attribute the workspace lacks: its filter could never match, and nothing would say
    so (names.py; the tags read here prime the cache the filters use)."""
    from syncer import names  # here: this function is names.py's one door into the pipeline

    names.check_workspace_names(
        ctx.config, ctx.client, tags=lambda: workspace_tags(ctx, fresh=True)
    )


def _goal_event(ctx: Context, event: Event, goal: GoalSettings, found: _Lookups) -> Goal:
    config = ctx.config
    contact_id = str(event.contact.get("id"))
    contact = found.contacts.get(contact_id)
    gone = contact_id in found.contacts and contact is None
    company = found.companies.get(units.company_id(contact) or "")
    listed = found.contact_companies.get(contact_id)
    if company is None and isinstance(listed, list) and listed:
        company = listed[0] if isinstance(listed[0], Mapping) else None  # none shown, read
    resolution = units.resolve(event, goal, config.units, contact, company, gone=gone)
    unit_set, reason, filtered = resolution.units, resolution.reason, False
    reads = {condition.needs for condition in goal.where}
    if _waits_on(contact_id, contact, reads, found):
        unit_set, reason = (), LOOKUP_FAILED
    elif reads - {"subject"} and (event.contact.get("id") is None or gone):
        # The filter reads a contact Intercom does not give (yet): a merged contact is
        # found again by the re-resolution pass, and the filter checked then.
        unit_set = ()
        reason = resolution.reason if not resolution.units else f"{units.GONE} (read by its filter)"
    else:
        # An event stored before filters kept its subject is checked on the rest alone.
        known = [c for c in goal.where if event.subject or c.needs != "subject"]
        why = filters.rejection(known, _seen(event, contact_id, contact, found))
        if why is not None:  # no units: nothing may take a filtered goal for a sendable one
            unit_set, filtered, reason = (), True, f"where {why}"
    return Goal(
        key=outbox_goal_key(event.key, goal.name),
        kind=event.kind,
        name=goal.name,
        achieved_at=event.achieved_at,
        units=unit_set,
        properties=resolution.properties,
        source={
            "contact": dict(event.contact),
            "facts": dict(event.facts),
            "subject": dict(event.subject),
        },
        reason=reason,
        # Earlier versions keyed the one goal of a kind by the event alone.
        replaces=(event.key, *((event.replaces,) if event.replaces else ())),
        filtered=filtered,
    )


def _waits_on(
    contact_id: str, contact: Mapping[str, Any] | None, reads: set[str], found: _Lookups
) -> bool:
    """Whether a lookup this goal event needs failed (it is parked, and retried)."""
    names = {f"contact:{contact_id}", f"company:{units.company_id(contact)}"}
    if "companies" in reads:
        names |= {f"company:{i}" for i in units.company_ids(contact)}
        names.add(f"contact_companies:{contact_id}")
    if "segments" in reads:
        names.add(f"segments:{contact_id}")
    names.add(f"contact_tags:{contact_id}")
    return bool(names & found.failed)


def _seen(
    event: Event, contact_id: str, contact: Mapping[str, Any] | None, found: _Lookups
) -> filters.Seen:
    """What the event's filter reads: its subject and facts, the contact (with all its tags
    where the object listed only 10), its companies and segments."""
    merged = {**event.contact, **(contact or {})}
    all_tags = found.contact_tags.get(contact_id)
    if isinstance(all_tags, list):
        merged["tags"] = {"data": all_tags}
    companies = found.contact_companies.get(contact_id)
    if not isinstance(companies, list):
        companies = [found.companies.get(i) for i in units.company_ids(contact)]
    return filters.Seen(
        subject=event.subject,
        facts=event.facts,
        contact=merged,
        companies=[c for c in companies if isinstance(c, Mapping)],
        segments=_segment_list(found.segments.get(contact_id)),
        tags=found.tags,
    )


def _segment_list(value: object) -> list[Mapping[str, Any]]:
    return [s for s in value if isinstance(s, Mapping)] if isinstance(value, list) else []


def _cached_lookup(
    ctx: Context,
    kind: str,
    ids: set[str],
    fetch: Callable[[str], Any],
    fresh: bool,
    max_age: float | None = None,
) -> tuple[Mapping[str, Any], set[str]]:
    """(id -> object or None where Intercom has none, the ids whose lookup failed: parked),
    from the cache where it is younger than `max_age` (`sync.contact_ttl` unless told)."""
    if not ids:
        return {}, set()
    age = ctx.config.sync.contact_ttl if max_age is None else max_age
    found = {} if fresh else ctx.store.cached(kind, ids, age)
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


def read_hinted(ctx: Context, hinted: Sequence[tuple[str, str]], now: int) -> ScanStats:
    """The conversations and tickets webhook notifications named (resource, id), read now by
    GET and stored through every scan of their resource, as the scans would store them (issue
    28). Each scan keeps the events of its live window, from its cursor's floor to now; a
    scan with no cursor yet (before the first cycle) reads nothing. No cursor and no
    progress moves: the scans read these objects again and stay the truth. An object whose
    read fails is only logged; the scans will find it."""
    stats = ScanStats()
    kinds = kinds_for(ctx.config, ctx.unsearched)
    for resource in dict.fromkeys(resource for resource, _ in hinted):
        scans = [kind for kind in kinds if kind.spec.resource == resource]
        ids = list(dict.fromkeys(oid for r, oid in hinted if r == resource))
        if not scans or not ids:
            continue
        fetch = ctx.client.conversation if resource == "conversations" else ctx.client.ticket
        got = list(ctx.pool.map(_attempt(fetch), ids))
        stats.fetched += len(ids)
        failed = [r for r in got if isinstance(r, IntercomObjectError)]
        if failed:
            log.info("%d hinted %s could not be read (%s)", len(failed), resource, failed[0])
        objects = [r for r in got if isinstance(r, dict)]
        for kind in scans:
            cursor = ctx.store.cursor(kind.name)
            if cursor is not None and objects:
                store_objects(ctx, kind, Window(cursor.floor, now), objects, stats)
    stats.complete = True
    return stats
