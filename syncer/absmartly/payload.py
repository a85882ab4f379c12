"""Outbox goals in, Collector PublishRequests out: pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syncer.config import CollectorSettings
from syncer.store.outbox import Goal

MAX_BATCH_REQUESTS = 500  # the Collector's limit for PUT /context/batch
MAX_GOALS_PER_REQUEST = 100  # keeps one rejected request from taking many goals with it


@dataclass(frozen=True, slots=True)
class Request:
    """One PublishRequest and the outbox goals it carries, in order."""

    body: dict[str, Any]
    goals: tuple[Goal, ...]


def hash_uid(uid: str) -> str:
    """The uid as ABsmartly's SDKs hash it: base64url(md5(utf-8)) without padding."""
    digest = hashlib.md5(uid.strip().encode("utf-8"), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def build_requests(goals: Sequence[Goal], *, hashed: bool) -> list[Request]:
    """One PublishRequest per unit set (oldest goal first), at most 100 goals each.

    `publishedAt` is added when a request is sent: it is the send time.
    """
    groups: dict[tuple[tuple[str, str], ...], list[Goal]] = {}
    for goal in goals:
        groups.setdefault(goal.units, []).append(goal)
    requests = []
    for units, members in groups.items():
        for start in range(0, len(members), MAX_GOALS_PER_REQUEST):
            chunk = tuple(members[start : start + MAX_GOALS_PER_REQUEST])
            requests.append(Request(_body(units, chunk, hashed), chunk))
    return requests


def _body(
    units: tuple[tuple[str, str], ...], goals: Sequence[Goal], hashed: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "units": [{"type": t, "uid": hash_uid(u) if hashed else u} for t, u in units],
        "goals": [
            {
                "name": goal.name,
                "achievedAt": goal.achieved_at,
                "properties": dict(goal.properties) or None,
            }
            for goal in goals
        ],
    }
    if hashed:
        body["hashed"] = True
    return body


def headers(settings: CollectorSettings) -> dict[str, str]:
    return {
        "X-API-Key": settings.api_key,
        "X-Application": settings.application,
        "X-Application-Version": str(settings.application_version),
        "X-Environment": settings.environment,
        "X-Agent": settings.agent,
        "Content-Type": "application/json",
    }
