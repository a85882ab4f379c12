"""The one place where Intercom requests are paced and retried.

Every request the process makes to Intercom, from any thread, passes through one `Pacer`
fed by the answers' `X-RateLimit-Remaining` / `X-RateLimit-Reset` headers, so scans slow down
before Intercom says 429. The SDK's own retries stay off: they give N-2 retries for
`max_retries=N` and never retry a connection error (docs/intercom-assumptions.md,
R-rate-limits and R-sdk-pagers).

Every wait here (a window the pacer waits for, a retry's backoff) ends at once when the
process stops (`Pacer.stop`), and every retry has an end: `attempts` tries for failures, and
for 429s, which are no failure, `retries.RATE_LIMIT_PATIENCE` seconds of waiting.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from syncer import retries
from syncer.errors import Stopped
from syncer.retries import INTERCOM, INTERCOM_RATE_LIMIT

log = logging.getLogger("syncer.intercom")

# Intercom's windows are 10 s long; a wait longer than this means our clock and theirs
# disagree, and a retry (answered 429 if early) is cheaper than a stall.
MAX_PACER_WAIT = 11.0
STOP_CHECK = 0.5  # how often a pacer wait looks at the stop event: a stop is seen this soon


class ShardedTransport(httpx.BaseTransport):
    """Connection pools of a few connections each, a thread always using the same one.

    httpcore's pool walks every connection (and, for each idle one, every connection again)
    under its lock on each request and each response closed: with the 50 connections of the
    default concurrency, that walk was a quarter of the catch-up's CPU, held under the GIL
    the other threads wait on. Small pools make it cheap."""

    def __init__(self, connections: int, per_pool: int = 8) -> None:
        pools = max(1, math.ceil(connections / per_pool))
        # A little room in each: threads are dealt to pools in turn, not by their load.
        limits = httpx.Limits(max_connections=per_pool + 2, max_keepalive_connections=per_pool + 2)
        self._pools = [httpx.HTTPTransport(limits=limits) for _ in range(pools)]
        self._dealt = itertools.count()
        self._mine = threading.local()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pool = getattr(self._mine, "pool", None)
        if pool is None:
            pool = self._mine.pool = self._pools[next(self._dealt) % len(self._pools)]
        return pool.handle_request(request)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


class Pacer:
    """Shares Intercom's rate-limit window among every request of the process."""

    def __init__(
        self, clock: Callable[[], float] = time.time, stop: threading.Event | None = None
    ) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._remaining: int | None = None  # our estimate for the current window
        self._reset_at: float | None = None
        self._in_flight = 0
        self.waits = 0  # how often a request had to wait for a window: for status and benches
        # Set when the process stops: every wait of every request ends at once. The command's
        # own stop event, given at construction (runtime.open_context).
        self.stop = stop if stop is not None else threading.Event()

    def acquire(self) -> None:
        """Block until the current window has room for one more request; raises Stopped if
        the process stops meanwhile."""
        with self._cond:
            waited = False
            while True:
                now = self._clock()
                if self._reset_at is not None and now >= self._reset_at:
                    self._remaining = None  # a new window: the next answer tells its budget
                if self._remaining is None or self._remaining > 0:
                    if self._remaining is not None:
                        self._remaining -= 1
                    self._in_flight += 1
                    return
                if not waited:
                    self.waits += 1
                    waited = True
                wait = min(MAX_PACER_WAIT, max(0.01, (self._reset_at or now) - now))
                if not self._wait(wait):
                    # Waited a whole window out without news: let one request probe it.
                    self._remaining, self._reset_at = None, None

    def _wait(self, seconds: float) -> bool:
        """`_cond.wait(seconds)` in slices, so a stop is seen within STOP_CHECK (setting an
        event wakes no condition); True when an answer brought news first."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.stop.is_set():
                raise Stopped("stopped while waiting for Intercom's rate-limit window")
            if self._cond.wait(timeout=min(left, STOP_CHECK)):
                return True
        return False

    def observe(self, headers: httpx.Headers | None) -> None:
        """Record an answer (or, with None, a request that got no answer)."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            remaining, reset = _rate_headers(headers)
            if remaining is not None and reset is not None:
                # Requests still in flight may not be counted in this answer yet: assume not.
                estimate = remaining - self._in_flight
                new_window = self._reset_at is None or reset > self._reset_at
                if new_window or self._remaining is None:
                    self._remaining = estimate
                else:
                    self._remaining = min(self._remaining, estimate)
                self._reset_at = reset
            self._cond.notify_all()

    def seconds_to_reset(self) -> float:
        with self._cond:
            return max(0.0, (self._reset_at or 0.0) - self._clock())


