"""`syncer sync --since`: read a window of history into the outbox (and deliver it)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from types import FrameType

from syncer import logs, pipeline, recovery, words
from syncer.absmartly.publisher import DrainResult, Publisher, deliver
from syncer.config import Config
from syncer.errors import ConfigError, SyncerError
from syncer.kinds import Scan, scans_for
from syncer.pipeline import Context, ScanStats
from syncer.progress import Progress
from syncer.runtime import DRY_RUN, SYNC, open_context
from syncer.store.outbox import Goal
from syncer.timeparse import iso

log = logging.getLogger("syncer.sync")


def clamp_until(config: Config, since: int, until: int | None, now: int) -> int:
    """The window's end: at most now less the settle time, so unindexed items are not missed."""
    latest = now - config.sync.settle
    if until is not None and until < since:
        raise ConfigError(f"--until: {iso(until)} is before --since ({iso(since)})")
    if until is None or until > latest:
        until = latest
    if since > until:
        raise ConfigError(
            f"--since: {iso(since)} is after the end of the window ({iso(until)}; "
            f"the last {config.sync.settle}s are left to settle)"
        )
    return until


def scan_window(ctx: Context, since: int, until: int, now: int) -> dict[str, ScanStats]:
    """Every enabled scan over [since, until], in parallel. A finished scan hands over to the
    live cursor only if the window reached now (within the settle time): a window in the
    past never creates or moves the daemon's cursors."""
    hand_over = until >= now - 2 * ctx.config.sync.settle
    return pipeline.run_scans(
        ctx, lambda kind: _scan_one(ctx, kind, since, until, now, hand_over=hand_over)
    )


def _scan_one(
    ctx: Context, kind: Scan, since: int, until: int, now: int, *, hand_over: bool
) -> ScanStats:
    plan = pipeline.catchup_plan(ctx, kind, since, until, now)
    stats = pipeline.run_scan(ctx, kind, plan)
    if not stats.complete:
        return stats  # stopped by a signal: the catch-up cursor keeps our place
    pipeline.finish_catchup(ctx, kind, plan, hand_over=hand_over)
    log.info(
        "%s: %d pages, %d items, %d conversations fetched, %d new goal events (%d "
        "unattributed, %d filtered)",
        kind.name,
        stats.pages,
        stats.items,
        stats.fetched,
        stats.new,
        stats.unattributed,
        stats.filtered,
    )
    return stats


