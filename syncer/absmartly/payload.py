"""Outbox goals in, Collector PublishRequests and the bytes of their bodies out: pure
functions, no I/O.

Every size here is the length of the JSON the publisher sends, measured with the one encoder
it sends with, so a body packed to fit `absmartly.max_body_bytes` does fit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syncer.config import CollectorSettings
from syncer.store.outbox import Goal

MAX_GOALS_PER_REQUEST = 100  # keeps one rejected request from taking many goals with it
BATCH_OVERHEAD = len(b'{"requests":[]}')  # a batch body's bytes around its requests
# Sizes are measured with a `publishedAt` of this width: every time in milliseconds from
# 2001 to 2286 has 13 digits, so the one stamped at send time is as long.
SAMPLE_PUBLISHED_AT = 10**12


@dataclass(frozen=True, slots=True)
class Request:
    """One PublishRequest, the outbox goals it carries (in order), and its size as sent."""

    body: dict[str, Any]
    goals: tuple[Goal, ...]
    size: int  # bytes of its JSON, `publishedAt` included

    def halves(self) -> tuple[Request, Request]:
        """The request as two, each with half its goals (it must have two or more)."""
        middle, units, hashed = len(self.goals) // 2, self.goals[0].units, "hashed" in self.body
        return (
            _request(units, self.goals[:middle], hashed),
            _request(units, self.goals[middle:], hashed),
        )


def encode(value: Any) -> bytes:
    """JSON as the publisher sends it (and as every size here is measured)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body(requests: Sequence[Request], published_at: int, *, batch: bool) -> bytes:
    """The body of one PUT: the requests stamped with the send time, in a batch or alone."""
    stamped = [{"publishedAt": published_at, **r.body} for r in requests]
    return encode({"requests": stamped} if batch else stamped[0])


def fitting(requests: Sequence[Request], start: int, max_count: int, max_bytes: int) -> int:
    """The end of the next batch from `start`: as many requests as `max_count` and
    `max_bytes` allow, and at least one (a request too large on its own goes alone)."""
    end, size = start + 1, BATCH_OVERHEAD + requests[start].size
    while end < len(requests) and end - start < max_count:
        size += requests[end].size + 1
        if size > max_bytes:
            break
        end += 1
    return end


def packed(requests: Sequence[Request], max_count: int, max_bytes: int) -> list[list[Request]]:
    """The requests, in order, as batches that each fit (see `fitting`)."""
    batches, start = [], 0
    while start < len(requests):
        end = fitting(requests, start, max_count, max_bytes)
        batches.append(list(requests[start:end]))
        start = end
    return batches


def hash_uid(uid: str) -> str:
    """The uid as ABsmartly's SDKs hash it: base64url(md5(utf-8)) without padding."""
    digest = hashlib.md5(uid.strip().encode("utf-8"), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def build_requests(
    goals: Sequence[Goal], *, hashed: bool, max_bytes: int = sys.maxsize
) -> list[Request]:
    """One PublishRequest per unit set (oldest goal first), of at most 100 goals and small
    enough that a batch of it alone fits `max_bytes` (a goal too large on its own is still a
    request: the Collector decides).

    `publishedAt` is added when a request is sent: it is the send time.
    """
    groups: dict[tuple[tuple[str, str], ...], list[Goal]] = {}
    for goal in goals:
        groups.setdefault(goal.units, []).append(goal)
    return [
        _request(units, chunk, hashed)
        for units, members in groups.items()
        for chunk in _chunks(units, members, hashed, max_bytes - BATCH_OVERHEAD)
    ]


def _chunks(
    units: tuple[tuple[str, str], ...], goals: Sequence[Goal], hashed: bool, max_bytes: int
) -> list[tuple[Goal, ...]]:
    """The goals of one unit set cut into runs that fit one request each."""
    empty = _request(units, (), hashed).size
    chunks: list[tuple[Goal, ...]] = []
    chunk: list[Goal] = []
    size = empty
    for goal in goals:
        extra = len(encode(_goal(goal))) + (1 if chunk else 0)
        if chunk and (len(chunk) >= MAX_GOALS_PER_REQUEST or size + extra > max_bytes):
            chunks.append(tuple(chunk))
            chunk, size, extra = [], empty, extra - 1
        chunk.append(goal)
        size += extra
    if chunk:
        chunks.append(tuple(chunk))
    return chunks


def _request(units: tuple[tuple[str, str], ...], goals: Sequence[Goal], hashed: bool) -> Request:
    body: dict[str, Any] = {
        "units": [{"type": t, "uid": hash_uid(u) if hashed else u} for t, u in units],
        "goals": [_goal(goal) for goal in goals],
    }
    if hashed:
        body["hashed"] = True
    size = len(encode({"publishedAt": SAMPLE_PUBLISHED_AT, **body}))
    return Request(body, tuple(goals), size)


def _goal(goal: Goal) -> dict[str, Any]:
    return {
        "name": goal.name,
        "achievedAt": goal.achieved_at,
        "properties": dict(goal.properties) or None,
    }


def headers(settings: CollectorSettings) -> dict[str, str]:
    return {
        "X-API-Key": settings.api_key,
        "X-Application": settings.application,
        "X-Application-Version": str(settings.application_version),
        "X-Environment": settings.environment,
        "X-Agent": settings.agent,
        "Content-Type": "application/json",
    }
