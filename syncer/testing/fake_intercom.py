"""A fake Intercom REST API: a real HTTP server on 127.0.0.1 serving a `Workspace`.

What it keeps of the real API: bearer-token auth, search with the query language (`>`/`<`
inclusive as documented, or strict with `strict_bounds`, as the ticket search page hints), at
most 150 per page, opaque stateless `starting_after` tokens, results in no guaranteed order,
the 500 most recent parts, a merged contact's 404 (2.14) or 410 with a canonical link (2.16),
ticket categories searched by their terms (`request`, not `Customer`), rate-limit
headers and 429 past a budget per window, and, with `search_lag`, a search index that shows
each object as it was that many seconds ago (Intercom documents minutes of lag). A search
on a field the Accepted Fields table leaves out, with an operator its type does not take,
or with a value of another type, is refused (400). The lookups: `GET /tags`, `/segments`,
`/ticket_types` and `/data_attributes` (each custom attribute an object holds, or defined),
and a contact's
`/segments`, `/tags` and `/companies` (404 for a contact unknown or merged, like the contact
itself; companies in pages of 50). Faults and latency are injectable, and every request is
recorded for tests to count.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from syncer.testing import searchlang
from syncer.testing.server import Answer, FakeServer
from syncer.testing.workspace import Workspace

MAX_PER_PAGE = 150
COMPANIES_PER_PAGE = 50  # listCompaniesForAContact's example: `per_page: 50`


@dataclass
class Fault:
    """Answer `status` instead of the real thing, `times` times, to requests that match."""

    status: int
    times: int
    method: str | None = None
    path_prefix: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a client timeout, say)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    body: Any
    status: int
    headers: Mapping[str, str]
    at: float = 0.0  # the fake's clock when it answered: windows, timelines


def _route(method: str, path: str) -> str:
    """A request's route with ids folded: `GET /conversations/{id}`."""
    parts = [p if not p[:1].isdigit() else "{id}" for p in path.split("?")[0].strip("/").split("/")]
    return f"{method} /" + "/".join(parts)


# Ticket search matches categories by terms, not by the names the object shows (2.14,
# SearchTickets, "Searching by Category").
CATEGORY_TERMS = {"Customer": "request", "Back-office": "task", "Tracker": "tracker"}


def _field(obj: Mapping[str, Any], name: str) -> Any:
    if name == "category":
        category = obj.get("category")
        return CATEGORY_TERMS.get(category, category) if isinstance(category, str) else category
    if name == "contact_ids":
        return [ref.get("id") for ref in obj.get("contacts", {}).get("contacts", [])]
    # The rating's `updated_at` is when the contact gave it; `created_at`, when it was asked.
    if name == "conversation_rating.replied_at":
        return (obj.get("conversation_rating") or {}).get("updated_at")
    if name == "conversation_rating.requested_at":
        return (obj.get("conversation_rating") or {}).get("created_at")
    if name == "conversation_rating.score":
        return (obj.get("conversation_rating") or {}).get("rating")
    if name == "ticket_type_id":
        return (obj.get("ticket_type") or {}).get("id")
    if name == "tag_ids":
        return [t.get("id") for t in (obj.get("tags") or {}).get("tags") or []]
    if name == "teammate_ids":
        return [t.get("id") for t in (obj.get("teammates") or {}).get("teammates") or []]
    if name == "conversation_rating.contact_id":
        return ((obj.get("conversation_rating") or {}).get("contact") or {}).get("id")
    if name == "conversation_rating.admin_d":  # sic, in the 2.14 table
        return ((obj.get("conversation_rating") or {}).get("teammate") or {}).get("id")
    if name == "ai_agent_participated":  # every 2.14 conversation has it; false unless set
        return bool(obj.get("ai_agent_participated"))
    if obj.get("type") == "ticket":
        # Not said in 2.14 (inferred): a ticket's `state` is its state's category, and
        # `title`/`description` its default attributes.
        if name == "state":
            return (obj.get("ticket_state") or {}).get("category")
        if name in ("title", "description"):
            return (obj.get("ticket_attributes") or {}).get(f"_default_{name}_")
        if name.startswith(searchlang.TICKET_ATTRIBUTE_PREFIX):
            key = name.removeprefix(searchlang.TICKET_ATTRIBUTE_PREFIX)
            return (obj.get("ticket_attributes") or {}).get(key)
    value: Any = obj
    for step in name.split("."):
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


