"""Parsing the times a user writes: "now", an ISO 8601 date, or an ISO 8601 date and time."""

from __future__ import annotations

import datetime as dt
import time

from syncer.errors import ConfigError

EXAMPLE = "e.g. 2026-01-31 or 2026-01-31T12:00:00Z"
EARLIEST = 946_684_800  # 2000-01-01: no Intercom workspace holds anything older


def to_epoch(value: object, what: str, *, now: float | None = None) -> int:
    """Return UNIX seconds for a user-written time; naive times are taken as UTC."""
    shown = str(value).strip()
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return int(time.time() if now is None else now)
        value = _parse_iso(text, what)
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return _bounded(int(aware.timestamp()), what, shown)
    if isinstance(value, dt.date):
        day = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        return _bounded(int(day.timestamp()), what, shown)
    raise ConfigError(f'{what}: expected "now" or an ISO 8601 time ({EXAMPLE}), got {value!r}')


def _bounded(seconds: int, what: str, shown: str) -> int:
    if seconds < EARLIEST:
        raise ConfigError(f"{what}: {shown} is before 2000-01-01; nothing is that old")
    return seconds


def _parse_iso(text: str, what: str) -> dt.date | dt.datetime:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not an ISO 8601 date or time ({EXAMPLE})") from None


def iso(epoch: float | None) -> str:
    """Format UNIX seconds as a compact UTC ISO 8601 string (or "-" for none)."""
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
