"""A generated Intercom workspace for the fake server: contacts, conversations, tickets.

Every mutation that is an event in the syncer's sense records it in `truth` as it happens,
from the action itself (a contact replied, a rating was given). Tests compare the syncer's
output with `truth`, which is therefore independent of the detection code under test.

It keeps what real workspaces do and a lenient fake would hide: a rating is requested at one
time and given (or changed) at another; leads carry `external_id: null` until they sign up;
bots open conversations that contacts answer; tickets come in three categories. With
`history` set, every change of a conversation or ticket is kept with the `clock` time it was
made, so the fake server can serve a search index that lags behind.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_RETURNED_PARTS = 500  # Intercom returns at most the 500 most recent parts


@dataclass(frozen=True, slots=True)
class TrueEvent:
    key: str
    kind: str
    at: int  # seconds
    contact_id: str
    # "" for what the default config counts; otherwise what an option must turn on to count
    # it: "bot_started", "quick_reply", or a ticket category other than Customer.
    variant: str = ""


@dataclass
class Workspace:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)  # old contact id -> canonical id
    # conversation id -> when its current score was given: what `replied_at` searches under
    # the reading in which a remark moves `updated_at` but not `replied_at`
    score_given: dict[str, int] = field(default_factory=dict)
    truth: list[TrueEvent] = field(default_factory=list)
    version: int = 0
    # id -> [(clock time of the change, the search view after it)], when recording
    history: dict[str, list[tuple[float, dict[str, Any]]]] | None = None
    clock: Callable[[], float] = field(default=time.time, repr=False)
    # How `statistics.count_conversation_parts` counts, which 2.14 does not say: the parts
    # alone, like the parts list's `total_count` ("parts"), or the opening message too
    # ("with_opening"). Set it before the first conversation.
    parts_reading: str = "parts"
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000), repr=False)

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _touch(self, *changed: str) -> None:
        self.version += 1
        if self.history is None:
            return
        now = self.clock()
        for oid in changed:
            obj = self.conversations.get(oid) or self.tickets.get(oid)
            if obj is not None:
                snapshot = json.loads(json.dumps(self.search_view(obj)))
                self.history.setdefault(oid, []).append((now, snapshot))

    # -- contacts and companies -------------------------------------------------------------

    def add_company(self, name: str) -> str:
        with self.lock:
            cid = self._next_id()
            self.companies[cid] = {
                "type": "company",
                "id": cid,
                "company_id": f"co-{cid}",
                "name": name,
            }
            return cid

    def add_contact(
        self,
        *,
        role: str = "user",
        external_id: str | None = None,
        email: str | None = None,
        name: str | None = None,
        custom: dict[str, Any] | None = None,
        company: str | None = None,
    ) -> str:
        with self.lock:
            cid = self._next_id()
            data = (
                [{"type": "company", "id": company, "url": f"/companies/{company}"}]
                if company
                else []
            )
            self.contacts[cid] = {
                "type": "contact",
                "id": cid,
                "workspace_id": "fake",
                "external_id": external_id,
                "role": role,
                "email": email,
                "name": name,
                "custom_attributes": dict(custom or {}),
                "companies": {
                    "type": "list",
                    "data": data,
                    "total_count": len(data),
                    "has_more": False,
                },
                "created_at": 0,
                "updated_at": 0,
            }
            self._touch()
            return cid

    def merge_contact(self, old: str, into: str) -> None:
        """Intercom merges a lead into a user: the old id is gone (404 on 2.14, 410 with a
        canonical link from 2.16), and conversations and tickets name the user instead."""
        with self.lock:
            self.merged[old] = into
            self.contacts.pop(old, None)
            self._touch(*self._rename_refs(old, into, self.contacts[into]["external_id"]))

    def convert_lead(self, contact_id: str, external_id: str) -> None:
        """A lead signs up: same contact, now a user with an external_id."""
        with self.lock:
            contact = self.contacts[contact_id]
            contact["role"], contact["external_id"] = "user", external_id
            self._touch(*self._rename_refs(contact_id, contact_id, external_id))

    def _rename_refs(self, old: str, into: str, external_id: str | None) -> list[str]:
        """Point every contact reference to `old` at `into`; the ids of what changed."""
        changed = []
        holders = [*self.conversations.values(), *self.tickets.values()]
        for obj in holders:
            for ref in obj["contacts"]["contacts"]:
                if ref["id"] == old:
                    ref["id"], ref["external_id"] = into, external_id
                    changed.append(obj["id"])
        return changed

    def _ref(self, contact_id: str) -> dict[str, Any]:
        contact = self.contacts[contact_id]
        return {"type": "contact", "id": contact_id, "external_id": contact["external_id"]}

    def _author(self, kind: str, author_id: str) -> dict[str, Any]:
        if kind in ("user", "lead"):
            contact = self.contacts[author_id]
            return {
                "type": contact["role"],
                "id": author_id,
                "name": contact["name"],
                "email": contact["email"],
            }
        return {"type": kind, "id": author_id, "name": f"{kind} {author_id}", "email": None}

    # -- conversations ------------------------------------------------------------------------

    def start_conversation(
        self, contact_id: str, at: int, *, by_admin: bool = False, by_bot: bool = False
    ) -> str:
        """A conversation opened by the contact, an outbound one an admin sent to them, or one
        a custom bot or workflow opened (the contact may answer it later)."""
        with self.lock:
            conv_id = self._next_id()
            by_contact = not (by_admin or by_bot)
            author = (
                self._author("user", contact_id)
                if by_contact
                else self._author("bot" if by_bot else "admin", "99" if by_bot else "7")
            )
            delivered = (
                "customer_initiated"
                if by_contact
                else ("operator_initiated" if by_bot else "admin_initiated")
            )
            self.conversations[conv_id] = {
                "type": "conversation",
                "id": conv_id,
                "created_at": at,
                "updated_at": at,
                "waiting_since": at if by_contact else None,
                "open": True,
                "state": "open",
                "read": False,
                "priority": "not_priority",
                "source": {
                    "type": "conversation",
                    "id": f"src-{conv_id}",
                    "delivered_as": delivered,
                    "subject": "",
                    "body": "<p>Hello</p>",
                    "author": author,
                    "attachments": [],
                    "url": None,
                    "redacted": False,
                },
                "contacts": {"type": "contact.list", "contacts": [self._ref(contact_id)]},
                "conversation_rating": None,
                "statistics": {
                    "type": "conversation_statistics",
                    "first_contact_reply_at": at if by_contact else None,
                    "last_contact_reply_at": at if by_contact else None,
                    "count_conversation_parts": 1 if self.parts_reading == "with_opening" else 0,
                },
                "conversation_parts": {
                    "type": "conversation_part.list",
                    "conversation_parts": [],
                    "total_count": 0,
                },
            }
            if by_contact:
                self._record(
                    f"conversation:{conv_id}:started", "conversation_started", at, contact_id
                )
                self._record(f"conversation:{conv_id}:opening", "user_messaged", at, contact_id)
            self._touch(conv_id)
            return conv_id

    def add_part(
        self,
        conv_id: str,
        at: int,
        *,
        author_type: str,
        author_id: str,
        part_type: str = "comment",
        body: str | None = "<p>…</p>",
    ) -> str:
        """Any part; a contact's comment, or a contact's reopening reply, is a message."""
        with self.lock:
            conv = self.conversations[conv_id]
            part_id = self._next_id()
            part: dict[str, Any] = {
                "type": "conversation_part",
                "id": part_id,
                "part_type": part_type,
                "body": body,
                "created_at": at,
                "updated_at": at,
                "notified_at": at,
                "assigned_to": None,
                "author": self._author(author_type, author_id),
                "attachments": [],
                "external_id": None,
                "redacted": False,
            }
            parts = conv["conversation_parts"]
            parts["conversation_parts"].append(part)
            parts["total_count"] = len(parts["conversation_parts"])
            conv["statistics"]["count_conversation_parts"] += 1
            conv["updated_at"] = max(conv["updated_at"], at)
            if part_type == "close":
                conv["open"], conv["state"] = False, "closed"
            elif part_type == "open":
                conv["open"], conv["state"] = True, "open"
            from_contact = author_type in ("user", "lead")
            is_message = part_type == "comment" or (part_type == "open" and bool(body))
            if from_contact and part_type in ("comment", "open", "quick_reply"):
                stats = conv["statistics"]
                if stats["first_contact_reply_at"] is None:
                    stats["first_contact_reply_at"] = at
                    if conv["source"]["delivered_as"] == "operator_initiated":
                        key = f"conversation:{conv_id}:started"
                        self._record(key, "conversation_started", at, author_id, "bot_started")
                stats["last_contact_reply_at"] = max(stats["last_contact_reply_at"] or 0, at)
                if not any(ref["id"] == author_id for ref in conv["contacts"]["contacts"]):
                    conv["contacts"]["contacts"].append(self._ref(author_id))
                if is_message:
                    self._record(f"part:{part_id}", "user_messaged", at, author_id)
                elif part_type == "quick_reply":
                    self._record(f"part:{part_id}", "user_messaged", at, author_id, "quick_reply")
            self._touch(conv_id)
            return part_id

    def request_rating(self, conv_id: str, at: int) -> None:
        """Intercom asks the contact for a rating: `created_at` is this time, no score yet."""
        with self.lock:
            conv = self.conversations[conv_id]
            contact_id = conv["contacts"]["contacts"][0]["id"]
            conv["conversation_rating"] = {
                "rating": None,
                "remark": None,
                "created_at": at,
                "updated_at": at,
                "contact": self._ref(contact_id),
                "teammate": {"type": "admin", "id": "7"},
            }
            self._touch(conv_id)

    def rate(self, conv_id: str, at: int, score: int, remark: str | None = None) -> None:
        """The contact gives (or changes) the rating at `at`: `updated_at`. `created_at` stays
        the time it was requested (requested now, if it never was).

        The event is a score given for a request: the same score again (with a remark, say)
        is not a new one, a changed score is. A score changed back to one it already had on
        the same request is not a new event either: Intercom shows only the latest."""
        with self.lock:
            conv = self.conversations[conv_id]
            if conv["conversation_rating"] is None:
                self.request_rating(conv_id, at)
            rating = conv["conversation_rating"]
            changed = rating["rating"] != score
            rating.update({"rating": score, "remark": remark, "updated_at": at})
            conv["updated_at"] = max(conv["updated_at"], at)
            contact_id = rating["contact"]["id"]
            key = f"conversation:{conv_id}:rated:{rating['created_at']}:{score}"
            if changed:
                self.score_given[conv_id] = at
            if changed and all(event.key != key for event in self.truth):
                self._record(key, "conversation_rated", at, contact_id)
            self._touch(conv_id)

    def remark(self, conv_id: str, at: int, remark: str) -> None:
        """The contact adds a remark to the rating they gave: `updated_at` moves, the score
        does not (2.14 documents `updated_at` only as "last updated"). No event."""
        with self.lock:
            conv = self.conversations[conv_id]
            conv["conversation_rating"].update({"remark": remark, "updated_at": at})
            conv["updated_at"] = max(conv["updated_at"], at)
            self._touch(conv_id)

    def add_ticket(
        self, contact_id: str, at: int, type_name: str = "Bug", category: str = "Customer"
    ) -> str:
        """A ticket of a category: Customer (the contact's), Back-office or Tracker."""
        with self.lock:
            ticket_id = self._next_id()
            self.tickets[ticket_id] = {
                "type": "ticket",
                "id": ticket_id,
                "ticket_id": str(len(self.tickets) + 1),
                "category": category,
                "ticket_attributes": {"_default_title_": "Broken"},
                "ticket_state": {"type": "ticket_state", "id": "1", "category": "submitted"},
                "ticket_type": {"type": "ticket_type", "id": "t-" + type_name, "name": type_name},
                "contacts": {"type": "ticket_contacts", "contacts": [self._ref(contact_id)]},
                "created_at": at,
                "updated_at": at,
                "open": True,
            }
            variant = "" if category == "Customer" else category
            key = f"ticket:{ticket_id}:created"
            self._record(key, "ticket_created", at, contact_id, variant)
            self._touch(ticket_id)
            return ticket_id

    def _record(self, key: str, kind: str, at: int, contact_id: str, variant: str = "") -> None:
        self.truth.append(TrueEvent(key, kind, at, contact_id, variant))

    # -- views the server serves --------------------------------------------------------------

    def conversation_view(self, conv_id: str) -> dict[str, Any] | None:
        """`GET /conversations/{id}`: the 500 most recent parts only."""
        with self.lock:
            conv = self.conversations.get(conv_id)
            if conv is None:
                return None
            parts = conv["conversation_parts"]["conversation_parts"][-MAX_RETURNED_PARTS:]
            view = dict(conv)
            view["conversation_parts"] = {
                "type": "conversation_part.list",
                "conversation_parts": list(parts),
                "total_count": len(parts),
            }
            return view

    def search_view(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A search item: the conversation without its parts (a ticket as it is)."""
        return {k: v for k, v in obj.items() if k != "conversation_parts"}

    def searchable(self, store: dict[str, dict[str, Any]], lag: float) -> dict[str, Any]:
        """What a search index `lag` seconds behind holds: each object as it was then, and
        none that did not exist yet. Objects changed before recording began are current."""
        if lag <= 0 or self.history is None:
            return store
        cutoff = self.clock() - lag
        visible = {}
        for oid, obj in store.items():
            versions = self.history.get(oid)
            if versions is None:
                visible[oid] = obj
                continue
            old = [snapshot for at, snapshot in versions if at <= cutoff]
            if old:
                visible[oid] = old[-1]
        return visible


def generate(
    *,
    seed: int,
    conversations: int,
    start: int,
    end: int,
    tickets: int | None = None,
    parts_reading: str = "parts",
) -> Workspace:
    """A workspace whose activity falls in [start, end], the same for the same arguments."""
    rng = random.Random(seed)
    ws = Workspace(parts_reading=parts_reading)
    companies = [ws.add_company(f"Company {i} ÄÖ") for i in range(max(1, conversations // 20))]
    contacts = [_random_contact(ws, rng, i, companies) for i in range(max(2, conversations // 2))]
    span = max(1, end - start)
    for _ in range(conversations):
        _random_conversation(ws, rng, contacts, start, span, end)
    for _ in range(conversations // 5 if tickets is None else tickets):
        category = rng.choices(["Customer", "Back-office", "Tracker"], [8, 1, 1])[0]
        ws.add_ticket(
            rng.choice(contacts),
            start + rng.randrange(span),
            rng.choice(["Bug", "Question"]),
            category,
        )
    return ws


def unrated(ws: Workspace, conv_id: str) -> bool:
    """Intercom shows only the latest rating: generated history rates a conversation once."""
    rating = ws.conversations[conv_id]["conversation_rating"]
    return rating is None or rating.get("rating") is None


def _random_contact(ws: Workspace, rng: random.Random, i: int, companies: list[str]) -> str:
    draw = rng.random()
    if draw < 0.7:
        return ws.add_contact(
            role="user",
            external_id=f"u-{i}",
            email=f"user{i}@example.com",
            name=f"User {i}",
            custom={"account_id": f"acc-{i % 50}"} if rng.random() < 0.8 else {},
            company=rng.choice(companies) if rng.random() < 0.6 else None,
        )
    if draw < 0.8:  # a user known by email only
        return ws.add_contact(role="user", email=f"noext{i}@example.com", name=f"Nameless {i}")
    return ws.add_contact(role="lead", email=None if rng.random() < 0.5 else f"lead{i}@example.com")


def _random_conversation(
    ws: Workspace, rng: random.Random, contacts: list[str], start: int, span: int, end: int
) -> None:
    contact = rng.choice(contacts)
    at = start + rng.randrange(span)
    opener = rng.random()
    conv = ws.start_conversation(contact, at, by_admin=opener < 0.1, by_bot=0.1 <= opener < 0.2)
    for _ in range(rng.randrange(0, 7)):
        at += rng.randrange(1, 3 * 3600)
        if at > end:
            return
        at = support_step(ws, rng, conv, at, end)


def support_step(
    ws: Workspace, rng: random.Random, conv: str, at: int, end: int, *, gap: int = 60
) -> int:
    """One step of support activity on a conversation at `at`, the generator's mix: the
    contact writes (35 %), an admin or a bot answers, a note, an assignment, or a close, which
    the contact may answer (reopening it) or rate `gap` and `2 * gap` seconds later, if that is
    still before `end`. Returns the time of the step's last change."""
    contact = ws.conversations[conv]["contacts"]["contacts"][0]["id"]
    role = ws.contacts[contact]["role"]
    draw = rng.random()
    if draw < 0.35:
        ws.add_part(conv, at, author_type=role, author_id=contact)
    elif draw < 0.6:
        ws.add_part(conv, at, author_type="admin", author_id="7")
    elif draw < 0.7:
        ws.add_part(conv, at, author_type="bot", author_id="99")
    elif draw < 0.78:
        ws.add_part(conv, at, author_type="admin", author_id="7", part_type="note")
    elif draw < 0.84:
        ws.add_part(conv, at, author_type="admin", author_id="7", part_type="assignment", body=None)
    else:
        ws.add_part(conv, at, author_type="admin", author_id="7", part_type="close", body=None)
        if rng.random() < 0.4 and at + gap <= end:
            # The contact writes into the closed conversation, which reopens it.
            ws.add_part(conv, at + gap, author_type=role, author_id=contact, part_type="open")
            return at + gap
        if unrated(ws, conv) and rng.random() < 0.5 and at + 2 * gap <= end:
            # Intercom asks for the rating when the conversation closes; the contact gives
            # it later: the rating's created_at and updated_at differ.
            ws.request_rating(conv, at)
            ws.rate(
                conv, at + 2 * gap, rng.randint(1, 5), rng.choice([None, "Thanks!", "Ünïcode ✓"])
            )
            return at + 2 * gap
    return at
