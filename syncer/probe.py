"""`syncer check --probe`: what the syncer assumes of Intercom, checked read-only against the
user's own workspace.

Each probe checks one entry of the assumptions register (docs/intercom-assumptions.md) with a
few searches and GETs, and says confirmed, contradicted, or not testable here (the workspace
has no such objects), with its evidence. Nothing is written. The daemon runs them once at
start; where the syncer can adapt (how `count_conversation_parts` counts, a search field
that does not match as documented), it does.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from syncer import detect
from syncer.errors import RetryableError
from syncer.intercom.client import IntercomClient, SearchPage
from syncer.learned import reading_words
from syncer.parts import author_of, opener, parts_of
from syncer.timeparse import DAY

log = logging.getLogger("syncer.probe")

CONFIRMED = "confirmed"
CONTRADICTED = "contradicted"
UNTESTABLE = "not testable here"

LOOKBACK = 30 * DAY  # where the probes look for objects to test on
SAMPLES = 3  # objects each probe tests at most


@dataclass(frozen=True, slots=True)
class Finding:
    entry: str  # the register entry it checks
    what: str
    verdict: str
    evidence: str

    def line(self) -> str:
        return f"{self.entry:<22} {self.verdict:<17} {self.what}: {self.evidence}"


Verdict = tuple[str, str]  # (CONFIRMED | CONTRADICTED | UNTESTABLE, the evidence)


class Reader(Protocol):
    """What the probes ask of Intercom: searches and conversations, nothing that writes."""

    def search(self, resource: str, query: Mapping[str, Any]) -> SearchPage: ...

    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Probed:
    findings: list[Finding]
    parts_reading: str | None  # what the conversations fetched show, for the fetch-skip

    @property
    def contradicted(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == CONTRADICTED]

    @property
    def unsearched(self) -> frozenset[str]:
        """The search fields a contradicted probe found not matching as documented: the
        daemon checks filters on them on each item instead (scans_for)."""
        return frozenset(
            name for f in self.contradicted for name in SEARCHED_FIELDS.get(f.entry, ())
        )


def run(
    client: IntercomClient,
    now: int,
    reconcile_window: int,
    stop: threading.Event | None = None,
) -> Probed:
    """Every probe, in a few dozen calls; a probe whose request fails says so and the others
    go on (a refused credential stops them all: it is raised). `stop` ends them early."""
    reading: list[str | None] = [None]
    reader = _Recent(client)  # one search of each recent page, however many probes read it
    probes: list[tuple[str, str, Callable[[], Verdict]]] = [
        ("R-search-bounds", "> and < at a boundary", lambda: _bounds(reader, now)),
        ("R-authors", "a contact's author type", lambda: _authors(reader, now)),
        ("R-ticket-category", "ticket category terms", lambda: _categories(reader, now)),
        ("R-rating-times", "replied_at is updated_at", lambda: _ratings(reader, now)),
        ("R-count-parts", "count_conversation_parts", lambda: _parts(reader, now, reading)),
        ("R-search-lag", "search index lag", lambda: _lag(reader, now, reconcile_window)),
        ("R-filter-pushdown", "source fields a where pushes", lambda: _pushdown(reader, now)),
        ("R-ai-agent", "ai_agent_participated = true", lambda: _ai_agent(reader, now)),
        ("R-ai-resolution", "ai_agent.resolution_state = X", lambda: _ai_states(reader, now)),
        ("R-ai-answer", "the AI agent's answer part", lambda: _ai_answers(reader, now)),
        ("R-close-state", "a close shown by a part", lambda: _close_state(reader, now)),
        ("R-merged-contacts", "merged contact answers 404", _merged),
    ]
    findings = []
    for entry, what, probe in probes:
        if stop is not None and stop.is_set():
            break
        try:
            verdict, evidence = probe()
        except RetryableError as exc:
            verdict, evidence = UNTESTABLE, f"a request failed: {exc}"
        findings.append(Finding(entry, what, verdict, evidence))
    return Probed(findings, reading[0])


def _window(field: str, lo: int, hi: int, *extra: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "operator": "AND",
        "value": [
            {"field": field, "operator": ">", "value": lo},
            {"field": field, "operator": "<", "value": hi},
            *extra,
        ],
    }


def _ids(client: Reader, resource: str, query: Mapping[str, Any]) -> set[str]:
    return {str(item.get("id")) for item in client.search(resource, query).items}


def _recent(client: Reader, resource: str, field: str, now: int) -> Iterator[dict[str, Any]]:
    yield from client.search(resource, _window(field, now - LOOKBACK, now)).items


class _Recent:
    """The client, with the first page of each search the probes repeat kept for the run."""

    def __init__(self, client: Reader) -> None:
        self._client = client
        self._pages: dict[str, SearchPage] = {}

    def search(self, resource: str, query: Mapping[str, Any]) -> SearchPage:
        key = repr((resource, query))
        if key not in self._pages:
            self._pages[key] = self._client.search(resource, query)
        return self._pages[key]

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        return self._client.conversation(conversation_id)


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bounds(client: Reader, now: int) -> Verdict:
    """What the syncer relies on: a search a second past each bound finds the item on the
    bound. Evidence: whether `>`/`<` include it, as documented ("greater (or equal)")."""
    item = next(
        (
            i
            for i in _recent(client, "conversations", "created_at", now)
            if _number(i.get("created_at"))
        ),
        None,
    )
    if item is None:
        return (UNTESTABLE, "no conversation in the last 30 days")
    at, oid = int(item["created_at"]), str(item["id"])
    inclusive = oid in _ids(client, "conversations", _window("created_at", at, at))
    widened = oid in _ids(client, "conversations", _window("created_at", at - 1, at + 1))
    reading = "include their boundary, as documented" if inclusive else "are strict"
    if not widened:
        return (
            CONTRADICTED,
            f"conversation {oid} (created_at {at}) is not found a second past its bounds",
        )
    return (CONFIRMED, f"conversation {oid}: > and < {reading}; a second past each finds it")


def _authors(client: Reader, now: int) -> Verdict:
    """Conversations their contacts opened (`delivered_as` customer_initiated, documented)
    name an author type the detectors take for a contact."""
    types = Counter(
        str(opener(c).get("type"))
        for c in _recent(client, "conversations", "created_at", now)
        if (c.get("source") or {}).get("delivered_as") == "customer_initiated"
    )
    if not types:
        return (UNTESTABLE, "no conversation a contact opened in the last 30 days")
    others = {t: n for t, n in types.items() if t not in detect.CONTACT_AUTHORS}
    seen = ", ".join(f"{t} {n}" for t, n in sorted(types.items()))
    if others:
        return (
            CONTRADICTED,
            f"author types of contact-opened conversations: {seen}; those not in "
            f"{sorted(detect.CONTACT_AUTHORS)} are not counted as a contact's",
        )
    return (CONFIRMED, f"author types of contact-opened conversations: {seen}")


def _missed(
    client: Reader,
    resource: str,
    field: str,
    items: list[dict[str, Any]],
    terms: Callable[[Mapping[str, Any]], list[dict[str, Any]]],
) -> list[str]:
    """The ids of those items that a search a second either side of their `field`, with
    the item's own `terms`, does not find: a condition that does not match there as
    documented."""
    missed = []
    for item in items:
        at = _number(item.get(field)) or 0
        window = _window(field, at - 1, at + 1, *terms(item))
        if str(item.get("id")) not in _ids(client, resource, window):
            missed.append(str(item.get("id")))
    return missed


def _categories(client: Reader, now: int) -> Verdict:
    """Customer tickets an unfiltered search shows are found by the term `request`."""
    customer = [
        t for t in _recent(client, "tickets", "created_at", now) if t.get("category") == "Customer"
    ][:SAMPLES]
    if not customer:
        return (UNTESTABLE, "no Customer ticket in the last 30 days")
    term = {"field": "category", "operator": "=", "value": "request"}
    missed = _missed(client, "tickets", "created_at", customer, lambda _: [term])
    if missed:
        return (
            CONTRADICTED,
            f"category = request does not find Customer tickets {', '.join(missed)} (the "
            "syncer checks the category on the ticket and is not affected)",
        )
    return (
        CONFIRMED,
        f"category = request finds {len(customer)} of {len(customer)} Customer tickets",
    )


PUSHED = ("source.type", "source.delivered_as")  # what filters.pushdown may search
# The search fields each probe tests (both of PUSHED at once: a miss cannot say which).
SEARCHED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "R-filter-pushdown": PUSHED,
    "R-ai-agent": ("ai_agent_participated",),
    "R-ai-resolution": ("ai_agent.resolution_state",),
}


def _source(item: Mapping[str, Any], field: str) -> object:
    return (item.get("source") or {}).get(field.removeprefix("source."))


def _pushdown(client: Reader, now: int) -> Verdict:
    """Conversations an unfiltered search shows are found by `=` on the values of their
    opening message that a goal's `where` may push into the search."""
    kinds: dict[tuple[object, ...], dict[str, Any]] = {}
    for item in _recent(client, "conversations", "created_at", now):
        values = tuple(_source(item, f) for f in PUSHED)
        if all(isinstance(v, str) for v in values):
            kinds.setdefault(values, item)
    sample = list(kinds.values())[:SAMPLES]
    if not sample:
        return (UNTESTABLE, "no conversation with a source type in the last 30 days")

    def terms(item: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{"field": f, "operator": "=", "value": _source(item, f)} for f in PUSHED]

    missed = _missed(client, "conversations", "created_at", sample, terms)
    shown = ", ".join(sorted(f"{t}/{d}" for t, d in kinds))
    if missed:
        return (
            CONTRADICTED,
            f"{' and '.join(PUSHED)} do not find conversations {', '.join(missed)}: "
            "searches with them would miss goals, so `run` checks them on each search item "
            "instead (more pages read)",
        )
    return (CONFIRMED, f"{len(sample)} of {len(sample)} found by their values ({shown})")


