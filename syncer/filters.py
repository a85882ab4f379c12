"""A goal's `where`: conditions on the event's conversation or ticket, its contact and the
contact's companies, parsed once from the config and checked on each event. Pure: no I/O.

Series starts a goal on "a filter on user attributes or events"; these are those filters.
They see Intercom's values when the syncer reads the event (a catch-up sees today's
attributes), as Series sees them when it fires. A condition on a field that never changes
after the event and is documented as searchable is also put into the search (`pushdown`),
where it only saves pages: every event is still checked here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from syncer.errors import ConfigError
from syncer.timeparse import shown, to_epoch

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
# Operators, by the types they fit. A bare value means `eq`, a list of values `in`: OR
# by listing values, AND across the conditions of one goal.
OPERATORS: Final[Mapping[str, frozenset[str]]] = {
    "eq": frozenset({TEXT, NUMBER, TIME, SET, ANY}),
    "ne": frozenset({TEXT, NUMBER, TIME, SET, ANY}),
    "in": frozenset({TEXT, NUMBER, TIME, SET, ANY}),
    "not_in": frozenset({TEXT, NUMBER, TIME, SET, ANY}),
    "gt": frozenset({NUMBER, TIME, ANY}),
    "gte": frozenset({NUMBER, TIME, ANY}),
    "lt": frozenset({NUMBER, TIME, ANY}),
    "lte": frozenset({NUMBER, TIME, ANY}),
    "contains": frozenset({TEXT, SET, ANY}),
    "exists": frozenset({TEXT, NUMBER, TIME, SET, ANY}),
}
_SYMBOLS: Final = {
    "eq": "=",
    "ne": "!=",
    "in": "in",
    "not_in": "not in",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "contains": "contains",
    "exists": "exists",
}
# A search holds only `=`, `!=`, `IN` and `NIN` of a pushed-down field: Intercom's text
# operators (`~`) match differently from ours (words, not substrings).
_PUSHABLE_OPERATORS: Final = {"eq": "=", "ne": "!=", "in": "IN", "not_in": "NIN"}
MAX_PUSHED: Final = 10
# A rejection's reason is stored on every row it rejects: bounded, so a condition of 20,000
# values costs its row no more than a short one (the store cuts any reason at 200).
REASON_CHARS: Final = 190
CONDITION_CHARS: Final = 80  # a condition's values, within the reason
FOUND_CHARS: Final = 60  # what the event had
VALUE_CHARS: Final = 40  # any one value


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any  # a scalar; a tuple for in / not_in; a bool for exists; seconds for a time

    def __str__(self) -> str:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        if self.op == "exists":
            return f"{self.field} {'exists' if value else 'does not exist'}"
        return f"{self.field} {_SYMBOLS[self.op]} {bounded(value, CONDITION_CHARS)}"

    @property
    def type(self) -> str:
        return field_type(self.field)

    @property
    def needs(self) -> str:
        """The lookup the condition reads: subject, contact, companies or segments."""
        if self.field == "contact.segments":
            return "segments"
        if self.field.startswith("company."):
            return "companies"
        if self.field.startswith("contact."):
            return "contact"
        return "subject"


def field_type(name: str) -> str:
    if name in FIELDS:
        return FIELDS[name].type
    return ANY


def _kinds_of(name: str) -> frozenset[str] | None:
    if name in FIELDS:
        return FIELDS[name].kinds
    for prefix, kinds in PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return kinds
    return None


def parse_where(raw: Mapping[str, Any] | None, where: str, kind: str) -> tuple[Condition, ...]:
    """A goal's `where` table: `field = value`, `field = [values]` or `field = {op = value}`;
    None when the goal has none (every event counts).

    TOML reads `where.contact.role = "user"` as nested tables; quoted keys
    (`"contact.role" = "user"`) as one dotted name: both are taken."""
    if raw is None:
        return ()
    if not raw:
        raise ConfigError(
            f"{where}: an empty table; give a condition, or leave `where` out for a goal "
            "every event counts for"
        )
    conditions: list[Condition] = []
    for name, spec in _flatten(raw):
        key = f"{where}.{name}"
        kinds = _kinds_of(name)
        if kinds is None:
            known = ", ".join([*FIELDS, *(f"{p}NAME" for p in PREFIXES)])
            raise ConfigError(f"{key}: unknown filter field (known: {known})")
        if kind not in kinds:
            raise ConfigError(f"{key}: {kind} events have no {name} (it is for {_list(kinds)})")
        if isinstance(spec, Mapping):
            if not spec:
                raise ConfigError(f"{key}: an empty table; give an operator ({_list(OPERATORS)})")
            conditions.extend(_condition(f"{key}.{op}", name, op, v) for op, v in spec.items())
        elif isinstance(spec, list):
            conditions.append(_condition(key, name, "in", spec))
        else:
            conditions.append(_condition(key, name, "eq", spec))
    return tuple(conditions)


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted field name, its value or operator table) for each leaf of the `where` table."""
    for key, value in raw.items():
        name = f"{prefix}{key}"
        is_operators = isinstance(value, Mapping) and value and set(value) <= set(OPERATORS)
        if isinstance(value, Mapping) and not is_operators and _kinds_of(name) is None:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _condition(key: str, name: str, op: str, value: Any) -> Condition:
    kind = field_type(name)
    if op not in OPERATORS:
        raise ConfigError(f"{key}: unknown operator {op!r} (known: {_list(OPERATORS)})")
    if kind not in OPERATORS[op]:
        fits = _list(sorted(o for o, types in OPERATORS.items() if kind in types))
        raise ConfigError(f"{key}: {op!r} does not fit {name}, a {kind} field (use {fits})")
    if op == "exists":
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {shown(value)}")
        return Condition(name, op, value)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key}: expected a non-empty list of values, got {shown(value)}")
        return Condition(name, op, tuple(_value(key, name, kind, v) for v in value))
    return Condition(name, op, _value(key, name, kind, value, whole=op != "contains"))


