"""`syncer run`: a sync cycle on an APScheduler interval, under systemd's notify protocol.

One bad cycle (Intercom or the Collector down, an odd object) is logged and the next one
runs; only a refused credential or an unusable database stops the process, with exit 1.
Within a cycle nothing blocks the rest: a failing scan or pass is reported and delivery
still runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncer import learned, pipeline, probe, recovery, webhooks
from syncer.absmartly.collector import check_key
from syncer.absmartly.publisher import Publisher
from syncer.config import Config
from syncer.errors import PermanentError, RetryableError
from syncer.intercom.client import who
from syncer.metrics import Health, Metrics, serve
from syncer.notify import Liveness, Notifier, watchdog_seconds
from syncer.pipeline import Context, ScanStats
from syncer.recovery import Retried
from syncer.runtime import RUN, RUN_ONCE, open_context

log = logging.getLogger("syncer.daemon")

T = TypeVar("T")
STOP_GRACE = 9.0  # SIGTERM to exit: systemd's default is 90 s; we promise 10


@dataclass
class CycleReport:
    scans: dict[str, ScanStats] = field(default_factory=dict)
    sent: int = 0
    dead: int = 0
    waiting: int = 0
    seconds: float = 0.0
    error: str | None = None  # delivery's
    parked: Retried = field(default_factory=Retried)
    recovered: int = 0  # unattributed events the re-resolution pass attributed
    reconciled: int | None = None  # events the reconciliation pass found, when it ran
    failures: list[str] = field(default_factory=list)  # scans and passes that failed

    def summary(self) -> str:
        f = self.fields()
        text = (
            f"cycle: {f['pages']} pages, {f['fetched']} conversations fetched, {f['new']} new "
            f"events ({f['unattributed']} unattributed), {self.sent} delivered, {self.dead} "
            f"dead, {self.waiting} waiting, {self.seconds:.1f}s"
        )
        extras = [
            f"{f['parked']} objects parked" if f["parked"] else "",
            f"{self.parked.read} parked objects read" if self.parked.read else "",
            f"{self.recovered} re-resolved" if self.recovered else "",
            f"reconciliation found {self.reconciled}" if self.reconciled is not None else "",
            f"delivery: {self.error}" if self.error else "",
            *(f"failed: {failure}" for failure in self.failures),
        ]
        return "; ".join([text, *(e for e in extras if e)])

    def fields(self) -> dict[str, Any]:
        """The summary's figures as data, for JSON logs."""
        scans = self.scans.values()
        return {
            "pages": sum(s.pages for s in scans),
            "fetched": sum(s.fetched for s in scans),
            "new": sum(s.new for s in scans),
            "unattributed": sum(s.unattributed for s in scans),
            "parked": sum(s.parked for s in scans),
            "delivered": self.sent,
            "dead": self.dead,
            "waiting": self.waiting,
            "seconds": round(self.seconds, 3),
            "failures": list(self.failures),
        }

    @property
    def complete(self) -> bool:
        """Everything read and delivery without error."""
        scans_done = all(stats.complete for stats in self.scans.values())
        return scans_done and not self.error and not self.failures


def run_cycle(ctx: Context, publisher: Publisher, now: int | None = None) -> CycleReport:
    """One cycle: parked objects that are due, every scan from its live cursor (in parallel),
    delivery, then the periodic passes (re-resolution, reconciliation) when they are due.

    Delivery never waits on reading: a failing scan or pass is reported and the rest of the
    cycle, delivery included, goes on. Only a permanent error (a refused credential, an
    unusable database) is raised.
    """
    started = time.monotonic()
    now = int(time.time()) if now is None else now
    report = CycleReport()
    sync = ctx.config.sync
    report.parked = _guarded(report, "parked objects", recovery.retry_parked, ctx, now) or Retried()
    report.scans = pipeline.run_scans(
        ctx, lambda kind: pipeline.run_scan(ctx, kind, pipeline.live_plan(ctx, kind, now))
    )
    report.failures += [stats.error for stats in report.scans.values() if stats.error]
    _deliver(ctx, publisher, report)
    if recovery.due(ctx, "reresolve", sync.reresolve_interval, now):
        outcome = _guarded(report, "re-resolution", recovery.reresolve_recent, ctx, now)
        report.recovered = outcome[0] if outcome else 0
    if recovery.due(ctx, "reconcile", sync.reconcile_interval, now):
        found = _guarded(report, "reconciliation", recovery.reconcile, ctx, now)
        report.reconciled = found.new if found else None
    if report.recovered or report.reconciled:
        _deliver(ctx, publisher, report)
    _guarded(report, "retention", recovery.prune, ctx, now)
    report.seconds = time.monotonic() - started
    return report


