"""The `where` operators on hand-written objects: each case states what a user would expect."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from syncer import filters
from syncer.errors import ConfigError
from syncer.filters import Seen, pushdown, rejection, subject
from syncer.kinds import SUBJECTS

# The `where` language as the config reads it, with the kinds' subjects.
parse_where = functools.partial(filters.parse_where, subjects=SUBJECTS)

CONTACT = {
    "role": "user",
    "email": "Ann@Example.com",
    "custom_attributes": {"tier": "vip", "seats": 80, "beta": True},
    "tags": {"data": [{"id": "t1"}]},
}
SEEN = Seen(
    subject={"conversation.tags": ["t2"], "conversation.priority": "priority"},
    facts={"rating.score": 2},
    contact=CONTACT,
    companies=[{"plan": {"name": "Starter"}}, {"plan": {"name": "Enterprise"}, "size": 500}],
    segments=[{"id": "s1", "name": "Trial users"}],
    tags={"VIP": "t1", "Billing": "t2", "Refund": "t3"},
)


def admits(where: dict[str, Any], seen: Seen = SEEN, kind: str = "conversation_rated") -> bool:
    return rejection(parse_where(where, "goal[1].where", kind), seen) is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"rating": {"score": {"lte": 2}}}, True),
        ({"rating": {"score": {"lt": 2}}}, False),
        ({"conversation": {"tags": "billing"}}, True),  # names, case aside
        ({"conversation": {"tags": {"ne": "Billing"}}}, False),
        ({"conversation": {"tags": ["Refund", "VIP"]}}, False),
        ({"contact": {"tags": "VIP"}}, True),  # a contact's tags by id, named via GET /tags
        ({"contact": {"segments": {"contains": "trial"}}}, True),
        ({"contact": {"email_domain": "example.com"}}, True),  # derived from the email
        ({"contact": {"custom_attributes": {"seats": {"gte": 50}}}}, True),
        ({"contact": {"custom_attributes": {"tier": {"in": ["gold", "vip"]}}}}, True),
        ({"contact": {"custom_attributes": {"missing": {"exists": False}}}}, True),
        ({"contact": {"custom_attributes": {"missing": {"ne": "x"}}}}, True),
        ({"contact": {"custom_attributes": {"missing": "x"}}}, False),
        ({"contact": {"custom_attributes": {"beta": True}}}, True),
        ({"company": {"plan": "Enterprise"}}, True),  # any of the contact's companies
        ({"company": {"size": {"gt": 1000}}}, False),
        ({"contact": {"role": "user"}, "rating": {"score": 5}}, False),  # AND
    ],
)
def test_operators(where: dict[str, Any], expected: bool) -> None:
    assert admits(where) is expected


def test_a_contact_without_companies_is_checked_against_an_empty_one() -> None:
    alone = Seen(subject={}, contact={"role": "lead"})
    assert admits({"company": {"plan": {"ne": "Enterprise"}}}, alone)
    assert admits({"company": {"plan": {"exists": False}}}, alone)
    assert not admits({"company": {"plan": "Enterprise"}}, alone)


def test_a_rejection_names_the_condition_and_what_it_found() -> None:
    where = parse_where({"rating.score": {"gte": 4}}, "goal[1].where", "conversation_rated")
    assert rejection(where, SEEN) == "rating.score >= 4 (found 2)"


def test_only_shared_unchanging_searchable_conditions_are_pushed_down() -> None:
    def where(raw: dict[str, Any]) -> Any:
        return parse_where(raw, "w", "conversation_started")

    email = {"conversation.source.type": "email"}
    both = where({**email, "conversation.priority": "priority"})
    assert pushdown([both, where(email)]) == (
        {"field": "source.type", "operator": "=", "value": "email"},
    )
    assert pushdown([both, ()]) == ()  # a goal without it needs every conversation
    assert pushdown([where({"conversation.source.type": {"contains": "mail"}})]) == ()


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        (
            {"conversation.source.delivered_as": "Customer_Initiated"},
            "conversation_started",
            "w.conversation.source.delivered_as: 'Customer_Initiated' is not a value of "
            "conversation.source.delivered_as (admin_initiated, automated, campaigns_initiated, "
            "customer_initiated, operator_initiated)",
        ),
        (
            {"conversation.source.delivered_as": {"not_in": ["automated", "bot"]}},
            "conversation_started",
            "w.conversation.source.delivered_as.not_in: 'bot' is not a value of",
        ),
        (
            {"conversation.state": "Open"},
            "conversation_started",
            "w.conversation.state: 'Open' is not a value of conversation.state",
        ),
        (
            {"rating.score": 7},
            "conversation_rated",
            "w.rating.score: rating.score is a whole number from 1 to 5, got 7",
        ),
        (
            {"rating.score": {"gte": 4.5}},
            "conversation_rated",
            "w.rating.score.gte: rating.score is a whole number from 1 to 5, got 4.5",
        ),
        (
            {"rating.score": [1, 0]},
            "conversation_rated",
            "w.rating.score: rating.score is a whole number from 1 to 5, got 0",
        ),
        (
            {"conversation.admin_assignee_id": 0},
            "conversation_started",
            "w.conversation.admin_assignee_id: 0 is how Intercom shows no assignee",
        ),
        (
            {"ticket.team_assignee_id": {"ne": "0"}},
            "ticket_created",
            "w.ticket.team_assignee_id.ne: 0 is how Intercom shows no assignee",
        ),
        ({}, "conversation_started", "w: an empty table; give a condition, or leave `where` out"),
    ],
)
def test_what_cannot_match_is_refused_before_anything_is_searched(
    raw: dict[str, Any], kind: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_where(raw, "w", kind)
    assert str(refused.value).startswith(message), str(refused.value)


def test_documented_values_and_the_rating_range_pass_and_are_pushed_as_written() -> None:
    where = parse_where(
        {"conversation.source.delivered_as": "customer_initiated"}, "w", "conversation_started"
    )
    assert pushdown([where]) == (
        {"field": "source.delivered_as", "operator": "=", "value": "customer_initiated"},
    )
    for score in (1, 5, [2, 3]):
        assert parse_where({"rating.score": score}, "w", "conversation_rated")
    assert parse_where(None, "w", "conversation_started") == ()  # no `where`: every event


@pytest.mark.parametrize("unassigned", [None, 0, "0", ""])
def test_an_assignee_shown_as_0_is_none(unassigned: object) -> None:
    """2.14's examples show an unassigned object with assignee 0 or "0": `exists = false`
    holds for it, `exists = true` does not, and so for a subject stored before this."""
    for resource, prefix in (("conversations", "conversation"), ("tickets", "ticket")):
        obj = {"admin_assignee_id": unassigned, "team_assignee_id": unassigned}
        kind = "conversation_started" if resource == "conversations" else "ticket_created"
        for field in ("admin_assignee_id", "team_assignee_id"):
            name = f"{prefix}.{field}"
            seen = Seen(subject=subject(resource, obj))
            stored = Seen(subject={name: unassigned})
            for view in (seen, stored):
                assert admits({name: {"exists": False}}, view, kind)
                assert not admits({name: {"exists": True}}, view, kind)
    assigned = Seen(subject=subject("conversations", {"admin_assignee_id": 42}))
    assert admits({"conversation.admin_assignee_id": "42"}, assigned, "conversation_started")


def test_a_rejection_of_a_long_list_is_short_and_says_how_many_more() -> None:
    """The 20,000-value filter: its reason stays under 200 characters and counts what it
    leaves out; a long list found (a contact's tags) is cut the same way; a long value is
    cut to 40 characters."""
    emails = [f"customer{i:05}@example.com" for i in range(20_000)]
    where = parse_where({"contact.email": emails}, "w", "conversation_started")
    why = rejection(where, Seen(subject={}, contact={"email": "x" * 300 + "@example.com"}))
    assert why is not None and len(why) <= 190
    assert why.startswith("contact.email in ['customer00000@example.com', ")
    shown = why.split("] and ")[0].count("@example.com'")
    assert f"] and {20_000 - shown:,} more (found 'xxxxxxxx" in why
    assert why.endswith("…')")
    tags = {f"tag {i}": f"t{i}" for i in range(50)}
    contact = {"tags": {"data": [{"id": f"t{i}"} for i in range(50)]}}
    why = rejection(
        parse_where({"contact.tags": "nope"}, "w", "conversation_started"),
        Seen(subject={}, contact=contact, tags={**tags, "nope": "t99"}),
    )
    assert why is not None and len(why) <= 190 and " more)" in why, why