def _value(key: str, name: str, kind: str, value: Any, *, whole: bool = True) -> Any:
    """One value, checked against the field's type (and its documented values)."""
    if isinstance(value, list | dict):
        raise ConfigError(f"{key}: expected one value, got {'a list' if value else 'nothing'}")
    if kind == TIME:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, str | dt.date):
            return to_epoch(value, key)
        raise ConfigError(f"{key}: {name} is a time; give an ISO 8601 date or UNIX seconds")
    if kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            raise ConfigError(f"{key}: {name} is a number, got {shown(value)}")
        bounds = FIELDS[name].bounds if name in FIELDS else None
        if bounds is not None and (value != int(value) or not bounds[0] <= value <= bounds[1]):
            low, high = bounds
            raise ConfigError(f"{key}: {name} is a whole number from {low} to {high}, got {value}")
        return value
    if kind in (TEXT, SET):
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            raise ConfigError(f"{key}: {name} is text, got {shown(value)}")
        text = str(value)
        if name in ASSIGNEES and _unassigned(text):
            raise ConfigError(
                f"{key}: {text} is how Intercom shows no assignee, which {name} reads as "
                "none; use { exists = false } (unassigned) or { exists = true } (assigned)"
            )
        documented = FIELDS[name].values if name in FIELDS else ()
        if documented and whole and text not in documented:
            values = _list(documented)
            raise ConfigError(f"{key}: {shown(text)} is not a value of {name} ({values})")
        return text
    if isinstance(value, dt.datetime | dt.date):
        return to_epoch(value, key)
    return value