def _ai_agent(client: Reader, now: int) -> Verdict:
    """Conversations an unfiltered search shows with `ai_agent_participated` true are found
    by `ai_agent_participated = true`, as the AI agent scans search."""
    helped = [
        c
        for c in _recent(client, "conversations", "updated_at", now)
        if c.get("ai_agent_participated") is True and _number(c.get("updated_at"))
    ][:SAMPLES]
    if not helped:
        return (
            UNTESTABLE,
            "no conversation the AI agent took part in over the last 30 days (its metadata "
            "needs the AI agent, a paid feature)",
        )
    term = {"field": "ai_agent_participated", "operator": "=", "value": True}
    missed = _missed(client, "conversations", "updated_at", helped, lambda _: [term])
    if missed:
        return (
            CONTRADICTED,
            f"ai_agent_participated = true does not find conversations {', '.join(missed)}: "
            "the AI agent scans would miss them, so `run` checks it on each search "
            "item instead (every updated conversation's page is read)",
        )
    return (CONFIRMED, f"{len(helped)} of {len(helped)} found by ai_agent_participated = true")


def _ai_resolved_items(client: Reader, now: int) -> list[dict[str, Any]]:
    return [
        c
        for c in _recent(client, "conversations", "updated_at", now)
        if (c.get("ai_agent") or {}).get("resolution_state") in detect.AI_RESOLVED
        and _number(c.get("updated_at"))
    ][:SAMPLES]


