"""A generated Intercom workspace for the fake server: contacts, conversations, tickets.

Every mutation that is an event in the syncer's sense records it in `truth` as it happens,
from the action itself (a contact replied, a rating was given). Tests compare the syncer's
output with `truth`, which is therefore independent of the detection code under test.

It keeps what real workspaces do and a lenient fake would hide: a rating is requested at one
time and given (or changed) at another; leads carry `external_id: null` until they sign up;
bots open conversations that contacts answer; tickets come in three categories. With
`history` set, every change of a conversation or ticket is kept with the `clock` time it was
made, so the fake server can serve a search index that lags behind.

Opt-in, and leaving the generator's output as it was: tags (on conversations and contacts),
segments, companies with plans and attributes, several companies a contact, assignment,
priority, attributes, closes (`close`, each a `conversation_closed` event), the AI agent
(`ai_resolve`, one `ai_agent_resolved` event a conversation; `ai_route`, none), and with
`all_fields` every field 2.14 always shows, with its empty value, on every new object.
Each shape follows the 2.14 description (docs/intercom-assumptions.md names the entries).
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
# A contact object lists at most 10 tags and 10 companies, with `has_more` ("Up to 10 will
# be displayed here. Use the url to get more.", `contact_tags`, `contact_companies`).
CONTACT_LIST_LIMIT = 10
ADMIN_ID = "7"  # the admin who acts unless told otherwise
BOT_ID = "99"  # a workflow's bot
# The AI agent (Fin) as the author of its parts: a bot in 2.14's examples (`type: bot`,
# `name: Fin`), marked `from_ai_agent` ("If this conversation part was sent by the AI Agent").
FIN_ID = "278"
AI_RESOLVED = frozenset({"assumed_resolution", "confirmed_resolution"})
AI_STATES = AI_RESOLVED | {"routed_to_team", "abandoned"}
TICKET_STATES = ("submitted", "in_progress", "waiting_on_customer", "resolved")


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
    # With `history`: a part `add_part` adds reaches the search index this many seconds
    # after the change before it (the index shows the conversation first, its parts later).
    part_lag: float = 0.0
    # Every new object with every field 2.14 always shows (empty where nothing set it), and
    # every part updating the statistics 2.14 documents for it (close, reopen, assignment).
    # Off, objects keep the fields the generator always gave them, plus what a method sets.
    all_fields: bool = False
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)  # GET /tags
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the contact object lists at most 10 of, in full: contact id -> ids, in order
    contact_tags: dict[str, list[str]] = field(default_factory=dict)
    contact_companies: dict[str, list[str]] = field(default_factory=dict)
    contact_segments: dict[str, list[str]] = field(default_factory=dict)
    tag_applied: dict[tuple[str, str], int] = field(default_factory=dict)  # (contact, tag)
    plans: dict[str, str] = field(default_factory=dict)  # plan name -> id
    # GET /ticket_types: type name -> its attributes' names (a ticket's type is added too)
    ticket_types: dict[str, list[str]] = field(default_factory=dict)
    # GET /data_attributes: custom attributes defined without any object holding one yet,
    # by model (contact, company, conversation); those the objects hold are listed too
    attributes: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000), repr=False)

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _touch(self, *changed: str, later: float = 0.0) -> None:
        self.version += 1
        if self.history is None:
            return
        now = self.clock() + later
        for oid in changed:
            obj = self.conversations.get(oid) or self.tickets.get(oid)
            if obj is not None:
                snapshot = json.loads(json.dumps(self.search_view(obj)))
                self.history.setdefault(oid, []).append((now, snapshot))

    # -- contacts and companies -------------------------------------------------------------

    def add_company(
        self,
        name: str,
        *,
        plan: str | None = None,
        custom: dict[str, Any] | None = None,
        monthly_spend: int | None = None,
        size: int | None = None,
        industry: str | None = None,
        company_id: str | None = None,
        created_at: int | None = None,
    ) -> str:
        """A company. With any keyword (or `all_fields`) it has every field of 2.14's
        `company` schema: `plan` an object `{type: plan, id, name}` (`{}` without a plan, as
        every 2.14 example shows), `custom_attributes`, `monthly_spend` and `size` integers,
        `industry`, `user_count` (its contacts), `tags` and `segments` lists."""
        with self.lock:
            cid = self._next_id()
            company: dict[str, Any] = {
                "type": "company",
                "id": cid,
                "company_id": company_id or f"co-{cid}",
                "name": name,
            }
            extra = (plan, custom, monthly_spend, size, industry, company_id, created_at)
            if self.all_fields or any(v is not None for v in extra):
                at = created_at or 0
                company.update(
                    {
                        "app_id": "fake",
                        "remote_created_at": at,
                        "created_at": at,
                        "updated_at": at,
                        "monthly_spend": int(monthly_spend or 0),  # 2.14 truncates floats
                        "session_count": 0,
                        "user_count": 0,
                        # RetrieveACompanyById's example leaves out what was never set
                        **({"size": size} if size is not None else {}),
                        **({"industry": industry} if industry is not None else {}),
                        "tags": {"type": "tag.list", "tags": []},
                        "segments": {"type": "segment.list", "segments": []},
                        "plan": self._plan(plan) if plan else {},
                        "custom_attributes": dict(custom or {}),
                    }
                )
            self.companies[cid] = company
            return cid

    def _plan(self, name: str) -> dict[str, Any]:
        if name not in self.plans:
            self.plans[name] = self._next_id()
        return {"type": "plan", "id": self.plans[name], "name": name}

    def set_plan(self, company: str, plan: str | None, at: int | None = None) -> None:
        """The company's plan changes (None: no plan, `{}`)."""
        with self.lock:
            obj = self.companies[company]
            obj["plan"] = self._plan(plan) if plan else {}
            if at is not None:
                obj["updated_at"] = max(obj.get("updated_at") or 0, at)
            self._touch()

    def add_contact(
        self,
        *,
        role: str = "user",
        external_id: str | None = None,
        email: str | None = None,
        name: str | None = None,
        custom: dict[str, Any] | None = None,
        company: str | None = None,
        companies: list[str] | None = None,
        created_at: int | None = None,
        signed_up_at: int | None = None,
    ) -> str:
        """A contact, of the company `company` and of `companies` (the object lists the
        first 10, with `has_more`; `GET /contacts/{id}/companies` lists them all)."""
        with self.lock:
            cid = self._next_id()
            ids = list(dict.fromkeys([*([company] if company else []), *(companies or [])]))
            self.contacts[cid] = {
                "type": "contact",
                "id": cid,
                "workspace_id": "fake",
                "external_id": external_id,
                "role": role,
                "email": email,
                "name": name,
                "custom_attributes": dict(custom or {}),
                "companies": {},
                "created_at": created_at or 0,
                "updated_at": created_at or 0,
            }
            contact = self.contacts[cid]
            if signed_up_at is not None or self.all_fields:
                contact["signed_up_at"] = signed_up_at
            if self.all_fields:
                contact["tags"] = self._contact_list(cid, "tags", [])
            self.contact_companies[cid] = ids
            contact["companies"] = self._contact_list(cid, "companies", ids, url=self.all_fields)
            for company_id in ids:
                self._count_user(company_id, +1)
            self._touch()
            return cid

    def _contact_list(
        self, contact_id: str, what: str, ids: list[str], *, url: bool = True
    ) -> dict[str, Any]:
        """A contact's `tags` or `companies`: the first 10 as references, and `has_more`."""
        kind = "tag" if what == "tags" else "company"
        listed = [{"type": kind, "id": i, "url": f"/{what}/{i}"} for i in ids[:CONTACT_LIST_LIMIT]]
        result: dict[str, Any] = {"type": "list", "data": listed}
        if url:
            result["url"] = f"/contacts/{contact_id}/{what}"
        result.update({"total_count": len(ids), "has_more": len(ids) > CONTACT_LIST_LIMIT})
        return result

    def _count_user(self, company_id: str, delta: int) -> None:
        company = self.companies.get(company_id)
        if company is not None and "user_count" in company:
            company["user_count"] += delta

    def attach_company(self, contact_id: str, company_id: str) -> None:
        """`POST /contacts/{id}/companies`: the contact is of one more company."""
        with self.lock:
            ids = self.contact_companies.setdefault(contact_id, [])
            if company_id not in ids:
                ids.append(company_id)
                self._count_user(company_id, +1)
            self.contacts[contact_id]["companies"] = self._contact_list(
                contact_id, "companies", ids
            )
            self._touch()

    # -- tags and segments ---------------------------------------------------------------------

    def add_tag(self, name: str) -> str:
        """A tag of the workspace, as `GET /tags` lists it: `{type: tag, id, name}`."""
        with self.lock:
            tag_id = self._next_id()
            self.tags[tag_id] = {"type": "tag", "id": tag_id, "name": name}
            self._touch()
            return tag_id

    def tag_conversation(
        self,
        conv_id: str,
        tag_id: str,
        at: int,
        *,
        admin_id: str = ADMIN_ID,
        moves_updated_at: bool = True,
    ) -> None:
        """An admin tags the conversation: `tags.tags[]` gains `{type: tag, id, name,
        applied_at, applied_by}` (the `tags` schema; retrieveConversation's example shows
        `applied_at` and `applied_by` there). That a tag moves `updated_at` is not
        documented: `moves_updated_at=False` is the other reading. Tagging twice is a no-op."""
        with self.lock:
            conv = self.conversations[conv_id]
            tags = conv.setdefault("tags", {"type": "tag.list", "tags": []})["tags"]
            if any(t["id"] == tag_id for t in tags):
                return
            tag = self.tags[tag_id]
            applied_by = {"type": "admin", "id": admin_id}
            tags.append({**tag, "applied_at": at, "applied_by": applied_by})
            if moves_updated_at:
                conv["updated_at"] = max(conv["updated_at"], at)
            self._touch(conv_id)

    def untag_conversation(
        self, conv_id: str, tag_id: str, at: int, *, moves_updated_at: bool = True
    ) -> None:
        with self.lock:
            conv = self.conversations[conv_id]
            listed = conv.get("tags", {}).get("tags", [])
            conv["tags"] = {"type": "tag.list", "tags": [t for t in listed if t["id"] != tag_id]}
            if moves_updated_at:
                conv["updated_at"] = max(conv["updated_at"], at)
            self._touch(conv_id)

    def tag_contact(
        self, contact_id: str, tag_id: str, at: int = 0, *, admin_id: str = ADMIN_ID
    ) -> None:
        """The contact is tagged: its `tags.data[]` lists `{type: tag, id, url}`, no name
        (`contact_tags` of `addressable_list`s), at most 10 with `has_more`;
        `GET /contacts/{id}/tags` lists them all with names."""
        with self.lock:
            ids = self.contact_tags.setdefault(contact_id, [])
            if tag_id not in ids:
                ids.append(tag_id)
                self.tag_applied[(contact_id, tag_id)] = at
            self.contacts[contact_id]["tags"] = self._contact_list(contact_id, "tags", ids)
            self._touch()

    def untag_contact(self, contact_id: str, tag_id: str) -> None:
        with self.lock:
            ids = [i for i in self.contact_tags.get(contact_id, []) if i != tag_id]
            self.contact_tags[contact_id] = ids
            self.contacts[contact_id]["tags"] = self._contact_list(contact_id, "tags", ids)
            self._touch()

    def add_segment(self, name: str, *, person_type: str = "user", at: int = 0) -> str:
        """A segment (`segment` schema; `person_type` is `user`, or `contact` for leads)."""
        with self.lock:
            segment_id = self._next_id()
            self.segments[segment_id] = {
                "type": "segment",
                "id": segment_id,
                "name": name,
                "created_at": at,
                "updated_at": at,
                "person_type": person_type,
            }
            self._touch()
            return segment_id

    def put_in_segment(self, contact_id: str, segment_id: str) -> None:
        """The contact matches the segment's rules. The contact object does not show its
        segments in 2.14; `GET /contacts/{id}/segments` does."""
        with self.lock:
            ids = self.contact_segments.setdefault(contact_id, [])
            if segment_id not in ids:
                ids.append(segment_id)
            self._touch()

    def take_out_of_segment(self, contact_id: str, segment_id: str) -> None:
        with self.lock:
            ids = self.contact_segments.get(contact_id, [])
            self.contact_segments[contact_id] = [i for i in ids if i != segment_id]
            self._touch()

    # What the fake serves of a contact's lists (None: no such contact, 404)

    def contact_tag_list(self, contact_id: str) -> list[dict[str, Any]] | None:
        """`GET /contacts/{id}/tags`: each tag with `applied_at` and `applied_by`."""
        with self.lock:
            if contact_id not in self.contacts:
                return None
            return [
                {
                    **self.tags[i],
                    "applied_at": self.tag_applied.get((contact_id, i), 0),
                    "applied_by": {"type": "admin", "id": ADMIN_ID},
                }
                for i in self.contact_tags.get(contact_id, [])
            ]

    def add_ticket_type(self, name: str, attributes: tuple[str, ...] = ()) -> None:
        """A ticket type with its attributes (the default title and description, and
        `attributes`), as `GET /ticket_types` lists it."""
        with self.lock:
            known = self.ticket_types.setdefault(name, ["_default_title_", "_default_description_"])
            known.extend(a for a in attributes if a not in known)

    def define_attribute(self, model: str, name: str) -> None:
        """A custom data attribute (contact, company or conversation) no object holds yet."""
        with self.lock:
            self.attributes.setdefault(model, set()).add(name)

    def segment_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(segment) for segment in self.segments.values()]

    def ticket_type_list(self) -> list[dict[str, Any]]:
        """listTicketTypes' `data`: each type with `ticket_type_attributes.data[].name`."""
        with self.lock:
            types = {n: list(a) for n, a in self.ticket_types.items()}
            for ticket in self.tickets.values():
                name = ticket["ticket_type"]["name"]
                known = types.setdefault(name, ["_default_title_", "_default_description_"])
                known.extend(a for a in ticket.get("ticket_attributes", {}) if a not in known)
        return [
            {
                "type": "ticket_type",
                "id": "t-" + name,
                "name": name,
                "archived": False,
                "ticket_type_attributes": {
                    "type": "list",
                    "data": [
                        {"type": "ticket_type_attribute", "name": a, "data_type": "string"}
                        for a in attributes
                    ],
                },
            }
            for name, attributes in types.items()
        ]

    def data_attribute_list(self, model: str) -> list[dict[str, Any]]:
        """lisDataAttributes for one model: a few standard attributes and every custom one
        (defined, or held by an object), `full_name` `custom_attributes.NAME`."""
        holders = {"contact": self.contacts, "company": self.companies}
        holders["conversation"] = self.conversations
        with self.lock:
            names = set(self.attributes.get(model, set()))
            for obj in holders.get(model, {}).values():
                names.update(obj.get("custom_attributes") or {})
        standard = [
            {"type": "data_attribute", "name": n, "full_name": n, "model": model, "custom": False}
            for n in ("name", "created_at")
        ]
        return standard + [
            {
                "type": "data_attribute",
                "name": n,
                "full_name": f"custom_attributes.{n}",
                "model": model,
                "custom": True,
                "archived": False,
                "data_type": "string",
            }
            for n in sorted(names)
        ]

    def contact_segment_list(self, contact_id: str) -> list[dict[str, Any]] | None:
        with self.lock:
            if contact_id not in self.contacts:
                return None
            return [dict(self.segments[i]) for i in self.contact_segments.get(contact_id, [])]

    def contact_company_list(self, contact_id: str) -> list[dict[str, Any]] | None:
        with self.lock:
            if contact_id not in self.contacts:
                return None
            ids = self.contact_companies.get(contact_id, [])
            return [dict(self.companies[i]) for i in ids if i in self.companies]

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
            author = {
                "type": contact["role"],
                "id": author_id,
                "name": contact["name"],
                "email": contact["email"],
            }
        else:
            author = {"type": kind, "id": author_id, "name": f"{kind} {author_id}", "email": None}
            if self.all_fields:  # `conversation_part_author.email` is a string, never null
                author["email"] = f"operator+{kind}{author_id}@intercom.io"
        if self.all_fields and author["email"] is None:
            del author["email"]
        return author

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
            if self.all_fields:
                self._complete(self.conversations[conv_id], by_contact)
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
        author: dict[str, Any] | None = None,
    ) -> str:
        """Any part; a contact's comment, or a contact's reopening reply, is a message.
        `author` replaces the author object (Fin's follow-ups, a workflow's parts)."""
        with self.lock:
            part = self._add_part(
                conv_id,
                at,
                author_type=author_type,
                author_id=author_id,
                part_type=part_type,
                body=body,
                author=author,
            )
            self._touch(conv_id, later=self.part_lag)
            return str(part["id"])

    def _add_part(
        self,
        conv_id: str,
        at: int,
        *,
        author_type: str,
        author_id: str,
        part_type: str = "comment",
        body: str | None = "<p>…</p>",
        author: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
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
            "author": author or self._author(author_type, author_id),
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
        if self.all_fields:
            # "the current state of conversation when the conversation part was created":
            # the state the part leaves it in, as every real close part shows (R-close-state)
            part["state"] = conv.get("state", "open")
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
        if self.all_fields:
            self._part_statistics(conv, part)
        return part

    def _part_statistics(self, conv: dict[str, Any], part: dict[str, Any]) -> None:
        """The statistics a part moves, as `conversation_statistics` documents them: the
        first ones count only "after first_contact_reply_at"."""
        stats = conv["statistics"]
        at, kind = part["created_at"], part["part_type"]
        first_reply = stats.get("first_contact_reply_at")
        after_reply = first_reply is not None and at >= first_reply
        author = part["author"]
        if kind == "close":
            stats["last_close_at"] = at  # "Time of the last conversation close"
            stats["last_closed_by_id"] = str(author["id"])
            if after_reply and stats.get("first_close_at") is None:
                stats["first_close_at"] = at
        elif kind == "open" and after_reply:
            stats["count_reopens"] = (stats.get("count_reopens") or 0) + 1
        elif kind in ("assignment", "assign_and_reopen") and after_reply:
            stats.setdefault("first_assignment_at", None)
            if stats["first_assignment_at"] is None:
                stats["first_assignment_at"] = at
            stats["last_assignment_at"] = at
            stats["count_assignments"] = (stats.get("count_assignments") or 0) + 1
        elif kind == "comment" and author["type"] == "admin":
            if after_reply and stats.get("first_admin_reply_at") is None:
                stats["first_admin_reply_at"] = at
            stats["last_admin_reply_at"] = at  # "the last conversation part from an admin"

    def _complete(self, conv: dict[str, Any], by_contact: bool) -> None:
        """What 2.14 shows on every conversation (`conversation` schema), empty."""
        at = conv["created_at"]
        conv.update(
            {
                "title": None,
                "snoozed_until": None,
                "admin_assignee_id": None,
                "team_assignee_id": None,
                "tags": {"type": "tag.list", "tags": []},
                "teammates": {"type": "admin.list", "teammates": []},
                "custom_attributes": {},
                "first_contact_reply": (
                    {"created_at": at, "type": "conversation", "url": None} if by_contact else None
                ),
                "sla_applied": None,
                "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
                "ai_agent_participated": False,
                "ai_agent": None,
            }
        )
        conv["statistics"].update(
            {
                "first_assignment_at": None,
                "first_admin_reply_at": None,
                "first_close_at": None,
                "last_assignment_at": None,
                "last_admin_reply_at": None,
                "last_close_at": None,
                "last_closed_by_id": None,
                "count_reopens": 0,
                "count_assignments": 0,
            }
        )

    # -- closes, assignment and the rest of a conversation's life -------------------------------

    def close(
        self,
        conv_id: str,
        at: int,
        *,
        by: str = "admin",
        author_id: str | None = None,
        body: str | None = None,
    ) -> str:
        """An admin closes the conversation (`by="bot"`: a workflow's bot, on an admin's
        behalf): a `close` part by them (manageConversation's "Close a conversation"
        example), `state: closed`, `open: false`, `updated_at`, and the statistics
        `last_close_at`, `last_closed_by_id` and, the first time after the contact's first
        reply, `first_close_at`. Each close is a `conversation_closed` event keyed by its
        part. Returns the part's id."""
        if by not in ("admin", "bot"):
            raise ValueError(f"a conversation is closed by an admin or a bot, not {by!r}")
        with self.lock:
            conv = self.conversations[conv_id]
            who = author_id or (ADMIN_ID if by == "admin" else BOT_ID)
            part = self._add_part(
                conv_id, at, author_type=by, author_id=who, part_type="close", body=body
            )
            if not self.all_fields:  # else _add_part did it
                self._part_statistics(conv, part)
            contact_id = conv["contacts"]["contacts"][0]["id"]
            key = f"conversation:{conv_id}:closed:{part['id']}"
            self._record(key, "conversation_closed", at, contact_id)
            self._touch(conv_id)
            return str(part["id"])

    def close_by_part(
        self,
        conv_id: str,
        at: int,
        part_type: str = "custom_action_finished",
        *,
        by: str = "admin",
        author_id: str | None = None,
    ) -> str:
        """A part of another type than `close` that leaves the conversation closed, its
        `state: closed` (retrieveConversation's example: `custom_action_finished`, the
        conversation closed, no close part); `last_close_at` moves with it (inferred: "Time
        of the last conversation close"). A `conversation_closed` event keyed by the part."""
        with self.lock:
            conv = self.conversations[conv_id]
            who = author_id or (ADMIN_ID if by == "admin" else BOT_ID)
            part = self._add_part(
                conv_id, at, author_type=by, author_id=who, part_type=part_type, body=None
            )
            conv["open"], conv["state"], part["state"] = False, "closed", "closed"
            stats = conv["statistics"]
            stats["last_close_at"], stats["last_closed_by_id"] = at, who
            contact_id = conv["contacts"]["contacts"][0]["id"]
            key = f"conversation:{conv_id}:closed:{part['id']}"
            self._record(key, "conversation_closed", at, contact_id)
            self._touch(conv_id)
            return str(part["id"])

    def close_unseen(self, conv_id: str, at: int, *, author_id: str = ADMIN_ID) -> None:
        """A close no part shows: `state: closed` and `last_close_at` move, nothing else (the
        reading in which a close may leave no part). A `conversation_closed` event keyed by
        its time, `conversation:{id}:closed:at:{at}`."""
        with self.lock:
            conv = self.conversations[conv_id]
            conv["open"], conv["state"] = False, "closed"
            conv["updated_at"] = max(conv["updated_at"], at)
            stats = conv["statistics"]
            stats["last_close_at"], stats["last_closed_by_id"] = at, author_id
            contact_id = conv["contacts"]["contacts"][0]["id"]
            key = f"conversation:{conv_id}:closed:at:{at}"
            self._record(key, "conversation_closed", at, contact_id)
            self._touch(conv_id)

    def reopen(self, conv_id: str, at: int, *, author_id: str = ADMIN_ID) -> str:
        """An admin reopens the conversation: an `open` part without a body (not a message),
        `state: open`; `count_reopens` counts it after the contact's first reply."""
        with self.lock:
            conv = self.conversations[conv_id]
            part = self._add_part(
                conv_id, at, author_type="admin", author_id=author_id, part_type="open", body=None
            )
            if not self.all_fields:
                self._part_statistics(conv, part)
            self._touch(conv_id)
            return str(part["id"])

    def snooze(self, conv_id: str, at: int, until: int, *, author_id: str = ADMIN_ID) -> str:
        """A `snoozed` part, `state: snoozed`, `snoozed_until` (manageConversation)."""
        with self.lock:
            conv = self.conversations[conv_id]
            part = self._add_part(
                conv_id,
                at,
                author_type="admin",
                author_id=author_id,
                part_type="snoozed",
                body=None,
            )
            conv["open"], conv["state"], conv["snoozed_until"] = True, "snoozed", until
            if self.all_fields:
                part["state"] = "snoozed"
            self._touch(conv_id)
            return str(part["id"])

    def assign(
        self,
        object_id: str,
        at: int,
        admin_id: str | int | None = None,
        team_id: str | int | None = None,
        *,
        by: str = ADMIN_ID,
    ) -> None:
        """The conversation (or ticket) is assigned to the admin and/or the team given (one
        left None stays as it was). A conversation shows `admin_assignee_id` and
        `team_assignee_id` as integers (null when unassigned), a ticket as strings (2.14's
        schemas and examples); a conversation gains an `assignment` part naming the new
        assignee in `assigned_to`, and its assignment statistics move."""
        with self.lock:
            if object_id in self.tickets:
                ticket = self.tickets[object_id]
                if admin_id is not None:
                    ticket["admin_assignee_id"] = str(admin_id)
                if team_id is not None:
                    ticket["team_assignee_id"] = str(team_id)
                ticket["updated_at"] = max(ticket["updated_at"], at)
                self._touch(object_id)
                return
            conv = self.conversations[object_id]
            part = self._add_part(
                object_id,
                at,
                author_type="admin",
                author_id=by,
                part_type="assignment",
                body=None,
            )
            if admin_id is not None:
                conv["admin_assignee_id"] = int(admin_id)
                part["assigned_to"] = {"type": "admin", "id": str(admin_id)}
            if team_id is not None:
                conv["team_assignee_id"] = int(team_id)
                if admin_id is None:
                    part["assigned_to"] = {"type": "team", "id": str(team_id)}
            for name in ("admin_assignee_id", "team_assignee_id"):
                conv.setdefault(name, None)
            if not self.all_fields:
                self._part_statistics(conv, part)
            self._touch(object_id)

    def set_priority(self, conv_id: str, at: int, priority: str = "priority") -> None:
        """`priority` is `priority` or `not_priority` (the `conversation` schema's enum)."""
        if priority not in ("priority", "not_priority"):
            raise ValueError(f"2.14 knows priority and not_priority, not {priority!r}")
        with self.lock:
            conv = self.conversations[conv_id]
            conv["priority"] = priority
            conv["updated_at"] = max(conv["updated_at"], at)
            self._touch(conv_id)

    def set_attributes(self, object_id: str, at: int, values: dict[str, Any]) -> None:
        """Attributes change: a conversation's `custom_attributes` (strings, integers, dates
        as integers, custom object lists: the `custom_attributes` schema) with a
        `conversation_attribute_updated_by_admin` part, as 2.14's examples show one, or a
        ticket's `ticket_attributes` (`_default_title_`, `_default_description_`, ...)."""
        with self.lock:
            if object_id in self.tickets:
                ticket = self.tickets[object_id]
                ticket["ticket_attributes"].update(values)
                ticket["updated_at"] = max(ticket["updated_at"], at)
                self._touch(object_id)
                return
            conv = self.conversations[object_id]
            conv.setdefault("custom_attributes", {}).update(values)
            self._add_part(
                object_id,
                at,
                author_type="admin",
                author_id=ADMIN_ID,
                part_type="conversation_attribute_updated_by_admin",
                body=None,
            )
            self._touch(object_id)

    # -- the AI agent ---------------------------------------------------------------------------

    def _fin(self, answer: bool, as_admin: bool = False) -> dict[str, Any]:
        """Fin: `type: bot` in 2.14's examples, `type: admin, name: Fin` in real payloads."""
        return {
            "type": "admin" if as_admin else "bot",
            "id": FIN_ID,
            "name": "Fin",
            "email": "operator+fake@intercom.io",
            "from_ai_agent": True,
            "is_ai_answer": answer,
        }

    def ai_resolve(
        self,
        conv_id: str,
        at: int,
        state: str = "assumed_resolution",
        *,
        source_type: str = "workflow",
        source_title: str | None = "Fin workflow",
        answer_type: str = "ai_answer",
        moves_updated_at: bool = True,
        as_admin: bool = False,
    ) -> str | None:
        """The AI agent answers and resolves the conversation (assumed, or confirmed by the
        contact): a part by Fin (`from_ai_agent: true`), `ai_agent_participated: true`,
        `ai_agent.resolution_state`. One `ai_agent_resolved` event a conversation, dated by
        the AI agent's last part. On a conversation it already resolved, only the state
        changes (assumed -> confirmed): no part, no second event; `updated_at` moves, or
        with `moves_updated_at=False` (the reading in which a state change does not) not.
        An assumed resolution's event is of the variant `assumed_resolution` (counted where
        a goal counts them, once held); confirmed, it is of none. `as_admin`: Fin's part by
        `type: admin`. Returns the new part's id, or None when no part was added."""
        if state not in AI_RESOLVED:
            raise ValueError(f"{state!r} is no resolution; ai_route routes to a team")
        with self.lock:
            conv = self.conversations[conv_id]
            key = f"conversation:{conv_id}:ai_agent_resolved"
            variant = "" if state == "confirmed_resolution" else state
            earlier = [n for n, event in enumerate(self.truth) if event.key == key]
            if earlier:
                if (conv.get("ai_agent") or {}).get("resolution_state") != state:
                    self._ai_agent(
                        conv, at, state, source_type, source_title, answer_type, moves_updated_at
                    )
                    if not variant:
                        event = self.truth[earlier[0]]
                        self.truth[earlier[0]] = TrueEvent(
                            event.key, event.kind, event.at, event.contact_id
                        )
                    self._touch(conv_id)
                return None
            part = self._ai_part(conv_id, at, answer=True, as_admin=as_admin)
            self._ai_agent(conv, at, state, source_type, source_title, answer_type)
            contact_id = conv["contacts"]["contacts"][0]["id"]
            self._record(key, "ai_agent_resolved", at, contact_id, variant)
            self._touch(conv_id)
            return str(part["id"])

    def ai_route(
        self,
        conv_id: str,
        at: int,
        *,
        team_id: str | int | None = None,
        state: str = "routed_to_team",
        source_type: str = "workflow",
        source_title: str | None = "Fin workflow",
    ) -> str:
        """The AI agent takes part but does not resolve: it hands over (`routed_to_team`,
        assigned to `team_id` if given) or the contact leaves (`abandoned`). A Fin part,
        `ai_agent_participated: true`; no event. After an assumed resolution (the contact
        came back for a human), its event stays recorded, of the variant
        `assumed_resolution`: a syncer counts it only if it read it held before."""
        if state not in AI_STATES - AI_RESOLVED:
            raise ValueError(f"{state!r} is not a state without a resolution")
        with self.lock:
            conv = self.conversations[conv_id]
            part = self._ai_part(conv_id, at, answer=False)
            self._ai_agent(conv, at, state, source_type, source_title, None)
            if team_id is not None:
                conv["team_assignee_id"] = int(team_id)
                conv.setdefault("admin_assignee_id", None)
            self._touch(conv_id)
            return str(part["id"])

    def _ai_part(
        self, conv_id: str, at: int, *, answer: bool, as_admin: bool = False
    ) -> dict[str, Any]:
        body = "<p>Here is how to do that…</p>" if answer else "<p>Let me pass you to the team.</p>"
        author = self._fin(answer, as_admin)
        return self._add_part(
            conv_id, at, author_type=author["type"], author_id=FIN_ID, body=body, author=author
        )

    def _ai_agent(
        self,
        conv: dict[str, Any],
        at: int,
        state: str,
        source_type: str,
        source_title: str | None,
        answer_type: str | None,
        moves_updated_at: bool = True,
    ) -> None:
        """`ai_agent` as the schema of that name has it; its `created_at`/`updated_at` are
        the AI agent *rating's* times ("The time when the AI agent rating was created"),
        null until the contact rates it."""
        previous = conv.get("ai_agent") or {}
        conv["ai_agent_participated"] = True
        conv["ai_agent"] = {
            "source_type": source_type,
            "source_title": source_title,
            "last_answer_type": answer_type or previous.get("last_answer_type"),
            "resolution_state": state,
            "rating": previous.get("rating"),
            "rating_remark": previous.get("rating_remark"),
            "created_at": previous.get("created_at"),
            "updated_at": previous.get("updated_at"),
            "content_sources": {
                "type": "content_source.list",
                "total_count": 0,
                "content_sources": [],
            },
        }
        if moves_updated_at:
            conv["updated_at"] = max(conv["updated_at"], at)

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
        self,
        contact_id: str,
        at: int,
        type_name: str = "Bug",
        category: str = "Customer",
        *,
        attributes: dict[str, Any] | None = None,
        state: str | None = None,
    ) -> str:
        """A ticket of a category: Customer (the contact's), Back-office or Tracker, of the
        type `type_name` (`ticket_type.name`), with `ticket_attributes` (the default title
        and description, and `attributes`) and a `ticket_state` whose `category` is
        `state` (submitted unless told)."""
        with self.lock:
            ticket_id = self._next_id()
            self.tickets[ticket_id] = {
                "type": "ticket",
                "id": ticket_id,
                "ticket_id": str(len(self.tickets) + 1),
                "category": category,
                "ticket_attributes": {"_default_title_": "Broken", **(attributes or {})},
                "ticket_state": {"type": "ticket_state", "id": "1", "category": "submitted"},
                "ticket_type": {"type": "ticket_type", "id": "t-" + type_name, "name": type_name},
                "contacts": {"type": "ticket_contacts", "contacts": [self._ref(contact_id)]},
                "created_at": at,
                "updated_at": at,
                "open": True,
            }
            ticket = self.tickets[ticket_id]
            if self.all_fields or state is not None:
                self._ticket_state(ticket, state or "submitted")
            if self.all_fields:
                ticket["ticket_attributes"].setdefault("_default_description_", None)
                ticket["ticket_type"]["category"] = category
                ticket["contacts"]["type"] = "contact.list"  # the `ticket_contacts` enum
                ticket.update(
                    {
                        "admin_assignee_id": "0",  # as getTicket's example shows unassigned
                        "team_assignee_id": "0",
                        "linked_objects": {
                            "type": "list",
                            "data": [],
                            "total_count": 0,
                            "has_more": False,
                        },
                        "is_shared": category == "Customer",
                    }
                )
            variant = "" if category == "Customer" else category
            key = f"ticket:{ticket_id}:created"
            self._record(key, "ticket_created", at, contact_id, variant)
            self._touch(ticket_id)
            return ticket_id

    def set_ticket_state(self, ticket_id: str, at: int, state: str) -> None:
        """The ticket moves to a state of category `state` (submitted, in_progress,
        waiting_on_customer, resolved: the `ticket_state` schema); resolved closes it."""
        with self.lock:
            ticket = self.tickets[ticket_id]
            self._ticket_state(ticket, state)
            ticket["updated_at"] = max(ticket["updated_at"], at)
            self._touch(ticket_id)

    def _ticket_state(self, ticket: dict[str, Any], state: str) -> None:
        if state not in TICKET_STATES:
            raise ValueError(f"2.14's ticket states are {TICKET_STATES}, not {state!r}")
        label = state.replace("_", " ").capitalize()
        ticket["ticket_state"] = {
            "type": "ticket_state",
            "id": str(TICKET_STATES.index(state) + 1),
            "category": state,
            "internal_label": label,
            "external_label": label,
        }
        ticket["open"] = state != "resolved"  # inferred: "If false, the ticket is closed"

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
            # The latest change indexed by then (a part's may be indexed after a later one).
            old = [(at, n) for n, (at, _) in enumerate(versions) if at <= cutoff]
            if old:
                visible[oid] = versions[max(old)[1]][1]
        return visible