def _list(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _finite(value: float) -> bool:
    return math.isfinite(value)


# -- what a condition sees ------------------------------------------------------------------


def subject(resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the filters may read of a conversation or ticket, kept with its events so that
    `outbox resolve --refilter` can check them again without reading Intercom."""
    tags = _mapping(obj.get("tags"))
    if resource == "tickets":
        return {
            "ticket.type": _mapping(obj.get("ticket_type")).get("name"),
            "ticket.admin_assignee_id": _assignee(obj.get("admin_assignee_id")),
            "ticket.team_assignee_id": _assignee(obj.get("team_assignee_id")),
            "ticket.attributes": _scalars(obj.get("ticket_attributes")),
        }
    source = _mapping(obj.get("source"))
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


def rejection(conditions: Sequence[Condition], seen: Seen) -> str | None:
    """Why the event does not satisfy the conditions (the first that fails, with what it
    found), or None when it does."""
    for condition in conditions:
        if condition.field.startswith("company."):
            # Any of the contact's companies may satisfy it, as in Series; with none, the
            # condition is checked against an empty company (so `exists = false` holds).
            companies = list(seen.companies) or [{}]
            found = [_company_value(condition.field, c) for c in companies]
            if any(_holds(condition, value, seen) for value in found):
                continue
            shown_found = found[0] if len(found) == 1 else found
        else:
            value = _value_of(condition.field, seen)
            if _holds(condition, value, seen):
                continue
            shown_found = _for_reason(condition.field, value, seen)
        why = f"{condition} (found {bounded(shown_found, FOUND_CHARS)})"
        return why if len(why) <= REASON_CHARS else why[: REASON_CHARS - 1] + "…"
    return None


def _value_of(name: str, seen: Seen) -> Any:
    if name == "rating.score":
        return seen.facts.get("rating.score")
    if name == "contact.segments":
        return [_text(s.get("id")) for s in seen.segments if isinstance(s, Mapping)]
    if name.startswith("contact."):
        contact = seen.contact or {}
        attribute = name.removeprefix("contact.")
        if attribute == "tags":
            return _tag_ids(_mapping(contact.get("tags")).get("data"))
        if attribute.startswith("custom_attributes."):
            custom = _mapping(contact.get("custom_attributes"))
            return custom.get(attribute.removeprefix("custom_attributes."))
        if attribute == "email_domain":
            domain = contact.get("email_domain")
            email = contact.get("email")
            if not domain and isinstance(email, str) and "@" in email:
                domain = email.rpartition("@")[2]
            return domain
        return contact.get(attribute)
    for holder in ("conversation.custom_attributes.", "ticket.attributes."):
        if name.startswith(holder):
            return _mapping(seen.subject.get(holder.rstrip("."))).get(name.removeprefix(holder))
    if name in ASSIGNEES:  # a subject stored before 0 read as none
        return _assignee(seen.subject.get(name))
    return seen.subject.get(name)


def _company_value(name: str, company: Mapping[str, Any]) -> Any:
    attribute = name.removeprefix("company.")
    if attribute == "plan":
        return _mapping(company.get("plan")).get("name")
    if attribute.startswith("custom_attributes."):
        custom = _mapping(company.get("custom_attributes"))
        return custom.get(attribute.removeprefix("custom_attributes."))
    return company.get(attribute)


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
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fold(text: str) -> str:
    return text.casefold().strip()


def bounded(value: Any, limit: int) -> str:
    """A value as a reason shows it, in about `limit` characters: each value cut to 40, and
    a list cut where it would pass the limit, with "and N more" saying what was left out."""
    if not isinstance(value, list | tuple):
        return _cut(value, min(limit, VALUE_CHARS))
    shown_: list[str] = []
    used = 2
    for item in value:
        text = _cut(item, VALUE_CHARS)
        if shown_ and used + len(text) + 2 > limit:
            break
        shown_.append(text)
        used += len(text) + 2
    rest = len(value) - len(shown_)
    listed = "[" + ", ".join(shown_) + "]"
    return f"{listed} and {rest:,} more" if rest else listed


def _cut(value: Any, limit: int) -> str:
    """repr(value) in at most about `limit` characters; a string is cut inside its quotes."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        return repr(value[: max(1, limit - 3)] + "…")
    return text[: limit - 1] + "…"


def _tag_ids(listed: object) -> list[str]:
    if not isinstance(listed, list):
        return []
    return [tid for t in listed if isinstance(t, Mapping) and (tid := _text(t.get("id")))]


def _scalars(value: object) -> dict[str, Any]:
    """A table of attributes, with only the values a condition can compare."""
    return {
        str(k): v
        for k, v in _mapping(value).items()
        if v is None or isinstance(v, str | int | float | bool)
    }


def _assignee(value: object) -> str | None:
    """An assignee's id; None for none, which 2.14 shows as null, 0 or "0"."""
    text = _text(value)
    return None if text is None or _unassigned(text) else text


def _unassigned(text: str) -> bool:
    return text.strip() == "0"


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- where a condition runs -----------------------------------------------------------------


def pushdown(goal_conditions: Sequence[Sequence[Condition]]) -> tuple[dict[str, Any], ...]:
    """The search filters every goal of one scan shares, on fields that are searchable and
    never change after the event: the scan may leave out what every goal would reject."""
    if not goal_conditions:
        return ()
    shared = set(goal_conditions[0]).intersection(*map(set, goal_conditions[1:]))
    filters = []
    for condition in sorted(shared, key=str):
        search = FIELDS[condition.field].search if condition.field in FIELDS else None
        if search is None or condition.op not in _PUSHABLE_OPERATORS:
            continue
        value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
        filters.append(
            {"field": search, "operator": _PUSHABLE_OPERATORS[condition.op], "value": value}
        )
    # Intercom takes at most 15 filters in one AND group (SearchConversations, "Nesting &
    # Limitations"), the time range and a scan's own among them: the rest run at read time.
    return tuple(filters[:MAX_PUSHED])


def tag_names(conditions: Iterable[Condition]) -> set[str]:
    """The tag names the conditions use (each must exist in the workspace)."""
    names: set[str] = set()
    for condition in conditions:
        if condition.field.endswith(".tags") and condition.op not in ("exists", "contains"):
            values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
            names.update(str(v) for v in values)
    return names
