"""What heals the state besides the live scans: parked objects retried, unattributed events
resolved again, and the trailing window reconciled against a search index that lags.

Each pass writes through the same outbox, whose keys make it free of duplicates.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from syncer import detect, pipeline, units
from syncer.detect import Event, Window
from syncer.errors import IntercomObjectError
from syncer.intercom.client import IntercomClient
from syncer.kinds import Scan, scans_for
from syncer.pipeline import Context, ScanStats
from syncer.retries import INTERCOM_PARKED
from syncer.store import outbox, parking
from syncer.store.outbox import Goal
from syncer.store.state import Progress
from syncer.timeparse import DAY, ms, seconds_of

log = logging.getLogger("syncer.recovery")

# A cycle takes on a bounded number of parked objects (each retried as retries.INTERCOM_PARKED
# says), so they never hold up the scans and the delivery that follow them.
PARKED_PER_CYCLE = 50


@dataclass
class Retried:
    read: int = 0  # parked objects read at last (their events are stored)
    still: int = 0  # parked objects that failed again


def retry_parked(ctx: Context, now: float = math.inf) -> Retried:
    """Retry the parked objects that are due (every one, by default): a conversation is read
    and its events stored; a contact or company is cached and the events waiting on it are
    resolved again."""
    limit = PARKED_PER_CYCLE if math.isfinite(now) else 100_000
    due = ctx.store.parked_due(now, ("conversation", *pipeline.LOOKUPS), limit)
    done = Retried()
    healed_lookup = False
    if not due:
        return done
    settings, pacer = ctx.config.intercom, ctx.client.pacer
    with IntercomClient(settings, pacer=pacer, attempts=INTERCOM_PARKED.attempts) as client:
        for item in due:
            if ctx.stop.is_set():
                break
            try:
                if item.kind == "conversation":
                    _read_parked_conversation(ctx, client, item)
                else:
                    _read_parked_lookup(ctx, client, item)
                    healed_lookup = True
                done.read += 1
            except IntercomObjectError as exc:
                ctx.store.failed_again(item, str(exc), time.time())
                done.still += 1
    if healed_lookup:
        reresolve_unattributed(ctx, reason=pipeline.LOOKUP_FAILED)
    log.info("parked objects: %d read, %d failed again", done.read, done.still)
    return done


def _read_parked_conversation(ctx: Context, client: IntercomClient, item: parking.Parked) -> None:
    conversation = client.conversation(item.object_id)
    readers = [kind for kind in scans_for(ctx.config) if kind.fetch_whole]
    if conversation is None or not readers:  # deleted since, or its goal disabled since
        ctx.store.unpark(item.kind, item.object_id)
        return
    window = Window(item.window_lo, item.window_hi)
    for i, kind in enumerate(readers, 1):
        reply = detect.marker(conversation, kind.marker)
        # Progress only where everything up to that time was in the window.
        done = reply is not None and reply <= window.hi
        key = kind.progress_key(item.object_id)
        progress = (
            {key: Progress(reply, window.lo, pipeline.seen_fields(conversation))}
            if done and reply is not None
            else {}
        )
        unpark = (item.kind, item.object_id) if i == len(readers) else None
        pipeline.store_objects(
            ctx, kind, window, [conversation], ScanStats(), progress, unpark=unpark
        )


def _read_parked_lookup(ctx: Context, client: IntercomClient, item: parking.Parked) -> None:
    fetch = pipeline.fetchers(client)[item.kind]
    ctx.store.cache(item.kind, {item.object_id: fetch(item.object_id)}, unpark=True)


def reresolve_unattributed(
    ctx: Context,
    *,
    since_ms: int | None = None,
    reason: str | None = None,
    fresh: bool = False,
    batch: int = 500,
    statuses: tuple[str, ...] = (outbox.UNATTRIBUTED,),
) -> tuple[int, int]:
    """Resolve unattributed goals (or, for `--refilter`, every goal not yet sent) again with
    the current config and its filters (those achieved since `since_ms`, or with `reason`),
    looking their contacts up afresh with `fresh`. A goal whose name the config no longer
    has is left as it is.

    Returns (now to be sent, still unattributed).
    """
    recovered = still = 0
    after = 0
    while goals := ctx.store.unattributed(
        after, batch, since_ms=since_ms, reason=reason, statuses=statuses
    ):
        after = goals[-1].id or after
        fresh_goals = _resolve_again(ctx, goals, fresh)
        by_key = {g.key: g for g in fresh_goals}
        ctx.store.reresolve(
            (replace(by_key[_new_key(old)], id=old.id) for old in goals if _new_key(old) in by_key),
            statuses,
        )
        recovered += sum(1 for g in fresh_goals if g.status == outbox.PENDING)
        still += sum(1 for g in fresh_goals if g.status == outbox.UNATTRIBUTED)
    return recovered, still


def _resolve_again(ctx: Context, goals: list[Goal], fresh: bool) -> list[Goal]:
    """The stored goals as the pipeline resolves them now (those whose goal the config
    still has), a contact that answered 404 followed to the one it was merged into."""
    pairs = [
        (_stored_event(g), goal)
        for g in goals
        if (goal := ctx.config.goal_named(g.name)) is not None and goal.kind == g.kind
    ]
    resolved = pipeline.resolve_pairs(ctx, pairs, fresh=fresh)
    gone = {g.key: pair for pair, g in zip(pairs, resolved, strict=True) if _gone(g.reason)}
    if not gone:
        return resolved
    healed = merged_into(ctx, [event for event, _ in gone.values()])
    again = [(healed[event.key], goal) for event, goal in gone.values() if event.key in healed]
    redone = {g.key: g for g in pipeline.resolve_pairs(ctx, again, fresh=fresh)}
    return [redone.get(g.key, g) for g in resolved]


def _stored_event(goal: Goal) -> Event:
    """The event a stored goal event was made of, as the pipeline made it."""
    return Event(
        outbox.event_key(goal.key, goal.name),
        goal.kind,
        goal.achieved_at,
        goal.source.get("contact", {}),
        goal.source.get("facts", {}),
        subject=goal.source.get("subject", {}),
    )


def _new_key(goal: Goal) -> str:
    """The key the pipeline gives a stored goal now (a row of an earlier version keeps its
    own key: the update goes by id)."""
    return outbox.goal_key(outbox.event_key(goal.key, goal.name), goal.name)


def _gone(reason: str | None) -> bool:
    return reason is not None and reason.startswith(units.GONE)


def merged_into(ctx: Context, events: list[Event]) -> dict[str, Event]:
    """The events whose contact answered 404, now naming the contact their conversation or
    ticket names (on 2.14 a merged contact answers 404, and what it was part of names the
    contact it was merged into: register R-merged-contacts). key -> event; an event whose
    object still names the gone contact (deleted, not merged) or several is left out."""
    objects: dict[tuple[str, str], list[Event]] = {}
    for event in events:
        for resource, fact in (("conversations", "conversation.id"), ("tickets", "ticket.id")):
            if event.facts.get(fact) is not None:
                objects.setdefault((resource, str(event.facts[fact])), []).append(event)
    healed: dict[str, Event] = {}
    for (resource, object_id), waiting in objects.items():
        try:
            obj = ctx.client.read(resource, object_id)
        except IntercomObjectError as exc:
            log.info("could not re-read %s %s for a merged contact: %s", resource, object_id, exc)
            continue
        for event in waiting:
            contact = _named_contact(ctx, event, resource, obj) if obj is not None else None
            if contact is not None:
                healed[event.key] = replace(event, contact=contact)
    return healed


def _named_contact(
    ctx: Context, event: Event, resource: str, obj: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Whom the object names for the event now: its detector's answer (the rater, the
    author), else the one contact it lists; None if that is still the gone contact."""
    old = event.contact.get("id")
    at = Window(int(seconds_of(event.achieved_at)), int(seconds_of(event.achieved_at)))
    for kind in scans_for(ctx.config):
        if kind.goal != event.kind or kind.spec.resource != resource:
            continue
        try:
            found = kind.detector(obj, at)
        except detect.Unreadable:
            continue
        for again in found:
            if again.key == event.key and again.contact.get("id") not in (None, old):
                return dict(again.contact)
    listed = obj.get("contacts")
    entries = listed.get("contacts") if isinstance(listed, Mapping) else None
    if isinstance(entries, list) and len(entries) == 1 and isinstance(entries[0], Mapping):
        new = entries[0].get("id")
        if isinstance(new, str | int) and not isinstance(new, bool) and str(new) != str(old):
            return {
                "id": str(new),
                **{k: entries[0][k] for k in ("external_id",) if k in entries[0]},
            }
    return None


