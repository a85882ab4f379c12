"""Parsing the times a user writes: "now", an ISO 8601 date, or an ISO 8601 date and time."""

from __future__ import annotations

import datetime as dt
import time
from typing import Final

from syncer.errors import ConfigError

DAY: Final = 86_400  # seconds: the one definition


def ms(seconds: float) -> int:
    """Seconds (Intercom's times) as the milliseconds ABsmartly's `achievedAt` and the
    outbox keep."""
    return int(seconds * 1000)


def seconds_of(milliseconds: float) -> float:
    """Milliseconds (`achievedAt`) back as seconds."""
    return milliseconds / 1000


EXAMPLE = "e.g. 2026-01-31 or 2026-01-31T12:00:00Z"
EARLIEST = 946_684_800  # 2000-01-01: no Intercom workspace holds anything older
LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z: the last second a date can be written
SHOWN = 40  # characters of a bad value an error line echoes


def shown(value: object) -> str:
    """A user's value for an error line: cut to 40 characters, quoted (escapes visible)."""
    text = str(value).strip()
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "\u2026")


def to_epoch(value: object, what: str, *, now: float | None = None) -> int:
    """Return UNIX seconds for a user-written time; naive times are taken as UTC."""
    written = str(value).strip()
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return int(time.time() if now is None else now)
        value = _parse_iso(text, what)
    try:
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return _bounded(aware.timestamp(), what, written)
        if isinstance(value, dt.date):
            day = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
            return _bounded(day.timestamp(), what, written)
    except (OverflowError, ValueError):  # beyond what a datetime holds, once in UTC
        raise ConfigError(f"{what}: {shown(written)} is after 9999-12-31 (in UTC)") from None
    raise ConfigError(f'{what}: expected "now" or an ISO 8601 time ({EXAMPLE}), got {shown(value)}')


def _bounded(seconds: float, what: str, written: str) -> int:
    if seconds < EARLIEST:
        raise ConfigError(f"{what}: {written} is before 2000-01-01; nothing is that old")
    if seconds > LATEST:
        raise ConfigError(f"{what}: {written} is after 9999-12-31 (in UTC)")
    return int(seconds)


def _parse_iso(text: str, what: str) -> dt.date | dt.datetime:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{what}: {shown(text)} is not an ISO 8601 date or time ({EXAMPLE})"
        ) from None


def iso(epoch: float | None) -> str:
    """Format UNIX seconds as a compact UTC ISO 8601 string (or "-" for none)."""
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
