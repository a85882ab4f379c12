"""A clock a test moves by hand, shared by the fake Intercom and the syncer's cycles."""

from __future__ import annotations

import time


class Clock:
    """A clock the test moves: the fake Intercom's answers and the syncer's cycles share it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> int:
        self.now += seconds
        return int(self.now)


def iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
