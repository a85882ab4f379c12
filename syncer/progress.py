"""Progress of a long `sync`: a bar on a terminal, a plain line every few seconds elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from syncer.pipeline import ScanStats

BAR = 24


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
        self._last = 0.0
        self._covered: dict[str, int] = {}

    def __call__(self, kind: str, stats: ScanStats, checkpoint: int | None) -> None:
        if checkpoint is not None:
            self._covered[kind] = checkpoint
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        self.stream.write(self.line(kind, stats) + ("\r" if self.tty else "\n"))
        self.stream.flush()

    def line(self, kind: str, stats: ScanStats) -> str:
        span = max(1, self.until - self.since)
        done = min(1.0, max(0.0, (self._covered.get(kind, self.since) - self.since) / span))
        position = f"{self.kinds.index(kind) + 1}/{len(self.kinds)}" if kind in self.kinds else "?"
        bar = "#" * round(done * BAR) + "-" * (BAR - round(done * BAR))
        return (
            f"scan {position} {kind:<20} [{bar}] {done:4.0%}  pages {stats.pages}  "
            f"fetched {stats.fetched}  new events {stats.new}"
        )

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
