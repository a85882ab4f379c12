"""`statistics.count_conversation_parts`: its two readings, and what a count settles about a
conversation's parts. Pure functions, no I/O.

How the field counts is not documented ("Total number of conversation parts"; register:
R-count-parts). It may count like the parts list's `total_count`, which leaves the opening
message (the `source`) out: PARTS; or count the opening too: WITH_OPENING. None: not known
(yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncer.parts import CONTACT_AUTHORS, MAX_PARTS, opener
from syncer.values import is_int, mapping

PARTS = "parts"
WITH_OPENING = "with_opening"


def opening_only(item: Mapping[str, Any], reading: str | None = None) -> bool:
    """Whether a search item is already the whole conversation: the contact's opening message
    and not one part after it, so fetching it could add nothing.

    With no part, the count is 0 under PARTS and 1 under WITH_OPENING. Not knowing the
    reading, only 0 is safe (a 1 may be the opening alone or one part more). The last contact
    reply being the opening itself says the same from a second field, so one stale field
    cannot hide a message; anything less clear is fetched.
    """
    stats = mapping(item.get("statistics"))
    count, last_reply = stats.get("count_conversation_parts"), stats.get("last_contact_reply_at")
    return (
        is_int(count)
        and count == (1 if reading == WITH_OPENING else 0)
        and is_int(last_reply)
        and last_reply == item.get("created_at")
        and opener(item).get("type") in CONTACT_AUTHORS
    )


def parts_reading(conversation: Mapping[str, Any]) -> str | None:
    """The reading a fetched conversation shows: its count against the parts it returned
    (None where it cannot tell: beyond Intercom's 500, or neither reading fits)."""
    count = mapping(conversation.get("statistics")).get("count_conversation_parts")
    returned = mapping(conversation.get("conversation_parts")).get("conversation_parts")
    if not is_int(count) or not isinstance(returned, list) or len(returned) >= MAX_PARTS:
        return None
    if count == len(returned):
        return PARTS
    return WITH_OPENING if count == len(returned) + 1 else None


def missing_parts(conversation: Mapping[str, Any], reading: str | None = None) -> int:
    """How many parts the conversation says it has beyond those it returned (500-part cap).
    Not knowing the reading, the larger figure (PARTS): a false alarm, never a missed one."""
    stats = mapping(conversation.get("statistics"))
    total = stats.get("count_conversation_parts")
    parts = mapping(conversation.get("conversation_parts"))
    returned = parts.get("conversation_parts")
    if not isinstance(total, int) or not isinstance(returned, list):
        return 0
    return max(0, total - (1 if reading == WITH_OPENING else 0) - len(returned))
