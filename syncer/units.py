"""An event's contact in, ABsmartly units and goal properties out: pure functions, no I/O.

The caller fetches what `contact_fields_needed` asks for (through the contact cache) and
passes it in. An event whose contact lacks a unit's field is kept as unattributed, with the
reason, and never sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncer.config import CUSTOM_ATTRIBUTE_PREFIX, GoalSettings, UnitMapping
from syncer.detect import Event

MAX_UID_LENGTH = 640  # the Collector's limit on a unit uid


@dataclass(frozen=True, slots=True)
class Resolution:
    units: tuple[tuple[str, str], ...]  # (type, uid), in config order; empty when unattributed
    properties: Mapping[str, Any]
    reason: str | None  # why the event is unattributed, or None


def contact_fields_needed(goal: GoalSettings, units: Sequence[UnitMapping]) -> set[str]:
    """The contact fields (external_id, email, custom_attributes.X, ...) this goal reads."""
    fields = {unit.source for unit in units}
    for _, source in goal.properties:
        if source.startswith("contact."):
            fields.add(source.removeprefix("contact."))
        elif source == "company.name":
            fields.add("companies")
    return fields


def needs_fetch(event: Event, fields: set[str]) -> bool:
    """Whether the event's own contact data leaves a needed field unknown: missing.

    A field the search item answers, even with null (a lead's `external_id`), is taken as
    it is: a lookup seconds later could only say the same. Whether that changes (a lead
    signs up, or is merged into a user) is the hourly re-resolution's to find out.
    """
    return event.contact.get("id") is not None and not fields <= set(event.contact)


def company_id(contact: Mapping[str, Any] | None) -> str | None:
    """The contact's first company, whose name `company.name` reports."""
    ids = company_ids(contact)
    return ids[0] if ids else None


def company_ids(contact: Mapping[str, Any] | None) -> list[str]:
    """Every company the contact object lists (a `where` on companies reads them all)."""
    companies = (contact or {}).get("companies")
    data = companies.get("data") if isinstance(companies, Mapping) else None
    entries = data if isinstance(data, list) else []
    ids = [entry.get("id") for entry in entries if isinstance(entry, Mapping)]
    return [str(v) for v in ids if isinstance(v, str | int) and not isinstance(v, bool) and v != ""]


# Why an event waits when its contact answered 404: deleted, or (on 2.14) merged into another
# contact, whose id the event's conversation or ticket names from then on (register:
# R-merged-contacts). The re-resolution pass reads that object again.
GONE = "contact not found in Intercom"


def resolve(
    event: Event,
    goal: GoalSettings,
    units: Sequence[UnitMapping],
    contact: Mapping[str, Any] | None,
    company: Mapping[str, Any] | None = None,
    *,
    gone: bool = False,
) -> Resolution:
    """Units and properties for the event; `contact` is the fetched contact, if one was
    needed; `gone`: it was looked up and Intercom has none."""
    merged: dict[str, Any] = {**event.contact, **(contact or {})}  # the fetched contact is fresher
    properties = _properties(goal, event, merged, company)
    if merged.get("id") is None:
        return Resolution((), properties, "the event names no contact")
    resolved: list[tuple[str, str]] = []
    for unit in units:
        uid = _uid(merged, unit.source)
        if uid is None:
            # Reasons name no contact, so `status` can group the events that share one.
            why = f"contact has no {unit.source} (unit {unit.type})"
            if gone:
                why = f"{GONE} (unit {unit.type})"
            return Resolution((), properties, why)
        resolved.append((unit.type, uid))
    return Resolution(tuple(resolved), properties, None)


def _uid(contact: Mapping[str, Any], source: str) -> str | None:
    if source.startswith(CUSTOM_ATTRIBUTE_PREFIX):
        attributes = contact.get("custom_attributes")
        name = source.removeprefix(CUSTOM_ATTRIBUTE_PREFIX)
        value = attributes.get(name) if isinstance(attributes, Mapping) else None
    else:
        value = contact.get(source)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= MAX_UID_LENGTH else None


def _properties(
    goal: GoalSettings,
    event: Event,
    contact: Mapping[str, Any],
    company: Mapping[str, Any] | None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, source in goal.properties:
        if source.startswith("contact."):
            value = contact.get(source.removeprefix("contact."))
        elif source == "company.name":
            value = (company or {}).get("name")
        else:
            value = event.facts.get(source)
        # The Collector takes numbers (for property metrics) and strings (for filters).
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        properties[name] = value
    return properties