def _deliver(ctx: Context, publisher: Publisher, report: CycleReport) -> None:
    # Delivery keeps its own backoff: while the Collector is backing us off this sends
    # nothing and returns at once, so polling never waits for it.
    delivered = publisher.drain(ctx.stop)
    report.sent += delivered.sent
    report.dead += delivered.dead
    report.waiting = delivered.waiting
    report.error = delivered.error


def _guarded(report: CycleReport, what: str, run: Callable[..., T], *args: Any) -> T | None:
    """One pass of the cycle through `pipeline.guarded`, its failure kept in the report."""
    result, failure = pipeline.guarded(what, run, *args)
    if failure is not None:
        report.failures.append(failure)
    return result


class Daemon:
    def __init__(
        self,
        ctx: Context,
        publisher: Publisher,
        notifier: Notifier,
        liveness: Liveness | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.ctx = ctx
        self.publisher = publisher
        self.notifier = notifier
        self.liveness = liveness
        self.watch = watch
        self.exit_code = 0
        self._cycle_lock = threading.Lock()
        self._scheduler: BlockingScheduler | None = None

    def cycle(self) -> CycleReport | None:
        """The scheduled job: one cycle, its outcome logged and told to systemd; None if it
        failed."""
        with self._cycle_lock:
            if self.ctx.stop.is_set():
                return None
            if self.liveness is not None:
                self.liveness.cycle_started()
            if self.watch is not None:
                self.watch.health.moved()
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
            finally:
                if self.liveness is not None:
                    self.liveness.cycle_ended()
                if self.watch is not None:
                    self.watch.health.moved()
            log.log(
                logging.WARNING if report.failures else logging.INFO,
                report.summary(),
                extra={"fields": report.fields()},
            )
            if self.watch is not None:
                self.watch.metrics.cycle(
                    report.seconds, report.complete, report.reconciled, self.ctx.store
                )
                if report.complete:
                    self.watch.health.last_cycle = time.time()
            if report.failures:
                pipeline.record_error(self.ctx, report.failures[0])
            self.ctx.store.note("last_cycle", {"at": time.time(), "summary": report.summary()})
            self.notifier.status(report.summary())
            if self.liveness is None:  # no timer pets the watchdog: a completed cycle does
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
        done = report is not None and report.complete
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
        if self.liveness is not None:
            self.liveness.pet_while(self.notifier, self.ctx.stop)
        if not self.ctx.stop.is_set():
            scheduler.start()
        # The cycle stops at its next page boundary, having committed what it read.
        if self._cycle_lock.acquire(timeout=STOP_GRACE):
            self._cycle_lock.release()
        return self.exit_code


@dataclass
class Watch:
    """With `[metrics] listen`: what feeds Prometheus and answers /healthz."""

    metrics: Metrics
    health: Health

    def active(self, active: bool) -> None:
        self.metrics.active.set(int(active))
        self.health.activate(active)


def _take_lease(ctx: Context, notifier: Notifier, watch: Watch | None) -> bool:
    """Stand by, ready and retrying every few seconds, until the lease is free (True) or
    SIGTERM comes (False)."""
    told: list[str | None] = []

    def waiting(active: str | None) -> None:
        if watch is not None:
            watch.active(False)
        if not told:
            log.info("standing by: %s holds the lease", active or "another instance")
            notifier.ready(f"standby; active: {active or 'another instance'}")
        told.append(active)

    store = ctx.store
    if not store.take_lease(stop=ctx.stop, on_wait=waiting, every=ctx.config.sync.lease_retry):
        return False
    if watch is not None:
        watch.active(True)
    log.info("this instance is active (%s)", store.lease_holder or "this process")
    return True


def _probe(ctx: Context, watch: Watch | None) -> None:
    """The assumptions register's probes, once at start: a warning (and a metric) for each
    contradiction; the reading of `count_conversation_parts` they show, and the search
    fields they find unreliable, are used at once and kept for every later command."""
    probed = probe.run(
        ctx.client, int(time.time()), ctx.config.sync.reconcile_window, stop=ctx.stop
    )
    if ctx.stop.is_set():
        return  # stopped while probing: what was cut short says nothing
    for finding in probed.findings:
        if watch is not None:
            contradicted = finding.verdict == probe.CONTRADICTED
            watch.metrics.contradicted.labels(entry=finding.entry).set(int(contradicted))
        if finding.verdict == probe.CONTRADICTED:
            log.warning("probe %s contradicted: %s", finding.entry, finding.evidence)
        else:
            log.info("probe %s %s: %s", finding.entry, finding.verdict, finding.evidence)
    if probed.parts_reading is not None:
        ctx.parts.adopt(probed.parts_reading)
    if probed.unsearched != ctx.unsearched:
        learned.keep_unsearched(ctx.store, probed.unsearched)
    ctx.unsearched = probed.unsearched
    if probed.unsearched:
        log.warning(
            "searching without %s: filters on them are checked on each item instead",
            ", ".join(sorted(probed.unsearched)),
        )


def run(config: Config, *, once: bool = False) -> int:
    """Check credentials, then poll until SIGTERM (or run one cycle); returns the exit status."""
    notifier = Notifier()
    stop = threading.Event()
    # From the first moment: in a container the syncer is PID 1, and the kernel drops a
    # signal PID 1 has no handler for, so a stop during the checks and probes would be
    # ignored until the runtime kills it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watched = config.metrics_listen is not None and not once  # --once serves no metrics
    metrics = Metrics() if watched else None
    command = RUN_ONCE if once else RUN
    # Issue 28: `[webhooks]` hints (not for --once): the client secret is checked and the
    # port bound before anything opens; the server closes when run() ends.
    hooks = webhooks.listening(config.webhooks if not once else None)
    # The token, the workspace and the goals' names are checked on opening (a refusal stops
    # here, before READY=1); PostgreSQL's lease is taken below, after the checks, so that a
    # standby is checked and ready.
    with hooks as hinted, open_context(config, command, stop=stop, metrics=metrics) as opened:
        if hinted is not None and metrics is not None:
            # Counted from the first answer: a standby answers notifications too.
            hinted.on_outcome = metrics.webhook_notification
        ctx, publisher = opened.ctx, opened.publisher
        assert publisher is not None
        log.info("Intercom: %s", who(opened.me))
        try:
            log.info("Collector: %s", check_key(config.absmartly))
        except RetryableError as exc:
            log.warning("%s; delivery will retry", exc)
        watch = None
        if metrics is not None and config.metrics_listen is not None:
            watch = Watch(metrics, Health(config.sync.poll_interval))
            watch.health.database = ctx.store.pending
            serve(config.metrics_listen, metrics, watch.health)
        if command.wait_for_lease and not _take_lease(ctx, notifier, watch):
            return 0  # stopped while standing by
        if not once:
            _probe(ctx, watch)
        if ctx.stop.is_set():
            log.info("stopped while starting; nothing was read")
            return 0
        interval = watchdog_seconds()
        liveness = Liveness(interval) if interval and not once else None
        pet = liveness.progressed if liveness is not None else notifier.watchdog
        moved = watch.health.moved if watch is not None else (lambda: None)

        def progressed(*_: object) -> None:
            pet()
            moved()

        ctx.on_progress = progressed
        daemon = Daemon(ctx, publisher, notifier, liveness, watch)
        if hinted is not None:
            # Issue 28: what a notification names is read and delivered at once, under the
            # cycle's lock (one reader and one sender of the outbox at a time).
            lock = daemon._cycle_lock
            hinted.start(
                lambda hints: webhooks.read_and_deliver(ctx, publisher, lock, hints), ctx.stop
            )
        return daemon.once() if once else daemon.run(config.sync.poll_interval)
