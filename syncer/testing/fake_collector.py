"""A fake ABsmartly Collector: a real HTTP server on 127.0.0.1.

It serves `PUT /context`, `PUT /context/batch` and `POST /context/publish` under a base path
(`/v1` by default), checks the headers and the API key, validates every body strictly against
the Collector's PublishRequest schema (times are integers, never strings), rejects goals by
index on request, and records every goal it accepted. Outages, 5xx, 429, latency, hangs and
bodies that are not JSON are injectable, and so are the refusals of what stands in front of a
real Collector: a body-size limit (413), a whole body refused without detail whenever one
request is in it, and error answers as a gateway's HTML page.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from syncer.testing.server import Answer, FakeServer

MAX_UID = 640
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class Accepted:
    units: tuple[tuple[str, str], ...]
    name: str
    achieved_at: int
    properties: Any
    hashed: bool
    published_at: int
    received_at: float = 0.0  # when the fake took it (time.time()): freshness


class FakeCollector(FakeServer):
    def __init__(
        self,
        *,
        api_key: str = "fake-collector-key",
        base_path: str = "/v1",
        application: str = "www",
        environment: str = "production",
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.base_path = base_path.rstrip("/")
        self.application = application
        self.environment = environment
        self.accepted: list[Accepted] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.headers_seen: list[dict[str, str]] = []
        self.batch_route = True
        self.latency = 0.0
        self.hang = 0.0  # seconds to hold the connection after reading, before answering
        self.outage: int | None = None  # answer every request with this status
        self.drop = False  # close connections without an answer
        self.not_json = 0  # this many 200 answers with a body that is not JSON
        self.reject: Callable[[dict[str, Any]], str | None] = lambda goal: None
        self.max_body: int | None = None  # bodies over this many bytes are answered 413
        # A body holding a request this says yes to is refused whole, naming no request.
        self.refuse: Callable[[dict[str, Any]], bool] = lambda request: False
        self.refuse_status = 422
        # Error answers as an HTML page (a gateway's, a proxy's), not the Collector's JSON:
        # `{status}` in it becomes the status and its words, `{key}` the API key it was sent
        # (a page that echoes a header back).
        self.error_page: str | None = None
        self.sizes: list[int] = []  # the size in bytes of every publish body it was sent
        self.fail_next: list[tuple[int, dict[str, str]]] = []
        self.bodies: list[Any] = []  # every body it accepted, as parsed JSON
        # Bodies it accepted but whose answer the client could not read (it hung until the
        # client gave up, or it was not JSON): the at-least-once window, where resends are due.
        self.unanswered: list[Any] = []
        # Accept the publish request with this ordinal (1-based), then hold its answer back
        # for `stall_seconds`: the moment between "the Collector took it" and our commit.
        self.stall_answer_of: int | None = None
        self.stall_seconds = 30.0
        self.stalled = threading.Event()
        self._publishes = 0
        self._lock = threading.Lock()

    def goal_keys(self) -> list[tuple[str, int, tuple[tuple[str, str], ...]]]:
        """(name, achievedAt, units) of each accepted goal, duplicates kept."""
        with self._lock:
            return [(a.name, a.achieved_at, a.units) for a in self.accepted]

    # -- handling -----------------------------------------------------------------------------

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        if self.drop:
            return None
        hung = self.hang
        if hung:
            time.sleep(hung)
        accepted = len(self.bodies)
        answer = self.handle(method, path, headers, raw)
        if hung and len(self.bodies) > accepted:
            self.unanswered.append(self.bodies[-1])
        return answer

    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        status, extra, payload = self._answer(method, path, headers, raw)
        with self._lock:
            self.requests.append((method, path, status))
            self.headers_seen.append(headers)
        if isinstance(payload, bytes):
            return status, extra, payload
        return status, extra, json.dumps(payload).encode()

    def _answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            if method in ("PUT", "POST"):
                self.sizes.append(len(raw))
        if self.outage is not None:
            return self._error(self.outage, "outage", headers)
        with self._lock:
            if self.fail_next:
                status, extra = self.fail_next.pop(0)
                return status, extra, self._error(status, "injected", headers)[2]
        if self.max_body is not None and len(raw) > self.max_body:
            # Where a proxy would refuse it: before the key or the route is looked at.
            return self._error(413, "Request Entity Too Large", headers)
        if headers.get("x-api-key") != self.api_key:
            return 401, {}, {"code": 401, "message": "Unauthorized"}
        route = path.removeprefix(self.base_path)
        if route == "/context/authed" and method == "GET":
            return 200, {}, {"ok": True}
        batch = route == "/context/batch" and method == "PUT"
        single = (route == "/context" and method == "PUT") or (
            route == "/context/publish" and method == "POST"
        )
        if (batch and not self.batch_route) or not (batch or single):
            return 404, {}, {"code": 404, "message": "Not Found"}
        problem = self._check_headers(headers)
        if problem:
            return 400, {}, _errors([{"batchIndex": 0, "message": problem}])
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, _errors([{"batchIndex": 0, "message": "body is not JSON"}])
        requests = body.get("requests") if batch and isinstance(body, dict) else [body]
        if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_BATCH:
            return 400, {}, _errors([{"batchIndex": 0, "message": "requests: 1 to 500"}])
        invalid = [
            {"batchIndex": i, "message": msg}
            for i, r in enumerate(requests)
            if (msg := _invalid(r))
        ]
        if invalid:
            return 400, {}, _errors(invalid)
        if any(self.refuse(r) for r in requests):
            return self._error(self.refuse_status, HTTPStatus(self.refuse_status).phrase, headers)
        errors = self._accept(requests)
        with self._lock:
            self.bodies.append(body)
            self._publishes += 1
            stall = self._publishes == self.stall_answer_of
        if stall:
            self.stalled.set()
            time.sleep(self.stall_seconds)
        if self.not_json > 0:
            with self._lock:
                self.not_json -= 1
                self.unanswered.append(body)
            return 200, {}, b"<html>gateway</html>"
        return 200, {}, {"ok": not errors, "warnings": [], "errors": errors}

    def _error(
        self, status: int, message: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        """An error answer that names no request: the Collector's JSON, or the error page."""
        if self.error_page is None:
            return status, {}, {"code": status, "message": message}
        page = self.error_page.replace("{key}", headers.get("x-api-key", ""))
        return status, {}, page.replace("{status}", f"{status} {message}").encode()

    def _check_headers(self, headers: dict[str, str]) -> str | None:
        if headers.get("x-application") != self.application:
            return "X-Application does not name a known application"
        if headers.get("x-environment") != self.environment:
            return "X-Environment does not name a known environment"
        if not (headers.get("x-application-version") or "").isdigit():
            return "X-Application-Version must be an integer"
        if not headers.get("x-agent"):
            return "X-Agent is missing"
        if "application/json" not in headers.get("content-type", ""):
            return "Content-Type must be application/json"
        return None

    def _accept(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        errors = []
        with self._lock:
            for b, request in enumerate(requests):
                units = tuple((u["type"], u["uid"]) for u in request["units"])
                for e, goal in enumerate(request.get("goals") or []):
                    why = self.reject(goal)
                    if why:
                        errors.append(
                            {"batchIndex": b, "eventIndex": e, "subject": "goal", "message": why}
                        )
                        continue
                    self.accepted.append(
                        Accepted(
                            units,
                            goal["name"],
                            goal["achievedAt"],
                            goal.get("properties"),
                            bool(request.get("hashed", False)),
                            request["publishedAt"],
                            time.time(),
                        )
                    )
        return errors


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(request: object) -> str | None:
    """Why a PublishRequest breaks the Collector's schema, or None."""
    if not isinstance(request, dict):
        return "a request must be an object"
    if not _is_int(request.get("publishedAt")):
        return "publishedAt must be an integer (ms)"
    units = request.get("units")
    if not isinstance(units, list) or not units:
        return "units must be a non-empty array"
    for unit in units:
        if not isinstance(unit, dict) or not isinstance(unit.get("type"), str):
            return "each unit needs a string type"
        uid = unit.get("uid")
        if not isinstance(uid, str) or not 1 <= len(uid) <= MAX_UID:
            return "each unit needs a uid of 1 to 640 characters"
    if "hashed" in request and not isinstance(request["hashed"], bool):
        return "hashed must be a boolean"
    goals = request.get("goals", [])
    if not isinstance(goals, list):
        return "goals must be an array"
    for goal in goals:
        if not isinstance(goal, dict) or not isinstance(goal.get("name"), str) or not goal["name"]:
            return "each goal needs a name"
        if not _is_int(goal.get("achievedAt")):
            return "achievedAt must be an integer (ms)"
        props = goal.get("properties")
        if props is not None and not isinstance(props, dict):
            return "properties must be an object or null"
    return None


def _errors(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ok": False, "warnings": [], "errors": errors}
