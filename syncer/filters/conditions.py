"""A condition of a goal's `where` (a field, an operator, a value) and how a condition and
the values it found read in a rejection's reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from syncer.filters.fields import ANY, NUMBER, SET, TEXT, TIME, field_type

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


def tag_names(conditions: Iterable[Condition]) -> set[str]:
    """The tag names the conditions use (each must exist in the workspace)."""
    names: set[str] = set()
    for condition in conditions:
        if condition.field.endswith(".tags") and condition.op not in ("exists", "contains"):
            values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
            names.update(str(v) for v in values)
    return names


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
