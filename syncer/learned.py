"""What the syncer learns of a workspace where Intercom's documentation is silent.

`statistics.count_conversation_parts` may or may not count the opening message (register:
R-count-parts). Until the conversations the syncer fetches anyway agree on one reading, the
fetch-skip uses only what is safe under both; a contradiction later puts it back there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from syncer import detect

log = logging.getLogger("syncer.learned")

AGREEING = 3  # fetched conversations that must agree before a reading is trusted


class PartsReading:
    """The count's reading, learned from fetched conversations (thread-safe)."""

    def __init__(self, reading: str | None = None) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._reading = reading
        self._contradicted = False

    @property
    def reading(self) -> str | None:
        return self._reading

    def observe(self, conversation: Mapping[str, Any]) -> None:
        shown = detect.parts_reading(conversation)
        if shown is None or self._contradicted:
            return
        with self._lock:
            self._seen[shown] = self._seen.get(shown, 0) + 1
            if len(self._seen) > 1:
                # Both readings seen: trust neither, for the rest of the process.
                self._contradicted, self._reading = True, None
                log.warning(
                    "count_conversation_parts fits neither reading consistently (%s); "
                    "conversations are fetched unless the count is 0",
                    self._seen,
                )
            elif self._reading is None and self._seen[shown] >= AGREEING:
                self._reading = shown
                log.info("count_conversation_parts counts %s (learned)", _words(shown))


def _words(reading: str) -> str:
    return "the opening message too" if reading == detect.WITH_OPENING else "parts only"
