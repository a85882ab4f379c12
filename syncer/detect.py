"""Intercom objects in, events out: pure functions, no I/O.

Every event has a deterministic key, so reading the same object twice yields the same key and
the outbox (unique on it) keeps one copy. `achieved_at` is Intercom's own time of the event in
milliseconds, never the time we polled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

# A contact's author type (register R-authors): `user` and `lead` in Intercom's examples; the
# author schema speaks of "a Contact", so `contact` counts too.
CONTACT_AUTHORS = frozenset({"user", "lead", "contact"})
# A contact's reply to a closed conversation arrives as an `open` part carrying the message;
# every other part type (note, assignment, close, snoozed, ...) is not a contact message.
MESSAGE_PART_TYPES = frozenset({"comment", "open"})
# A contact clicking one of the buttons a bot offered: a message only if the operator says so.
QUICK_REPLY = "quick_reply"
# `source.delivered_as` of a conversation a custom bot or workflow opened (register:
# R-delivered-as): the contact answered it rather than opening it.
BOT_DELIVERY = "operator_initiated"


class Unreadable(ValueError):
    """The object lacks what its event needs (an id, a time); it is skipped and counted."""


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


def conversation_started(conversation: Mapping[str, Any], window: Window) -> list[Event]:
    """A conversation the contact opened; admin-initiated (outbound) ones are not counted."""
    conv_id = _id(conversation)
    source = _mapping(conversation.get("source"))
    author = _mapping(source.get("author"))
    if author.get("type") not in CONTACT_AUTHORS:
        return []
    created = _seconds(conversation, "created_at")
    if created not in window:
        return []
    return [
        Event(
            key=f"conversation:{conv_id}:started",
            kind="conversation_started",
            achieved_at=created * 1000,
            contact=_contact(conversation, author.get("id")),
            facts={"conversation.id": conv_id},
        )
    ]


def bot_conversation_started(conversation: Mapping[str, Any], window: Window) -> list[Event]:
    """A conversation a bot or workflow opened, counted when the contact first answered it
    (`statistics.first_contact_reply_at`), for operators who count those as started."""
    conv_id = _id(conversation)
    source = _mapping(conversation.get("source"))
    if source.get("delivered_as") != BOT_DELIVERY:
        return []
    stats = _mapping(conversation.get("statistics"))
    if stats.get("first_contact_reply_at") is None:
        return []  # the contact never answered: nobody asked for support
    answered = _seconds(stats, "first_contact_reply_at", f"conversation {conv_id!r}")
    if answered not in window:
        return []
    return [
        Event(
            key=f"conversation:{conv_id}:started",
            kind="conversation_started",
            achieved_at=answered * 1000,
            contact=_contact(conversation, None),
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
    conv_id = _id(conversation)
    rating = conversation.get("conversation_rating")
    if not isinstance(rating, Mapping) or rating.get("rating") is None:
        return []
    score = rating.get("rating")
    where = f"conversation {conv_id!r}: conversation_rating"
    rated_at = _seconds(rating, "updated_at", where)
    # Only the lower bound: the scan searches `replied_at`, which may stay where the score
    # was given while a remark moves `updated_at` on (a plausible reading the spec leaves
    # open). Such an item is still this window's rating, dated at `updated_at`; keys make
    # the one a second past `hi` harmless under the other reading.
    if rated_at < window.lo:
        return []
    requested = rating.get("created_at")
    requested_at = int(requested) if _is_number(requested) and requested >= 0 else 0
    rater = _mapping(rating.get("contact"))
    contact = _contact(conversation, rater.get("id"))
    if "external_id" in rater:
        contact = {**contact, "external_id": rater["external_id"]}
    remark = rating.get("remark")
    return [
        Event(
            key=f"conversation:{conv_id}:rated:{requested_at}:{_score_text(score)}",
            kind="conversation_rated",
            achieved_at=rated_at * 1000,
            contact=contact,
            facts={
                "conversation.id": conv_id,
                "rating.score": score if _is_number(score) else None,
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
    if not _is_number(score):
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
    conv_id = _id(conversation)
    events: list[Event] = []
    source = _mapping(conversation.get("source"))
    author = _mapping(source.get("author"))
    if author.get("type") in CONTACT_AUTHORS:
        created = _seconds(conversation, "created_at")
        if created in window:
            events.append(
                _message(f"conversation:{conv_id}:opening", created, conversation, author)
            )
    for part in _parts(conversation):
        part_author = _mapping(part.get("author"))
        if part_author.get("type") not in CONTACT_AUTHORS:
            continue
        part_type = part.get("part_type")
        if part_type not in MESSAGE_PART_TYPES and not (quick_replies and part_type == QUICK_REPLY):
            continue
        if part.get("part_type") == "open" and not part.get("body"):
            continue  # a bare reopen, with no message in it
        created = _seconds(part, "created_at")
        if created in window:
            message = _message(f"part:{_id(part)}", created, conversation, part_author)
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
    ticket_id = _id(ticket)
    category = ticket.get("category")
    if categories and isinstance(category, str) and category not in categories:
        return []
    created = _seconds(ticket, "created_at")
    if created not in window:
        return []
    contacts = _mapping(ticket.get("contacts")).get("contacts")
    first = contacts[0] if isinstance(contacts, list) and contacts else {}
    first = _mapping(first)
    contact: dict[str, Any] = {"id": _str_or_none(first.get("id"))}
    if "external_id" in first:
        contact["external_id"] = _str_or_none(first.get("external_id"))
    ticket_type = _mapping(ticket.get("ticket_type")).get("name")
    return [
        Event(
            key=f"ticket:{ticket_id}:created",
            kind="ticket_created",
            achieved_at=created * 1000,
            contact=contact,
            facts={
                "ticket.id": ticket_id,
                "ticket.type": ticket_type if isinstance(ticket_type, str) else None,
                "ticket.category": category if isinstance(category, str) else None,
            },
        )
    ]


# The part a close makes (register: R-close-parts); an admin closes, and so does a workflow
# or bot on an admin's behalf.
CLOSE_PART = "close"
CLOSED = "closed"
# A part's `state` is "the current state of conversation when the conversation part was
# created": the state the part left it in, as every close part of the real payloads shows
# `closed` (register: R-close-state). Parts that open or snooze it say so by their type,
# whatever they show; a part without `state` leaves it as it was.
PART_STATES = frozenset({"open", CLOSED, "snoozed"})
REOPENING = {"open": "open", "assign_and_reopen": "open", "snoozed": "snoozed"}


def conversation_closed(conversation: Mapping[str, Any], window: Window) -> list[Event]:
    """Every close of the conversation whose own time is in the window, once each: a part
    that turns its `state` closed (whatever its type), or a move of
    `statistics.last_close_at` that no such part shows. Closed again after a reopen is a
    new event."""
    _id(conversation)  # unreadable without one, whether or not it was closed
    author = _mapping(_mapping(conversation.get("source")).get("author"))
    contact_id = author.get("id") if author.get("type") in CONTACT_AUTHORS else None
    standing, reopened_at = close_parts(conversation)
    events = []
    for part in standing:
        closed = _seconds(part, "created_at")
        if closed in window:
            by = _str_or_none(_mapping(part.get("author")).get("type"))
            events.append(_closed(conversation, _id(part), closed, contact_id, by))
    last = marker(conversation, "statistics.last_close_at")
    if last is not None and last in window and _unshown(conversation, standing, reopened_at, last):
        events.append(_closed(conversation, f"at:{last}", last, contact_id, None))
    return events


def close_parts(conversation: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], int | None]:
    """The part that stands for each close, in order, and when the parts last undid a close
    (None: they leave it closed, or never closed it).

    A closed stretch runs from the part that turns the state closed to the next part that
    opens or snoozes it. Each `close` part is a close, as earlier versions counted and keyed
    it (an upgrade sends nothing twice); a stretch without one is a close of the part that
    turned the state closed."""
    parts = _parts(conversation)
    # A conversation is open before its first part; before the oldest of the 500 Intercom
    # returns of a longer one, its state is not known (None): no close is guessed there.
    state: str | None = "open" if len(parts) < MAX_PARTS else None
    stretches: list[list[Mapping[str, Any]]] = []
    reopened_at: int | None = None
    for part in parts:  # Intercom lists them oldest first
        part_type, shown = part.get("part_type"), part.get("state")
        after: str | None
        if part_type == CLOSE_PART:
            after = CLOSED
        elif isinstance(part_type, str) and part_type in REOPENING:
            after = REOPENING[part_type]
        else:
            after = shown if isinstance(shown, str) and shown in PART_STATES else state
        if after == CLOSED and state not in (CLOSED, None):
            stretches.append([part])
        elif after == CLOSED and part_type == CLOSE_PART:
            if state is None or not stretches:  # the stretch began before the parts shown
                stretches.append([])
            stretches[-1].append(part)
        elif after != CLOSED and state == CLOSED:
            reopened_at = _time_or_none(part.get("created_at"))
        state = after
    if state == CLOSED:
        reopened_at = None
    standing = [
        part
        for stretch in stretches
        for part in ([p for p in stretch if p.get("part_type") == CLOSE_PART] or stretch[:1])
    ]
    return standing, reopened_at


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
        returned = _parts(conversation)
        oldest = oldest_part_at(conversation)
        return not (len(returned) >= MAX_PARTS and oldest is not None and last < oldest)
    return reopened_at is not None and last >= reopened_at


def _closed(
    conversation: Mapping[str, Any], suffix: str, at: int, contact_id: object, by: str | None
) -> Event:
    conv_id = _id(conversation)
    return Event(
        key=f"conversation:{conv_id}:closed:{suffix}",
        kind="conversation_closed",
        achieved_at=at * 1000,
        contact=_contact(conversation, contact_id),
        facts={"conversation.id": conv_id, "closed.by": by},
    )


# `ai_agent.resolution_state` values that are a resolution (register: R-ai-agent); the
# others are `routed_to_team`, `abandoned` and null. A confirmed one is the contact's word;
# an assumed one is Intercom's guess from their silence, which it revises (to routed when
# they come back for a human): it counts only where a goal says so, once it has held.
CONFIRMED = "confirmed_resolution"
ASSUMED = "assumed_resolution"
AI_RESOLVED = frozenset({ASSUMED, CONFIRMED})
# The names the AI agent's parts show where they carry no `from_ai_agent` (R-ai-answer):
# `bot` parts in 2.14's examples, an `admin` named so in real payloads.
AI_AGENT_NAMES = frozenset({"Fin"})


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
    conv_id = _id(conversation)
    state = _mapping(conversation.get("ai_agent")).get("resolution_state")
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
    author = _mapping(_mapping(conversation.get("source")).get("author"))
    contact_id = author.get("id") if author.get("type") in CONTACT_AUTHORS else None
    facts: dict[str, Any] = {"conversation.id": conv_id, "ai_agent.resolution_state": state}
    if state == ASSUMED:
        facts["ai_agent.held"] = window.hi - answered
    return [
        Event(
            key=f"conversation:{conv_id}:ai_agent_resolved",
            kind="ai_agent_resolved",
            achieved_at=answered * 1000,
            contact=_contact(conversation, contact_id),
            facts=facts,
        )
    ]


def ai_answer_at(
    conversation: Mapping[str, Any], agent_names: frozenset[str] = AI_AGENT_NAMES
) -> int | None:
    """The time of the AI agent's last answer (register R-ai-answer): its last part with
    `is_ai_answer: true`; else (a custom answer) its last part with `from_ai_agent: true`
    and a body; else, where no part carries `from_ai_agent` (2.14's examples), its last
    comment with a body by a `bot`, or by an `admin` of the AI agent's name. Never an
    attribute or workflow part (`from_ai_agent: false`, or no body)."""
    parts = _parts(conversation)
    authors = [_mapping(p.get("author")) for p in parts]
    answers = [p for p, a in zip(parts, authors, strict=True) if a.get("is_ai_answer") is True]
    if not answers:
        answers = [
            p
            for p, a in zip(parts, authors, strict=True)
            if a.get("from_ai_agent") is True and _has_body(p)
        ]
    if not answers and not any("from_ai_agent" in a for a in authors):
        answers = [
            p
            for p, a in zip(parts, authors, strict=True)
            if p.get("part_type") == "comment"
            and _has_body(p)
            and (
                a.get("type") == "bot"
                or (a.get("type") == "admin" and a.get("name") in agent_names)
            )
        ]
    times = [t for t in (_time_or_none(p.get("created_at")) for p in answers) if t is not None]
    return max(times) if times else None


def _has_body(part: Mapping[str, Any]) -> bool:
    body = part.get("body")
    return isinstance(body, str) and bool(body.strip())


def _time_or_none(value: object) -> int | None:
    return int(value) if _is_number(value) and value >= 0 else None


Detector = Callable[[Mapping[str, Any], Window], list[Event]]


# How `statistics.count_conversation_parts` counts is not documented ("Total number of
# conversation parts"; register: R-count-parts). It may count like the parts list's
# `total_count`, which leaves the opening message (the `source`) out: PARTS; or count the
# opening too: WITH_OPENING. None: not known (yet).
PARTS = "parts"
WITH_OPENING = "with_opening"


def opening_only(item: Mapping[str, Any], reading: str | None = None) -> bool:
    """Whether a search item is already the whole conversation: the contact's opening message
    and not one part after it, so fetching it could add nothing.

    With no part, the count is 0 under PARTS and 1 under WITH_OPENING. Not knowing the
    reading, only 0 is safe (a 1 may be the opening alone or one part more). The last contact
    reply being the opening itself says the same from a second field, so one stale field
    cannot hide a message; anything less clear is fetched.
    """
    stats = _mapping(item.get("statistics"))
    count, last_reply = stats.get("count_conversation_parts"), stats.get("last_contact_reply_at")
    author = _mapping(_mapping(item.get("source")).get("author"))
    return (
        _is_int(count)
        and count == (1 if reading == WITH_OPENING else 0)
        and _is_int(last_reply)
        and last_reply == item.get("created_at")
        and author.get("type") in CONTACT_AUTHORS
    )


def parts_reading(conversation: Mapping[str, Any]) -> str | None:
    """The reading a fetched conversation shows: its count against the parts it returned
    (None where it cannot tell: beyond Intercom's 500, or neither reading fits)."""
    count = _mapping(conversation.get("statistics")).get("count_conversation_parts")
    returned = _mapping(conversation.get("conversation_parts")).get("conversation_parts")
    if not _is_int(count) or not isinstance(returned, list) or len(returned) >= MAX_PARTS:
        return None
    if count == len(returned):
        return PARTS
    return WITH_OPENING if count == len(returned) + 1 else None


MAX_PARTS = 500  # GET /conversations/{id} returns at most the 500 most recent parts


def missing_parts(conversation: Mapping[str, Any], reading: str | None = None) -> int:
    """How many parts the conversation says it has beyond those it returned (500-part cap).
    Not knowing the reading, the larger figure (PARTS): a false alarm, never a missed one."""
    stats = _mapping(conversation.get("statistics"))
    total = stats.get("count_conversation_parts")
    parts = _mapping(conversation.get("conversation_parts"))
    returned = parts.get("conversation_parts")
    if not isinstance(total, int) or not isinstance(returned, list):
        return 0
    return max(0, total - (1 if reading == WITH_OPENING else 0) - len(returned))


def marker(conversation: Mapping[str, Any], name: str) -> int | None:
    """A time field by its dotted name (`statistics.last_close_at`), if it is usable."""
    value = dotted(conversation, name)
    usable = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if usable else None


def dotted(obj: Mapping[str, Any], name: str) -> Any:
    """The value at a dotted name, or None where the path breaks off."""
    value: Any = obj
    for part in name.split("."):
        value = _mapping(value).get(part)
    return value


def oldest_part_at(conversation: Mapping[str, Any]) -> int | None:
    """The time of the oldest part returned, or None if none has a usable time."""
    times = [p.get("created_at") for p in _parts(conversation)]
    usable = [int(t) for t in times if _is_number(t) and t >= 0]
    return min(usable) if usable else None


def _message(
    key: str, created: int, conversation: Mapping[str, Any], author: Mapping[str, Any]
) -> Event:
    return Event(
        key=key,
        kind="user_messaged",
        achieved_at=created * 1000,
        contact=_contact(conversation, author.get("id")),
        facts={"conversation.id": _id(conversation)},
    )


def _contact(conversation: Mapping[str, Any], contact_id: object) -> dict[str, Any]:
    """The contact's id, plus its external_id where the conversation's contact list shows it."""
    wanted = _str_or_none(contact_id)
    listed = _mapping(conversation.get("contacts")).get("contacts")
    entries = [_mapping(c) for c in listed] if isinstance(listed, list) else []
    if wanted is None and len(entries) == 1:
        wanted = _str_or_none(entries[0].get("id"))
    contact: dict[str, Any] = {"id": wanted}
    for entry in entries:
        if (
            wanted is not None
            and _str_or_none(entry.get("id")) == wanted
            and "external_id" in entry
        ):
            contact["external_id"] = _str_or_none(entry.get("external_id"))
    return contact


def _parts(conversation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    holder = _mapping(conversation.get("conversation_parts"))
    parts = holder.get("conversation_parts")
    if not isinstance(parts, list):
        return []
    return [part for part in parts if isinstance(part, Mapping)]


def _id(obj: Mapping[str, Any]) -> str:
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise Unreadable(f"{obj.get('type') or 'object'} without a usable id: {value!r}")
    return str(value)


def _seconds(obj: Mapping[str, Any], name: str, where: str | None = None) -> int:
    """A UNIX time; `where` names the object when `obj` is a part of one (a rating)."""
    value = obj.get(name)
    if _is_number(value) and value >= 0:
        return int(value)
    where = where or f"{obj.get('type') or 'object'} {obj.get('id')!r}"
    raise Unreadable(f"{where}: {name} is {value!r}")


def _is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number we can use: not a bool, and finite (Python's json reads the non-standard
    Infinity and NaN, which no Collector takes)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str_or_none(value: object) -> str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int) else None
