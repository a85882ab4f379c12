"""Values read out of Intercom's JSON: pure functions, no I/O.

Intercom's objects are read as they come: a field may be missing, null, or of another type
than the spec says. These take what is usable, answer None (or an empty mapping) for the
rest, and raise Unreadable where an event cannot do without the value (an id, a time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

from syncer.errors import Unreadable


def id_of(obj: Mapping[str, Any]) -> str:
    """The object's id as text; Unreadable without a usable one."""
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise Unreadable(f"{obj.get('type') or 'object'} without a usable id: {value!r}")
    return str(value)


def seconds(obj: Mapping[str, Any], name: str, where: str | None = None) -> int:
    """A UNIX time; `where` names the object when `obj` is a part of one (a rating)."""
    value = obj.get(name)
    if is_number(value) and value >= 0:
        return int(value)
    where = where or f"{obj.get('type') or 'object'} {obj.get('id')!r}"
    raise Unreadable(f"{where}: {name} is {value!r}")


def time_or_none(value: object) -> int | None:
    return int(value) if is_number(value) and value >= 0 else None


def marker(conversation: Mapping[str, Any], name: str) -> int | None:
    """A time field by its dotted name (`statistics.last_close_at`), if it is usable."""
    value = dotted(conversation, name)
    usable = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if usable else None


def dotted(obj: Mapping[str, Any], name: str) -> Any:
    """The value at a dotted name, or None where the path breaks off."""
    value: Any = obj
    for part in name.split("."):
        value = mapping(value).get(part)
    return value


def is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number we can use: not a bool, and finite (Python's json reads the non-standard
    Infinity and NaN, which no Collector takes)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def str_or_none(value: object) -> str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int) else None
