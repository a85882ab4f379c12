"""Whole conversations: which of a search page's conversations may hold what was not read of
them, fetched (unless the search item already holds all of it), with the progress each
read makes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from syncer import detect
from syncer.detect import Window
from syncer.kinds import Scan
from syncer.pipeline.context import Context, ScanStats
from syncer.pipeline.fetching import fetch_each, park
from syncer.store import parking
from syncer.store.state import Progress

log = logging.getLogger("syncer.pipeline")

# The fields of a conversation that a new part moves. The count is the one that moves when
# the part lands in the same second as the last one, as a contact's second message often
# does; `updated_at`, when the count is not kept up to date with the rest.
WATCHED = ("statistics.count_conversation_parts", "updated_at")


@dataclass
class Read:
    """A page's conversations as read, the progress they make, and those it could not read
    (name -> why)."""

    conversations: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, Progress] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Listed:
    """A search item with a usable id and marker, and what an earlier read of it recorded."""

    item: dict[str, Any]
    marker: int
    stored: Progress | None


def whole_conversations(
    ctx: Context, kind: Scan, window: Window, items: list[dict[str, Any]], stats: ScanStats
) -> Read:
    """The conversations that may hold what was not read of them (`moved`): fetched,
    unless the search item already holds all of it (the opening message alone). One whose
    fetch keeps failing is parked, with no progress recorded for it."""
    read = Read()
    listed = _listed(ctx, kind, items, read.unreadable)
    # The fetch-skip may lose a message on a wrong reading: it takes the count as this
    # workspace has shown it, not the evidence's starting point (learned.PartsReading).
    reading = ctx.parts.shown
    wanted = [
        cid
        for cid, it in listed.items()
        if moved(kind, it.item, it.marker, it.stored, window, reading)
    ]
    read.progress.update(_legacy_kept(kind, listed, set(wanted)))
    to_fetch = [
        cid
        for cid in wanted
        if not (kind.opening_may_do and detect.opening_only(listed[cid].item, reading))
    ]
    fetched, failed = fetch_each(ctx, to_fetch, ctx.client.conversation)
    stats.fetched += len(to_fetch)
    park(ctx, "conversation", failed, window, stats)
    truncated: dict[str, str] = {}
    for cid in wanted:
        if cid not in failed:
            _take(ctx, kind, window, cid, listed[cid], fetched, read, truncated)
    _note_truncated(ctx, truncated, stats)
    return read


def _listed(
    ctx: Context, kind: Scan, items: list[dict[str, Any]], unreadable: dict[str, str]
) -> dict[str, _Listed]:
    """The page's items by conversation id, with their stored progress; those without a
    usable id or marker go to `unreadable`."""
    usable: dict[str, tuple[dict[str, Any], int]] = {}
    for item in items:
        conv_id = item.get("id")
        marker = detect.marker(item, kind.marker)
        if isinstance(conv_id, bool) or not isinstance(conv_id, str | int) or conv_id == "":
            unreadable[f"conversation {conv_id!r}"] = "without a usable id"
        elif marker is not None:
            usable[str(conv_id)] = (item, marker)
        else:
            value = detect.dotted(item, kind.marker)
            unreadable[f"conversation {conv_id!r}"] = f"{kind.marker} is {value!r}"
    stored = ctx.store.progress(kind.progress_key(cid) for cid in usable)
    return {
        cid: _Listed(item, marker, stored.get(kind.progress_key(cid)))
        for cid, (item, marker) in usable.items()
    }


def _legacy_kept(
    kind: Scan, listed: Mapping[str, _Listed], wanted: set[str]
) -> dict[str, Progress]:
    """A row from before 0005, of a conversation not read again, takes what the item shows
    from now on."""
    return {
        kind.progress_key(cid): Progress(it.stored.marker, it.stored.floor, seen_fields(it.item))
        for cid, it in listed.items()
        if cid not in wanted and it.stored is not None and it.stored.legacy
    }


def _take(
    ctx: Context,
    kind: Scan,
    window: Window,
    cid: str,
    listed: _Listed,
    fetched: Mapping[str, Any],
    read: Read,
    truncated: dict[str, str],
) -> None:
    """One wanted conversation into `read`: as fetched (None: deleted since), else as its
    search item showed it whole."""
    conversation = fetched.get(cid, listed.item)
    if isinstance(conversation, dict):
        if cid in fetched:
            ctx.parts.observe(conversation)
        read.conversations.append(conversation)
        missed = missed_parts(conversation, listed.stored, window, ctx.parts.reading)
        if missed:
            truncated[f"conversation {cid}"] = f"{missed} older parts beyond Intercom's 500"
    # Progress only where every contact message up to that reply was in the window; it
    # keeps what was read (the fetched conversation, else the item): a part read later
    # moves its fields past these, and fetches it again.
    if listed.marker <= window.hi:
        shown = conversation if isinstance(conversation, Mapping) else listed.item
        read.progress[kind.progress_key(cid)] = Progress(
            listed.marker, window.lo, seen_fields(shown)
        )


def _note_truncated(ctx: Context, truncated: Mapping[str, str], stats: ScanStats) -> None:
    if not truncated:
        return
    stats.truncated += len(truncated)
    log.warning(
        "%d conversations had unread parts beyond Intercom's 500 (%s: %s)",
        len(truncated),
        *next(iter(truncated.items())),
    )
    ctx.store.note_skipped(parking.TRUNCATED, truncated)


def seen_fields(conversation: Mapping[str, Any]) -> dict[str, int]:
    """The WATCHED fields the conversation (or search item) shows, by name."""
    return {
        name: value for name in WATCHED if (value := detect.marker(conversation, name)) is not None
    }


def moved(
    kind: Scan,
    item: Mapping[str, Any],
    marker: int,
    stored: Progress | None,
    window: Window,
    reading: str | None = None,
) -> bool:
    """Whether a search item may show what was not read of its conversation: never read
    from this window's start, its marker moved, or a field a new part moves went past what
    was read. A lagging index shows a conversation's parts late: the item it showed first
    may hold the opening alone, and only the part count grows when a second message of the
    same second arrives; no decision rests on that first item.

    A row from before 0005 kept the marker alone: trusted as before, unless it may have come
    from an item showing the opening alone (the only progress kept without a fetch) and the
    item now shows more: that conversation is fetched once."""
    if stored is None or stored.floor > window.lo or marker > stored.marker:
        return True
    if stored.legacy:
        return (
            kind.opening_may_do
            and stored.marker == item.get("created_at")
            and not detect.opening_only(item, reading)
        )
    return any(value > stored.seen.get(name, -1) for name, value in seen_fields(item).items())


def missed_parts(
    conversation: Mapping[str, Any],
    seen: Progress | None,
    window: Window,
    reading: str | None = None,
) -> int:
    """How many of the parts Intercom did not return (it returns the newest 500) may hold
    messages we never read: none if they all predate the window, or if an earlier read of
    this conversation already covered everything up to its oldest returned part."""
    missing = detect.missing_parts(conversation, reading)
    oldest = detect.oldest_part_at(conversation)
    if not missing or oldest is None or oldest < window.lo:
        return 0
    if seen is not None and seen.floor <= window.lo and seen.marker >= oldest:
        return 0
    return missing
