"""What a sync reads with (the context), where each scan reads (its plan), and what it found."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from syncer.config import Config
from syncer.detect import Window
from syncer.intercom.client import IntercomClient
from syncer.kinds import Scan
from syncer.learned import PartsReading
from syncer.store.outbox import Goal
from syncer.store.store import Store

log = logging.getLogger("syncer.pipeline")


@dataclass
class Context:
    """What a sync needs, opened once per process."""

    config: Config
    client: IntercomClient
    store: Store
    pool: ThreadPoolExecutor
    stop: threading.Event = field(default_factory=threading.Event)
    parts: PartsReading = field(default_factory=PartsReading)
    # Search fields the start-up probes found not matching as documented (scans_for).
    unsearched: frozenset[str] = frozenset()
    # A catch-up's start (time.time()): what it looked up since is as fresh as its run.
    started: float | None = None
    on_new: Callable[[list[Goal]], None] | None = None
    # Called after every committed page and checkpoint: progress bars, the systemd watchdog.
    on_progress: Callable[[str, ScanStats, int | None], None] | None = None


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


def live_plan(ctx: Context, kind: Scan, now: int) -> Plan:
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
    # A sweep (kinds.Scan.trailing) reads its trailing window every cycle, and ends `delay`
    # before now: an assumed AI resolution is read once it has held that long.
    hi = now - kind.delay
    if kind.trailing:
        lo = max(cursor.floor, min(lo, hi - kind.trailing))
    # Never back: a catch-up may have handed the cursor over to a later point.
    hand_over = max(min(settled, hi), cursor.last_value)
    return Plan(kind.name, lo, hi, Window(cursor.floor, now), hand_over)


def reconcile_plan(ctx: Context, kind: Scan, now: int) -> Plan | None:
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


def catchup_plan(ctx: Context, kind: Scan, since: int, until: int, now: int) -> Plan:
    """A catch-up over [since, until], resumable by its own cursor.

    "User messaged" searches on to now: a conversation whose latest contact reply came after
    `until` still holds messages inside the window.
    """
    cursor = ctx.store.start_cursor(f"{kind.name}@{since}", since)
    # A sweep's events may lie `delay` before what it searches (kinds.Scan.delay).
    resume = max(since, cursor.last_value + 1 - ctx.config.sync.overlap) - kind.delay
    search_hi = max(until, now - ctx.config.sync.settle) if kind.fetch_whole else until
    return Plan(cursor.name, resume, search_hi, Window(since, until))


def finish_catchup(ctx: Context, kind: Scan, plan: Plan, *, hand_over: bool) -> None:
    """Drop the catch-up cursor. With `hand_over` (the window reached now), carry the live
    cursor forward where the two meet, never back; a window in the past leaves it alone."""
    assert plan.cursor is not None
    ctx.store.finish_catchup(
        plan.cursor, kind.name, plan.window.lo, plan.window.hi, hand_over=hand_over
    )


def record_error(ctx: Context, exc: BaseException | str) -> None:
    """Remember the error for `syncer status`; never let that hide the error itself."""
    try:
        ctx.store.note("last_error", {"at": time.time(), "error": str(exc)})
    except Exception:  # the original error matters more than this note
        log.debug("could not record the last error", exc_info=True)
