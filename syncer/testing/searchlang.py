"""Intercom's search query language, evaluated over plain objects, for the fake server.

Follows the 2.14 description: `>` and `<` are inclusive ("greater (or equal)"), or strict
where a test asks (the ticket search page hints at that reading), groups nest at most two
levels, at most 15 filters per group, and one `value` list holds either filters or groups,
never both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MAX_FILTERS_PER_GROUP = 15
MAX_NESTING = 2


class QueryError(ValueError):
    """The query is not one Intercom would accept."""


Getter = Callable[[Mapping[str, Any], str], Any]


def validate(query: object, depth: int = 0) -> None:
    if not isinstance(query, Mapping):
        raise QueryError("query must be an object")
    if query.get("operator") in ("AND", "OR"):
        value = query.get("value")
        if not isinstance(value, list) or not value:
            raise QueryError("a group needs a non-empty value list")
        if len(value) > MAX_FILTERS_PER_GROUP:
            raise QueryError(f"at most {MAX_FILTERS_PER_GROUP} filters per group")
        groups = [isinstance(v, Mapping) and v.get("operator") in ("AND", "OR") for v in value]
        if any(groups) and not all(groups):
            raise QueryError("a value list holds filters or groups, not both")
        if any(groups) and depth + 1 >= MAX_NESTING:
            raise QueryError(f"at most {MAX_NESTING} levels of nesting")
        for item in value:
            validate(item, depth + 1)
        return
    if not isinstance(query.get("field"), str):
        raise QueryError("a filter needs a field")
    if query.get("operator") not in {
        "=",
        "!=",
        "IN",
        "NIN",
        ">",
        "<",
        ">=",
        "<=",
        "~",
        "!~",
        "^",
        "$",
    }:
        raise QueryError(f"unknown operator {query.get('operator')!r}")


def matches(
    obj: Mapping[str, Any], query: Mapping[str, Any], get: Getter, strict: bool = False
) -> bool:
    operator = query["operator"]
    if operator == "AND":
        return all(matches(obj, q, get, strict) for q in query["value"])
    if operator == "OR":
        return any(matches(obj, q, get, strict) for q in query["value"])
    if strict and operator in (">", "<"):
        operator += "!"  # strictly greater or lower
    return _compare(get(obj, query["field"]), operator, query.get("value"))


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    if operator in ("IN", "NIN"):
        hit = any(v in (expected or []) for v in values)
        return hit if operator == "IN" else not hit
    if operator == "!=":
        return all(v != expected for v in values)
    return any(_one(v, operator, expected) for v in values)


def _one(actual: Any, operator: str, expected: Any) -> bool:
    if actual is None:
        return False
    try:
        if operator == "=":
            return bool(actual == expected)
        if operator in (">", ">="):  # Intercom: "greater (or equal) than"
            return bool(actual >= expected)
        if operator in ("<", "<="):  # Intercom: "lower (or equal) than"
            return bool(actual <= expected)
        if operator == ">!":
            return bool(actual > expected)
        if operator == "<!":
            return bool(actual < expected)
    except TypeError:
        return False
    text, needle = str(actual), str(expected)
    return {
        "~": needle in text,
        "!~": needle not in text,
        "^": text.startswith(needle),
        "$": text.endswith(needle),
    }[operator]


def range_filter(query: Mapping[str, Any]) -> tuple[str, Any, Any] | None:
    """(field, lo, hi) of a top-level AND's range on one field, to narrow by an index."""
    if query.get("operator") != "AND":
        return None
    bounds: dict[str, list[Any]] = {}
    for item in query["value"]:
        if item.get("operator") in (">", ">=", "<", "<=") and isinstance(item.get("value"), int):
            lo_hi = bounds.setdefault(item["field"], [None, None])
            lo_hi[0 if item["operator"] in (">", ">=") else 1] = item["value"]
    for name, (lo, hi) in bounds.items():
        if lo is not None or hi is not None:
            return name, lo, hi
    return None
