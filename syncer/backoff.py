"""Capped exponential backoff with jitter, shared by every retry loop in the syncer."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from time import time


def delay(attempt: int, *, base: float = 0.5, cap: float = 60.0) -> float:
    """Seconds to wait before retry `attempt` (0-based).

    "Equal jitter": half the capped exponential step is fixed and half random, so retries
    spread out across processes yet never collapse to a busy loop.
    """
    step = min(cap, base * 2.0 ** min(attempt, 30))
    return step / 2 + random.uniform(0, step / 2)


def retry_after(value: str | None, *, cap: float = 300.0) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
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
    return max(0.0, min(cap, seconds))
