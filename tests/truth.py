"""Expected goals, computed from the fake workspace's own record of what happened.

Nothing here calls the syncer's detection or resolution code.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.workspace import Workspace

Deliveries = Counter[tuple[str, int, tuple[tuple[str, str], ...]]]

NAMES = {
    "conversation_started": "intercom_conversation_started",
    "conversation_rated": "intercom_conversation_rated",
    "user_messaged": "intercom_user_messaged",
    "ticket_created": "intercom_ticket_created",
    "conversation_closed": "intercom_conversation_closed",
    "ai_agent_resolved": "intercom_ai_agent_resolved",
}
# The kinds the default config counts (conversation_closed and ai_agent_resolved are off).
DEFAULT_KINDS = frozenset(list(NAMES)[:4])


def expected_goals(
    ws: Workspace,
    lo: int,
    hi: int,
    field: str = "external_id",
    variants: frozenset[str] = frozenset(),
    kinds: frozenset[str] = DEFAULT_KINDS,
) -> dict[str, tuple[str, int, str]]:
    """key -> (goal name, achievedAt in ms, uid) for every attributable event in [lo, hi]
    that the default config counts, plus those of the `variants` an option turns on (and
    of the `kinds` enabled)."""
    goals = {}
    for event in ws.truth:
        uid = _contact(ws, event.contact_id).get(field)
        counted = (not event.variant or event.variant in variants) and event.kind in kinds
        if lo <= event.at <= hi and uid and counted:
            # A goal event's key: its event's and its goal's name (README "Guarantees").
            goals[f"{event.key}@{NAMES[event.kind]}"] = (NAMES[event.kind], event.at * 1000, uid)
    return goals


def unattributable(ws: Workspace, lo: int, hi: int, field: str = "external_id") -> set[str]:
    return {
        f"{e.key}@{NAMES[e.kind]}"
        for e in ws.truth
        if lo <= e.at <= hi
        and not _contact(ws, e.contact_id).get(field)
        and not e.variant
        and e.kind in DEFAULT_KINDS
    }


def _contact(ws: Workspace, contact_id: str) -> dict[str, Any]:
    """The contact as Intercom has it now: a merged lead is the user it was merged into."""
    return ws.contacts[ws.merged.get(contact_id, contact_id)]


def expected_deliveries(
    ws: Workspace,
    lo: int,
    hi: int,
    field: str = "external_id",
    unit: str = "user_id",
    variants: frozenset[str] = frozenset(),
    kinds: frozenset[str] = DEFAULT_KINDS,
) -> Deliveries:
    """What the fake Collector should record, once each: (name, achievedAt, ((unit, uid),))."""
    goals = expected_goals(ws, lo, hi, field, variants, kinds)
    return Counter((name, at, ((unit, uid),)) for name, at, uid in goals.values())


def against_truth(
    ws: Workspace, collector: FakeCollector, now: int
) -> tuple[Deliveries, Deliveries]:
    """(expected, got): every attributable event up to `now` once, and what the Collector took."""
    return expected_deliveries(ws, 0, now), Counter(collector.goal_keys())