NO_AI = "no conversation the AI agent resolved in the last 30 days (a paid feature)"


def _ai_states(client: Reader, now: int) -> Verdict:
    """Conversations an unfiltered search shows resolved by the AI agent are found by
    `ai_agent.resolution_state =` their state, as the AI agent's resolution sweeps search."""
    resolved = _ai_resolved_items(client, now)
    if not resolved:
        return (UNTESTABLE, NO_AI)

    def term(item: Mapping[str, Any]) -> list[dict[str, Any]]:
        state = (item.get("ai_agent") or {}).get("resolution_state")
        return [{"field": "ai_agent.resolution_state", "operator": "=", "value": state}]

    missed = _missed(client, "conversations", "updated_at", resolved, term)
    if missed:
        return (
            CONTRADICTED,
            f"ai_agent.resolution_state does not find conversations {', '.join(missed)}: "
            "`run` checks it on each search item instead (every updated conversation the AI "
            "agent took part in is read)",
        )
    states = sorted({str(term(c)[0]["value"]) for c in resolved})
    return (
        CONFIRMED,
        f"{len(resolved)} of {len(resolved)} found by their state ({', '.join(states)})",
    )


def _ai_answers(client: Reader, now: int) -> Verdict:
    """The conversations the AI agent resolved show its answer (`is_ai_answer`, else
    `from_ai_agent` with a body, else a bot's or an admin named as the AI agent's comment),
    which dates the goal; evidence: how the AI agent appears as an author."""
    resolved = _ai_resolved_items(client, now)
    if not resolved:
        return (UNTESTABLE, NO_AI)
    authors: Counter[str] = Counter()
    undated = []
    for item in resolved:
        conversation = client.conversation(str(item.get("id")))
        if conversation is None:
            continue
        for part in parts_of(conversation):
            author = author_of(part)
            if author.get("from_ai_agent") is True:
                authors[f"{author.get('type')} {author.get('name')!r}"] += 1
        if detect.ai_answer_at(conversation) is None:
            undated.append(str(item.get("id")))
    seen = ", ".join(f"{a} ({n} parts)" for a, n in sorted(authors.items())) or "no part marked"
    if undated:
        return (
            CONTRADICTED,
            f"no answer of the AI agent's dates conversations {', '.join(undated)} (its parts: "
            f"{seen}); their goals are skipped as unreadable and counted in `status`",
        )
    return (CONFIRMED, f"{len(resolved)} of {len(resolved)} dated by an answer; AI agent: {seen}")


