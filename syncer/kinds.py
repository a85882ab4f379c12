"""The goal kinds, each declared once (`KINDS`): what its events are, whether it is on by
default, its default properties, its own options, what its `where` may name, and the scans
its goals need. The config, the filters, `--help` and the README's list of kinds derive
from here; the detectors (detect.py) say how an Intercom object becomes its events.

Adding a kind: a `GoalKind` here, its detector in detect.py, and tests (README
"Development").

A kind may need more than one scan (conversations a bot opened are found on another field
than those a contact opened); each scan has its own cursor, named by `Scan.name`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from syncer import detect, filters
from syncer.errors import ConfigError
from syncer.intercom.scans import ScanSpec
from syncer.timeparse import DAY

if TYPE_CHECKING:
    from syncer.config import Config, GoalSettings


@dataclass(frozen=True, slots=True)
class Scan:
    """One scan: its cursor's name, the goal kind its events count for, what it searches."""

    name: str
    goal: str
    spec: ScanSpec
    detector: detect.Detector
    # Search items lack parts: fetch the conversation, when the `marker` field of the item
    # moved past what was read of it before (the `progress` table, under `progress_key`).
    fetch_whole: bool = False
    marker: str = "statistics.last_contact_reply_at"
    progress_prefix: str = ""  # "" for user_messaged, as earlier versions stored it
    opening_may_do: bool = False  # a search item with the opening alone needs no fetch
    # A sweep, for what changes without moving the searched field (an AI agent's resolution
    # state, register R-ai-sweep): each live read reaches at least `trailing` seconds behind
    # its end, whatever the cursor says, and ends `delay` seconds before now less the settle
    # time (a catch-up starts `delay` before its window); its window of events still ends at
    # now less the settle time.
    trailing: int = 0
    delay: int = 0

    def progress_key(self, conversation_id: str) -> str:
        return f"{self.progress_prefix}{conversation_id}"


# A search holds only filters documented to match there on fields that never change after
# the event (docs/intercom-assumptions.md, R-search-filters): a wrong filter
# loses every event without a word, a missing one costs a few pages the detector reads.
# `source.delivered_as` is searchable and its values are documented; the values of
# `source.author.type` (user, lead) are not, and ticket categories are searched by terms,
# not by the names the object shows: the detectors check both on the object. A goal's own
# `where` adds what every goal of the scan shares (filters.pushdown).
_BOT_SOURCE = {"field": "source.delivered_as", "operator": "=", "value": detect.BOT_DELIVERY}


def _shared(goals: Sequence[GoalSettings]) -> tuple[dict[str, Any], ...]:
    return filters.pushdown([goal.where for goal in goals])


def _started(goals: Sequence[GoalSettings]) -> list[Scan]:
    pushed = _shared(goals)
    scans = [
        Scan(
            "conversation_started",
            "conversation_started",
            ScanSpec("conversations", "created_at", pushed),
            detect.conversation_started,
        )
    ]
    if any(goal.bot_started for goal in goals):
        scans.append(
            Scan(
                "conversation_started_by_bot",
                "conversation_started",
                ScanSpec(
                    "conversations", "statistics.first_contact_reply_at", (_BOT_SOURCE, *pushed)
                ),
                detect.bot_conversation_started,
            )
        )
    return scans


def _rated(goals: Sequence[GoalSettings]) -> list[Scan]:
    # `replied_at` is not defined (register R-rating-times): the detector keeps a rating
    # whose `updated_at` a remark moved past the window the search found it in.
    spec = ScanSpec("conversations", "conversation_rating.replied_at", _shared(goals))
    return [Scan("conversation_rated", "conversation_rated", spec, detect.conversation_rated)]


def _messaged(goals: Sequence[GoalSettings]) -> list[Scan]:
    quick = any(goal.quick_replies for goal in goals)
    detector = functools.partial(detect.user_messaged, quick_replies=quick)
    spec = ScanSpec("conversations", "statistics.last_contact_reply_at", _shared(goals))
    return [
        Scan(
            "user_messaged", "user_messaged", spec, detector, fetch_whole=True, opening_may_do=True
        )
    ]


