"""Checking an event against a goal's conditions: the first that fails, and what it found,
is the event's reason for being filtered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syncer.filters.conditions import FOUND_CHARS, REASON_CHARS, Condition, bounded
from syncer.filters.fields import SET, field_type
from syncer.filters.seen import Seen, company_value, value_of
from syncer.values import is_number


def rejection(conditions: Sequence[Condition], seen: Seen) -> str | None:
    """Why the event does not satisfy the conditions (the first that fails, with what it
    found), or None when it does."""
    for condition in conditions:
        if condition.field.startswith("company."):
            # Any of the contact's companies may satisfy it, as in Series; with none, the
            # condition is checked against an empty company (so `exists = false` holds).
            companies = list(seen.companies) or [{}]
            found = [company_value(condition.field, c) for c in companies]
            if any(_holds(condition, value, seen) for value in found):
                continue
            shown_found = found[0] if len(found) == 1 else found
        else:
            value = value_of(condition.field, seen)
            if _holds(condition, value, seen):
                continue
            shown_found = _for_reason(condition.field, value, seen)
        why = f"{condition} (found {bounded(shown_found, FOUND_CHARS)})"
        return why if len(why) <= REASON_CHARS else why[: REASON_CHARS - 1] + "…"
    return None


def _holds(condition: Condition, value: Any, seen: Seen) -> bool:
    op, wanted = condition.op, condition.value
    if condition.type == SET:
        return _set_holds(condition, value if isinstance(value, list) else [], seen)
    present = value is not None and value != ""
    if op == "exists":
        return present is wanted
    if op in ("ne", "not_in"):
        options = wanted if op == "not_in" else (wanted,)
        return not any(_equal(value, w) for w in options)
    if not present:
        return False
    if op == "eq":
        return _equal(value, wanted)
    if op == "in":
        return any(_equal(value, w) for w in wanted)
    if op == "contains":
        return isinstance(value, str) and isinstance(wanted, str) and _fold(wanted) in _fold(value)
    number = _number(value)
    limit = _number(wanted)
    if number is None or limit is None:
        return False
    return {
        "gt": number > limit,
        "gte": number >= limit,
        "lt": number < limit,
        "lte": number <= limit,
    }[op]


def _set_holds(condition: Condition, ids: list[str | None], seen: Seen) -> bool:
    """Tags and segments: sets of ids. A tag's name is resolved to its id through GET /tags
    (an object shows a contact's tags by id alone); a segment's through the names the
    contact's segment list gives."""
    op, wanted = condition.op, condition.value
    if op == "exists":
        return bool(ids) is wanted
    if op == "contains":
        return any(_fold(wanted) in _fold(n) for n in _set_names(condition.field, ids, seen))
    names = {_fold(w) for w in (wanted if isinstance(wanted, tuple) else (wanted,))}
    known = _ids_by_name(condition.field, seen)
    wanted_ids = {known[n] for n in names if n in known}
    hit = bool(wanted_ids & set(ids))
    return hit if op in ("eq", "in") else not hit


def _ids_by_name(name: str, seen: Seen) -> dict[str, str]:
    if name == "contact.segments":
        pairs = [(s.get("name"), s.get("id")) for s in seen.segments if isinstance(s, Mapping)]
    else:
        pairs = list(seen.tags.items())
    return {_fold(str(n)): str(i) for n, i in pairs if n is not None and i is not None}


def _set_names(name: str, ids: list[str | None], seen: Seen) -> list[str]:
    by_id = {i: n for n, i in _ids_by_name(name, seen).items()}
    return [by_id[i] for i in ids if i is not None and i in by_id]


def _for_reason(name: str, value: Any, seen: Seen) -> Any:
    if field_type(name) == SET:
        return _set_names(name, value if isinstance(value, list) else [], seen)
    return value


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return value is wanted
    a, b = _number(value), _number(wanted)
    if a is not None and b is not None:
        return a == b
    if isinstance(value, str | int) and isinstance(wanted, str | int):
        return _fold(str(value)) == _fold(str(wanted))
    return False


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def _fold(text: str) -> str:
    return text.casefold().strip()
