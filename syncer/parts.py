"""What a conversation's parts show: who wrote them, which contact it is with, its closes and
the AI agent's answers. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from syncer.values import is_number, mapping, str_or_none, time_or_none

# A contact's author type (register R-authors): `user` and `lead` in Intercom's examples; the
# author schema speaks of "a Contact", so `contact` counts too.
CONTACT_AUTHORS = frozenset({"user", "lead", "contact"})
MAX_PARTS = 500  # GET /conversations/{id} returns at most the 500 most recent parts


def parts_of(conversation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The parts returned, oldest first as Intercom lists them; what is no object left out."""
    holder = mapping(conversation.get("conversation_parts"))
    parts = holder.get("conversation_parts")
    if not isinstance(parts, list):
        return []
    return [part for part in parts if isinstance(part, Mapping)]


def author_of(part: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(part.get("author"))


def opener(conversation: Mapping[str, Any]) -> Mapping[str, Any]:
    """The author of the conversation's opening message (its `source`)."""
    return author_of(mapping(conversation.get("source")))


def opening_contact_id(conversation: Mapping[str, Any]) -> object:
    """The opener's id where a contact opened the conversation, else None."""
    author = opener(conversation)
    return author.get("id") if author.get("type") in CONTACT_AUTHORS else None


def contact_of(conversation: Mapping[str, Any], contact_id: object) -> dict[str, Any]:
    """The contact's id, plus its external_id where the conversation's contact list shows it."""
    wanted = str_or_none(contact_id)
    listed = mapping(conversation.get("contacts")).get("contacts")
    entries = [mapping(c) for c in listed] if isinstance(listed, list) else []
    if wanted is None and len(entries) == 1:
        wanted = str_or_none(entries[0].get("id"))
    contact: dict[str, Any] = {"id": wanted}
    for entry in entries:
        if wanted is not None and str_or_none(entry.get("id")) == wanted and "external_id" in entry:
            contact["external_id"] = str_or_none(entry.get("external_id"))
    return contact


def has_body(part: Mapping[str, Any]) -> bool:
    body = part.get("body")
    return isinstance(body, str) and bool(body.strip())


def oldest_part_at(conversation: Mapping[str, Any]) -> int | None:
    """The time of the oldest part returned, or None if none has a usable time."""
    times = [p.get("created_at") for p in parts_of(conversation)]
    usable = [int(t) for t in times if is_number(t) and t >= 0]
    return min(usable) if usable else None


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


class Step(NamedTuple):
    """One part and the conversation's state before and after it (None: not known)."""

    part: Mapping[str, Any]
    before: str | None
    after: str | None


def close_parts(conversation: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], int | None]:
    """The part that stands for each close, in order, and when the parts last undid a close
    (None: they leave it closed, or never closed it).

    A closed stretch runs from the part that turns the state closed to the next part that
    opens or snoozes it. Each `close` part is a close, as earlier versions counted and keyed
    it (an upgrade sends nothing twice); a stretch without one is a close of the part that
    turned the state closed."""
    steps = state_steps(parts_of(conversation))
    return _standing(_closed_stretches(steps)), _reopened_at(steps)


def state_steps(parts: Sequence[Mapping[str, Any]]) -> list[Step]:
    """The state each part found and left, oldest part first."""
    # A conversation is open before its first part; before the oldest of the 500 Intercom
    # returns of a longer one, its state is not known (None): no close is guessed there.
    state: str | None = "open" if len(parts) < MAX_PARTS else None
    steps: list[Step] = []
    for part in parts:
        after = _state_after(part, state)
        steps.append(Step(part, state, after))
        state = after
    return steps


def _state_after(part: Mapping[str, Any], state: str | None) -> str | None:
    """The state a part leaves the conversation in: by its type where that says, else by
    the `state` it shows, else as it found it."""
    part_type, shown = part.get("part_type"), part.get("state")
    if part_type == CLOSE_PART:
        return CLOSED
    if isinstance(part_type, str) and part_type in REOPENING:
        return REOPENING[part_type]
    return shown if isinstance(shown, str) and shown in PART_STATES else state


def _closed_stretches(steps: Sequence[Step]) -> list[list[Mapping[str, Any]]]:
    """Each closed stretch's parts that matter: the one that closed it, then its `close`
    parts."""
    stretches: list[list[Mapping[str, Any]]] = []
    for part, before, after in steps:
        if after != CLOSED:
            continue
        if before not in (CLOSED, None):
            stretches.append([part])
        elif part.get("part_type") == CLOSE_PART:
            if before is None or not stretches:  # the stretch began before the parts shown
                stretches.append([])
            stretches[-1].append(part)
    return stretches


def _standing(stretches: Sequence[Sequence[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    """A stretch's `close` parts, or where it has none, the part that closed it."""
    return [
        part
        for stretch in stretches
        for part in ([p for p in stretch if p.get("part_type") == CLOSE_PART] or stretch[:1])
    ]


def _reopened_at(steps: Sequence[Step]) -> int | None:
    """When the last part that undid a close was written; None where the parts end closed."""
    if steps and steps[-1].after == CLOSED:
        return None
    reopens = [s.part for s in steps if s.before == CLOSED and s.after != CLOSED]
    return time_or_none(reopens[-1].get("created_at")) if reopens else None


# The names the AI agent's parts show where they carry no `from_ai_agent` (R-ai-answer):
# `bot` parts in 2.14's examples, an `admin` named so in real payloads.
AI_AGENT_NAMES = frozenset({"Fin"})


def ai_answer_at(
    conversation: Mapping[str, Any], agent_names: frozenset[str] = AI_AGENT_NAMES
) -> int | None:
    """The time of the AI agent's last answer (register R-ai-answer): its last part with
    `is_ai_answer: true`; else (a custom answer) its last part with `from_ai_agent: true`
    and a body; else, where no part carries `from_ai_agent` (2.14's examples), its last
    comment with a body by a `bot`, or by an `admin` of the AI agent's name. Never an
    attribute or workflow part (`from_ai_agent: false`, or no body)."""
    answers = _ai_answers(parts_of(conversation), agent_names)
    times = [t for t in (time_or_none(p.get("created_at")) for p in answers) if t is not None]
    return max(times) if times else None


def _ai_answers(
    parts: Sequence[Mapping[str, Any]], agent_names: frozenset[str]
) -> list[Mapping[str, Any]]:
    """The AI agent's answers by the first sign the parts give, in the order of
    ai_answer_at's docstring."""
    marked = [p for p in parts if author_of(p).get("is_ai_answer") is True]
    if marked:
        return marked
    custom = [p for p in parts if author_of(p).get("from_ai_agent") is True and has_body(p)]
    if custom or any("from_ai_agent" in author_of(p) for p in parts):
        return custom
    return [p for p in parts if _named_agent_comment(p, agent_names)]


def _named_agent_comment(part: Mapping[str, Any], agent_names: frozenset[str]) -> bool:
    """A comment with a body by a bot, or by an admin of the AI agent's name."""
    author = author_of(part)
    by_agent = author.get("type") == "bot" or (
        author.get("type") == "admin" and author.get("name") in agent_names
    )
    return part.get("part_type") == "comment" and has_body(part) and by_agent
