"""How each remote is retried, declared in one place: which answers mean "later", how many
tries, how long the waits grow, how much of a server's Retry-After is honoured, and pauses
that end at once when the process stops.

The Intercom transport, the Collector's publisher, parked objects and the PostgreSQL lease
all take their policy from here, so that a 425 means the same to each of them.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time


def transient(status: int) -> bool:
    """An answer that means "later": a timeout (408), too early (425), rate-limited (429),
    or any server error. Every other answer is final, for every remote."""
    return status >= 500 or status in (408, 425, 429)


@dataclass(frozen=True, slots=True)
class Policy:
    """Retries of one remote: capped exponential backoff with jitter."""

    base: float  # the first step, in seconds
    cap: float  # the longest step
    attempts: int = 0  # tries in all before a failure is the answer (0: bounded elsewhere)
    hint_cap: float = 60.0  # the longest Retry-After waited out in one go

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry `attempt` (0-based).

        "Equal jitter": half the capped exponential step is fixed and half random, so
        retries spread out across processes yet never collapse to a busy loop.
        """
        step = min(self.cap, self.base * 2.0 ** min(attempt, 30))
        return step / 2 + random.uniform(0, step / 2)

    def wait(self, attempt: int, hinted: float | None = None) -> float:
        """The backoff, or the server's hint where it asks for longer (within `hint_cap`)."""
        wait = self.delay(attempt)
        return wait if hinted is None else max(wait, min(hinted, self.hint_cap))


# Intercom: a failure (5xx, a timeout, no connection) is tried 8 times in all.
INTERCOM = Policy(base=0.5, cap=60.0, attempts=8)
# Intercom's 429s mean "later", not failure, and count apart: a request waits for them at
# most RATE_LIMIT_PATIENCE seconds from the first (a dozen of Intercom's 10 s windows, so
# `syncer check` against a workspace whose budget another app spends ends, saying so), and
# at most RATE_LIMIT_TRIES times where waits take no time (tests); steps of at most a window.
INTERCOM_RATE_LIMIT = Policy(base=0.5, cap=10.0, attempts=60, hint_cap=60.0)
RATE_LIMIT_PATIENCE = 120.0
# A parked object already failed a full round: each retry of it is one request and one more.
INTERCOM_PARKED = Policy(base=0.5, cap=60.0, attempts=2)
# A check on the side (`check`, the workspace of a command that reads nothing else): one
# retry, so a person waiting on it gets the answer in seconds.
INTERCOM_CHECK = Policy(base=0.5, cap=60.0, attempts=2)
# Parked objects are tried again across cycles: a minute after parking, doubling to an hour.
PARKED = Policy(base=60.0, cap=3_600.0)
# The Collector: every transient answer backs the publisher off; how long it keeps trying is
# the caller's (`sync.publish_timeout`, or forever for the daemon). Retry-After up to 5 min.
COLLECTOR = Policy(base=1.0, cap=60.0, hint_cap=300.0)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None; how much of
    it is waited out is each remote's `Policy.hint_cap`."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds)


def pause(stop: threading.Event, seconds: float) -> bool:
    """Wait `seconds`, or less if the process stops: False when it did."""
    return not stop.wait(seconds)
