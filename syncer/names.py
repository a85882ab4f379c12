"""The workspace's names a goal's `where` uses: tags, segments, ticket types, and custom
attributes of contacts, companies, conversations and tickets. A name the workspace lacks
makes a filter that never matches (or, with `ne`, never rejects), and nothing would say so:
`check`, `sync` and `run` all refuse it here, in one line naming the goal, the field and
what the workspace has (ConfigError, exit 2).

Each list is read only when some enabled goal needs it, once per start. Tags, segments and
ticket types compare case aside, as the filters do; an attribute's name is a key of the
object's attributes, so it must match exactly (a name that differs only in case is named).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from syncer.config import Config
from syncer.errors import ConfigError
from syncer.filters import Condition, tag_names

SHOWN: Final = 20  # names of the workspace a refusal lists before "and N more"
# The attributes a field prefix names, and the model `GET /data_attributes` lists them under.
ATTRIBUTE_MODELS: Final = {
    "contact.custom_attributes.": "contact",
    "company.custom_attributes.": "company",
    "conversation.custom_attributes.": "conversation",
}
TICKET_ATTRIBUTES: Final = "ticket.attributes."


class Lists(Protocol):
    """What the workspace lists (IntercomClient has each, as JSON objects)."""

    def tags(self) -> list[dict[str, Any]]: ...

    def segments(self) -> list[dict[str, Any]]: ...

    def ticket_types(self) -> list[dict[str, Any]]: ...

    def data_attributes(self, model: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class _Use:
    """One name a goal's condition uses."""

    goal: str
    field: str
    name: str


def check_workspace_names(
    config: Config, lists: Lists, *, tags: Callable[[], Iterable[str]] | None = None
) -> None:
    """ConfigError for the first name an enabled goal's `where` uses that the workspace
    lacks. `tags` (the workspace's tag names) replaces `lists.tags` where the caller keeps
    them cached. Intercom's failures are raised as they are."""
    goals = [(goal.name, goal.where) for goal in config.enabled_goals()]
    problem = unknown_name(goals, lists, tags=tags)
    if problem is not None:
        raise ConfigError(problem)


def unknown_name(
    goals: Sequence[tuple[str, Sequence[Condition]]],
    lists: Lists,
    *,
    tags: Callable[[], Iterable[str]] | None = None,
) -> str | None:
    """The first unknown name as one line, or None; each list read only if needed."""
    uses = list(_uses(goals))
    by_kind: dict[str, list[_Use]] = {}
    for kind, use in uses:
        by_kind.setdefault(kind, []).append(use)
    if "tag" in by_kind:
        listing = tags or (lambda: _named(lists.tags()))
        problem = _folded("tag", "tags", by_kind["tag"], sorted(set(listing())))
        if problem:
            return problem
    if "segment" in by_kind:
        problem = _folded("segment", "segments", by_kind["segment"], _named(lists.segments()))
        if problem:
            return problem
    if "ticket type" in by_kind or "ticket attribute" in by_kind:
        types = lists.ticket_types()
        problem = _folded(
            "ticket type", "ticket types", by_kind.get("ticket type", []), _named(types)
        )
        if problem:
            return problem
        attributes = _ticket_attributes(types)
        if attributes is not None:
            problem = _exact("ticket attribute", by_kind.get("ticket attribute", []), attributes)
            if problem:
                return problem
    for model in ("contact", "company", "conversation"):
        wanted = by_kind.get(f"{model} attribute")
        if wanted:
            names = _custom_attributes(lists.data_attributes(model))
            problem = _exact(f"{model} attribute", wanted, names)
            if problem:
                return problem
    return None


def _uses(goals: Sequence[tuple[str, Sequence[Condition]]]) -> Iterable[tuple[str, _Use]]:
    """(what it names, the use) for each workspace name in the goals' conditions."""
    for goal, conditions in goals:
        for condition in conditions:
            field = condition.field
            for name in sorted(tag_names([condition])):
                yield "tag", _Use(goal, field, name)
            if field == "contact.segments" and condition.op not in ("exists", "contains"):
                for value in _values(condition):
                    yield "segment", _Use(goal, field, value)
            if field == "ticket.type" and condition.op not in ("exists", "contains"):
                for value in _values(condition):
                    yield "ticket type", _Use(goal, field, value)
            if field.startswith(TICKET_ATTRIBUTES):
                yield "ticket attribute", _Use(goal, field, field.removeprefix(TICKET_ATTRIBUTES))
            for prefix, model in ATTRIBUTE_MODELS.items():
                if field.startswith(prefix):
                    yield f"{model} attribute", _Use(goal, field, field.removeprefix(prefix))


def _values(condition: Condition) -> list[str]:
    value = condition.value
    return [str(v) for v in (value if isinstance(value, tuple) else (value,))]


def _named(items: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({str(item["name"]) for item in items if item.get("name")})


def _folded(what: str, plural: str, uses: Sequence[_Use], names: Sequence[str]) -> str | None:
    known = {name.casefold().strip() for name in names}
    for use in uses:
        if use.name.casefold().strip() not in known:
            return (
                f"goal {use.goal}: where {use.field}: no {what} {use.name!r} in the workspace "
                f"(its {plural}: {listed(names)})"
            )
    return None


def _exact(what: str, uses: Sequence[_Use], names: Sequence[str]) -> str | None:
    known = set(names)
    for use in uses:
        if use.name in known:
            continue
        close = [n for n in names if n.casefold() == use.name.casefold()]
        if close:
            hint = f"names are case-sensitive: it has {close[0]!r}"
        else:
            hint = f"its {what}s: {listed(names)}"
        return (
            f"goal {use.goal}: where {use.field}: no {what} {use.name!r} in the workspace ({hint})"
        )
    return None


def _custom_attributes(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """The custom attributes' names: `full_name` `custom_attributes.NAME` (lisDataAttributes'
    example), or `custom: true` with its `name` (the `data_attribute` schema)."""
    names = set()
    for item in items:
        full = item.get("full_name")
        if isinstance(full, str) and full.startswith("custom_attributes."):
            names.add(full.removeprefix("custom_attributes."))
        elif item.get("custom") is True and item.get("name"):
            names.add(str(item["name"]))
    return sorted(names)


def _ticket_attributes(types: Iterable[Mapping[str, Any]]) -> list[str] | None:
    """Every ticket type's attributes' names, or None when a type does not list them (then
    nothing can be said of an attribute's name)."""
    names: set[str] = set()
    for ticket_type in types:
        listed_ = ticket_type.get("ticket_type_attributes")
        data = listed_.get("data") if isinstance(listed_, Mapping) else None
        if not isinstance(data, list):
            return None
        names.update(str(a["name"]) for a in data if isinstance(a, Mapping) and a.get("name"))
    return sorted(names)


def listed(names: Sequence[str], shown: int = SHOWN) -> str:
    """Names for one line: the first `shown`, then "and N more"; "none" when there are none."""
    if not names:
        return "none"
    head = ", ".join(names[:shown])
    rest = len(names) - shown
    return f"{head} and {rest:,} more" if rest > 0 else head
