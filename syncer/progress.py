"""Progress of a long `sync`: a bar on a terminal, a plain line every few seconds elsewhere.

The scans run in parallel threads; this shows them on one line.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import TextIO

from syncer.pipeline import ScanStats

BAR = 20


class Progress:
    def __init__(
        self,
        since: int,
        until: int,
        kinds: list[str],
        stream: TextIO | None = None,
        every: float = 10.0,
    ) -> None:
        self.since, self.until, self.kinds = since, until, kinds
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if not self.tty else 0.2
        self._last = -math.inf  # the first call prints, however new the monotonic clock
        self._covered: dict[str, int] = {}
        self._stats: dict[str, ScanStats] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, stats: ScanStats, checkpoint: int | None) -> None:
        with self._lock:
            if checkpoint is not None:
                self._covered[kind] = checkpoint
            self._stats[kind] = stats
            now = time.monotonic()
            if now - self._last < self.every:
                return
            self._last = now
            self.stream.write(self.line() + ("\r" if self.tty else "\n"))
            self.stream.flush()

    def share(self) -> float:
        """The share of the window covered, over all scans."""
        span = max(1, self.until - self.since) * max(1, len(self.kinds))
        covered = sum(min(self.until, c) - self.since for c in self._covered.values())
        return min(1.0, max(0.0, covered / span))

    def line(self) -> str:
        done = self.share()
        bar = "#" * round(done * BAR) + "-" * (BAR - round(done * BAR))
        stats = list(self._stats.values())
        return (
            f"sync [{bar}] {done:4.0%}  {len(self.kinds)} scans  "
            f"pages {sum(s.pages for s in stats)}  fetched {sum(s.fetched for s in stats)}  "
            f"new events {sum(s.new for s in stats)}"
        )

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