def reconcile(ctx: Context, now: int) -> ScanStats:
    """Read every scan's trailing window again (`sync.reconcile_window` behind its cursor).

    What it stores is what the live scans missed: how far behind the search index ran, or a
    search filter that loses events, since this pass searches with the time filter alone
    and lets the detectors decide. `status` shows the count by scan. Conversations are
    fetched only where the last contact reply moved since they were read, so an idle
    workspace costs a few search pages.
    """
    started = time.monotonic()

    def scan_one(kind: Scan) -> ScanStats:
        if kind.trailing:  # a sweep reads its own trailing window every cycle
            return ScanStats(complete=True)
        plan = pipeline.reconcile_plan(ctx, kind, now)
        unfiltered = replace(kind, spec=replace(kind.spec, filters=(), checked=()))
        return pipeline.run_scan(ctx, unfiltered, plan) if plan else ScanStats(complete=True)

    total = ScanStats(complete=True)
    by_scan = pipeline.run_scans(ctx, scan_one)
    for stats in by_scan.values():
        total.add(stats)
        total.complete &= stats.complete
    before = ctx.store.notes().get("reconcile") or {}
    ctx.store.note(
        "reconcile",
        {
            "at": now,
            "found": total.new,
            "found_total": int(before.get("found_total", 0)) + total.new,
            "seconds": round(time.monotonic() - started, 1),
            "error": total.error,
            "scans": {
                name: {"items": s.items, "events": s.detected, "found": s.new}
                for name, s in by_scan.items()
            },
        },
    )
    missed = {name: s.new for name, s in by_scan.items() if s.new}
    if missed:
        log.warning(
            "reconciliation: %d events the live scans had missed (%s): a lagging search "
            "index, or a search filter that loses events",
            total.new,
            ", ".join(f"{name} {count}" for name, count in missed.items()),
        )
    else:
        log.info("reconciliation: %d pages, nothing the live scans had missed", total.pages)
    return total


