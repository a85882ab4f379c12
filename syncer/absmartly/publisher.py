"""Draining the outbox into the ABsmartly Collector.

One batch is in flight at a time and is marked sent in one statement as soon as its answer
is read, so the only goals that can be sent twice are those of the one batch whose answer
was lost (a crash, or a connection cut after the Collector took it) before that commit.

No goal the Collector would take is dead-lettered: bodies are packed under
`absmartly.max_body_bytes`; a body refused as too large (413) is sent again in halves, down to
a single goal; a body refused as a whole without saying which request (a gateway's HTML 400,
a 409, a 422) is bisected down to the requests really refused. Only those are dead.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from syncer import retries
from syncer.absmartly.collector import Collector
from syncer.absmartly.payload import Request, body, build_requests, fitting, packed
from syncer.config import CollectorSettings
from syncer.errors import CollectorAuthError
from syncer.logs import MASK
from syncer.retries import COLLECTOR
from syncer.store.outbox import Goal
from syncer.store.store import Store
from syncer.timeparse import ms

log = logging.getLogger("syncer.publish")

FETCH_GOALS = 5_000  # goals read from the outbox at a time; they go out 500 requests a batch
# A 413 teaches the publisher to pack smaller bodies, never below this: a Collector that
# refuses less is refusing something else, and halving still finds the goals it takes.
MIN_LEARNED_BODY = 16 * 1024
DETAIL_CHARS = 200  # of a refusal's body, in the dead letter's reason
_TAG = re.compile(r"<[^>]*>")


@dataclass
class Verdict:
    """What one Collector answer means for the goals it covered."""

    sent: list[int] = field(default_factory=list)
    dead: dict[int, str] = field(default_factory=dict)
    transient: str | None = None
    retry_after: float | None = None
    unsupported: bool = False  # the batch route is missing: fall back to PUT /context
    whole: bool = False  # refused as a whole, naming no request: a smaller body may pass
    too_large: bool = False  # 413
    size: int = 0  # the bytes of the body it answered


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
    status: int,
    body: Any,
    requests: Sequence[Request],
    *,
    batch: bool,
    raw: bytes = b"",
    secrets: Sequence[str] = (),
) -> Verdict:
    """Read a Collector answer (pure): which goals are sent, dead, or to be retried."""
    every = [g.id for r in requests for g in r.goals if g.id is not None]
    if status in (404, 405) and batch:
        return Verdict(unsupported=True)
    if retries.transient(status):
        return Verdict(transient=f"Collector answered {status}")
    if 200 <= status < 300 and not isinstance(body, dict):
        return Verdict(transient=f"Collector answered {status} with a body that is not JSON")
    if 200 <= status < 300 and body.get("ok") is True:
        return Verdict(sent=every)
    said = detail(body, raw, secrets)
    if status == 413:
        reason = f"too large for the Collector (413), even alone: {said}"
        return Verdict(dead=dict.fromkeys(every, reason), whole=True, too_large=True)
    rejected = _rejected(body, requests, batch)
    if not rejected:
        reason = f"rejected ({status}): {said}"
        return Verdict(dead=dict.fromkeys(every, reason), whole=True)
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


def detail(body: Any, raw: bytes, secrets: Sequence[str] = ()) -> str:
    """What a refusal says, for a dead letter: its JSON `message`, else the start of its
    body as printable text (a gateway's HTML page as its words); secrets masked before it is
    cut, so no part of one shows."""
    message = body.get("message") if isinstance(body, dict) else None
    text = message if isinstance(message, str) else _TAG.sub(" ", raw.decode("utf-8", "replace"))
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text[:DETAIL_CHARS] or "no detail"


class Publisher:
    """Sends due outbox goals; keeps its own backoff so a caller never busy-loops."""

    def __init__(
        self,
        settings: CollectorSettings,
        store: Store,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        on_verdict: Callable[[str, list[Goal], int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.retry_at = 0.0  # no request before this time: the Collector is backing us off
        # Bodies are packed under this: the configured limit, or less once a 413 said so.
        self.body_limit = settings.max_body_bytes
        self._failures = 0
        # Told of each Collector verdict: its outcome, and the goals it took (metrics).
        self.on_verdict = on_verdict
        self.collector = Collector(settings, transport=transport)
        self._batch_note = f"collector_batch_unsupported:{settings.endpoint}"
        self.batch = not store.notes().get(self._batch_note, False)

    def close(self) -> None:
        self.collector.close()

    def drain(self, stop: threading.Event | None = None) -> DrainResult:
        """Send until nothing is due, a transient failure starts a backoff, or `stop` is set."""
        stop = stop or threading.Event()
        result = DrainResult()
        while not stop.is_set() and self.clock() >= self.retry_at:
            goals = self.store.due(FETCH_GOALS)
            if not goals:
                break
            requests = build_requests(
                goals, hashed=self.settings.hash_units, max_bytes=self.body_limit
            )
            if not self._deliver_batches(requests, result, stop):
                break
        result.waiting = self.store.pending()
        return result

    def _deliver_batches(
        self, requests: list[Request], result: DrainResult, stop: threading.Event
    ) -> bool:
        """Send them in batches of at most `batch_size` requests and `body_limit` bytes
        (packed one at a time: a 413 shrinks the next); False once a backoff began or `stop`
        is set."""
        start = 0
        while start < len(requests):
            end = fitting(requests, start, self.settings.batch_size, self.body_limit)
            if not self._deliver(requests[start:end], result, stop) or stop.is_set():
                return False
            start = end
        return True

    def _deliver(self, requests: list[Request], result: DrainResult, stop: threading.Event) -> bool:
        """Send one batch (or its requests one by one); False when a backoff began."""
        if self.batch:
            verdict = self._send("/context/batch", requests, batch=True)
            if not verdict.unsupported:
                return self._settle(verdict, requests, result, stop)
            log.warning("Collector has no batch route; sending one request at a time")
            self.batch = False
            self.store.note(self._batch_note, True)
        return all(self._deliver_alone(request, result, stop) for request in requests)

    def _deliver_alone(self, request: Request, result: DrainResult, stop: threading.Event) -> bool:
        verdict = self._send("/context", [request], batch=False)
        return self._settle(verdict, [request], result, stop)

    def _settle(
        self, verdict: Verdict, requests: list[Request], result: DrainResult, stop: threading.Event
    ) -> bool:
        """Record the verdict or, for a body refused as a whole, send its halves instead
        (each settled the same way): only what is refused alone is dead."""
        parts = self._parts(verdict, requests)
        if not parts:
            return self._record(verdict, requests, result)
        result.requests += 1
        if self.on_verdict is not None:
            self.on_verdict("split", [], 0)
        return all(not stop.is_set() and self._deliver(part, result, stop) for part in parts)

    def _parts(self, verdict: Verdict, requests: list[Request]) -> list[list[Request]]:
        """What to send instead of a body refused as a whole; none: the refusal is its own."""
        if not verdict.whole:
            return []
        if not verdict.too_large:
            # Refused naming no request: bisect, so that only the requests refused alone die.
            middle = len(requests) // 2
            return [requests[:middle], requests[middle:]] if middle else []
        self._learn_limit(verdict.size)
        if len(requests) > 1:
            return packed(requests, self.settings.batch_size, verdict.size // 2)
        # One request too large: its goals in two (size adds up over goals), down to one.
        return [[half] for half in requests[0].halves()] if len(requests[0].goals) > 1 else []

    def _learn_limit(self, refused: int) -> None:
        limit = max(MIN_LEARNED_BODY, refused // 2)
        if limit < self.body_limit:
            log.warning(
                "the Collector refused a %d-byte body as too large (413); sending bodies of "
                "at most %d bytes from now on (absmartly.max_body_bytes is %d)",
                refused,
                limit,
                self.settings.max_body_bytes,
            )
            self.body_limit = limit

    def _send(self, route: str, requests: list[Request], *, batch: bool) -> Verdict:
        # Only a batch the store could write about goes out: its "sent" then most likely
        # lands too, and the one-batch window of a double send stays that small.
        self.store.sending(g.id for r in requests for g in r.goals if g.id is not None)
        data = body(requests, ms(self.clock()), batch=batch)
        try:
            response = self.collector.put(route, data)
        except httpx.TransportError as exc:
            return Verdict(transient=f"Collector unreachable: {type(exc).__name__}")
        except CollectorAuthError as exc:
            raise CollectorAuthError(f"{exc}; nothing was marked sent") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        verdict = judge(
            response.status_code,
            answer,
            requests,
            batch=batch,
            raw=response.content,
            secrets=(self.settings.api_key,),
        )
        verdict.size = len(data)
        if verdict.transient:
            verdict.retry_after = retries.retry_after(response.headers.get("retry-after"))
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
        wait = COLLECTOR.wait(self._failures, verdict.retry_after)
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
