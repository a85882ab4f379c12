"""Intercom objects in, events out: one detector for each goal kind; pure functions, no I/O.

Every event has a deterministic key, so reading the same object twice yields the same key and
the outbox (unique on it) keeps one copy. `achieved_at` is Intercom's own time of the event in
milliseconds, never the time we polled. What the detectors read of a conversation's parts is
in syncer/parts.py, the parts count's readings in syncer/parts_count.py, and how a value is
read out of Intercom's JSON in syncer/values.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from syncer.errors import Unreadable as Unreadable

# The names imported `as` themselves are re-exported: pipeline, learned, probe and recovery
# read them as detect.X.
from syncer.parts import (
    AI_AGENT_NAMES,
    MAX_PARTS,
    author_of,
    contact_of,
    opener,
    opening_contact_id,
    parts_of,
)
from syncer.parts import CONTACT_AUTHORS as CONTACT_AUTHORS
from syncer.parts import ai_answer_at as ai_answer_at
from syncer.parts import close_parts as close_parts
from syncer.parts import oldest_part_at as oldest_part_at
from syncer.parts_count import PARTS as PARTS
from syncer.parts_count import WITH_OPENING as WITH_OPENING
from syncer.parts_count import missing_parts as missing_parts
from syncer.parts_count import opening_only as opening_only
from syncer.parts_count import parts_reading as parts_reading
from syncer.timeparse import ms
from syncer.values import dotted as dotted
from syncer.values import id_of, is_number, mapping, seconds, str_or_none
from syncer.values import marker as marker

# A contact's reply to a closed conversation arrives as an `open` part carrying the message;
# every other part type (note, assignment, close, snoozed, ...) is not a contact message.
MESSAGE_PART_TYPES = frozenset({"comment", "open"})
# A contact clicking one of the buttons a bot offered: a message only if the operator says so.
QUICK_REPLY = "quick_reply"
# `source.delivered_as` of a conversation a custom bot or workflow opened (register:
# R-delivered-as): the contact answered it rather than opening it.
BOT_DELIVERY = "operator_initiated"


@dataclass(frozen=True, slots=True)
class Event:
    key: str
    kind: str
    achieved_at: int  # milliseconds since the epoch
    contact: Mapping[str, Any]  # what the Intercom object already says of the contact
    facts: Mapping[str, Any]  # property sources the object settles (conversation.id, rating.score)
    replaces: str | None = None  # the key an earlier version gave the same event
    # What a goal's `where` may read of the conversation or ticket (filters.subject): set
    # by the pipeline, which knows the object's resource.
    subject: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Window:
    """The closed interval [lo, hi] of UNIX seconds whose events are wanted."""

    lo: int
    hi: int

    def __contains__(self, seconds: int) -> bool:
        return self.lo <= seconds <= self.hi


Detector = Callable[[Mapping[str, Any], Window], list[Event]]


def conversation_started(conversation: Mapping[str, Any], window: Window) -> list[Event]:
    """A conversation the contact opened; admin-initiated (outbound) ones are not counted."""
    conv_id = id_of(conversation)
    author = opener(conversation)
    if author.get("type") not in CONTACT_AUTHORS:
        return []
    created = seconds(conversation, "created_at")
    if created not in window:
        return []
    return [
        Event(
            key=f"conversation:{conv_id}:started",
            kind="conversation_started",
            achieved_at=ms(created),
            contact=contact_of(conversation, author.get("id")),
            facts={"conversation.id": conv_id},
        )
    ]


def bot_conversation_started(conversation: Mapping[str, Any], window: Window) -> list[Event]:
    """A conversation a bot or workflow opened, counted when the contact first answered it
    (`statistics.first_contact_reply_at`), for operators who count those as started."""
    conv_id = id_of(conversation)
    source = mapping(conversation.get("source"))
    if source.get("delivered_as") != BOT_DELIVERY:
        return []
    stats = mapping(conversation.get("statistics"))
    if stats.get("first_contact_reply_at") is None:
        return []  # the contact never answered: nobody asked for support
    answered = seconds(stats, "first_contact_reply_at", f"conversation {conv_id!r}")
    if answered not in window:
        return []
    return [
        Event(
            key=f"conversation:{conv_id}:started",
            kind="conversation_started",
            achieved_at=ms(answered),
            contact=contact_of(conversation, None),
            facts={"conversation.id": conv_id, "started.by_bot": True},
        )
    ]


def conversation_rated(conversation: Mapping[str, Any], window: Window) -> list[Event]:
    """The rating the contact gave, at the time they gave it.

    The rating's `created_at` is when it was *requested* and `updated_at` when it was "last
    updated" (register: R-rating-times); what moves `updated_at` besides a new score (a
    remark?) is not documented. The key is therefore the request and the score: a changed
    score is a new event, a remark or any other update is not. A score changed back to one
    it already had on the same request is not new either (Intercom shows only the latest).
    """
    conv_id = id_of(conversation)
    rating = conversation.get("conversation_rating")
    if not isinstance(rating, Mapping) or rating.get("rating") is None:
        return []
    score = rating.get("rating")
    where = f"conversation {conv_id!r}: conversation_rating"
    rated_at = seconds(rating, "updated_at", where)
    # Only the lower bound: the scan searches `replied_at`, which may stay where the score
    # was given while a remark moves `updated_at` on (a plausible reading the spec leaves
    # open). Such an item is still this window's rating, dated at `updated_at`; keys make
    # the one a second past `hi` harmless under the other reading.
    if rated_at < window.lo:
        return []
    requested = rating.get("created_at")
    requested_at = int(requested) if is_number(requested) and requested >= 0 else 0
    rater = mapping(rating.get("contact"))
    contact = contact_of(conversation, rater.get("id"))
    if "external_id" in rater:
        contact = {**contact, "external_id": rater["external_id"]}
    remark = rating.get("remark")
    return [
        Event(
            key=f"conversation:{conv_id}:rated:{requested_at}:{_score_text(score)}",
            kind="conversation_rated",
            achieved_at=ms(rated_at),
            contact=contact,
            facts={
                "conversation.id": conv_id,
                "rating.score": score if is_number(score) else None,
                "rating.remark": remark if isinstance(remark, str) else None,
            },
            # Earlier versions keyed a rating by the time it was given: an outbox that
            # holds that key already has this event.
            replaces=f"conversation:{conv_id}:rated:{rated_at}",
        )
    ]


def _score_text(score: object) -> str:
    """The score as a key says it: 4 and 4.0 alike; a score that is no number, as `other`
    (it still counts; it has no score property)."""
    if not is_number(score):
        return "other"
    return str(int(score)) if float(score).is_integer() else repr(float(score))


def user_messaged(
    conversation: Mapping[str, Any], window: Window, *, quick_replies: bool = False
) -> list[Event]:
    """Every message the contact wrote whose own time is in the window, the opening one included
    (and, with `quick_replies`, every button of a bot's the contact clicked).

    Parts are chosen by author and type, never by comparing with a cursor: a cursor comparison
    loses parts whose conversation was indexed late.
    """
    conv_id = id_of(conversation)
    events: list[Event] = []
    author = opener(conversation)
    if author.get("type") in CONTACT_AUTHORS:
        created = seconds(conversation, "created_at")
        if created in window:
            events.append(
                _message(f"conversation:{conv_id}:opening", created, conversation, author)
            )
    for part in parts_of(conversation):
        part_author = author_of(part)
        if part_author.get("type") not in CONTACT_AUTHORS:
            continue
        part_type = part.get("part_type")
        if part_type not in MESSAGE_PART_TYPES and not (quick_replies and part_type == QUICK_REPLY):
            continue
        if part.get("part_type") == "open" and not part.get("body"):
            continue  # a bare reopen, with no message in it
        created = seconds(part, "created_at")
        if created in window:
            message = _message(f"part:{id_of(part)}", created, conversation, part_author)
            if part_type == QUICK_REPLY:  # a goal counts it only with `quick_replies`
                message = replace(message, facts={**message.facts, "message.quick_reply": True})
            events.append(message)
    return events


def ticket_created(
    ticket: Mapping[str, Any], window: Window, *, categories: frozenset[str] = frozenset()
) -> list[Event]:
    """A ticket, counted for its first contact, at the time it was created (for a ticket
    converted from a conversation: when it was converted). With `categories`, only tickets of
    those categories (Customer, Back-office, Tracker) count (each goal then keeps its own,
    by the `ticket.category` fact)."""
    ticket_id = id_of(ticket)
    category = ticket.get("category")
    if categories and isinstance(category, str) and category not in categories:
        return []
    created = seconds(ticket, "created_at")
    if created not in window:
        return []
    contacts = mapping(ticket.get("contacts")).get("contacts")
    first = contacts[0] if isinstance(contacts, list) and contacts else {}
    first = mapping(first)
    contact: dict[str, Any] = {"id": str_or_none(first.get("id"))}
    if "external_id" in first:
        contact["external_id"] = str_or_none(first.get("external_id"))
    ticket_type = mapping(ticket.get("ticket_type")).get("name")
    return [
        Event(
            key=f"ticket:{ticket_id}:created",
            kind="ticket_created",
            achieved_at=ms(created),
            contact=contact,
            facts={
                "ticket.id": ticket_id,
                "ticket.type": ticket_type if isinstance(ticket_type, str) else None,
                "ticket.category": category if isinstance(category, str) else None,
            },
        )
    ]


def conversation_closed(conversation: Mapping[str, Any], window: Window) -> list[Event]:
    """Every close of the conversation whose own time is in the window, once each: a part
    that turns its `state` closed (whatever its type), or a move of
    `statistics.last_close_at` that no such part shows. Closed again after a reopen is a
    new event."""
    id_of(conversation)  # unreadable without one, whether or not it was closed
    contact_id = opening_contact_id(conversation)
    standing, reopened_at = close_parts(conversation)
    events = []
    for part in standing:
        closed = seconds(part, "created_at")
        if closed in window:
            by = str_or_none(author_of(part).get("type"))
            events.append(_closed(conversation, id_of(part), closed, contact_id, by))
    last = marker(conversation, "statistics.last_close_at")
    if last is not None and last in window and _unshown(conversation, standing, reopened_at, last):
        events.append(_closed(conversation, f"at:{last}", last, contact_id, None))
    return events


def _unshown(
    conversation: Mapping[str, Any],
    standing: list[Mapping[str, Any]],
    reopened_at: int | None,
    last: int,
) -> bool:
    """Whether `last_close_at` is a close no part shows: the parts show none, or it came
    after they last reopened the conversation. Where Intercom returned only its newest 500
    parts and the close predates them, the parts that would show it are unread: not
    counted (a close seen before is not sent twice under another key)."""
    if not standing:
        returned = parts_of(conversation)
        oldest = oldest_part_at(conversation)
        return not (len(returned) >= MAX_PARTS and oldest is not None and last < oldest)
    return reopened_at is not None and last >= reopened_at


def _closed(
    conversation: Mapping[str, Any], suffix: str, at: int, contact_id: object, by: str | None
) -> Event:
    conv_id = id_of(conversation)
    return Event(
        key=f"conversation:{conv_id}:closed:{suffix}",
        kind="conversation_closed",
        achieved_at=ms(at),
        contact=contact_of(conversation, contact_id),
        facts={"conversation.id": conv_id, "closed.by": by},
    )


# `ai_agent.resolution_state` values that are a resolution (register: R-ai-agent); the
# others are `routed_to_team`, `abandoned` and null. A confirmed one is the contact's word;
# an assumed one is Intercom's guess from their silence, which it revises (to routed when
# they come back for a human): it counts only where a goal says so, once it has held.
CONFIRMED = "confirmed_resolution"
ASSUMED = "assumed_resolution"
AI_RESOLVED = frozenset({ASSUMED, CONFIRMED})


def ai_agent_resolved(
    conversation: Mapping[str, Any],
    window: Window,
    *,
    holds: frozenset[int] = frozenset(),
    agent_names: frozenset[str] = AI_AGENT_NAMES,
) -> list[Event]:
    """The AI agent resolved the conversation: one event a conversation, dated by the AI
    agent's last answer (register R-ai-answer).

    A confirmed resolution counts in the window that holds its answer. With `holds` (the
    seconds an assumed resolution must hold, one for each goal that counts them), an
    assumed one counts in each window that holds the moment it has held that long, with
    `ai_agent.held`, how long it had when the window ends, for each goal to judge
    (GoalSettings.admits). Without `holds`, assumed resolutions are not counted."""
    conv_id = id_of(conversation)
    state = mapping(conversation.get("ai_agent")).get("resolution_state")
    if state not in AI_RESOLVED or (state == ASSUMED and not holds):
        return []
    answered = ai_answer_at(conversation, agent_names)
    if answered is None:
        raise Unreadable(
            f"conversation {conv_id!r}: resolved by the AI agent, but no part of its says when"
        )
    moments = [answered] if state == CONFIRMED else [answered + hold for hold in holds]
    if not any(moment in window for moment in moments):
        return []
    contact_id = opening_contact_id(conversation)
    facts: dict[str, Any] = {"conversation.id": conv_id, "ai_agent.resolution_state": state}
    if state == ASSUMED:
        facts["ai_agent.held"] = window.hi - answered
    return [
        Event(
            key=f"conversation:{conv_id}:ai_agent_resolved",
            kind="ai_agent_resolved",
            achieved_at=ms(answered),
            contact=contact_of(conversation, contact_id),
            facts=facts,
        )
    ]


def _message(
    key: str, created: int, conversation: Mapping[str, Any], author: Mapping[str, Any]
) -> Event:
    return Event(
        key=key,
        kind="user_messaged",
        achieved_at=ms(created),
        contact=contact_of(conversation, author.get("id")),
        facts={"conversation.id": id_of(conversation)},
    )