def _tickets(goals: Sequence[GoalSettings]) -> list[Scan]:
    # The search matches categories by terms (request, task, tracker), the object shows
    # names (Customer, Back-office, Tracker): the detector checks the name on the object.
    wanted = frozenset(c for goal in goals for c in goal.categories)
    detector = functools.partial(detect.ticket_created, categories=wanted)
    spec = ScanSpec("tickets", "created_at", _shared(goals))
    return [Scan("ticket_created", "ticket_created", spec, detector)]


def _closed(goals: Sequence[GoalSettings]) -> list[Scan]:
    # `last_close_at` moves with each close (register: R-close-parts, R-close-state), so a
    # conversation closed again is found and fetched again; its parts' `state` say which
    # part closed it, and `last_close_at` dates a close no part shows.
    spec = ScanSpec("conversations", "statistics.last_close_at", _shared(goals))
    return [
        Scan(
            "conversation_closed",
            "conversation_closed",
            spec,
            detect.conversation_closed,
            fetch_whole=True,
            marker="statistics.last_close_at",
            progress_prefix="closed:",
        )
    ]


# How long after a conversation's last update its AI agent's resolution state may still
# change unseen and be found: each sweep reads this far back, every cycle.
AI_SWEEP = DAY


def _ai_resolved(goals: Sequence[GoalSettings]) -> list[Scan]:
    # A resolution has no time of its own and its state may change without moving
    # `updated_at` (register R-ai-sweep): each state is swept over a trailing window of
    # `updated_at` with `ai_agent.resolution_state` (searchable, R-ai-resolution), in a scan
    # of its own, so a conversation enters it, with progress of its own, only in that state.
    # `ai_agent_participated` never turns false again (R-ai-agent) and narrows it further.
    # An assumed resolution is read once it has held each goal's `assumed_hold`: its sweep
    # ends that long before now, so whatever moved `updated_at` since (the contact came back)
    # keeps it out until it has held again. Dated by the AI agent's answer (R-ai-answer).
    participated = {"field": "ai_agent_participated", "operator": "=", "value": True}
    shared = _shared(goals)

    def sweep(name: str, state: str, holds: frozenset[int], delay: int) -> Scan:
        wanted = {"field": "ai_agent.resolution_state", "operator": "=", "value": state}
        return Scan(
            name,
            "ai_agent_resolved",
            ScanSpec("conversations", "updated_at", (participated, wanted, *shared)),
            functools.partial(detect.ai_agent_resolved, holds=holds),
            fetch_whole=True,
            marker="updated_at",
            progress_prefix=f"ai:{state}:{delay}:" if delay else f"ai:{state}:",
            trailing=AI_SWEEP,
            delay=delay,
        )

    # "ai_agent_resolved" keeps the name (and cursor) of the scan of earlier versions.
    scans = [sweep("ai_agent_resolved", detect.CONFIRMED, frozenset(), 0)]
    holds = sorted({g.assumed_hold for g in goals if g.assumed_hold is not None})
    scans += [
        sweep(f"ai_agent_resolved_assumed_{hold}", detect.ASSUMED, frozenset({hold}), hold)
        for hold in holds
    ]
    return scans


class Table(Protocol):
    """What a kind's options are read from: the goal's table in the config
    (config.values.Table)."""

    data: dict[str, Any]

    def key(self, name: str) -> str: ...

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any: ...

    def integer(
        self, name: str, default: int, minimum: int = 0, maximum: int | None = None
    ) -> int: ...


def _bot_started(table: Table) -> dict[str, Any]:
    return {"bot_started": table.get("bot_started", bool, False)}


def _quick_replies(table: Table) -> dict[str, Any]:
    return {"quick_replies": table.get("quick_replies", bool, False)}


TICKET_CATEGORIES: Final = ("Customer", "Back-office", "Tracker")  # register: R-ticket-category


def _categories(table: Table) -> dict[str, Any]:
    value = table.get("categories", list, ["Customer"])
    if not value or any(c not in TICKET_CATEGORIES for c in value):
        raise ConfigError(
            f"{table.key('categories')}: a non-empty list of {', '.join(TICKET_CATEGORIES)}, "
            f"got {value!r}"
        )
    return {"categories": tuple(dict.fromkeys(value))}