def due(ctx: Context, note: str, interval: int, now: int) -> bool:
    """Whether a periodic pass (`interval` seconds, 0 = off) is due by its note's time."""
    if interval <= 0:
        return False
    last = ctx.store.notes().get(note)
    return not isinstance(last, dict) or now - float(last.get("at", 0)) >= interval


PRUNE_STEPS = 10  # batches of 500 per cycle: 5,000 goals, a few short transactions


def prune(ctx: Context, now: int) -> int:
    """Retention, a few small batches per cycle: what ABsmartly has had for `retain_days`
    keeps only what deduplication needs; unattributed goals past the re-resolution horizon
    likewise; cached contacts past their age go. Returns how many rows were reduced."""
    sync = ctx.config.sync
    if sync.retain_days <= 0:
        return 0
    sent_before = ms(now - sync.retain_days * DAY)
    unattributed_before = ms(now - sync.reresolve_days * DAY)
    total = 0
    for _ in range(PRUNE_STEPS):
        done = ctx.store.prune(sent_before, unattributed_before, sync.contact_ttl)
        total += sum(done.values())
        if not any(done.values()) or ctx.stop.is_set():
            break
    return total


def reresolve_recent(ctx: Context, now: int) -> tuple[int, int]:
    """The daemon's hourly pass: unattributed events younger than `sync.reresolve_days`, with
    their contacts looked up afresh (a lead signs up, or is merged into a user, later)."""
    since_ms = ms(now - ctx.config.sync.reresolve_days * DAY)
    recovered, still = reresolve_unattributed(ctx, since_ms=since_ms, fresh=True)
    ctx.store.note("reresolve", {"at": now, "recovered": recovered, "still": still})
    if recovered:
        log.info("re-resolved: %d unattributed events now attributable", recovered)
    return recovered, still
