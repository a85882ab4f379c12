"""Detection on hand-built Intercom objects: each event kind and each edge."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.detect import (
    Window,
    conversation_rated,
    conversation_started,
    ticket_created,
    user_messaged,
)
from syncer.parts_count import PARTS, WITH_OPENING, missing_parts, opening_only, parts_reading
from syncer.values import Unreadable

ALL = Window(0, 10**10)


def conversation(
    *,
    author_type: str = "user",
    created_at: int = 1_000,
    parts: list[dict[str, Any]] | None = None,
    rating: dict[str, Any] | None = None,
    external_id: str | None = "u-1",
) -> dict[str, Any]:
    return {
        "type": "conversation",
        "id": "c1",
        "created_at": created_at,
        "source": {
            "author": {"type": author_type, "id": "contact-1" if author_type != "admin" else "9"}
        },
        "contacts": {
            "contacts": [{"type": "contact", "id": "contact-1", "external_id": external_id}]
        },
        "conversation_rating": rating,
        "conversation_parts": {"conversation_parts": parts or []},
    }


def part(pid: str, part_type: str, author: str, at: int, body: str | None = "<p>x</p>") -> dict:
    return {
        "id": pid,
        "part_type": part_type,
        "body": body,
        "created_at": at,
        "author": {"type": author, "id": "contact-1" if author in ("user", "lead") else "9"},
    }


def test_started_by_user_is_an_event_in_ms() -> None:
    """A user-opened conversation gives one event at created_at, in milliseconds."""
    [event] = conversation_started(conversation(), ALL)
    assert event.key == "conversation:c1:started"
    assert event.achieved_at == 1_000_000
    assert event.contact == {"id": "contact-1", "external_id": "u-1"}
    assert event.facts == {"conversation.id": "c1"}


def test_started_by_lead_counts() -> None:
    """Leads are contacts too."""
    assert len(conversation_started(conversation(author_type="lead"), ALL)) == 1


def test_admin_initiated_conversation_is_not_started() -> None:
    """An outbound message from an admin is not a conversation the contact started."""
    assert conversation_started(conversation(author_type="admin"), ALL) == []


def test_started_outside_window_is_left_out() -> None:
    """Only conversations created inside the window count."""
    assert conversation_started(conversation(created_at=5_000), Window(0, 4_999)) == []


def test_messages_cover_opening_and_contact_comments_only() -> None:
    """Opening message and contact comments count; admin, bot, notes and assignments do not."""
    parts = [
        part("p1", "comment", "admin", 1_100),
        part("p2", "comment", "user", 1_200),
        part("p3", "note", "admin", 1_300),
        part("p4", "comment", "bot", 1_400),
        part("p5", "assignment", "admin", 1_500, body=None),
        part("p6", "note", "user", 1_600),
    ]
    events = user_messaged(conversation(parts=parts), ALL)
    assert [e.key for e in events] == ["conversation:c1:opening", "part:p2"]
    assert [e.achieved_at for e in events] == [1_000_000, 1_200_000]


def test_reopen_by_contact_with_a_message_counts() -> None:
    """A contact's reply to a closed conversation arrives as an `open` part and is a message."""
    parts = [
        part("p1", "close", "admin", 1_100, body=None),
        part("p2", "open", "user", 1_200),
        part("p3", "open", "admin", 1_300),
        part("p4", "open", "user", 1_400, body=None),
    ]
    events = user_messaged(conversation(parts=parts), ALL)
    assert [e.key for e in events] == ["conversation:c1:opening", "part:p2"]


def test_admin_initiated_conversation_still_yields_contact_replies() -> None:
    """No opening message from the contact, but their replies are messages."""
    parts = [part("p1", "comment", "user", 1_200)]
    events = user_messaged(conversation(author_type="admin", parts=parts), ALL)
    assert [e.key for e in events] == ["part:p1"]


def test_messages_on_both_sides_of_the_window_end() -> None:
    """Messages are chosen by their own time: inside [lo, hi] in, outside out, ends inclusive."""
    parts = [
        part("p1", "comment", "user", 1_999),
        part("p2", "comment", "user", 2_000),
        part("p3", "comment", "user", 2_001),
    ]
    events = user_messaged(conversation(created_at=500, parts=parts), Window(1_000, 2_000))
    assert [e.key for e in events] == ["part:p1", "part:p2"]


