"""The `where` operators on hand-written objects: each case states what a user would expect."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.filters import Seen, parse_where, pushdown, rejection

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
    assert pushdown([both, where({})]) == ()  # a goal without it needs every conversation
    assert pushdown([where({"conversation.source.type": {"contains": "mail"}})]) == ()