RESOLUTIONS: Final = ("confirmed", "assumed")
MAX_ASSUMED_HOLD: Final = 30 * DAY


def _resolutions(table: Table) -> dict[str, Any]:
    """`resolutions`: "confirmed" (the default) or "assumed"; `assumed_hold`, the seconds
    an assumed resolution must hold before it counts (24 h unless given), only with
    "assumed": beside "confirmed" it would do nothing."""
    resolutions = table.get("resolutions", str, "confirmed")
    if resolutions not in RESOLUTIONS:
        raise ConfigError(
            f'{table.key("resolutions")}: "confirmed" or "assumed", got {resolutions!r}'
        )
    if resolutions == "confirmed":
        if "assumed_hold" in table.data:
            raise ConfigError(
                f'{table.key("assumed_hold")}: only with resolutions = "assumed" (confirmed '
                "resolutions count at once)"
            )
        return {"assumed_hold": None}
    hold = table.integer("assumed_hold", DAY, minimum=0, maximum=MAX_ASSUMED_HOLD)
    return {"assumed_hold": hold}


# What an event is about, beside its contact and the contact's companies (which every
# event has): the subjects a `where` may name (filters/fields.py, by each field's first word).
CONVERSATION, RATING, TICKET = "conversation", "rating", "ticket"


@dataclass(frozen=True, slots=True)
class GoalKind:
    """One goal kind, declared once."""

    name: str
    summary: str  # what counts, in a few words: `--help`, the README's list
    scans: Callable[[Sequence[GoalSettings]], list[Scan]]
    on: bool = True  # a `[goals.KIND]` config (the older form) has it on unless it says not
    subjects: frozenset[str] = frozenset({CONVERSATION})
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict)  # when none given
    options: Callable[[Table], dict[str, Any]] | None = None  # its own settings, read

    @property
    def default_goal(self) -> str:
        """The goal's name when its config gives none (the older form)."""
        return f"intercom_{self.name}"


KINDS: Final = (
    GoalKind(
        "conversation_started",
        "a contact starts a conversation",
        _started,
        options=_bot_started,
    ),
    GoalKind(
        "conversation_rated",
        "a contact rates a conversation",
        _rated,
        subjects=frozenset({CONVERSATION, RATING}),
        properties={"rating": "rating.score"},
    ),
    GoalKind(
        "user_messaged",
        "a contact sends a message",
        _messaged,
        options=_quick_replies,
    ),
    GoalKind(
        "ticket_created",
        "a contact creates a ticket",
        _tickets,
        subjects=frozenset({TICKET}),
        options=_categories,
    ),
    GoalKind(
        "conversation_closed",
        "a conversation is closed",
        _closed,
        on=False,
    ),
    GoalKind(
        "ai_agent_resolved",
        "the AI agent resolves a conversation",
        _ai_resolved,
        on=False,
        options=_resolutions,
    ),
)
BY_NAME: Final[Mapping[str, GoalKind]] = {kind.name: kind for kind in KINDS}
SUBJECTS: Final[Mapping[str, frozenset[str]]] = {kind.name: kind.subjects for kind in KINDS}
# The scans each kind's goals need, in the order of KINDS (a test may put another in).
SCANS: dict[str, Callable[[Sequence[GoalSettings]], list[Scan]]] = {
    kind.name: kind.scans for kind in KINDS
}


def scans_for(config: Config, unsearched: frozenset[str] = frozenset()) -> list[Scan]:
    """Every scan the enabled goals need, in the order of the kinds registry. Filters on
    the `unsearched` fields (those the start-up probes found not matching as documented)
    are checked on each search item instead of sent with the search."""
    return [
        dataclasses.replace(scan, spec=scan.spec.unsearched(unsearched)) if unsearched else scan
        for goal_kind, scans in SCANS.items()
        if (goals := config.goals_of(goal_kind))
        for scan in scans(goals)
    ]


def by_name(config: Config) -> dict[str, Scan]:
    return {scan.name: scan for scan in scans_for(config)}