def _close_state(client: Reader, now: int) -> Verdict:
    """Recently closed conversations show the close at `statistics.last_close_at` by a part
    (a `close` part, or one whose `state` turns closed): what the closes goal counts."""
    closed = [
        c
        for c in _recent(client, "conversations", "statistics.last_close_at", now)
        if c.get("state") == "closed" and _number((c.get("statistics") or {}).get("last_close_at"))
    ][:SAMPLES]
    if not closed:
        return (UNTESTABLE, "no conversation closed in the last 30 days")
    types: Counter[str] = Counter()
    unshown = []
    for item in closed:
        conversation = client.conversation(str(item.get("id")))
        if conversation is None:
            continue
        last = _number((conversation.get("statistics") or {}).get("last_close_at"))
        standing, reopened_at = detect.close_parts(conversation)
        at = [p for p in standing if _number(p.get("created_at")) == last]
        if at and reopened_at is None:
            types[str(at[-1].get("part_type"))] += 1
        else:
            unshown.append(f"{item.get('id')} (last_close_at {last})")
    shown = ", ".join(f"{t} {n}" for t, n in sorted(types.items())) or "none"
    if unshown:
        return (
            CONTRADICTED,
            f"no part shows the close of {', '.join(unshown)} at its last_close_at (shown: "
            f"{shown}); such closes are counted at last_close_at",
        )
    return (
        CONFIRMED,
        f"{len(closed)} of {len(closed)} closes shown by a part at last_close_at ({shown})",
    )


def _ratings(client: Reader, now: int) -> Verdict:
    """A rated conversation is found by `replied_at` at its rating's `updated_at`."""
    rated = [
        c
        for c in _recent(client, "conversations", "conversation_rating.replied_at", now)
        if _number((c.get("conversation_rating") or {}).get("updated_at"))
    ][:SAMPLES]
    if not rated:
        return (UNTESTABLE, "no conversation rated in the last 30 days")
    differ = []
    for conv in rated:
        at = int(conv["conversation_rating"]["updated_at"])
        window = _window("conversation_rating.replied_at", at - 1, at + 1)
        if str(conv.get("id")) not in _ids(client, "conversations", window):
            differ.append(f"{conv.get('id')} (updated_at {at})")
    if differ:
        return (
            CONTRADICTED,
            f"replied_at differs from updated_at for {', '.join(differ)}: a remark moves "
            "updated_at; such ratings are dated at updated_at",
        )
    return (CONFIRMED, f"{len(rated)} of {len(rated)} rated conversations")


def _parts(client: Reader, now: int, learned: list[str | None]) -> Verdict:
    """How `count_conversation_parts` counts, from conversations fetched whole."""
    items = [
        c
        for c in _recent(client, "conversations", "updated_at", now)
        if (_number((c.get("statistics") or {}).get("count_conversation_parts")) or 0) >= 1
    ][:SAMPLES]
    if not items:
        return (UNTESTABLE, "no conversation with parts in the last 30 days")
    shown = []
    for item in items:
        conversation = client.conversation(str(item.get("id")))
        if conversation is not None:
            shown.append(detect.parts_reading(conversation))
    first = shown[0] if shown else None
    if len(set(shown)) == 1 and first is not None:
        learned[0] = first
        words = reading_words(first)
        return (
            CONFIRMED,
            f"counts {words} ({len(shown)} conversations agree); the fetch-skip uses it",
        )
    return (
        CONTRADICTED,
        f"the count fits neither reading consistently ({sorted(map(str, shown))}); the "
        "syncer fetches every conversation with a part",
    )


def _lag(client: Reader, now: int, reconcile_window: int) -> Verdict:
    """How far the search index ran behind GET for recently updated conversations: an
    item whose GET is newer was not yet indexed as it is now."""
    items = list(client.search("conversations", _window("updated_at", now - 3_600, now)).items)
    items = sorted(items, key=lambda c: _number(c.get("updated_at")) or 0, reverse=True)[:SAMPLES]
    if not items:
        return (UNTESTABLE, "no conversation updated in the last hour")
    behind = 0
    for item in items:
        whole = client.conversation(str(item.get("id")))
        got, indexed = _number((whole or {}).get("updated_at")), _number(item.get("updated_at"))
        if got is not None and indexed is not None and got > indexed:
            behind = max(behind, now - got)
    if behind > reconcile_window:
        return (
            CONTRADICTED,
            f"at least {behind} s behind, more than reconcile_window ({reconcile_window} s)",
        )
    seen = f"at least {behind} s behind" if behind else "current"
    return (CONFIRMED, f"{seen} for {len(items)} recently updated conversations")


def _merged() -> Verdict:
    return (UNTESTABLE, "needs a merge, which writes; the syncer handles 404 and 410")
