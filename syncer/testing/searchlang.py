"""Intercom's search query language, evaluated over plain objects, for the fake server.

Follows the 2.14 description: `>` and `<` are inclusive ("greater (or equal)"), or strict
where a test asks (the ticket search page hints at that reading), groups nest at most two
levels, at most 15 filters per group, and one `value` list holds either filters or groups,
never both. Given its resource's table (`FIELDS`), a query is refused as Intercom's text
says it fails: a field the "Accepted Fields" table does not list, an operator the
"Accepted Operators" table does not give for the field's type, or a value of another type
("The value you search for has to match the accepted type, otherwise the query will fail").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

MAX_FILTERS_PER_GROUP = 15
MAX_NESTING = 2

STRING, DATE, INTEGER, BOOLEAN, ANY = "string", "date", "integer", "boolean", "any"

# The "Accepted Fields" tables of SearchConversations and SearchTickets (2.14), as written,
# typos included (`conversation_rating.admin_d`).
CONVERSATION_FIELDS: Final[Mapping[str, str]] = {
    "id": STRING,
    "created_at": DATE,
    "updated_at": DATE,
    "source.type": STRING,
    "source.id": STRING,
    "source.delivered_as": STRING,
    "source.subject": STRING,
    "source.body": STRING,
    "source.author.id": STRING,
    "source.author.type": STRING,
    "source.author.name": STRING,
    "source.author.email": STRING,
    "source.url": STRING,
    "contact_ids": STRING,
    "teammate_ids": STRING,
    "admin_assignee_id": INTEGER,
    "team_assignee_id": INTEGER,
    "channel_initiated": STRING,
    "open": BOOLEAN,
    "read": BOOLEAN,
    "state": STRING,
    "waiting_since": DATE,
    "snoozed_until": DATE,
    "tag_ids": STRING,
    "priority": STRING,
    "statistics.time_to_assignment": INTEGER,
    "statistics.time_to_admin_reply": INTEGER,
    "statistics.time_to_first_close": INTEGER,
    "statistics.time_to_last_close": INTEGER,
    "statistics.median_time_to_reply": INTEGER,
    "statistics.first_contact_reply_at": DATE,
    "statistics.first_assignment_at": DATE,
    "statistics.first_admin_reply_at": DATE,
    "statistics.first_close_at": DATE,
    "statistics.last_assignment_at": DATE,
    "statistics.last_assignment_admin_reply_at": DATE,
    "statistics.last_contact_reply_at": DATE,
    "statistics.last_admin_reply_at": DATE,
    "statistics.last_close_at": DATE,
    "statistics.last_closed_by_id": STRING,
    "statistics.count_reopens": INTEGER,
    "statistics.count_assignments": INTEGER,
    "statistics.count_conversation_parts": INTEGER,
    "conversation_rating.requested_at": DATE,
    "conversation_rating.replied_at": DATE,
    "conversation_rating.score": INTEGER,
    "conversation_rating.remark": STRING,
    "conversation_rating.contact_id": STRING,
    "conversation_rating.admin_d": STRING,
    "ai_agent_participated": BOOLEAN,
    "ai_agent.resolution_state": STRING,
    "ai_agent.last_answer_type": STRING,
    "ai_agent.rating": INTEGER,
    "ai_agent.rating_remark": STRING,
    "ai_agent.source_type": STRING,
    "ai_agent.source_title": STRING,
}
TICKET_FIELDS: Final[Mapping[str, str]] = {
    "id": STRING,
    "created_at": DATE,
    "updated_at": DATE,
    "title": STRING,
    "description": STRING,
    "category": STRING,
    "ticket_type_id": STRING,
    "contact_ids": STRING,
    "teammate_ids": STRING,
    "admin_assignee_id": STRING,
    "team_assignee_id": STRING,
    "open": BOOLEAN,
    "state": STRING,
    "snoozed_until": DATE,
}
# `ticket_attribute.{id}`: "String or Boolean or Date (UNIX timestamp) or Float or Integer".
TICKET_ATTRIBUTE_PREFIX: Final = "ticket_attribute."
FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "conversations": CONVERSATION_FIELDS,
    "tickets": TICKET_FIELDS,
}
# "Accepted Operators": `=`, `!=`, `IN`, `NIN` for all types; `>` and `<` for integers and
# dates; `~`, `!~`, `^`, `$` for strings. `>=` and `<=` only where the text names them: the
# admonition "Searching based on `created_at`" of SearchTickets.
_ALL = frozenset({"=", "!=", "IN", "NIN"})
OPERATORS: Final[Mapping[str, frozenset[str]]] = {
    STRING: _ALL | {"~", "!~", "^", "$"},
    DATE: _ALL | {">", "<"},
    INTEGER: _ALL | {">", "<"},
    BOOLEAN: _ALL,
    ANY: _ALL | {">", "<", "~", "!~", "^", "$"},
}
_INCLUSIVE: Final = {("tickets", "created_at"): frozenset({">=", "<="})}
KNOWN_OPERATORS: Final = frozenset(
    {"=", "!=", "IN", "NIN", ">", "<", ">=", "<=", "~", "!~", "^", "$"}
)


class QueryError(ValueError):
    """The query is not one Intercom would accept."""


Getter = Callable[[Mapping[str, Any], str], Any]


def validate(query: object, depth: int = 0, *, resource: str | None = None) -> None:
    """Raise QueryError for a query Intercom refuses; with `resource` ("conversations",
    "tickets"), also for fields, operators and values its tables do not accept."""
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
            validate(item, depth + 1, resource=resource)
        return
    name = query.get("field")
    if not isinstance(name, str):
        raise QueryError("a filter needs a field")
    operator = query.get("operator")
    if operator not in KNOWN_OPERATORS:
        raise QueryError(f"unknown operator {operator!r}")
    if resource is not None:
        _check_filter(resource, name, str(operator), query.get("value"))


def field_type(resource: str, name: str) -> str | None:
    """The type the resource's Accepted Fields table gives the field; None if unlisted."""
    kind = FIELDS[resource].get(name)
    if kind is None and resource == "tickets" and name.startswith(TICKET_ATTRIBUTE_PREFIX):
        return ANY if len(name) > len(TICKET_ATTRIBUTE_PREFIX) else None
    return kind


def _check_filter(resource: str, name: str, operator: str, value: object) -> None:
    kind = field_type(resource, name)
    if kind is None:
        raise QueryError(f"{name!r} is not a searchable field of {resource}")
    if operator not in OPERATORS[kind] | _INCLUSIVE.get((resource, name), frozenset()):
        raise QueryError(f"operator {operator!r} does not apply to {name!r} ({kind})")
    if operator in ("IN", "NIN"):
        if not isinstance(value, list) or not all(_fits(kind, v) for v in value):
            raise QueryError(f"{operator} on {name!r} needs a list of {kind} values")
    elif not (value is None and operator in ("=", "!=")) and not _fits(kind, value):
        # The request schema's `value` is nullable: `= null` and `!= null` are accepted.
        raise QueryError(f"{name!r} accepts a {kind} value, not {value!r}")


def _fits(kind: str, value: object) -> bool:
    if kind == STRING:
        return isinstance(value, str)
    if kind in (DATE, INTEGER):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, str | int | float)  # ANY: a ticket attribute of its own type


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
    if expected is None and operator in ("=", "!="):  # `= null`: the field is empty
        empty = all(v is None for v in values)
        return empty if operator == "=" else not empty
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