def test_unknown_part_and_author_types_are_ignored() -> None:
    """A part type or author type we do not know is not a contact message."""
    parts = [part("p1", "quick_reply_thing", "user", 1_200), part("p2", "comment", "robot", 1_300)]
    assert [e.key for e in user_messaged(conversation(parts=parts), ALL)] == [
        "conversation:c1:opening"
    ]


def test_rating_is_dated_when_given_not_when_requested() -> None:
    """A rating gives an event at its updated_at (when the contact gave it), not at its
    created_at (when Intercom asked for it); a changed score is a new key with its score, a
    remark (which moves updated_at, register R-rating-times) is the same key."""
    rating = {
        "rating": 4,
        "remark": "ok",
        "created_at": 2_000,
        "updated_at": 3_000,
        "contact": {"type": "contact", "id": "contact-1", "external_id": "u-1"},
    }
    [event] = conversation_rated(conversation(rating=rating), ALL)
    assert event.key == "conversation:c1:rated:2000:4"
    assert event.replaces == "conversation:c1:rated:3000"  # the key earlier versions gave
    assert event.achieved_at == 3_000_000
    assert event.facts["rating.score"] == 4
    assert event.facts["rating.remark"] == "ok"
    changed = conversation_rated(
        conversation(rating={**rating, "rating": 2, "updated_at": 3_500}), ALL
    )
    assert changed[0].key == "conversation:c1:rated:2000:2"
    assert changed[0].facts["rating.score"] == 2
    remarked = conversation_rated(
        conversation(rating={**rating, "remark": "later", "updated_at": 3_900}), ALL
    )
    assert remarked[0].key == event.key
    asked_again = conversation_rated(
        conversation(rating={**rating, "created_at": 5_000, "updated_at": 5_100}), ALL
    )
    assert asked_again[0].key == "conversation:c1:rated:5000:4"  # a new request, a new rating


def test_rating_requested_before_the_window_and_given_inside_counts() -> None:
    """The window test is on the time it was given, and on its lower bound only: a rating
    the `replied_at` search found whose `updated_at` a remark moved past the window is still
    the window's (register R-rating-times)."""
    rating = {"rating": 5, "created_at": 900, "updated_at": 1_100, "contact": {"id": "contact-1"}}
    assert len(conversation_rated(conversation(rating=rating), Window(1_000, 2_000))) == 1
    assert conversation_rated(conversation(rating=rating), Window(1_200, 2_000)) == []
    assert len(conversation_rated(conversation(rating=rating), Window(0, 1_000))) == 1


@pytest.mark.parametrize("score", [float("nan"), float("inf"), True, "5"])
def test_a_score_that_is_no_number_is_left_out(score: object) -> None:
    """The rating still counts; its score property is None, never NaN in a Collector body."""
    rating = {"rating": score, "updated_at": 3_000, "contact": {"id": "contact-1"}}
    [event] = conversation_rated(conversation(rating=rating), ALL)
    assert event.facts["rating.score"] is None


def test_no_rating_no_event() -> None:
    """A conversation without a rating (null, or a score of null) gives nothing."""
    assert conversation_rated(conversation(rating=None), ALL) == []
    assert conversation_rated(conversation(rating={"rating": None, "created_at": 1}), ALL) == []


def test_ticket_created_names_type_and_first_contact() -> None:
    """A ticket gives one event for its first contact, with its type name."""
    ticket = {
        "type": "ticket",
        "id": "t9",
        "ticket_id": "3",
        "created_at": 7_000,
        "ticket_type": {"name": "Bug"},
        "contacts": {"contacts": [{"id": "k1", "external_id": None}, {"id": "k2"}]},
    }
    [event] = ticket_created(ticket, ALL)
    assert event.key == "ticket:t9:created"
    assert event.achieved_at == 7_000_000
    assert event.contact == {"id": "k1", "external_id": None}
    assert event.facts == {"ticket.id": "t9", "ticket.type": "Bug", "ticket.category": None}