def generate(
    *,
    seed: int,
    conversations: int,
    start: int,
    end: int,
    tickets: int | None = None,
    parts_reading: str = "parts",
    all_fields: bool = False,
    closes: bool = False,
    ai_agent: float = 0.0,
) -> Workspace:
    """A workspace whose activity falls in [start, end], the same for the same arguments.

    Opt-in, each leaving the rest as it is: `all_fields`, objects with every field 2.14
    shows; `closes`, each close a `close()` (a `conversation_closed` event, and the close
    statistics); `ai_agent`, that share of contact-opened conversations answered by the AI
    agent in their first second (drawn apart from the rest: the same conversations, parts
    and events otherwise, with ids shifted): 60 % assumed, 25 % confirmed, 15 % routed."""
    rng = random.Random(seed)
    ai = (random.Random(f"ai:{seed}"), ai_agent) if ai_agent > 0 else None
    ws = Workspace(parts_reading=parts_reading, all_fields=all_fields)
    companies = [ws.add_company(f"Company {i} ÄÖ") for i in range(max(1, conversations // 20))]
    contacts = [_random_contact(ws, rng, i, companies) for i in range(max(2, conversations // 2))]
    span = max(1, end - start)
    for _ in range(conversations):
        _random_conversation(ws, rng, contacts, start, span, end, closes=closes, ai=ai)
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
    ws: Workspace,
    rng: random.Random,
    contacts: list[str],
    start: int,
    span: int,
    end: int,
    *,
    closes: bool = False,
    ai: tuple[random.Random, float] | None = None,
) -> None:
    contact = rng.choice(contacts)
    at = start + rng.randrange(span)
    opener = rng.random()
    conv = ws.start_conversation(contact, at, by_admin=opener < 0.1, by_bot=0.1 <= opener < 0.2)
    if ai is not None and opener >= 0.2 and ai[0].random() < ai[1]:
        draw = ai[0].random()
        if draw < 0.6:
            ws.ai_resolve(conv, at, "assumed_resolution")
        elif draw < 0.85:
            ws.ai_resolve(conv, at, "confirmed_resolution")
        else:
            ws.ai_route(conv, at)
    for _ in range(rng.randrange(0, 7)):
        at += rng.randrange(1, 3 * 3600)
        if at > end:
            return
        at = support_step(ws, rng, conv, at, end, closes=closes)


def support_step(
    ws: Workspace,
    rng: random.Random,
    conv: str,
    at: int,
    end: int,
    *,
    gap: int = 60,
    closes: bool = False,
) -> int:
    """One step of support activity on a conversation at `at`, the generator's mix: the
    contact writes (35 %), an admin or a bot answers, a note, an assignment, or a close, which
    the contact may answer (reopening it) or rate `gap` and `2 * gap` seconds later, if that is
    still before `end`. Returns the time of the step's last change. With `closes`, a close
    is `Workspace.close` (a `conversation_closed` event, the close statistics); the draws
    are the same."""
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
        if closes:
            ws.close(conv, at)
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


# What `furnish` gives a generated workspace, besides what a config's filters name: tags
# (some not ASCII, as real workspaces have), segments, company plans and industries, a
# contact attribute; the values real filters test against.
DEMO_TAGS = ("Billing", "Bug", "VIP", "Feature request", "Facturación", "緊急")
DEMO_SEGMENTS = ("Trial users", "Active users", "Churn risk")
DEMO_PLANS = ("Free", "Pro", "Enterprise", "Scale")
DEMO_INDUSTRIES = ("Software", "Retail", "Finance", "Santé")
DEMO_CONTACT_PLANS = ("trial", "paid", "free")


def furnish(
    ws: Workspace,
    seed: int,
    *,
    tags: tuple[str, ...] = (),
    segments: tuple[str, ...] = (),
    plans: tuple[str, ...] = (),
    ticket_types: tuple[str, ...] = (),
    attributes: dict[str, dict[str, tuple[Any, ...]]] | None = None,
) -> None:
    """Give a generated workspace what filters read, drawn from its own random stream (the
    conversations, parts and events stay as generated): tags on conversations and contacts,
    segments, every company a plan, size, industry, monthly spend and a custom attribute,
    contacts a `plan` custom attribute; besides the demo's own names, the `tags`, `segments`,
    `plans` and ticket types a config names, and `attributes` (model -> name -> values; model
    contact, company or conversation) on about half of the objects."""
    rng = random.Random(f"furnish:{seed}")
    attributes = attributes or {}
    tag_ids = [ws.add_tag(name) for name in dict.fromkeys((*DEMO_TAGS, *tags))]
    segment_ids = [ws.add_segment(name) for name in dict.fromkeys((*DEMO_SEGMENTS, *segments))]
    plan_names = list(dict.fromkeys((*DEMO_PLANS, *plans)))
    for company_id in list(ws.companies):
        company = ws.companies[company_id]
        users = sum(company_id in ids for ids in ws.contact_companies.values())
        custom = {"region": rng.choice(["EMEA", "AMER", "APAC"])}
        custom |= _drawn(rng, attributes.get("company", {}))
        # add_company's full shape, then the generated company's id and name kept.
        rich = ws.add_company(
            company["name"],
            plan=rng.choice(plan_names),
            size=rng.choice([5, 20, 80, 400, 2_000]),
            industry=rng.choice(DEMO_INDUSTRIES),
            monthly_spend=rng.choice([0, 49, 490, 4_900]),
            custom=custom,
            created_at=company.get("created_at") or 0,
        )
        fields = ws.companies.pop(rich)
        company.update({k: v for k, v in fields.items() if k not in ("id", "company_id", "name")})
        company["user_count"] = users
    for contact_id, contact in ws.contacts.items():
        custom = contact["custom_attributes"]
        custom["plan"] = rng.choice(DEMO_CONTACT_PLANS)
        custom.update(_drawn(rng, attributes.get("contact", {})))
        for tag_id in rng.sample(tag_ids, k=rng.choice([0, 0, 1, 2])):
            ws.tag_contact(contact_id, tag_id, contact.get("created_at") or 0)
        for segment_id in rng.sample(segment_ids, k=rng.choice([0, 1, 1, 2])):
            ws.put_in_segment(contact_id, segment_id)
    for conv_id, conv in list(ws.conversations.items()):
        at = conv["created_at"]
        for tag_id in rng.sample(tag_ids, k=rng.choice([0, 1, 1, 2])):
            ws.tag_conversation(conv_id, tag_id, at, moves_updated_at=False)
        drawn = _drawn(rng, attributes.get("conversation", {}))
        if drawn:
            conv.setdefault("custom_attributes", {}).update(drawn)
    contacts = sorted(ws.contacts)
    times = sorted(t["created_at"] for t in ws.tickets.values()) or [0]
    for type_name in dict.fromkeys(ticket_types):
        for category in ("Customer", "Customer", "Back-office", "Tracker"):
            ws.add_ticket(rng.choice(contacts), rng.choice(times), type_name, category)


def _drawn(rng: random.Random, wanted: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """About half of the objects hold each wanted attribute, with one of its values."""
    return {
        name: rng.choice(values) for name, values in wanted.items() if values and rng.random() < 0.5
    }