def route(request: httpx.Request) -> str:
    """`GET /conversations/{id}`: the request's route with object ids folded, for metrics."""
    parts = [p if not p[:1].isdigit() else "{id}" for p in request.url.path.strip("/").split("/")]
    return f"{request.method} /" + "/".join(parts)


def _rate_headers(headers: httpx.Headers | None) -> tuple[int | None, float | None]:
    if headers is None:
        return None, None
    try:
        remaining = int(headers["x-ratelimit-remaining"])
        reset = float(headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return None, None
    return remaining, reset


@dataclass
class _Retries:
    """What one request may still spend on retries (retries.py): `attempts` tries in all for
    failures (5xx, timeouts, connection errors), and for 429s, which mean "later" and so
    count apart, RATE_LIMIT_PATIENCE seconds from the first (or the policy's attempts)."""

    attempts: int
    failures: int = 0
    limited: int = 0
    limited_since: float | None = None  # time.monotonic() of the first 429

    def after_failure(self, hinted: float | None = None) -> float | None:
        """Seconds to wait before the next try, or None: the failure is the answer."""
        self.failures += 1
        if self.failures >= self.attempts:
            return None
        return INTERCOM.wait(self.failures - 1, hinted)

    def after_429(self, hinted: float | None) -> float | None:
        """Seconds to wait before the next try, or None once the patience is spent."""
        now = time.monotonic()
        if self.limited_since is None:
            self.limited_since = now
        wait = INTERCOM_RATE_LIMIT.wait(self.limited, hinted)
        self.limited += 1
        if self.limited > INTERCOM_RATE_LIMIT.attempts:
            return None
        if now + wait - self.limited_since > retries.RATE_LIMIT_PATIENCE:
            return None
        return wait


class PacedRetryTransport(httpx.BaseTransport):
    """Paces every request and retries 429, 5xx, timeouts and connection errors, each within
    its bound; a stop ends the wait, and the last answer (or error) is the request's."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        pacer: Pacer,
        *,
        attempts: int = INTERCOM.attempts,
        sleep: Callable[[float], None] | None = None,
        on_answer: Callable[[str, int, int | None], None] | None = None,
    ) -> None:
        self._inner = inner
        self._pacer = pacer
        self._attempts = attempts
        # A wait in real time is a wait on the pacer's stop event: as long, unless the
        # process stops. `time.sleep` (what the client passes by default) means the same.
        self._sleep = None if sleep is time.sleep else sleep
        self.retries = 0
        self.rate_limited = 0  # 429s answered to us: the pacer should keep this at zero
        # Told of every answer (route with ids folded, status, rate budget left): metrics.
        self.on_answer = on_answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a body must be replayable for a retry
        tries = _Retries(self._attempts)
        while True:
            self._pacer.acquire()
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError as exc:
                self._pacer.observe(None)
                wait = tries.after_failure()
                if wait is None or not self._pause(request, type(exc).__name__, tries, wait):
                    raise
                continue
            self._pacer.observe(response.headers)
            self._tell(request, response)
            wait = self._retry_wait(response, tries)
            if wait is None:
                return response
            response.read()
            if not self._pause(request, str(response.status_code), tries, wait):
                return response  # stopping: this answer is the request's
            response.close()

    def _tell(self, request: httpx.Request, response: httpx.Response) -> None:
        if response.status_code == 429:
            self.rate_limited += 1
        if self.on_answer is not None:
            remaining = _rate_headers(response.headers)[0]
            self.on_answer(route(request), response.status_code, remaining)

    def _retry_wait(self, response: httpx.Response, tries: _Retries) -> float | None:
        """Seconds to wait before trying again, or None: this answer is the request's."""
        status = response.status_code
        if not retries.transient(status):
            return None
        hinted = retries.retry_after(response.headers.get("retry-after"))
        if status == 429:
            return tries.after_429(max(hinted or 0.0, self._pacer.seconds_to_reset()))
        return tries.after_failure(hinted)

    def _pause(self, request: httpx.Request, what: str, tries: _Retries, wait: float) -> bool:
        """Wait before the next try; False when the process stops (at once, not after it)."""
        self.retries += 1
        log.warning(
            "intercom: %s on %s %s, retry %d in %.1fs",
            what,
            request.method,
            request.url.path,
            tries.failures + tries.limited,
            wait,
            extra={"fields": {"route": route(request), "status": what, "retry_in": wait}},
        )
        if self._sleep is not None:
            self._sleep(wait)
            return not self._pacer.stop.is_set()
        return retries.pause(self._pacer.stop, wait)

    def close(self) -> None:
        self._inner.close()
