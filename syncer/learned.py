"""What the syncer learns of a workspace where Intercom's documentation is silent, kept in the
state so that every command starts from it (runtime.open_context), not only the daemon.

`statistics.count_conversation_parts` may or may not count the opening message (register:
R-count-parts). Every real payload seen counts it (parts + 1), so that is where a workspace
starts; the conversations every command fetches anyway confirm or correct it, and a
contradiction puts the fetch-skip back on what is safe under both readings. The start-up
probes add the search fields that do not match as documented.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from syncer import detect
from syncer.store.store import Store

log = logging.getLogger("syncer.learned")

AGREEING = 3  # fetched conversations that must agree before a reading is trusted
NOTE = "readings"  # the state's note that keeps them
EVIDENCE = detect.WITH_OPENING  # what every recorded real payload shows (R-count-parts)
CONTRADICTED = "contradicted"  # as stored: both readings seen in one workspace


@dataclass(frozen=True, slots=True)
class Readings:
    """The learned readings as stored: the parts count's reading (None: contradicted, trust
    neither), whether the workspace itself showed it (else it is the evidence's), and the
    search fields the probes found not matching as documented."""

    parts: str | None = EVIDENCE
    confirmed: bool = False
    unsearched: frozenset[str] = frozenset()

    @classmethod
    def from_note(cls, note: object) -> Readings:
        if not isinstance(note, Mapping):
            return cls()
        parts = note.get("parts")
        unsearched = note.get("unsearched")
        known = (detect.PARTS, detect.WITH_OPENING)
        return cls(
            parts=parts if parts in known else (None if parts == CONTRADICTED else EVIDENCE),
            confirmed=bool(note.get("confirmed")) and parts in (*known, CONTRADICTED),
            unsearched=frozenset(
                str(f) for f in (unsearched if isinstance(unsearched, list) else [])
            ),
        )

    def note(self) -> dict[str, Any]:
        return {
            "parts": self.parts if self.parts is not None else CONTRADICTED,
            "confirmed": self.confirmed,
            "unsearched": sorted(self.unsearched),
        }


def load(store: Store | None) -> Readings:
    """The readings a state holds (the evidence's where it holds none, or there is none)."""
    return Readings.from_note(store.notes().get(NOTE)) if store is not None else Readings()


def keep_parts(store: Store, reading: str | None) -> None:
    """Record a parts reading this workspace showed, beside the other readings."""
    store.note(NOTE, replace(load(store), parts=reading, confirmed=True).note())


def keep_unsearched(store: Store, fields: frozenset[str]) -> None:
    """Record the search fields the probes found not matching as documented."""
    store.note(NOTE, replace(load(store), unsearched=fields).note())


class PartsReading:
    """The count's reading: the stored (or evidence's) one, corrected by the conversations
    this process fetches (thread-safe). `on_change` is told of each new reading, to keep it."""

    def __init__(
        self,
        reading: str | None = EVIDENCE,
        *,
        confirmed: bool = False,
        on_change: Callable[[str | None], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._reading = reading
        self._confirmed = confirmed
        # A contradiction stored by an earlier run holds: it is not outvoted by a few more.
        self._contradicted = reading is None and confirmed
        self._on_change = on_change

    @property
    def reading(self) -> str | None:
        return self._reading

    @property
    def shown(self) -> str | None:
        """The reading only where this workspace showed it (its conversations, a probe), for
        what a wrong reading would lose a message to (the fetch-skip): until then, None,
        which trusts nothing but a count of 0. A same-second second message under the other
        reading would show as the opening alone, and never be fetched."""
        return self._reading if self._confirmed else None

    def adopt(self, reading: str) -> None:
        """The reading a probe showed of this workspace: trusted at once, in place of what
        was stored (a contradiction included), and kept."""
        with self._lock:
            self._reading, self._confirmed, self._contradicted = reading, True, False
            self._seen.clear()
        if self._on_change is not None:
            self._on_change(reading)

    def observe(self, conversation: Mapping[str, Any]) -> None:
        shown = detect.parts_reading(conversation)
        if shown is None or self._contradicted:
            return
        changed = False
        with self._lock:
            self._seen[shown] = self._seen.get(shown, 0) + 1
            if len(self._seen) > 1:
                # Both readings seen: trust neither, for the rest of the process.
                self._contradicted, self._reading, changed = True, None, True
                log.warning(
                    "count_conversation_parts fits neither reading consistently (%s); "
                    "conversations are fetched unless the count is 0",
                    self._seen,
                )
            elif self._seen[shown] == AGREEING and (shown != self._reading or not self._confirmed):
                # This workspace's own conversations outweigh what it started from.
                changed = True
                self._reading, self._confirmed = shown, True
                log.info("count_conversation_parts counts %s (learned)", reading_words(shown))
        if changed and self._on_change is not None:
            self._on_change(self._reading)


def reading_words(reading: str) -> str:
    """A parts reading in words, for log lines and the probe's evidence."""
    return "the opening message too" if reading == detect.WITH_OPENING else "parts only"
