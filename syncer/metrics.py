"""What the daemon tells Prometheus, and `/healthz` for load balancers and uptime checks.

Every figure is fed by a hook where the thing happens (an Intercom answer, a Collector
verdict, a stored page, a finished cycle), never read back from loose counters. Served only
when `[metrics] listen` is set.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from syncer.listening import bind_server
from syncer.store.outbox import Goal
from syncer.store.store import Store
from syncer.timeparse import seconds_of

log = logging.getLogger("syncer.metrics")

FRESHNESS_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300, 600, 1800, 3600, math.inf)
LIVE_KEYS = 100_000  # goals found by this process still awaiting the Collector, remembered


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.events_found = Counter(
            "syncer_events_found", "Events newly stored, by goal kind", ["kind"], registry=r
        )
        self.unattributed = Counter(
            "syncer_events_unattributed", "Events stored as unattributed", ["kind"], registry=r
        )
        self.filtered = Counter(
            "syncer_events_filtered",
            "Goal events a goal's `where` rejected (kept as filtered, never sent)",
            ["goal"],
            registry=r,
        )
        self.delivered = Counter("syncer_goals_delivered", "Goals the Collector took", registry=r)
        self.dead = Counter(
            "syncer_goals_dead_lettered", "Goals the Collector rejected", registry=r
        )
        self.collector_requests = Counter(
            "syncer_collector_requests", "Collector requests by outcome", ["outcome"], registry=r
        )
        self.intercom_requests = Counter(
            "syncer_intercom_requests",
            "Intercom answers by route and status",
            ["route", "status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "syncer_intercom_rate_limited", "Intercom answers of 429", registry=r
        )
        self.rate_remaining = Gauge(
            "syncer_intercom_rate_budget_remaining",
            "X-RateLimit-Remaining of the latest Intercom answer",
            registry=r,
        )
        self.pending = Gauge("syncer_outbox_pending", "Goals waiting to be sent", registry=r)
        self.oldest_pending = Gauge(
            "syncer_outbox_oldest_pending_age_seconds",
            "How long the oldest waiting goal has waited",
            registry=r,
        )
        self.parked = Gauge(
            "syncer_parked_objects", "Objects whose requests keep failing", registry=r
        )
        self.cursor_lag = Gauge(
            "syncer_cursor_lag_seconds",
            "How far each live scan's cursor is behind now",
            ["scan"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "syncer_cycle_duration_seconds",
            "Duration of a daemon cycle",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, math.inf),
            registry=r,
        )
        self.last_success = Gauge(
            "syncer_last_successful_cycle_timestamp_seconds",
            "When the last cycle that read and delivered everything ended",
            registry=r,
        )
        self.freshness = Histogram(
            "syncer_goal_freshness_seconds",
            "From the event in Intercom to the Collector taking its goal",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        # The goals this process found (its scans, as `found` tells): only their delivery
        # counts in `freshness`. A back-fill's goals (`syncer sync --since`, a backlog left
        # from before the start) were never found here, and their age is not a delay.
        self._live: OrderedDict[str, None] = OrderedDict()
        self._live_lock = threading.Lock()
        self.reconciled = Counter(
            "syncer_reconciliation_found",
            "Events the reconciliation pass found that the live scans had missed",
            registry=r,
        )
        self.active = Gauge(
            "syncer_active", "1 while this instance is the active one, 0 standing by", registry=r
        )
        self.contradicted = Gauge(
            "syncer_assumption_contradicted",
            "1 where the start-up probe contradicted an entry of the assumptions register",
            ["entry"],
            registry=r,
        )
        # Issue 28: `[webhooks]` notifications by outcome (syncer/webhooks.py: read, ping,
        # replayed, dropped, standby, bad_signature, unknown_topic, too_large, malformed,
        # wrong_method, wrong_path); only `read` costs an Intercom call.
        self.webhook_notifications = Counter(
            "syncer_webhook_notifications",
            "Intercom webhook notifications (hints) by outcome",
            ["outcome"],
            registry=r,
        )

    # -- hooks ------------------------------------------------------------------------------

    def intercom_answer(self, route: str, status: int, remaining: int | None) -> None:
        self.intercom_requests.labels(route=route, status=str(status)).inc()
        if status == 429:
            self.rate_limited.inc()
        if remaining is not None:
            self.rate_remaining.set(remaining)

    def found(self, goals: Iterable[Goal]) -> None:
        for goal in goals:
            self.events_found.labels(kind=goal.kind).inc()
            if goal.filtered:
                self.filtered.labels(goal=goal.name).inc()
                continue
            if not goal.units:
                self.unattributed.labels(kind=goal.kind).inc()
                continue
            with self._live_lock:
                self._live[goal.key] = None
                while len(self._live) > LIVE_KEYS:  # dead-lettered ones are never taken
                    self._live.popitem(last=False)

    def webhook_notification(self, outcome: str) -> None:
        self.webhook_notifications.labels(outcome=outcome).inc()

    def collector_request(self, outcome: str) -> None:
        self.collector_requests.labels(outcome=outcome).inc()

    def verdict(self, outcome: str, taken: Iterable[Goal], dead: int) -> None:
        """A Collector answer: its outcome, the goals it took (their freshness), the dead."""
        now = time.time()
        self.collector_requests.labels(outcome=outcome).inc()
        for goal in taken:
            self.delivered.inc()
            with self._live_lock:
                live = self._live.pop(goal.key, False) is None
            if live:
                self.freshness.observe(max(0.0, now - seconds_of(goal.achieved_at)))
        self.dead.inc(dead)

    def cycle(self, seconds: float, complete: bool, reconciled: int | None, store: Store) -> None:
        """A finished cycle, and the state it left: what waits, what is parked, the lag."""
        now = time.time()
        self.cycle_seconds.observe(seconds)
        if complete:
            self.last_success.set(now)
        if reconciled:
            self.reconciled.inc(reconciled)
        self.pending.set(store.pending())
        oldest = store.oldest_pending()
        self.oldest_pending.set(now - oldest if oldest is not None else 0)
        self.parked.set(len(store.parked()))
        for cursor in store.cursors():
            if "@" not in cursor.name:  # the live scans; a catch-up's cursor is its own
                self.cursor_lag.labels(scan=cursor.name).set(max(0.0, now - cursor.last_value))


LATE_FLOOR = 60.0  # seconds without a completed cycle that are never yet unhealthy
STUCK_AFTER = 10  # poll intervals without any sign of life from the cycles: hung
STUCK_FLOOR = 600.0  # seconds: a long hourly pass still commits pages well within this


class Health:
    """Whether the daemon is well: its last cycle ended within three poll intervals (and at
    least a minute: at a poll of a few seconds, one long hourly pass must not make a
    readiness probe flap) and the database answers. A standby is well while it waits, and
    says it is standing by."""

    def __init__(self, poll_interval: float, clock: Callable[[], float] = time.time) -> None:
        self.poll_interval = poll_interval
        self.clock = clock
        self.started = clock()
        self.last_cycle: float | None = None
        self.standby = False
        self.database: Callable[[], object] = lambda: None
        self._moved = self.started  # the last sign of life of the cycles: a start, a page, an end

    def activate(self, active: bool) -> None:
        """Standing by, or (again) the active instance: its cycles are judged from now."""
        self.standby = not active
        if active:
            self.started = self._moved = self.clock()

    def moved(self) -> None:
        """A cycle started, committed a page, or ended (failed or not): the loop is alive."""
        self._moved = self.clock()

    def alive(self) -> tuple[bool, str]:
        """`/livez`: False only when the cycles have given no sign of life (no start, page or
        end) for STUCK_AFTER poll intervals (ten minutes at least), which only a hung process
        does. An outage is no such thing: its cycles fail and end, and /healthz says so."""
        if self.standby:
            return True, "standby"
        quiet = self.clock() - self._moved
        if quiet > max(STUCK_AFTER * self.poll_interval, STUCK_FLOOR):
            return False, f"no cycle started, progressed or ended for {quiet:.0f}s"
        return True, "alive"

    def check(self) -> tuple[bool, str]:
        if self.standby:
            return True, "standby"
        try:
            self.database()
        except Exception as exc:  # the point is to say so, not to raise
            return False, f"database: {type(exc).__name__}"
        since = self.last_cycle if self.last_cycle is not None else self.started
        late = self.clock() - since > max(3 * self.poll_interval, LATE_FLOOR)
        if late:
            return False, "no completed cycle in three poll intervals"
        return True, "active"


class _Server(ThreadingHTTPServer):
    """Bound at start, before anything else is checked; serving once `serve` gives it the
    figures to serve."""

    daemon_threads = True
    metrics: Metrics | None = None
    health: Health | None = None


# Servers `bind` opened ahead of `serve` (the CLI binds before opening anything else).
_bound: dict[str, _Server] = {}


def bind(listen: str, *, keep: bool = True) -> _Server:
    """Bind `[metrics] listen` now, or fail in one line: ConfigError for an address this
    machine does not have (exit 2), SyncerError for a port in use or refused (exit 1).
    With `keep`, the next `serve` of the same address uses this server."""
    server = bind_server("metrics.listen", listen, _Server, _Handler)
    if keep:
        _bound[listen] = server
    return server


def release(listen: str) -> None:
    """Close the server `bind` opened for this address, if `serve` never took it."""
    server = _bound.pop(listen, None)
    if server is not None:
        server.server_close()


def serve(listen: str, metrics: Metrics, health: Health) -> ThreadingHTTPServer:
    """`/metrics` and `/healthz` on `host:port`, from a thread of their own; on the server
    `bind` opened for this address, if it did."""
    server = _bound.pop(listen, None) or bind(listen, keep=False)
    server.metrics, server.health = metrics, health
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s/metrics, health on /healthz", listen)
    return server


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        metrics, health = self.server.metrics, self.server.health
        assert metrics is not None and health is not None  # serving only once `serve` set them
        path = self.path.split("?")[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
        elif path in ("/healthz", "/livez"):
            ok, why = health.check() if path == "/healthz" else health.alive()
            self._send(200 if ok else 503, "text/plain; charset=utf-8", why.encode() + b"\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"/metrics, /healthz or /livez\n")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # a scrape every 15 s is not worth a log line