class FakeIntercom(FakeServer):
    def __init__(
        self,
        workspace: Workspace,
        *,
        token: str = "fake-intercom-token",
        budget: int = 1667,
        window: int = 10,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        search_lag: float = 0.0,
        strict_bounds: bool = False,
        merged_status: int | None = None,
        replied_at: str = "updated_at",
        category_names: bool = False,
        unindexed: frozenset[str] = frozenset(),
        app_id: str = "fake",
        companies_key: str = "data",
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.search_lag = search_lag
        self.strict_bounds = strict_bounds
        # A merged contact answers 404 on 2.14 and 2.15, 410 with a canonical link from 2.16
        # (ShowContact, MergeContact): by the request's Intercom-Version, or this status.
        self.merged_status = merged_status
        # What `conversation_rating.replied_at` searches, which 2.14 does not say: the
        # rating's `updated_at` ("updated_at"), or when its score was given ("given"), which
        # a later remark does not move.
        self.replied_at = replied_at
        # A test double of the misreading: ticket search matching category names.
        self.category_names = category_names
        # A test double of a field the index does not hold as documented: a search on it
        # matches nothing (what the probes of pushed-down fields must notice).
        self.unindexed = unindexed
        self.app_id = app_id  # the workspace `GET /me` names
        # Where `GET /contacts/{id}/companies` lists the companies, which 2.14 says twice
        # differently: `data` in listCompaniesForAContact's example, `companies` in its
        # schema (`contact_attached_companies`).
        self.companies_key = companies_key
        if search_lag:
            # Changes from here on are kept with their time, on the same clock.
            workspace.clock = clock
            if workspace.history is None:
                workspace.history = {}
        self.token = token
        self.budget = budget
        self.window = window
        self.latency = latency
        self.clock = clock
        self.faults: list[Fault] = []
        self.cycle_pages = 0  # this many search pages point `next` back to the first page
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._window_start = 0
        self._window_count = 0
        self._index: dict[tuple[str, str], tuple[int, list[tuple[Any, str]]]] = {}
        self._results: dict[str, tuple[int, list[str]]] = {}

    # -- what tests look at -----------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, **match: Any) -> None:
        with self._lock:
            self.faults.append(Fault(status, times, **match))

    def calls(self) -> Counter[str]:
        """Requests answered, by route."""
        with self._lock:
            return Counter(_route(r.method, r.path) for r in self.requests)

    def statuses(self) -> Counter[int]:
        with self._lock:
            return Counter(r.status for r in self.requests)

    # -- request handling -------------------------------------------------------------------------

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        status, extra, payload = self.handle(method, path, headers, body)
        return status, extra, json.dumps(payload).encode()

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            status, extra, payload = self._answer(method, path, headers, body)
        finally:
            with self._lock:
                self.in_flight -= 1
        with self._lock:
            self.requests.append(Recorded(method, path, body, status, dict(headers), self.clock()))
        return status, extra, payload

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, _error("unauthorized", "Access Token Invalid")
        limited, rate = self._rate_limit()
        if limited:
            return 429, rate, _error("rate_limit_exceeded", "Exceeded rate limit")
        fault = self._take_fault(method, path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status < 300:  # a slow answer, not a failed one
                status, extra, payload = self._route(method, path, headers, body)
                return status, {**rate, **extra}, payload
            return fault.status, {**rate, **fault.headers}, _error("server_error", "Injected fault")
        status, extra, payload = self._route(method, path, headers, body)
        return status, {**rate, **extra}, payload

    def _rate_limit(self) -> tuple[bool, dict[str, str]]:
        with self._lock:
            now = self.clock()
            start = int(now // self.window) * self.window
            if start != self._window_start:
                self._window_start, self._window_count = start, 0
            self._window_count += 1
            over = self._window_count > self.budget
            remaining = max(0, self.budget - self._window_count)
            return over, {
                "X-RateLimit-Limit": str(self.budget),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(start + self.window),
            }

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _route(
        self, method: str, target: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        split = urlsplit(target)
        path, query = split.path, parse_qs(split.query)
        parts = path.strip("/").split("/")
        ws = self.workspace
        if method == "GET" and parts == ["tags"]:
            with ws.lock:
                listed = [dict(tag) for tag in ws.tags.values()]
            return 200, {}, {"type": "list", "data": listed}
        if method == "GET" and parts == ["segments"]:
            return 200, {}, {"type": "segment.list", "segments": ws.segment_list(), "pages": {}}
        if method == "GET" and parts == ["ticket_types"]:
            return 200, {}, {"type": "list", "data": ws.ticket_type_list()}
        if method == "GET" and parts == ["data_attributes"]:
            model = query.get("model", ["contact"])[0]
            if model not in ("contact", "company", "conversation"):
                return 400, {}, _error("parameter_invalid", "model: contact, company, conversation")
            return 200, {}, {"type": "list", "data": ws.data_attribute_list(model)}
        if method == "GET" and len(parts) == 3 and parts[0] == "contacts":
            return self._contact_list(parts[1], parts[2], query, headers)
        if method == "POST" and parts in (["conversations", "search"], ["tickets", "search"]):
            return self._search(parts[0], body)
        if method == "GET" and len(parts) == 1 and parts[0] == "me":
            return (
                200,
                {},
                {
                    "type": "admin",
                    "id": "7",
                    "name": "Fake Admin",
                    "email": "admin@example.com",
                    "app": {
                        "type": "app",
                        "id_code": self.app_id,
                        "name": f"Fake workspace {self.app_id}".removesuffix(" fake"),
                        "region": "US",
                    },
                },
            )
        if method == "GET" and len(parts) == 2:
            kind, oid = parts
            if kind == "conversations":
                found = ws.conversation_view(oid)
                return (200, {}, found) if found else (404, {}, _error("not_found", "Not found"))
            if kind == "contacts":
                return self._contact(oid, headers.get("intercom-version", ""))
            if kind == "tickets":
                with ws.lock:
                    ticket = ws.tickets.get(oid)
                return (200, {}, ticket) if ticket else (404, {}, _error("not_found", "Not found"))
            if kind == "companies":
                with ws.lock:
                    company = ws.companies.get(oid)
                return (
                    (200, {}, company) if company else (404, {}, _error("not_found", "Not found"))
                )
        return 404, {}, _error("not_found", f"no route {method} /{'/'.join(parts)}")

    def _contact(self, oid: str, version: str) -> tuple[int, dict[str, str], Any]:
        ws = self.workspace
        status = self.merged_status or (410 if _version(version) >= (2, 16) else 404)
        with ws.lock:
            if oid in ws.merged and status == 404:
                return 404, {}, _error("not_found", "User Not Found")
            if oid in ws.merged:
                link = f'<{self.url}/contacts/{ws.merged[oid]}>; rel="canonical"'
                return 410, {"Link": link}, _error("contact_merged", "Contact was merged")
            contact = ws.contacts.get(oid)
        return (200, {}, contact) if contact else (404, {}, _error("not_found", "User Not Found"))

    def _contact_list(
        self, oid: str, what: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        """A contact's segments, tags or companies: as `GET /contacts/{id}` answers for a
        contact unknown or merged (2.14 says 404 "User Not Found" for these), else the list."""
        ws = self.workspace
        if what not in ("segments", "tags", "companies"):
            return 404, {}, _error("not_found", f"no route GET /contacts/{{id}}/{what}")
        status, extra, payload = self._contact(oid, headers.get("intercom-version", ""))
        if status != 200:
            return status, extra, payload
        if what == "segments":
            return 200, {}, {"type": "list", "data": ws.contact_segment_list(oid) or []}
        if what == "tags":
            return 200, {}, {"type": "list", "data": ws.contact_tag_list(oid) or []}
        companies = ws.contact_company_list(oid) or []
        try:
            page = max(1, int(query.get("page", ["1"])[0]))
            per_page = max(1, int(query.get("per_page", [str(COMPANIES_PER_PAGE)])[0]))
        except ValueError:
            return 400, {}, _error("parameter_invalid", "page and per_page are numbers")
        total_pages = max(1, math.ceil(len(companies) / per_page))
        following = (
            f"{self.url}/contacts/{oid}/companies?page={page + 1}&per_page={per_page}"
            if page < total_pages
            else None
        )
        return (
            200,
            {},
            {
                "type": "list",
                self.companies_key: companies[(page - 1) * per_page : page * per_page],
                "pages": {
                    "type": "pages",
                    "next": following,
                    "page": page,
                    "per_page": per_page,
                    "total_pages": total_pages,
                },
                "total_count": len(companies),
            },
        )

    def _search(self, resource: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if not isinstance(body, dict) or "query" not in body:
            return 400, {}, _error("parameter_invalid", "query is required")
        try:
            searchlang.validate(body["query"], resource=resource)
        except searchlang.QueryError as exc:
            return 400, {}, _error("parameter_invalid", str(exc))
        paging = body.get("pagination") or {}
        per_page = paging.get("per_page", 20)
        if not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
            return 400, {}, _error("parameter_invalid", "per_page must be 1 to 150")
        offset = _offset(paging.get("starting_after"))
        if offset is None:
            return 400, {}, _error("parameter_invalid", "starting_after is not valid")
        ids = self._matching(resource, body["query"])
        with self.workspace.lock:
            store = self._store(resource)
            page = [store[i] for i in ids[offset : offset + per_page] if i in store]
            items = [
                self.workspace.search_view(o) if resource == "conversations" else o for o in page
            ]
            items = json.loads(json.dumps(items))  # a snapshot, as a real answer is
        pages: dict[str, Any] = {
            "type": "pages",
            "page": offset // per_page + 1,
            "per_page": per_page,
            "total_pages": max(1, math.ceil(len(ids) / per_page)),
        }
        if offset + per_page < len(ids):
            following = offset + per_page
            with self._lock:
                if self.cycle_pages > 0 and offset > 0:
                    # Stateless cursors can lead back to an earlier page (A -> B -> A).
                    self.cycle_pages -= 1
                    following = 0
            pages["next"] = {"per_page": per_page, "starting_after": _token(following)}
        listing = "conversation.list" if resource == "conversations" else "ticket.list"
        return 200, {}, {"type": listing, resource: items, "total_count": len(ids), "pages": pages}

    def _matching(self, resource: str, query: Mapping[str, Any]) -> list[str]:
        """Ids matching the query, in an order fixed per query but not by time."""
        ws = self.workspace
        text = json.dumps([resource, query], sort_keys=True)
        with ws.lock:
            cached = self._results.get(text)
            if cached and cached[0] == ws.version and not self.search_lag:
                return cached[1]
            store = self._store(resource)
            candidates = (
                self._candidates(resource, store, query) if not self.search_lag else list(store)
            )
            strict = self.strict_bounds
            ids = [
                i for i in candidates if searchlang.matches(store[i], query, self._field, strict)
            ]
            ids.sort()
            random.Random(hashlib.sha256(text.encode()).digest()).shuffle(ids)
            if len(self._results) > 256:
                self._results.clear()
            self._results[text] = (ws.version, ids)
            return ids

    def _store(self, resource: str) -> dict[str, Any]:
        """What search sees of a resource: everything, or what the lagging index holds."""
        ws = self.workspace
        store = ws.conversations if resource == "conversations" else ws.tickets
        return ws.searchable(store, self.search_lag)

    def _field(self, obj: Mapping[str, Any], name: str) -> Any:
        if name == "conversation_rating.replied_at" and self.replied_at == "given":
            return self.workspace.score_given.get(str(obj.get("id")))
        if name == "category" and self.category_names:
            return obj.get("category")
        if name in self.unindexed:
            return None
        return _field(obj, name)

    def _candidates(
        self, resource: str, store: Mapping[str, Any], query: Mapping[str, Any]
    ) -> list[str]:
        ranged = searchlang.range_filter(query)
        if ranged is None:
            return list(store)
        name, lo, hi = ranged
        key = (resource, name)
        cached = self._index.get(key)
        if cached is None or cached[0] != self.workspace.version:
            pairs = sorted(
                (v, i) for i, o in store.items() if isinstance(v := self._field(o, name), int)
            )
            cached = (self.workspace.version, pairs)
            self._index[key] = cached
        pairs = cached[1]
        start = 0 if lo is None else bisect.bisect_left(pairs, (lo, ""))
        stop = len(pairs) if hi is None else bisect.bisect_right(pairs, (hi, "\uffff"))
        return [i for _, i in pairs[start:stop]]


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


def _token(offset: int) -> str:
    raw = json.dumps({"o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: object) -> int | None:
    if token is None:
        return 0
    if not isinstance(token, str):
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(decoded["o"])
    except (ValueError, KeyError, TypeError):
        return None


def _error(code: str, message: str) -> dict[str, Any]:
    return {
        "type": "error.list",
        "request_id": f"req-{random.getrandbits(32):08x}",
        "errors": [{"code": code, "message": message}],
    }
