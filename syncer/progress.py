"""Progress of a long `sync`: a bar on a terminal, and a log record (JSON with `--log-format
json`) when logs are data. A stderr that is neither (a pipe, a file, the journal) gets no
progress: the sync's closing line says what it did, and a failure stays the one line there.
A stream handed in explicitly gets a plain line every `every` seconds.

The scans run in parallel threads; this shows them on one line: how much of the window is
covered, what was read, what was delivered, the rate and the time left.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from syncer.pipeline import ScanStats

BAR = 20
log = logging.getLogger("syncer.progress")


class Progress:
    def __init__(
        self,
        since: int,
        until: int,
        kinds: list[str],
        stream: TextIO | None = None,
        every: float = 10.0,
        *,
        delivered: Callable[[], int] = lambda: 0,
        as_log: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.since, self.until, self.kinds = since, until, kinds
        self.stream = stream or sys.stderr
        self.as_log = as_log
        self.tty = _isatty(self.stream) and not as_log
        # The default stderr, not a terminal, and logs that are text: nothing to show.
        self.quiet = stream is None and not self.tty and not as_log
        self.every = every if not self.tty else 0.2
        self.delivered = delivered
        self.clock = clock
        self.started = clock()
        self._last = -math.inf  # the first call prints, however new the monotonic clock
        self._covered: dict[str, int] = {}
        self._stats: dict[str, ScanStats] = {}
        self._lock = threading.Lock()
        self._drawn = False

    def __call__(self, kind: str, stats: ScanStats, checkpoint: int | None) -> None:
        if self.quiet:
            return
        with self._lock:
            if checkpoint is not None:
                self._covered[kind] = checkpoint
            self._stats[kind] = stats
            now = self.clock()
            if now - self._last < self.every:
                return
            self._last = now
            self._show()

    def _show(self) -> None:
        line = self.line()
        if self.as_log:
            log.info("%s", line, extra={"fields": self.figures()})
            return
        try:
            if self.tty:
                # Back to the line's start and clear it: a shorter line leaves nothing behind.
                self.stream.write("\r\x1b[K" + line[: _width() - 1])
                self._drawn = True
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the sync goes on unseen
            self.quiet = True

    def share(self) -> float:
        """The share of the window covered, over all scans."""
        span = max(1, self.until - self.since) * max(1, len(self.kinds))
        covered = sum(min(self.until, c) - self.since for c in self._covered.values())
        return min(1.0, max(0.0, covered / span))

    def figures(self) -> dict[str, float | int]:
        stats = list(self._stats.values())
        elapsed = max(1e-6, self.clock() - self.started)
        done = self.share()
        new = sum(s.new for s in stats)
        return {
            "share": round(done, 4),
            "pages": sum(s.pages for s in stats),
            "fetched": sum(s.fetched for s in stats),
            "new": new,
            "delivered": self.delivered(),
            "rate": round(new / elapsed, 1),
            "eta_seconds": round(elapsed * (1 - done) / done) if done > 0 else -1,
        }

    def line(self) -> str:
        f = self.figures()
        done = float(f["share"])
        bar = "#" * round(done * BAR) + "-" * (BAR - round(done * BAR))
        eta = _span(int(f["eta_seconds"])) if int(f["eta_seconds"]) >= 0 else "?"
        return (
            f"sync [{bar}] {done:4.0%}  pages {f['pages']}  fetched {f['fetched']}  "
            f"new events {f['new']}  delivered {f['delivered']}  {f['rate']:g}/s  ETA {eta}"
        )

    def done(self) -> None:
        """End the display: the last figures stay on screen, the cursor on a fresh line.
        Safe to call twice, and after Ctrl-C."""
        with self._lock:
            if self.tty and self._drawn and not self.quiet:
                self._drawn = False
                try:
                    self.stream.write("\r\x1b[K" + self.line()[: _width() - 1] + "\n")
                    self.stream.flush()
                except (OSError, ValueError):
                    self.quiet = True


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):  # closed, or gone
        return False


def _width() -> int:
    return shutil.get_terminal_size(fallback=(100, 24)).columns


def _span(seconds: int) -> str:
    if seconds >= 3_600:
        return f"{seconds // 3_600}h{seconds % 3_600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
