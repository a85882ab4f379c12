"""What Intercom says of the events' contacts: the contact, its companies, segments and tags,
and its own lists where the contact object shows fewer than it has. Each looked up once for
a batch, through the cache, and only where a goal reads it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, get_args

from syncer import units
from syncer.config import Config, GoalSettings
from syncer.detect import Event, Window
from syncer.errors import IntercomUnavailable
from syncer.intercom.client import IntercomClient
from syncer.pipeline.context import Context
from syncer.pipeline.fetching import fetch_each, park

# Each lookup by its cache kind (and the kind its failures are parked as).
LookupKind = Literal["contact", "company", "tags", "segments", "contact_tags", "contact_companies"]
LOOKUPS: tuple[LookupKind, ...] = get_args(LookupKind)

WORKSPACE = "workspace"  # the cache id of the workspace's tag list


class Need(NamedTuple):
    """One object a goal event needs looked up: its lookup and its id."""

    kind: LookupKind
    id: str


@dataclass
class Needs:
    """The lookups a batch needs (`wanted`). What a filter judges (`judged`) is read no
    longer ago than one poll cycle; the rest may come from the cache for `sync.contact_ttl`
    (README "What a filter sees")."""

    wanted: set[Need] = field(default_factory=set)
    judged: set[Need] = field(default_factory=set)

    def want(self, need: Need, *, judged: bool = False) -> None:
        self.wanted.add(need)
        if judged:
            self.judged.add(need)

    def ids(self, kind: LookupKind, *, judged: bool) -> set[str]:
        """The wanted ids of one lookup that a filter judges (or that it does not)."""
        return {n.id for n in self.wanted if n.kind == kind and (n in self.judged) == judged}


@dataclass
class Lookups:
    """What the lookups of a batch found (id -> object, None where Intercom has none), and
    which failed (parked, and retried each cycle)."""

    contacts: Mapping[str, Any] = field(default_factory=dict)
    companies: Mapping[str, Any] = field(default_factory=dict)
    segments: Mapping[str, Any] = field(default_factory=dict)
    # A contact object lists at most 10 tags and 10 companies (register:
    # R-contact-companies), sometimes fewer than it counts without saying `has_more`
    # (R-contact-list-counts); where it shows fewer, its own lists give them all.
    contact_tags: Mapping[str, Any] = field(default_factory=dict)
    contact_companies: Mapping[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # the workspace's: name -> id
    failed: set[Need] = field(default_factory=set)


Pairs = Sequence[tuple[Event, GoalSettings]]


def look_up(ctx: Context, pairs: Pairs, fresh: bool) -> Lookups:
    """Everything the (event, goal) pairs read of their contacts, through the cache
    (`fresh`: ignoring it). The contacts come first: what they show decides which of their
    companies and lists are read."""
    found = Lookups()
    lookup = _Lookup(ctx, fresh, found.failed)
    found.contacts = lookup.of(contact_needs(ctx.config, pairs, fresh), "contact")
    needs = list_needs(ctx.config, pairs, found.contacts)
    found.companies = lookup.of(needs, "company")
    found.segments = lookup.of(needs, "segments")
    found.contact_tags = lookup.of(needs, "contact_tags")
    found.contact_companies = lookup.of(needs, "contact_companies")
    if any(c.field.endswith(".tags") for _, goal in pairs for c in goal.where):
        found.tags = workspace_tags(ctx, fresh=fresh, max_age=lookup.judging)
    return found


def contact_needs(config: Config, pairs: Pairs, fresh: bool) -> Needs:
    """The contacts to look up: those whose event does not show a field a goal reads (every
    one, with `fresh`); judged where any goal of the batch filters on the contact."""
    fields = {goal.name: _contact_fields(goal, config) for _, goal in pairs}
    wanted: set[str] = set()
    judged: set[str] = set()
    for event, goal in pairs:
        if event.contact.get("id") is None:
            continue
        cid = str(event.contact["id"])
        if fresh or units.needs_fetch(event, fields[goal.name]):
            wanted.add(cid)
        if any(c.needs in ("contact", "companies") for c in goal.where):
            judged.add(cid)
    needs = Needs()
    for cid in wanted:
        needs.want(Need("contact", cid), judged=cid in judged)
    return needs


def list_needs(config: Config, pairs: Pairs, contacts: Mapping[str, Any]) -> Needs:
    """What the contacts found lead to: the companies units or a filter read, and the
    contact's own lists where its object shows fewer than it has (segments always, where a
    filter reads them). Every list is judged; a company, where a filter reads it."""
    needs = Needs()
    fields = {goal.name: _contact_fields(goal, config) for _, goal in pairs}
    for event, goal in pairs:
        reads = {condition.needs for condition in goal.where}
        cid = str(event.contact.get("id"))
        if "segments" in reads and event.contact.get("id") is not None:
            needs.want(Need("segments", cid), judged=True)
        contact = contacts.get(cid)
        if contact is None:
            continue
        if "companies" in reads:
            _judged_companies(needs, cid, contact)
        if "companies" in fields[goal.name]:
            _first_company(needs, cid, contact)
        if any(c.field == "contact.tags" for c in goal.where) and _incomplete(contact, "tags"):
            needs.want(Need("contact_tags", cid), judged=True)
    return needs


def _judged_companies(needs: Needs, cid: str, contact: Mapping[str, Any]) -> None:
    """A filter reads every company of the contact: those it lists, else its own list."""
    if _incomplete(contact, "companies"):
        needs.want(Need("contact_companies", cid), judged=True)
    else:
        for company in units.company_ids(contact):
            needs.want(Need("company", company), judged=True)


def _first_company(needs: Needs, cid: str, contact: Mapping[str, Any]) -> None:
    """Units or properties read the contact's first company (`company.name`)."""
    if first := units.company_id(contact):
        needs.want(Need("company", first))
    elif _incomplete(contact, "companies"):  # none shown, some counted
        needs.want(Need("contact_companies", cid), judged=True)


