"""What a condition sees of one event: the subject (its conversation or ticket, as kept with
its events), the event's facts and the lookups the goal needed, and the value of a field in
them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncer.filters.fields import ASSIGNEES, unassigned
from syncer.values import mapping, str_or_none


def subject(resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the filters may read of a conversation or ticket, kept with its events so that
    `outbox resolve --refilter` can check them again without reading Intercom."""
    tags = mapping(obj.get("tags"))
    if resource == "tickets":
        return {
            "ticket.type": mapping(obj.get("ticket_type")).get("name"),
            "ticket.admin_assignee_id": _assignee(obj.get("admin_assignee_id")),
            "ticket.team_assignee_id": _assignee(obj.get("team_assignee_id")),
            "ticket.attributes": _scalars(obj.get("ticket_attributes")),
        }
    source = mapping(obj.get("source"))
    listed = tags.get("tags")
    return {
        "conversation.source.type": source.get("type"),
        "conversation.source.delivered_as": source.get("delivered_as"),
        "conversation.tags": _tag_ids(listed),
        "conversation.admin_assignee_id": _assignee(obj.get("admin_assignee_id")),
        "conversation.team_assignee_id": _assignee(obj.get("team_assignee_id")),
        "conversation.priority": obj.get("priority"),
        "conversation.state": obj.get("state"),
        "conversation.custom_attributes": _scalars(obj.get("custom_attributes")),
    }


@dataclass(frozen=True, slots=True)
class Seen:
    """Everything one event's conditions read: the subject (see `subject`), its facts (the
    rating), and the lookups the goal needed."""

    subject: Mapping[str, Any]
    facts: Mapping[str, Any] = field(default_factory=dict)
    contact: Mapping[str, Any] | None = None
    companies: Sequence[Mapping[str, Any]] = ()
    segments: Sequence[Mapping[str, Any]] = ()
    tags: Mapping[str, str] = field(default_factory=dict)  # tag name -> id (GET /tags)


def value_of(name: str, seen: Seen) -> Any:
    """The value of a field that is not a company's (see `company_value`)."""
    if name == "rating.score":
        return seen.facts.get("rating.score")
    if name == "contact.segments":
        return [str_or_none(s.get("id")) for s in seen.segments if isinstance(s, Mapping)]
    if name.startswith("contact."):
        return _contact_value(name.removeprefix("contact."), seen.contact or {})
    for holder in ("conversation.custom_attributes.", "ticket.attributes."):
        if name.startswith(holder):
            return mapping(seen.subject.get(holder.rstrip("."))).get(name.removeprefix(holder))
    if name in ASSIGNEES:  # a subject stored before 0 read as none
        return _assignee(seen.subject.get(name))
    return seen.subject.get(name)


def _contact_value(attribute: str, contact: Mapping[str, Any]) -> Any:
    if attribute == "tags":
        return _tag_ids(mapping(contact.get("tags")).get("data"))
    if attribute.startswith("custom_attributes."):
        custom = mapping(contact.get("custom_attributes"))
        return custom.get(attribute.removeprefix("custom_attributes."))
    if attribute == "email_domain":
        domain = contact.get("email_domain")
        email = contact.get("email")
        if not domain and isinstance(email, str) and "@" in email:
            domain = email.rpartition("@")[2]
        return domain
    return contact.get(attribute)


def company_value(name: str, company: Mapping[str, Any]) -> Any:
    attribute = name.removeprefix("company.")
    if attribute == "plan":
        return mapping(company.get("plan")).get("name")
    if attribute.startswith("custom_attributes."):
        custom = mapping(company.get("custom_attributes"))
        return custom.get(attribute.removeprefix("custom_attributes."))
    return company.get(attribute)


def _tag_ids(listed: object) -> list[str]:
    if not isinstance(listed, list):
        return []
    return [tid for t in listed if isinstance(t, Mapping) and (tid := str_or_none(t.get("id")))]


def _scalars(value: object) -> dict[str, Any]:
    """A table of attributes, with only the values a condition can compare."""
    return {
        str(k): v
        for k, v in mapping(value).items()
        if v is None or isinstance(v, str | int | float | bool)
    }


def _assignee(value: object) -> str | None:
    """An assignee's id; None for none, which 2.14 shows as null, 0 or "0"."""
    text = str_or_none(value)
    return None if text is None or unassigned(text) else text
