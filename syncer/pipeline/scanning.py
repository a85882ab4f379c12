"""The scans: each reads its plan's window page by page, and every page's events, resolved
as goal events, go to the outbox with the progress the page made, in one transaction."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from syncer import detect, filters
from syncer.detect import Event, Window
from syncer.errors import PermanentError, SyncerError
from syncer.intercom.scans import Checkpoint, scan
from syncer.kinds import Scan, scans_for
from syncer.pipeline.context import Context, Plan, ScanStats
from syncer.pipeline.conversations import whole_conversations
from syncer.pipeline.fetching import fetch_each
from syncer.pipeline.goals import resolve_goals
from syncer.store import parking
from syncer.store.outbox import UNATTRIBUTED
from syncer.store.state import Progress

log = logging.getLogger("syncer.pipeline")
T = TypeVar("T")


def run_scans(ctx: Context, scan_one: Callable[[Scan], ScanStats]) -> dict[str, ScanStats]:
    """`scan_one` for every scan the enabled goals need, each in its own thread.

    A scan's search pages are sequential: one scan after another would leave most of the
    rate budget unspent while each waits on latency. The pacer keeps them inside it. A scan
    that fails reports its error in its stats and the others go on; only a permanent error
    (a refused credential, an unusable database) is raised, once every scan has stopped.
    """
    kinds = scans_for(ctx.config, ctx.unsearched)
    with ThreadPoolExecutor(max(1, len(kinds)), thread_name_prefix="scan") as scans:
        futures = {kind.name: scans.submit(_isolated, ctx, kind, scan_one) for kind in kinds}
    return {name: future.result() for name, future in futures.items()}


def _isolated(ctx: Context, kind: Scan, scan_one: Callable[[Scan], ScanStats]) -> ScanStats:
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


def run_scan(ctx: Context, kind: Scan, plan: Plan) -> ScanStats:
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
    ctx: Context, kind: Scan, window: Window, items: list[dict[str, Any]], stats: ScanStats
) -> None:
    if not kind.fetch_whole:
        store_objects(ctx, kind, window, items, stats)
        return
    read = whole_conversations(ctx, kind, window, items, stats)
    _note_skips(ctx, kind, read.unreadable, stats)
    store_objects(ctx, kind, window, read.conversations, stats, read.progress)


def store_objects(
    ctx: Context,
    kind: Scan,
    window: Window,
    objects: list[dict[str, Any]],
    stats: ScanStats,
    progress: Mapping[str, Progress] | None = None,
    *,
    unpark: tuple[str, str] | None = None,
) -> None:
    """Detect, resolve and store the objects' events, with the progress they make and the
    parked object they settle, in one transaction."""
    events, unreadable = _detect(kind, window, objects)
    _note_skips(ctx, kind, unreadable, stats)
    stats.detected += len(events)
    new = ctx.store.store_page(resolve_goals(ctx, events), progress or {}, unpark)
    stats.new += len(new)
    stats.unattributed += sum(1 for g in new if g.status == UNATTRIBUTED)
    stats.filtered += sum(1 for g in new if g.filtered)
    if new and ctx.on_new is not None:
        ctx.on_new(new)


def _detect(
    kind: Scan, window: Window, objects: list[dict[str, Any]]
) -> tuple[list[Event], dict[str, str]]:
    """The objects' events in the window, each with what its filter sees of the object, and
    the objects that could not be read (name -> why)."""
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
    return events, unreadable


def _object_name(kind: Scan, obj: Mapping[str, Any], reason: str) -> str:
    """What `status` calls a skipped object: its scan and id (the reason, if it has none)."""
    oid = obj.get("id")
    if isinstance(oid, str | int) and not isinstance(oid, bool) and oid != "":
        return f"{kind.name}: {kind.spec.resource.rstrip('s')} {str(oid)!r}"
    return f"{kind.name}: {reason}"


def _note_skips(ctx: Context, kind: Scan, unreadable: Mapping[str, str], stats: ScanStats) -> None:
    if not unreadable:
        return
    stats.skipped += len(unreadable)
    name, reason = next(iter(unreadable.items()))
    log.warning(
        "%s: skipped %d unreadable objects (%s: %s)", kind.name, len(unreadable), name, reason
    )
    ctx.store.note_skipped(parking.UNREADABLE, unreadable)


def read_hinted(ctx: Context, hinted: Sequence[tuple[str, str]], now: int) -> ScanStats:
    """The conversations and tickets webhook notifications named (resource, id), read now by
    GET and stored through every scan of their resource, as the scans would store them (issue
    28). Each scan keeps the events of its live window, from its cursor's floor to now; a
    scan with no cursor yet (before the first cycle) reads nothing. No cursor and no
    progress moves: the scans read these objects again and stay the truth. An object whose
    read fails is only logged; the scans will find it."""
    stats = ScanStats()
    kinds = scans_for(ctx.config, ctx.unsearched)
    for resource in dict.fromkeys(resource for resource, _ in hinted):
        scans = [kind for kind in kinds if kind.spec.resource == resource]
        ids = list(dict.fromkeys(oid for r, oid in hinted if r == resource))
        if scans and ids:
            _store_hinted(ctx, resource, ids, scans, now, stats)
    stats.complete = True
    return stats


def _store_hinted(
    ctx: Context, resource: str, ids: list[str], scans: list[Scan], now: int, stats: ScanStats
) -> None:
    """One resource's hinted objects, read and stored through each of its scans."""
    got, failed = fetch_each(ctx, ids, lambda object_id: ctx.client.read(resource, object_id))
    stats.fetched += len(ids)
    if failed:
        first = next(iter(failed.values()))
        log.info("%d hinted %s could not be read (%s)", len(failed), resource, first)
    objects = [r for r in got.values() if isinstance(r, dict)]
    for kind in scans:
        cursor = ctx.store.cursor(kind.name)
        if cursor is not None and objects:
            store_objects(ctx, kind, Window(cursor.floor, now), objects, stats)