class _Lookup:
    """The lookups of one batch, gathering their failures."""

    def __init__(self, ctx: Context, fresh: bool, failed: set[Need]) -> None:
        self.ctx, self.fresh, self.failed = ctx, fresh, failed
        self.judging = judging_age(ctx)
        self.fetchers = fetchers(ctx.client)

    def of(self, needs: Needs, kind: LookupKind) -> dict[str, Any]:
        """One lookup's wanted objects: those judged no older than one poll cycle."""
        found, failed = cached_lookup(
            self.ctx,
            kind,
            needs.ids(kind, judged=False),
            self.fetchers[kind],
            self.fresh,
            judged=(needs.ids(kind, judged=True), self.judging),
        )
        self.failed.update(Need(kind, i) for i in failed)
        return dict(found)


def judging_age(ctx: Context) -> float:
    """How old a lookup a filter judges by may be (never more than the cache keeps
    anything): a live read, one poll cycle; a catch-up, whatever it read since it started,
    since it judges past events by the values of the moment it runs (README "What a filter
    sees"): one lookup per contact a run, not one per contact every few seconds."""
    sync = ctx.config.sync
    age = float(sync.poll_interval)
    if ctx.started is not None:
        age = max(age, time.time() - ctx.started)
    return min(age, sync.contact_ttl)


def fetchers(client: IntercomClient) -> dict[str, Callable[[str], Any]]:
    """Each lookup's request, by its cache kind (the workspace's tags ignore the id)."""
    return {
        "contact": lambda i: client.contact(i),
        "company": lambda i: client.company(i),
        "tags": lambda _: client.tags(),
        "segments": lambda i: client.contact_segments(i),
        "contact_tags": lambda i: client.contact_tags(i),
        "contact_companies": lambda i: client.contact_companies(i),
    }


def _incomplete(contact: Mapping[str, Any], what: str) -> bool:
    """Whether the contact's embedded `tags` or `companies` list shows fewer than it has:
    `has_more`, or a `total_count` above the items shown. A real contact showed 11 tag ids
    with `total_count: 14, has_more: false` (register: R-contact-list-counts), so `has_more`
    alone is not trusted."""
    listed = contact.get(what)
    if not isinstance(listed, Mapping):
        return False
    if listed.get("has_more") is True:
        return True
    total, shown = listed.get("total_count"), listed.get("data")
    count = len(shown) if isinstance(shown, list) else 0
    return isinstance(total, int) and not isinstance(total, bool) and total > count


def _contact_fields(goal: GoalSettings, config: Config) -> set[str]:
    """The contact fields the goal's units, properties and `where` read."""
    fields = units.contact_fields_needed(goal, config.units)
    for condition in goal.where:
        if condition.needs == "contact":
            fields.add(condition.field.removeprefix("contact.").split(".")[0])
        elif condition.needs == "companies":
            fields.add("companies")
    return fields


def workspace_tags(
    ctx: Context, *, fresh: bool = False, max_age: float | None = None
) -> dict[str, str]:
    """Tag name -> id, from GET /tags, cached for `max_age` (`sync.contact_ttl` unless
    told). A failure is raised: every tag condition of the batch would otherwise be a guess."""
    listed, failed = cached_lookup(
        ctx, "tags", {WORKSPACE}, fetchers(ctx.client)["tags"], fresh, max_age
    )
    if failed:
        raise IntercomUnavailable("GET /tags failed; the events that need tags wait")
    tags = listed.get(WORKSPACE) or []
    return {
        str(tag["name"]): str(tag["id"])
        for tag in tags
        if isinstance(tag, Mapping) and tag.get("name") and tag.get("id") is not None
    }


def check_workspace_names(ctx: Context) -> None:
    """Refuse to start (ConfigError, exit 2) when a goal names a tag, segment, ticket type
    or attribute the workspace lacks: its filter could never match, and nothing would say
    so (names.py; the tags read here prime the cache the filters use)."""
    from syncer import names  # here: this function is names.py's one door into the pipeline

    names.check_workspace_names(
        ctx.config, ctx.client, tags=lambda: workspace_tags(ctx, fresh=True)
    )


def cached_lookup(
    ctx: Context,
    kind: LookupKind,
    ids: Iterable[str],
    fetch: Callable[[str], Any],
    fresh: bool,
    max_age: float | None = None,
    *,
    judged: tuple[Iterable[str], float] = ((), 0.0),
) -> tuple[Mapping[str, Any], set[str]]:
    """(id -> object or None where Intercom has none, the ids whose lookup failed: parked),
    from the cache where it is younger than `max_age` (`sync.contact_ttl` unless told), and
    for the `judged` ids younger than their own age; what is missing is fetched in one go."""
    strict, strict_age = set(judged[0]), judged[1]
    ids = set(ids) - strict
    if not ids and not strict:
        return {}, set()
    age = ctx.config.sync.contact_ttl if max_age is None else max_age
    found: dict[str, Any] = {}
    if not fresh:
        found.update(ctx.store.cached(kind, ids, age) if ids else {})
        found.update(ctx.store.cached(kind, strict, strict_age) if strict else {})
    fetched, failed = fetch_each(ctx, sorted((ids | strict) - set(found)), fetch)
    if fetched:
        ctx.store.cache(kind, fetched)
    park(ctx, kind, failed, Window(0, 0))
    return {**found, **fetched}, set(failed)
