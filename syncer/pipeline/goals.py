"""Goal resolution: each event as a goal event of every enabled goal of its kind that admits
it, with its units and properties, and filtered where the goal's `where` rejects it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from syncer import filters, units
from syncer.config import GoalSettings
from syncer.detect import Event
from syncer.pipeline.context import Context
from syncer.pipeline.lookups import Lookups, Need, Pairs, look_up
from syncer.store.outbox import Goal
from syncer.store.outbox import goal_key as outbox_goal_key

# Why an event waits, unattributed, for a contact or company Intercom would not give us: the
# lookup is parked and retried each cycle, and the event re-resolved once it succeeds.
LOOKUP_FAILED = "contact lookup failed (parked; retried each cycle)"


def resolve_goals(ctx: Context, events: Iterable[Event], *, fresh: bool = False) -> list[Goal]:
    """Each event as a goal event of every enabled goal of its kind that admits it, with
    units and properties, and filtered where the goal's `where` rejects it."""
    pairs = [
        (event, goal)
        for event in events
        for goal in ctx.config.goals_of(event.kind)
        if goal.admits(event.facts)
    ]
    return resolve_pairs(ctx, pairs, fresh=fresh)


def resolve_pairs(ctx: Context, pairs: Pairs, *, fresh: bool = False) -> list[Goal]:
    """(event, goal) pairs as goal events, their contacts looked up once for them all
    (`fresh`: ignoring the cache); see `resolve_goals`."""
    found = look_up(ctx, pairs, fresh)
    return [_goal_event(ctx, event, goal, found) for event, goal in pairs]


def _goal_event(ctx: Context, event: Event, goal: GoalSettings, found: Lookups) -> Goal:
    contact_id = str(event.contact.get("id"))
    contact = found.contacts.get(contact_id)
    gone = contact_id in found.contacts and contact is None
    resolution = units.resolve(
        event, goal, ctx.config.units, contact, _company(found, contact_id, contact), gone=gone
    )
    unit_set, reason, filtered = resolution.units, resolution.reason, False
    reads = {condition.needs for condition in goal.where}
    by_units = "companies" in units.contact_fields_needed(goal, ctx.config.units)
    if _waits_on(contact_id, contact, reads, by_units, found):
        unit_set, reason = (), LOOKUP_FAILED
    elif reads - {"subject"} and (event.contact.get("id") is None or gone):
        # The filter reads a contact Intercom does not give (yet): a merged contact is
        # found again by the re-resolution pass, and the filter checked then.
        unit_set = ()
        reason = resolution.reason if not resolution.units else f"{units.GONE} (read by its filter)"
    elif (why := _rejection(event, goal, contact_id, contact, found)) is not None:
        # No units: nothing may take a filtered goal for a sendable one.
        unit_set, filtered, reason = (), True, f"where {why}"
    return Goal(
        key=outbox_goal_key(event.key, goal.name),
        kind=event.kind,
        name=goal.name,
        achieved_at=event.achieved_at,
        units=unit_set,
        properties=resolution.properties,
        source={
            "contact": dict(event.contact),
            "facts": dict(event.facts),
            "subject": dict(event.subject),
        },
        reason=reason,
        # Earlier versions keyed the one goal of a kind by the event alone.
        replaces=(event.key, *((event.replaces,) if event.replaces else ())),
        filtered=filtered,
    )


def _company(
    found: Lookups, contact_id: str, contact: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The contact's first company: as its object names it, else the first of its own list
    (where the object showed none of those it counts)."""
    company = found.companies.get(units.company_id(contact) or "")
    listed = found.contact_companies.get(contact_id)
    if company is None and isinstance(listed, list) and listed:
        company = listed[0] if isinstance(listed[0], Mapping) else None
    return company


def _waits_on(
    contact_id: str,
    contact: Mapping[str, Any] | None,
    reads: set[str],
    by_units: bool,
    found: Lookups,
) -> bool:
    """Whether a lookup this goal event needs failed (it is parked, and retried): the
    needs `lookups.list_needs` made for it, its filter's (`reads`) and its units' company
    (`by_units`: the first one, from the contact's own list where its object shows none)."""
    needs = {Need("contact", contact_id), Need("contact_tags", contact_id)}
    if (first := units.company_id(contact)) is not None:
        needs.add(Need("company", first))
    elif by_units:
        needs.add(Need("contact_companies", contact_id))
    if "companies" in reads:
        needs |= {Need("company", i) for i in units.company_ids(contact)}
        needs.add(Need("contact_companies", contact_id))
    if "segments" in reads:
        needs.add(Need("segments", contact_id))
    return not needs.isdisjoint(found.failed)


def _rejection(
    event: Event,
    goal: GoalSettings,
    contact_id: str,
    contact: Mapping[str, Any] | None,
    found: Lookups,
) -> str | None:
    """Why the goal's `where` rejects the event, or None. An event stored before filters
    kept its subject is checked on the rest alone."""
    known = [c for c in goal.where if event.subject or c.needs != "subject"]
    return filters.rejection(known, _seen(event, contact_id, contact, found))


def _seen(
    event: Event, contact_id: str, contact: Mapping[str, Any] | None, found: Lookups
) -> filters.Seen:
    """What the event's filter reads: its subject and facts, the contact (with all its tags
    where the object listed only 10), its companies and segments."""
    merged = {**event.contact, **(contact or {})}
    all_tags = found.contact_tags.get(contact_id)
    if isinstance(all_tags, list):
        merged["tags"] = {"data": all_tags}
    companies = found.contact_companies.get(contact_id)
    if not isinstance(companies, list):
        companies = [found.companies.get(i) for i in units.company_ids(contact)]
    return filters.Seen(
        subject=event.subject,
        facts=event.facts,
        contact=merged,
        companies=[c for c in companies if isinstance(c, Mapping)],
        segments=_segment_list(found.segments.get(contact_id)),
        tags=found.tags,
    )


def _segment_list(value: object) -> list[Mapping[str, Any]]:
    return [s for s in value if isinstance(s, Mapping)] if isinstance(value, list) else []
