"""The fields a goal's `where` may name: what each holds, what it is about (its first word:
the event's conversation, rating or ticket, or its contact and their company, which every
event has; each goal kind declares which it has, kinds.py), its documented values, and the
search field it may be pushed down as. Pure data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

TEXT, NUMBER, TIME, SET, ANY = "text", "number", "time", "set", "any"
# Every event has a contact, and the contact's companies: fields about them fit every kind.
EVERY_EVENT: Final = frozenset({"contact", "company"})


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable field: what it holds, and the search field it may be pushed down as
    (register: R-filter-pushdown)."""

    type: str
    values: tuple[str, ...] = ()  # the documented values, where the spec lists them
    search: str | None = None
    bounds: tuple[int, int] | None = None  # a documented range of whole numbers


# Documented values (2.14): conversation.source.type in the SearchConversations Accepted
# Fields table; source.delivered_as in `conversation_source` ("Possible values are ...");
# priority and state in the conversation schema's enums; role in the contact schema. Each
# is checked exactly, case and all, before anything is searched: a pushed-down value is
# matched by Intercom as written, while the read-time check folds case.
_SOURCE_TYPES = (
    "conversation",
    "email",
    "facebook",
    "instagram",
    "phone_call",
    "phone_switch",
    "push",
    "sms",
    "twitter",
    "whatsapp",
)
_DELIVERED_AS = (
    "admin_initiated",
    "automated",
    "campaigns_initiated",
    "customer_initiated",
    "operator_initiated",
)
# Assignee ids: 2.14's own examples show an unassigned object as 0 or "0" (getTicket,
# and others), which the filters read as no assignee.
ASSIGNEES: Final = frozenset(
    {
        "conversation.admin_assignee_id",
        "conversation.team_assignee_id",
        "ticket.admin_assignee_id",
        "ticket.team_assignee_id",
    }
)
FIELDS: Final[Mapping[str, Field]] = {
    "conversation.source.type": Field(TEXT, _SOURCE_TYPES, "source.type"),
    "conversation.source.delivered_as": Field(TEXT, _DELIVERED_AS, "source.delivered_as"),
    "conversation.tags": Field(SET),
    "conversation.admin_assignee_id": Field(TEXT),
    "conversation.team_assignee_id": Field(TEXT),
    "conversation.priority": Field(TEXT, ("priority", "not_priority")),
    "conversation.state": Field(TEXT, ("open", "closed", "snoozed")),
    # "The rating, between 1 and 5" (`conversation_rating.rating`, an integer)
    "rating.score": Field(NUMBER, bounds=(1, 5)),
    "ticket.type": Field(TEXT),
    "ticket.admin_assignee_id": Field(TEXT),
    "ticket.team_assignee_id": Field(TEXT),
    "contact.role": Field(TEXT, ("user", "lead")),
    "contact.email": Field(TEXT),
    "contact.email_domain": Field(TEXT),
    "contact.name": Field(TEXT),
    "contact.created_at": Field(TIME),
    "contact.signed_up_at": Field(TIME),
    "contact.tags": Field(SET),
    "contact.segments": Field(SET),
    "company.name": Field(TEXT),
    "company.company_id": Field(TEXT),
    "company.plan": Field(TEXT),
    "company.industry": Field(TEXT),
    "company.size": Field(NUMBER),
    "company.monthly_spend": Field(NUMBER),
    "company.user_count": Field(NUMBER),
    "company.created_at": Field(TIME),
}
# Attributes a workspace defines itself: any type, so every operator is accepted and a value
# of another type simply does not match.
PREFIXES: Final = (
    "conversation.custom_attributes.",
    "ticket.attributes.",
    "contact.custom_attributes.",
    "company.custom_attributes.",
)


def field_type(name: str) -> str:
    if name in FIELDS:
        return FIELDS[name].type
    return ANY


def subject_of(name: str) -> str | None:
    """What the field is about (`conversation`, `rating`, `ticket`, `contact`, `company`);
    None for a field that does not exist."""
    known = name in FIELDS or any(
        name.startswith(prefix) and len(name) > len(prefix) for prefix in PREFIXES
    )
    return name.split(".", 1)[0] if known else None


def documented_values(name: str) -> tuple[str, ...]:
    return FIELDS[name].values if name in FIELDS else ()


def bounds_of(name: str) -> tuple[int, int] | None:
    return FIELDS[name].bounds if name in FIELDS else None


def search_field(name: str) -> str | None:
    """The field a search may filter on in its place, if any."""
    return FIELDS[name].search if name in FIELDS else None


def unassigned(text: str) -> bool:
    """How 2.14 shows an object no one is assigned to: 0 or "0"."""
    return text.strip() == "0"


def listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))
