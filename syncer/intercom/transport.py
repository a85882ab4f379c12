"""The one place where Intercom requests are paced and retried.

Every request the process makes to Intercom, from any thread, passes through one `Pacer`
fed by the answers' `X-RateLimit-Remaining` / `X-RateLimit-Reset` headers, so scans slow down
before Intercom says 429. The SDK's own retries stay off: they give N-2 retries for
`max_retries=N` and never retry a connection error (docs/intercom-assumptions.md,
R-rate-limits and R-sdk-pagers).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from syncer import backoff

log = logging.getLogger("syncer.intercom")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Intercom's windows are 10 s long; a wait longer than this means our clock and theirs
# disagree, and a retry (answered 429 if early) is cheaper than a stall.
MAX_PACER_WAIT = 11.0


class Pacer:
    """Shares Intercom's rate-limit window among every request of the process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._remaining: int | None = None  # our estimate for the current window
        self._reset_at: float | None = None
        self._in_flight = 0
        self.waits = 0  # how often a request had to wait for a window: for status and benches

    def acquire(self) -> None:
        """Block until the current window has room for one more request."""
        with self._cond:
            while True:
                now = self._clock()
                if self._reset_at is not None and now >= self._reset_at:
                    self._remaining = None  # a new window: the next answer tells its budget
                if self._remaining is None or self._remaining > 0:
                    if self._remaining is not None:
                        self._remaining -= 1
                    self._in_flight += 1
                    return
                self.waits += 1
                wait = min(MAX_PACER_WAIT, max(0.01, (self._reset_at or now) - now))
                if not self._cond.wait(timeout=wait):
                    # Waited a whole window out without news: let one request probe it.
                    self._remaining, self._reset_at = None, None

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


class PacedRetryTransport(httpx.BaseTransport):
    """Paces every request and retries 429, 5xx, timeouts and connection errors."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        pacer: Pacer,
        *,
        attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._pacer = pacer
        self._attempts = attempts
        self._sleep = sleep
        self.retries = 0
        self.rate_limited = 0  # 429s answered to us: the pacer should keep this at zero
        # Told of every answer (route with ids folded, status, rate budget left): metrics.
        self.on_answer: Callable[[str, int, int | None], None] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a body must be replayable for a retry
        failures = 0  # 429 is Intercom saying "later", not a failure: it has no limit here
        while True:
            self._pacer.acquire()
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError as exc:
                self._pacer.observe(None)
                failures += 1
                if failures >= self._attempts:
                    raise
                self._pause(request, type(exc).__name__, failures - 1, None)
                continue
            self._pacer.observe(response.headers)
            if self.on_answer is not None:
                remaining = _rate_headers(response.headers)[0]
                self.on_answer(route(request), response.status_code, remaining)
            if response.status_code == 429:
                self.rate_limited += 1
            elif response.status_code in RETRY_STATUSES:
                failures += 1
            if response.status_code not in RETRY_STATUSES or failures >= self._attempts:
                return response
            response.read()
            response.close()
            self._pause(request, str(response.status_code), max(0, failures - 1), response)

    def _pause(
        self, request: httpx.Request, what: str, attempt: int, response: httpx.Response | None
    ) -> None:
        wait = backoff.delay(attempt)
        if response is not None:
            hinted = backoff.retry_after(response.headers.get("retry-after"))
            if response.status_code == 429:
                hinted = max(hinted or 0.0, self._pacer.seconds_to_reset())
            if hinted is not None:
                wait = max(wait, min(hinted, 60.0))
        self.retries += 1
        log.warning(
            "intercom: %s on %s %s, retry %d in %.1fs",
            what,
            request.method,
            request.url.path,
            attempt + 1,
            wait,
            extra={"fields": {"route": route(request), "status": what, "retry_in": wait}},
        )
        self._sleep(wait)

    def close(self) -> None:
        self._inner.close()
