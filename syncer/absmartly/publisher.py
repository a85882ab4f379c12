"""Draining the outbox into the ABsmartly Collector.

One batch is in flight at a time and is marked sent in one statement as soon as its answer
is read, so the only goals that can be sent twice are those of the one batch whose answer
was lost (a crash, or a connection cut after the Collector took it) before that commit.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from syncer import backoff
from syncer.absmartly.payload import Request, build_requests, headers
from syncer.config import CollectorSettings
from syncer.errors import CollectorAuthError, CollectorUnavailable
from syncer.store.outbox import Goal
from syncer.store.store import Store

log = logging.getLogger("syncer.publish")

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
FETCH_GOALS = 5_000  # goals read from the outbox at a time; they go out 500 requests a batch
MAX_BACKOFF = 60.0


@dataclass
class Verdict:
    """What one Collector answer means for the goals it covered."""

    sent: list[int] = field(default_factory=list)
    dead: dict[int, str] = field(default_factory=dict)
    transient: str | None = None
    retry_after: float | None = None
    unsupported: bool = False  # the batch route is missing: fall back to PUT /context


@dataclass
class DrainResult:
    sent: int = 0
    dead: int = 0
    requests: int = 0
    waiting: int = 0  # goals still pending when the drain ended
    error: str | None = None  # the transient failure that ended it, if one did

    def add(self, later: DrainResult) -> None:
        """Count a later drain in: its sends add up, its `waiting` is the current one, and a
        drain that only waited out a backoff (no error of its own) keeps the last error."""
        self.sent += later.sent
        self.dead += later.dead
        self.requests += later.requests
        self.waiting = later.waiting
        self.error = later.error or self.error


def judge(
    status: int, body: Any, requests: Sequence[Request], *, batch: bool, raw: str = ""
) -> Verdict:
    """Read a Collector answer (pure): which goals are sent, dead, or to be retried."""
    every = [g.id for r in requests for g in r.goals if g.id is not None]
    if status in (404, 405) and batch:
        return Verdict(unsupported=True)
    if status in TRANSIENT_STATUSES:
        return Verdict(transient=f"Collector answered {status}")
    if 200 <= status < 300 and not isinstance(body, dict):
        return Verdict(transient=f"Collector answered {status} with a body that is not JSON")
    if 200 <= status < 300 and body.get("ok") is True:
        return Verdict(sent=every)
    rejected = _rejected(body, requests, batch)
    if not rejected:
        message = _message(body) or raw[:200] or "no detail"
        return Verdict(dead=dict.fromkeys(every, f"rejected ({status}): {message}"))
    rest = [gid for gid in every if gid not in rejected]
    # On 200 the Collector took the rest; on 400 it may not have: send the rest again.
    return Verdict(sent=rest if 200 <= status < 300 else [], dead=rejected)


def _rejected(body: Any, requests: Sequence[Request], batch: bool) -> dict[int, str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    rejected: dict[int, str] = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        index = error.get("batchIndex", 0) if batch else 0
        if not isinstance(index, int) or not 0 <= index < len(requests):
            continue
        goals = requests[index].goals
        event = error.get("eventIndex")
        subject = str(error.get("subject") or "goal")
        targets = goals
        if isinstance(event, int) and 0 <= event < len(goals) and "goal" in subject:
            targets = (goals[event],)
        message = str(error.get("message") or "rejected")[:300]
        for goal in targets:
            if goal.id is not None:
                rejected[goal.id] = f"rejected: {message}"
    return rejected


def _message(body: Any) -> str | None:
    message = body.get("message") if isinstance(body, dict) else None
    return message[:200] if isinstance(message, str) else None


class Publisher:
    """Sends due outbox goals; keeps its own backoff so a caller never busy-loops."""

    def __init__(
        self,
        settings: CollectorSettings,
        store: Store,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.retry_at = 0.0  # no request before this time: the Collector is backing us off
        self.requests_made = 0
        self._failures = 0
        # Told of each Collector verdict: its outcome, and the goals it took (metrics).
        self.on_verdict: Callable[[str, list[Goal], int], None] | None = None
        self._http = httpx.Client(
            transport=transport, timeout=settings.timeout, headers=headers(settings)
        )
        self._batch_note = f"collector_batch_unsupported:{settings.endpoint}"
        self.batch = not store.notes().get(self._batch_note, False)

    def close(self) -> None:
        self._http.close()

    def drain(self, stop: threading.Event | None = None) -> DrainResult:
        """Send until nothing is due, a transient failure starts a backoff, or `stop` is set."""
        result = DrainResult()
        while not (stop and stop.is_set()) and self.clock() >= self.retry_at:
            goals = self.store.due(FETCH_GOALS)
            if not goals:
                break
            requests = build_requests(goals, hashed=self.settings.hash_units)
            if not self._deliver_batches(requests, result, stop):
                break
        result.waiting = self.store.pending()
        return result

    def _deliver_batches(
        self, requests: list[Request], result: DrainResult, stop: threading.Event | None
    ) -> bool:
        """Send `batch_size` requests at a time; False once a backoff began or `stop` is set."""
        size = self.settings.batch_size
        for start in range(0, len(requests), size):
            if not self._deliver(requests[start : start + size], result):
                return False
            if stop and stop.is_set():
                return False
        return True

    def _deliver(self, requests: list[Request], result: DrainResult) -> bool:
        """Send one batch (or its requests one by one); False when a backoff began."""
        if self.batch:
            verdict = self._send("/context/batch", requests, batch=True)
            if not verdict.unsupported:
                return self._record(verdict, requests, result)
            log.warning("Collector has no batch route; sending one request at a time")
            self.batch = False
            self.store.note(self._batch_note, True)
        for request in requests:
            verdict = self._send("/context", [request], batch=False)
            if not self._record(verdict, [request], result):
                return False
        return True

    def _send(self, route: str, requests: list[Request], *, batch: bool) -> Verdict:
        # Only a batch the store could write about goes out: its "sent" then most likely
        # lands too, and the one-batch window of a double send stays that small.
        self.store.sending(g.id for r in requests for g in r.goals if g.id is not None)
        published_at = int(self.clock() * 1000)
        bodies = [{"publishedAt": published_at, **r.body} for r in requests]
        payload = {"requests": bodies} if batch else bodies[0]
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.requests_made += 1
        try:
            response = self._http.put(self.settings.endpoint + route, content=data)
        except httpx.TransportError as exc:
            return Verdict(transient=f"Collector unreachable: {type(exc).__name__}")
        if response.status_code in (401, 403):
            raise CollectorAuthError(
                f"the Collector refused the API key in ${self.settings.api_key_env} "
                f"({response.status_code}); nothing was marked sent"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        verdict = judge(response.status_code, body, requests, batch=batch, raw=response.text)
        if verdict.transient:
            verdict.retry_after = backoff.retry_after(response.headers.get("retry-after"))
        return verdict

    def _record(self, verdict: Verdict, requests: list[Request], result: DrainResult) -> bool:
        result.requests += 1
        tried = [g.id for r in requests for g in r.goals if g.id is not None]
        self.store.record_delivery(verdict.sent, verdict.dead, tried, verdict.transient)
        if self.on_verdict is not None:
            outcome = "failed" if verdict.transient else ("rejected" if verdict.dead else "ok")
            taken = set(verdict.sent)
            goals = [g for r in requests for g in r.goals if g.id in taken]
            self.on_verdict(outcome, goals, len(verdict.dead))
        result.sent += len(verdict.sent)
        result.dead += len(verdict.dead)
        if verdict.dead:
            first = next(g for r in requests for g in r.goals if g.id in verdict.dead)
            log.warning(
                "dead-lettered %d %s (first: %s: %s); `outbox list --status dead` lists them",
                len(verdict.dead),
                "goal" if len(verdict.dead) == 1 else "goals",
                first.key,
                verdict.dead[first.id or 0],
            )
        if verdict.transient is None:
            self._failures = 0
            return True
        wait = backoff.delay(self._failures, base=1.0, cap=MAX_BACKOFF)
        wait = max(wait, verdict.retry_after or 0.0)
        self._failures += 1
        self.retry_at = self.clock() + wait
        result.error = verdict.transient
        log.warning("%s; next try in %.1fs", verdict.transient, wait)
        return False


def deliver(
    publisher: Publisher,
    timeout: float,
    stop: threading.Event,
    clock: Callable[[], float] = time.time,
) -> DrainResult:
    """Drain until the outbox is empty or `timeout` seconds passed, sleeping out backoffs."""
    deadline = clock() + timeout
    total = DrainResult()
    while True:
        result = publisher.drain(stop)
        total.add(result)
        now = clock()
        if result.waiting == 0 or stop.is_set() or now >= deadline:
            return total
        if publisher.retry_at > now:
            stop.wait(min(publisher.retry_at, deadline) - now)


def check_key(settings: CollectorSettings, timeout: float = 10.0) -> str:
    """Ask the Collector whether it takes the key; returns a short verdict.

    `GET /context/authed` is what ABsmartly's Segment destination uses (not in the published
    spec): a 404 there means the key can only be proven by the first publish.
    """
    try:
        response = httpx.get(
            settings.endpoint + "/context/authed", headers=headers(settings), timeout=timeout
        )
    except httpx.TransportError as exc:
        raise CollectorUnavailable(
            f"Collector unreachable at {settings.endpoint}: {type(exc).__name__}"
        ) from None
    if response.status_code in (401, 403):
        raise CollectorAuthError(
            f"the Collector refused the API key in ${settings.api_key_env} ({response.status_code})"
        )
    if response.status_code in (404, 405):
        return "reachable; the key is checked by the first publish (no /context/authed route)"
    if 200 <= response.status_code < 300:
        return "key accepted"
    raise CollectorUnavailable(f"Collector answered {response.status_code}")
