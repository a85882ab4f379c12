"""The fields a goal's `where` may name: what each holds, which goals' events have it, its
documented values, and the search field it may be pushed down as. Pure data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

TEXT, NUMBER, TIME, SET, ANY = "text", "number", "time", "set", "any"
CONVERSATION_KINDS: Final = frozenset(
    {
        "conversation_started",
        "conversation_rated",
        "user_messaged",
        "conversation_closed",
        "ai_agent_resolved",
    }
)
TICKET_KINDS: Final = frozenset({"ticket_created"})
EVERY_KIND: Final = CONVERSATION_KINDS | TICKET_KINDS


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable field: what it holds, which goals' events have it, and the search field
    it may be pushed down as (register: R-filter-pushdown)."""

    type: str
    kinds: frozenset[str]
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
    "conversation.source.type": Field(TEXT, CONVERSATION_KINDS, _SOURCE_TYPES, "source.type"),
    "conversation.source.delivered_as": Field(
        TEXT, CONVERSATION_KINDS, _DELIVERED_AS, "source.delivered_as"
    ),
    "conversation.tags": Field(SET, CONVERSATION_KINDS),
    "conversation.admin_assignee_id": Field(TEXT, CONVERSATION_KINDS),
    "conversation.team_assignee_id": Field(TEXT, CONVERSATION_KINDS),
    "conversation.priority": Field(TEXT, CONVERSATION_KINDS, ("priority", "not_priority")),
    "conversation.state": Field(TEXT, CONVERSATION_KINDS, ("open", "closed", "snoozed")),
    # "The rating, between 1 and 5" (`conversation_rating.rating`, an integer)
    "rating.score": Field(NUMBER, frozenset({"conversation_rated"}), bounds=(1, 5)),
    "ticket.type": Field(TEXT, TICKET_KINDS),
    "ticket.admin_assignee_id": Field(TEXT, TICKET_KINDS),
    "ticket.team_assignee_id": Field(TEXT, TICKET_KINDS),
    "contact.role": Field(TEXT, EVERY_KIND, ("user", "lead")),
    "contact.email": Field(TEXT, EVERY_KIND),
    "contact.email_domain": Field(TEXT, EVERY_KIND),
    "contact.name": Field(TEXT, EVERY_KIND),
    "contact.created_at": Field(TIME, EVERY_KIND),
    "contact.signed_up_at": Field(TIME, EVERY_KIND),
    "contact.tags": Field(SET, EVERY_KIND),
    "contact.segments": Field(SET, EVERY_KIND),
    "company.name": Field(TEXT, EVERY_KIND),
    "company.company_id": Field(TEXT, EVERY_KIND),
    "company.plan": Field(TEXT, EVERY_KIND),
    "company.industry": Field(TEXT, EVERY_KIND),
    "company.size": Field(NUMBER, EVERY_KIND),
    "company.monthly_spend": Field(NUMBER, EVERY_KIND),
    "company.user_count": Field(NUMBER, EVERY_KIND),
    "company.created_at": Field(TIME, EVERY_KIND),
}
# Attributes a workspace defines itself: any type, so every operator is accepted and a value
# of another type simply does not match.
PREFIXES: Final[Mapping[str, frozenset[str]]] = {
    "conversation.custom_attributes.": CONVERSATION_KINDS,
    "ticket.attributes.": TICKET_KINDS,
    "contact.custom_attributes.": EVERY_KIND,
    "company.custom_attributes.": EVERY_KIND,
}


def field_type(name: str) -> str:
    if name in FIELDS:
        return FIELDS[name].type
    return ANY


def kinds_of(name: str) -> frozenset[str] | None:
    """The goal kinds whose events have the field; None for a field that does not exist."""
    if name in FIELDS:
        return FIELDS[name].kinds
    for prefix, kinds in PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return kinds
    return None


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