def test_contact_without_external_id_is_reported_as_none() -> None:
    """A listed contact with a null external_id is known to have none (no fetch needed)."""
    [event] = conversation_started(conversation(external_id=None), ALL)
    assert event.contact == {"id": "contact-1", "external_id": None}


def test_object_without_id_or_time_is_unreadable() -> None:
    """Missing ids and times raise Unreadable, which the scan counts and skips."""
    broken = conversation()
    del broken["id"]
    with pytest.raises(Unreadable):
        conversation_started(broken, ALL)
    with pytest.raises(Unreadable):
        conversation_started({**conversation(), "created_at": "yesterday"}, ALL)


@pytest.mark.parametrize("created_at", [float("inf"), float("nan"), -1, "1000", True, None])
def test_a_time_that_is_no_time_is_unreadable(created_at: object) -> None:
    """Infinity and NaN are floats, yet no time: Unreadable like the rest, never a crash."""
    with pytest.raises(Unreadable):
        conversation_started(conversation(created_at=created_at), ALL)  # type: ignore[arg-type]


def search_item(author_type: str = "user", count: object = 1, last_reply: object = 1_000) -> dict:
    item = conversation(author_type=author_type)
    del item["conversation_parts"]  # search items carry no parts
    item["statistics"] = {"count_conversation_parts": count, "last_contact_reply_at": last_reply}
    return item


# Register R-count-parts: `count_conversation_parts` may leave the opening message out
# (PARTS, like the parts list's `total_count`) or count it (WITH_OPENING); None: not known yet.
EMPTY = {PARTS: 0, WITH_OPENING: 1, None: 0}  # the count of a conversation with no part


@pytest.mark.parametrize("reading", [PARTS, WITH_OPENING, None])
def test_an_item_with_only_its_opening_message_is_the_whole_conversation(
    reading: str | None,
) -> None:
    """No part counted, and the last contact reply is the opening: nothing to fetch, and the
    item alone yields the opening message."""
    item = search_item(count=EMPTY[reading])
    assert opening_only(item, reading)
    assert [e.key for e in user_messaged(item, ALL)] == ["conversation:c1:opening"]


@pytest.mark.parametrize("reading", [PARTS, WITH_OPENING, None])
def test_a_same_second_second_message_is_fetched_under_every_reading(
    reading: str | None,
) -> None:
    """The contact's second message in the opening's second: one part more than the empty
    count, whatever the reading; a count of 1 with the reading unknown is fetched too."""
    assert not opening_only(search_item(count=EMPTY[reading] + 1), reading)
    assert not opening_only(search_item(count=1), None)


@pytest.mark.parametrize("reading", [PARTS, WITH_OPENING, None])
@pytest.mark.parametrize(
    ("author_type", "extra", "last_reply"),
    [
        ("user", 0, 1_060),  # a later contact reply the count has not caught up with
        ("admin", 0, 1_000),  # outbound, yet a contact reply: the fields disagree
        ("user", True, 1_000),  # JSON true is not a count
        ("user", 0, None),
        ("user", None, 1_000),
        ("lead", "0", 1_000),
    ],
)
def test_anything_less_clear_is_fetched(
    reading: str | None, author_type: str, extra: object, last_reply: object
) -> None:
    count = EMPTY[reading] + extra if isinstance(extra, int) and extra is not True else extra
    assert not opening_only(search_item(author_type, count, last_reply), reading)


@pytest.mark.parametrize(
    ("count", "parts", "shown"),
    [(3, 3, PARTS), (4, 3, WITH_OPENING), (0, 0, PARTS), (1, 0, WITH_OPENING), (7, 3, None)],
)
def test_a_fetched_conversation_shows_its_reading(
    count: int, parts: int, shown: str | None
) -> None:
    conv = conversation(parts=[part(f"p{i}", "note", "admin", 1_100 + i) for i in range(parts)])
    conv["statistics"] = {"count_conversation_parts": count}
    assert parts_reading(conv) == shown
    missing = missing_parts(conv, shown)
    assert missing == (4 if shown is None else 0)
