"""Reading a goal's `where` table from the config into conditions, each value checked
against its field's type and documented values, so that what could never match is refused
before anything is searched."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

from syncer.errors import ConfigError
from syncer.filters.conditions import OPERATORS, Condition
from syncer.filters.fields import (
    ASSIGNEES,
    EVERY_EVENT,
    FIELDS,
    NUMBER,
    PREFIXES,
    SET,
    TEXT,
    TIME,
    bounds_of,
    documented_values,
    field_type,
    listed,
    subject_of,
    unassigned,
)
from syncer.timeparse import shown, to_epoch


def parse_where(
    raw: Mapping[str, Any] | None,
    where: str,
    kind: str,
    subjects: Mapping[str, frozenset[str]],
) -> tuple[Condition, ...]:
    """A goal's `where` table: `field = value`, `field = [values]` or `field = {op = value}`;
    None when the goal has none (every event counts).

    TOML reads `where.contact.role = "user"` as nested tables; quoted keys
    (`"contact.role" = "user"`) as one dotted name: both are taken. `subjects`: what each
    goal kind's events are about (kinds.GoalKind.subjects)."""
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
        _check_field(key, name, kind, subjects)
        if isinstance(spec, Mapping):
            if not spec:
                raise ConfigError(f"{key}: an empty table; give an operator ({listed(OPERATORS)})")
            conditions.extend(_condition(f"{key}.{op}", name, op, v) for op, v in spec.items())
        elif isinstance(spec, list):
            conditions.append(_condition(key, name, "in", spec))
        else:
            conditions.append(_condition(key, name, "eq", spec))
    return tuple(conditions)


def _check_field(key: str, name: str, kind: str, subjects: Mapping[str, frozenset[str]]) -> None:
    """The field exists, and the goal's events have it."""
    about = subject_of(name)
    if about is None:
        known = ", ".join([*FIELDS, *(f"{p}NAME" for p in PREFIXES)])
        raise ConfigError(f"{key}: unknown filter field (known: {known})")
    if about not in EVERY_EVENT and about not in subjects.get(kind, frozenset()):
        having = sorted(k for k, has in subjects.items() if about in has)
        raise ConfigError(f"{key}: {kind} events have no {name} (it is for {listed(having)})")


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted field name, its value or operator table) for each leaf of the `where` table."""
    for key, value in raw.items():
        name = f"{prefix}{key}"
        is_operators = isinstance(value, Mapping) and value and set(value) <= set(OPERATORS)
        if isinstance(value, Mapping) and not is_operators and subject_of(name) is None:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _condition(key: str, name: str, op: str, value: Any) -> Condition:
    kind = field_type(name)
    if op not in OPERATORS:
        raise ConfigError(f"{key}: unknown operator {op!r} (known: {listed(OPERATORS)})")
    if kind not in OPERATORS[op]:
        fits = listed(sorted(o for o, types in OPERATORS.items() if kind in types))
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
    """One value, checked against the field's type (and its documented values); `whole`:
    the value must be one of them, not a part of one (`contains`)."""
    if isinstance(value, list | dict):
        raise ConfigError(f"{key}: expected one value, got {'a list' if value else 'nothing'}")
    if kind == TIME:
        return _time(key, name, value)
    if kind == NUMBER:
        return _number(key, name, value)
    if kind in (TEXT, SET):
        return _text(key, name, value, whole=whole)
    # A workspace's own attribute: any type; a date compares as the time it names.
    if isinstance(value, dt.datetime | dt.date):
        return to_epoch(value, key)
    return value


def _time(key: str, name: str, value: Any) -> int:
    """A time as UNIX seconds: given so, or as an ISO 8601 date."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str | dt.date):
        return to_epoch(value, key)
    raise ConfigError(f"{key}: {name} is a time; give an ISO 8601 date or UNIX seconds")


def _number(key: str, name: str, value: Any) -> int | float:
    """A finite number, within the field's documented range if it has one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}: {name} is a number, got {shown(value)}")
    number: int | float = value
    bounds = bounds_of(name)
    if bounds is not None and (number != int(number) or not bounds[0] <= number <= bounds[1]):
        low, high = bounds
        raise ConfigError(f"{key}: {name} is a whole number from {low} to {high}, got {number}")
    return number


def _text(key: str, name: str, value: Any, *, whole: bool) -> str:
    """Text (an id may be given as a number), never Intercom's "no assignee", and one of the
    field's documented values where the spec lists them."""
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise ConfigError(f"{key}: {name} is text, got {shown(value)}")
    text = str(value)
    if name in ASSIGNEES and unassigned(text):
        raise ConfigError(
            f"{key}: {text} is how Intercom shows no assignee, which {name} reads as "
            "none; use { exists = false } (unassigned) or { exists = true } (assigned)"
        )
    documented = documented_values(name)
    if documented and whole and text not in documented:
        raise ConfigError(f"{key}: {shown(text)} is not a value of {name} ({listed(documented)})")
    return text
