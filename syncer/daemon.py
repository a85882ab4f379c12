"""`syncer run`: a sync cycle on an APScheduler interval, under systemd's notify protocol.

One bad cycle (Intercom or the Collector down, an odd object) is logged and the next one
runs; only a refused credential or an unusable database stops the process, with exit 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncer import pipeline
from syncer.absmartly.publisher import Publisher, check_key
from syncer.config import Config
from syncer.errors import PermanentError, RetryableError
from syncer.intercom.client import who
from syncer.notify import Notifier
from syncer.pipeline import Context, ScanStats
from syncer.runtime import open_context
from syncer.store import state

log = logging.getLogger("syncer.daemon")

STOP_GRACE = 9.0  # SIGTERM to exit: systemd's default is 90 s; we promise 10


@dataclass
class CycleReport:
    scans: dict[str, ScanStats] = field(default_factory=dict)
    sent: int = 0
    dead: int = 0
    waiting: int = 0
    seconds: float = 0.0
    error: str | None = None

    def summary(self) -> str:
        new = sum(s.new for s in self.scans.values())
        unattributed = sum(s.unattributed for s in self.scans.values())
        pages = sum(s.pages for s in self.scans.values())
        fetched = sum(s.fetched for s in self.scans.values())
        text = (
            f"cycle: {pages} pages, {fetched} conversations fetched, {new} new events "
            f"({unattributed} unattributed), {self.sent} delivered, {self.dead} dead, "
            f"{self.waiting} waiting, {self.seconds:.1f}s"
        )
        return text + (f"; delivery: {self.error}" if self.error else "")


def run_cycle(ctx: Context, publisher: Publisher) -> CycleReport:
    """Every enabled scan from its live cursor (in parallel), then whatever delivery is due."""
    started = time.monotonic()
    report = CycleReport()
    now = int(time.time())
    report.scans = pipeline.run_scans(
        ctx, lambda kind: pipeline.run_scan(ctx, kind, pipeline.live_plan(ctx, kind, now))
    )
    # Delivery keeps its own backoff: while the Collector is backing us off this sends
    # nothing and returns at once, so polling never waits for it.
    delivered = publisher.drain(ctx.stop)
    report.sent, report.dead, report.waiting = delivered.sent, delivered.dead, delivered.waiting
    report.error = delivered.error
    report.seconds = time.monotonic() - started
    return report


class Daemon:
    def __init__(self, ctx: Context, publisher: Publisher, notifier: Notifier) -> None:
        self.ctx = ctx
        self.publisher = publisher
        self.notifier = notifier
        self.exit_code = 0
        self._cycle_lock = threading.Lock()
        self._scheduler: BlockingScheduler | None = None

    def cycle(self) -> CycleReport | None:
        """The scheduled job: one cycle, its outcome logged and told to systemd; None if it
        failed."""
        with self._cycle_lock:
            if self.ctx.stop.is_set():
                return None
            try:
                report = run_cycle(self.ctx, self.publisher)
            except PermanentError as exc:
                log.error("%s; stopping", exc)
                pipeline.record_error(self.ctx, exc)
                self.exit_code = 1
                self.stop()
                return None
            except RetryableError as exc:
                log.error("cycle failed: %s; the next cycle retries", exc)
                pipeline.record_error(self.ctx, exc)
                return None
            except Exception as exc:  # one odd cycle must not end a months-long daemon
                log.exception("cycle failed unexpectedly; the next cycle retries")
                pipeline.record_error(self.ctx, exc)
                return None
            log.info(report.summary())
            with self.ctx.db.engine.begin() as conn:
                state.set_note(conn, "last_cycle", {"at": time.time(), "summary": report.summary()})
            self.notifier.status(report.summary())
            self.notifier.watchdog()
            return report

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Stop between pages; safe from a signal handler (no scheduler lock is taken here)."""
        if signum is not None:
            log.info("%s received; stopping after the current page", signal.Signals(signum).name)
        self.ctx.stop.set()
        self.notifier.stopping()
        if self._scheduler is not None:
            threading.Thread(target=self._shutdown, daemon=True).start()

    def _shutdown(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            assert self._scheduler is not None
            self._scheduler.shutdown(wait=False)

    def once(self) -> int:
        """One cycle, for cron or a timer: 0 when it read everything and delivered without
        error, else 1."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        self._handle_signals()
        try:
            report = self.cycle()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        done = (
            report is not None
            and not report.error
            and all(stats.complete for stats in report.scans.values())
        )
        return 0 if done and not self.exit_code else 1

    def _handle_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, poll_interval: int) -> int:
        scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=dt.UTC)
        scheduler.add_job(
            self.cycle,
            IntervalTrigger(seconds=poll_interval, jitter=max(1, poll_interval // 10)),
            id="cycle",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=poll_interval,
            next_run_time=dt.datetime.now(dt.UTC),
        )
        self._scheduler = scheduler
        self._handle_signals()
        self.notifier.ready(f"polling every {poll_interval}s")
        if not self.ctx.stop.is_set():
            scheduler.start()
        # The cycle stops at its next page boundary, having committed what it read.
        if self._cycle_lock.acquire(timeout=STOP_GRACE):
            self._cycle_lock.release()
        return self.exit_code


def run(config: Config, *, once: bool = False) -> int:
    """Check credentials, then poll until SIGTERM (or run one cycle); returns the exit status."""
    notifier = Notifier()
    with (
        open_context(config) as ctx,
        contextlib.closing(Publisher(config.absmartly, ctx.db)) as publisher,
    ):
        me = ctx.client.me()  # a refused token stops here, before READY=1
        log.info("Intercom: %s", who(me))
        try:
            log.info("Collector: %s", check_key(config.absmartly))
        except RetryableError as exc:
            log.warning("%s; delivery will retry", exc)
        ctx.on_progress = lambda *_: notifier.watchdog()
        daemon = Daemon(ctx, publisher, notifier)
        return daemon.once() if once else daemon.run(config.sync.poll_interval)
