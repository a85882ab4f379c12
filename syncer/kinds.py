"""The scans each goal needs: what it searches, how it reads an item, with the goal's options.

A goal kind may need more than one scan (conversations a bot opened are found on another
field than those a contact opened); each scan has its own cursor, named by `Kind.name`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from syncer import detect
from syncer.config import Config, GoalSettings
from syncer.intercom.scans import ScanSpec


@dataclass(frozen=True, slots=True)
class Kind:
    """One scan: its cursor's name, the goal its events count for, what it searches."""

    name: str
    goal: str
    spec: ScanSpec
    detector: detect.Detector
    fetch_whole: bool = False  # search items lack parts: fetch the conversation


# A search holds only filters documented to match there on fields that never change after
# the event (docs/intercom-assumptions.md, R-search-filters): a wrong filter
# loses every event without a word, a missing one costs a few pages the detector reads.
# `source.delivered_as` is searchable and its values are documented; the values of
# `source.author.type` (user, lead) are not, and ticket categories are searched by terms,
# not by the names the object shows: the detectors check both on the object.
_BOT_SOURCE = {"field": "source.delivered_as", "operator": "=", "value": detect.BOT_DELIVERY}


def _started(goal: GoalSettings) -> list[Kind]:
    scans = [
        Kind(
            "conversation_started",
            goal.kind,
            ScanSpec("conversations", "created_at"),
            detect.conversation_started,
        )
    ]
    if goal.bot_started:
        scans.append(
            Kind(
                "conversation_started_by_bot",
                goal.kind,
                ScanSpec("conversations", "statistics.first_contact_reply_at", (_BOT_SOURCE,)),
                detect.bot_conversation_started,
            )
        )
    return scans


def _rated(goal: GoalSettings) -> list[Kind]:
    # `replied_at` is not defined (register R-rating-times): the detector keeps a rating
    # whose `updated_at` a remark moved past the window the search found it in.
    spec = ScanSpec("conversations", "conversation_rating.replied_at")
    return [Kind("conversation_rated", goal.kind, spec, detect.conversation_rated)]


def _messaged(goal: GoalSettings) -> list[Kind]:
    detector = functools.partial(detect.user_messaged, quick_replies=goal.quick_replies)
    spec = ScanSpec("conversations", "statistics.last_contact_reply_at")
    return [Kind("user_messaged", goal.kind, spec, detector, fetch_whole=True)]


def _tickets(goal: GoalSettings) -> list[Kind]:
    # The search matches categories by terms (request, task, tracker), the object shows
    # names (Customer, Back-office, Tracker): the detector checks the name on the object.
    detector = functools.partial(detect.ticket_created, categories=frozenset(goal.categories))
    spec = ScanSpec("tickets", "created_at")
    return [Kind("ticket_created", goal.kind, spec, detector)]


SCANS: Mapping[str, Callable[[GoalSettings], list[Kind]]] = {
    "conversation_started": _started,
    "conversation_rated": _rated,
    "user_messaged": _messaged,
    "ticket_created": _tickets,
}


def kinds_for(config: Config) -> list[Kind]:
    """Every scan the enabled goals need, in config order."""
    return [kind for goal in config.enabled_goals() for kind in SCANS[goal.kind](goal)]


def by_name(config: Config) -> dict[str, Kind]:
    return {kind.name: kind for kind in kinds_for(config)}
