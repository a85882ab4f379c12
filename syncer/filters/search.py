"""Where a condition runs besides the read-time check: a condition on a field that never
changes after the event and is documented as searchable is also put into the search, where
it only saves pages (every event is still checked, evaluate.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from syncer.filters.conditions import Condition
from syncer.filters.fields import search_field

# A search holds only `=`, `!=`, `IN` and `NIN` of a pushed-down field: Intercom's text
# operators (`~`) match differently from ours (words, not substrings).
_PUSHABLE_OPERATORS: Final = {"eq": "=", "ne": "!=", "in": "IN", "not_in": "NIN"}
MAX_PUSHED: Final = 10


def pushdown(goal_conditions: Sequence[Sequence[Condition]]) -> tuple[dict[str, Any], ...]:
    """The search filters every goal of one scan shares, on fields that are searchable and
    never change after the event: the scan may leave out what every goal would reject."""
    if not goal_conditions:
        return ()
    shared = set(goal_conditions[0]).intersection(*map(set, goal_conditions[1:]))
    filters = []
    for condition in sorted(shared, key=str):
        search = search_field(condition.field)
        if search is None or condition.op not in _PUSHABLE_OPERATORS:
            continue
        value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
        filters.append(
            {"field": search, "operator": _PUSHABLE_OPERATORS[condition.op], "value": value}
        )
    # Intercom takes at most 15 filters in one AND group (SearchConversations, "Nesting &
    # Limitations"), the time range and a scan's own among them: the rest run at read time.
    return tuple(filters[:MAX_PUSHED])