def dry_run(config: Config, since: int, until: int, now: int, emit: Callable[[Goal], None]) -> int:
    """Scan into a throwaway database and print each attributable goal; write nothing."""
    found: Counter[str] = Counter()
    unattributed: Counter[str] = Counter()
    filtered: Counter[str] = Counter()
    by_goal: Counter[str] = Counter()  # filtered, by the goal's name

    def on_new(goals: list[Goal]) -> None:
        for goal in goals:
            if goal.filtered:
                filtered[f"{goal.name}: {goal.reason}"] += 1
                by_goal[goal.name] += 1
            elif goal.units:
                found[goal.name] += 1
                emit(goal)
            else:
                unattributed[goal.reason or "-"] += 1
        sys.stdout.flush()

    stop = threading.Event()
    with stopping_on_signals(stop) as caught, open_context(config, DRY_RUN, stop=stop) as opened:
        ctx = opened.ctx
        ctx.on_new = on_new
        results = scan_window(ctx, since, until, now)
        if caught:
            raise KeyboardInterrupt  # end as Ctrl-C does: one line (nothing was written), 130
    skipped = sum(stats.skipped for stats in results.values())
    print(
        f"dry run {iso(since)} .. {iso(until)}: {words.count(sum(found.values()), 'goal')} "
        f"({', '.join(f'{n} {c}' for n, c in sorted(found.items())) or 'none'}); "
        f"{sum(unattributed.values())} unattributed; "
        f"{sum(filtered.values())} filtered; "
        f"{words.count(skipped, 'unreadable object')} skipped; nothing was written",
        file=sys.stderr,
    )
    if by_goal:
        totals = [f"{name} {count}" for name, count in sorted(by_goal.items())]
        print(f"  filtered by goal: {', '.join(totals)}", file=sys.stderr)
    for title, counted in (("unattributed", unattributed), ("filtered", filtered)):
        for reason, count in counted.most_common(5):
            print(f"  {title}: {count} x {reason}", file=sys.stderr)
        if len(counted) > 5:
            rest = sum(count for _, count in counted.most_common()[5:])
            print(
                f"  {title}: and {words.count(len(counted) - 5, 'more reason')} "
                f"({words.count(rest, 'goal')})",
                file=sys.stderr,
            )
    failures = [stats.error for stats in results.values() if stats.error]
    for failure in failures:
        print(f"syncer: scan failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


class _Hushed(logging.Filter):
    """Once a signal stopped the run, what the stop cuts short (a retry abandoned, a page left
    unread, an object parked for the next run) is no news: the run's last line says it all."""

    def __init__(self, caught: list[int]) -> None:
        super().__init__()
        self.caught = caught

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.caught


@contextlib.contextmanager
def stopping_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """SIGINT and SIGTERM alike set `stop`, the run's (which ends every wait, a backoff or a
    rate-limit window, at once), so it stops between pages and what was read is committed.
    Yields the signals caught; a second one stops at once (KeyboardInterrupt)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught  # signals reach the main thread only: a sync run in another one has none
        return

    def stopping(signum: int, _frame: FrameType | None) -> None:
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)
        stop.set()

    hushed = _Hushed(caught)
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "syncer"]
    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    for handler in ours:
        handler.addFilter(hushed)
    try:
        yield caught
    except SyncerError:
        if caught:  # what the stop cut short (a request given up): end as Ctrl-C does
            raise KeyboardInterrupt from None
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        for handler in ours:
            handler.removeFilter(hushed)


@contextlib.contextmanager
def delivering_meanwhile(
    pub: Publisher, stop: threading.Event, early: DrainResult, every: float = 1.0
) -> Iterator[DrainResult]:
    """Deliver what the scans store while they still run, adding up in `early`: a long
    catch-up then ends with no backlog to send, and ABsmartly sees its first goals within
    seconds.

    A failure only pauses this; the delivery after the scans meets it again and reports it.
    """
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every):
            try:
                result = pub.drain(stop)
            except SyncerError as exc:
                log.warning("delivery paused until the scans end: %s", exc)
                return
            except Exception as exc:  # the same: the final delivery reports it in full
                log.warning("delivery paused until the scans end: %s", type(exc).__name__)
                return
            early.add(result)

    thread = threading.Thread(target=loop, name="deliver", daemon=True)
    thread.start()
    try:
        yield early
    finally:
        done.set()
        thread.join()


def sync(config: Config, since: int, until: int, now: int, publish_timeout: float) -> int:
    """Retry what is parked, read [since, until] into the outbox, delivering as it reads,
    then deliver everything pending, whatever the scans did.

    Exits 1 when a scan failed, objects stay parked, goals were dead-lettered, or the
    Collector stayed unreachable for `publish_timeout` seconds; what was read stays stored for
    the next run. SIGINT or SIGTERM stop it between pages, as Ctrl-C ends a command: one
    line, exit 130.
    """
    stop = threading.Event()
    with (
        stopping_on_signals(stop) as caught,
        open_context(config, SYNC, stop=stop) as opened,
    ):
        ctx, pub = opened.ctx, opened.publisher
        assert pub is not None
        early = DrainResult()
        progress = Progress(
            since,
            until,
            [kind.name for kind in scans_for(config)],
            delivered=lambda: early.sent,
            as_log=logs.is_json(),
        )
        # After a signal, nothing more than the run's last line: no progress either.
        ctx.on_progress = lambda *args: None if caught else progress(*args)
        try:
            with delivering_meanwhile(pub, ctx.stop, early):
                retried = recovery.retry_parked(ctx)
                results = scan_window(ctx, since, until, now)
            delivered = early
            delivered.add(deliver(pub, publish_timeout, ctx.stop))
        except SyncerError as exc:
            pipeline.record_error(ctx, exc)
            raise
        finally:
            progress.done()  # after Ctrl-C too: the terminal's next line starts clean
        if caught:
            raise KeyboardInterrupt  # end as Ctrl-C does: one line, what was stored kept, 130
        parked = len(ctx.store.parked())
        failures = [stats.error for stats in results.values() if stats.error]
        if failures or delivered.waiting:
            pipeline.record_error(ctx, (failures or [delivered.error or "goals still waiting"])[0])
    return _report(since, until, results, delivered, retried, parked, failures)


def _report(
    since: int,
    until: int,
    results: dict[str, ScanStats],
    delivered: DrainResult,
    retried: recovery.Retried,
    parked: int,
    failures: list[str],
) -> int:
    """Say what the catch-up did, on stderr; the exit status."""
    new = sum(stats.new for stats in results.values())
    unattributed = sum(stats.unattributed for stats in results.values())
    print(
        f"sync {iso(since)} .. {iso(until)}: {words.count(new, 'new event')} stored "
        f"({unattributed} unattributed); {words.count(delivered.sent, 'goal')} delivered, "
        f"{delivered.dead} dead-lettered"
        + (f"; {words.count(retried.read, 'parked object')} read" if retried.read else ""),
        file=sys.stderr,
    )
    for failure in failures:
        print(
            f"syncer: scan failed: {failure}; run the same sync again to finish it", file=sys.stderr
        )
    if parked:
        print(
            f"syncer: {words.count(parked, 'object')} parked (their requests keep failing; "
            "see `syncer parked list`); every run and daemon cycle retries them",
            file=sys.stderr,
        )
    if delivered.waiting:
        print(
            f"syncer: {words.count(delivered.waiting, 'goal')} still waiting for the Collector "
            f"({delivered.error}); they stay in the outbox and the next run delivers them",
            file=sys.stderr,
        )
    if delivered.dead:
        print(
            f"syncer: {words.count(delivered.dead, 'goal')} dead-lettered in this run (the "
            "Collector refused them); `syncer outbox list --status dead` shows them and why, "
            "`syncer outbox retry` queues them again",
            file=sys.stderr,
        )
    return 1 if failures or parked or delivered.waiting or delivered.dead else 0
