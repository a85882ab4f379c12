"""PublishRequests: grouping by unit set, integer times, hashing as the SDKs do."""

from __future__ import annotations

import pytest

from syncer.absmartly.payload import (
    MAX_GOALS_PER_REQUEST,
    SAMPLE_PUBLISHED_AT,
    body,
    build_requests,
    fitting,
    hash_uid,
)
from syncer.store.outbox import Goal


def goal(gid: int, uid: str, name: str = "g", props: dict | None = None) -> Goal:
    return Goal(
        f"k{gid}",
        "conversation_started",
        name,
        1_700_000_000_000 + gid,
        (("user_id", uid),),
        props or {},
        {},
        id=gid,
    )


@pytest.mark.parametrize(
    ("uid", "hashed"),
    [
        ("bleh@absmarty.com", "DRgslOje35bZMmpaohQjkA"),
        ("testy", "K5I_V6RgP8c6sYKz-TVn8g"),
        ("123456778999", "K4uy4bTeCy34W97lmceVRg"),
    ],
)
def test_hash_matches_sdk_vectors(uid: str, hashed: str) -> None:
    """base64url(md5(uid)) without padding, as in ABsmartly's SDK test vectors."""
    assert hash_uid(uid) == hashed


def test_goals_group_by_unit_set_oldest_first() -> None:
    """One request per unit set; goals keep outbox order; no publishedAt until sent."""
    requests = build_requests([goal(1, "a"), goal(2, "b"), goal(3, "a")], hashed=False)
    assert [[g.id for g in r.goals] for r in requests] == [[1, 3], [2]]
    assert requests[0].body == {
        "units": [{"type": "user_id", "uid": "a"}],
        "goals": [
            {"name": "g", "achievedAt": 1_700_000_000_001, "properties": None},
            {"name": "g", "achievedAt": 1_700_000_000_003, "properties": None},
        ],
    }


def test_hashed_requests_say_so_and_carry_no_raw_uid() -> None:
    """hash_units sends `hashed: true` and only hashed uids."""
    [request] = build_requests([goal(1, "bleh@absmarty.com")], hashed=True)
    assert request.body["hashed"] is True
    assert request.body["units"] == [{"type": "user_id", "uid": "DRgslOje35bZMmpaohQjkA"}]
    assert "bleh@absmarty.com" not in str(request.body)


def test_many_goals_of_one_unit_set_are_split() -> None:
    """A unit set with more goals than one request holds is split into several requests."""
    goals = [goal(i, "same") for i in range(1, MAX_GOALS_PER_REQUEST + 6)]
    requests = build_requests(goals, hashed=False)
    assert [len(r.goals) for r in requests] == [MAX_GOALS_PER_REQUEST, 5]


def test_properties_pass_through_with_numbers_as_numbers() -> None:
    """Property values keep their JSON types: a score stays a number."""
    [request] = build_requests([goal(1, "a", props={"rating": 4, "remark": "ok"})], hashed=False)
    assert request.body["goals"][0]["properties"] == {"rating": 4, "remark": "ok"}


def test_sizes_are_the_bytes_sent() -> None:
    """A request's size is the length of the JSON it goes out as, at any send time."""
    goals = [goal(i, f"u{i % 7}", props={"remark": "très bien ✓" * i}) for i in range(1, 40)]
    for request in build_requests(goals, hashed=True):
        for published_at in (SAMPLE_PUBLISHED_AT, 1_764_000_000_000, 9_999_999_999_999):
            assert len(body([request], published_at, batch=False)) == request.size


@pytest.mark.parametrize("max_bytes", [400, 2_000, 16_384])
def test_batches_packed_to_fit_never_exceed_the_limit(max_bytes: int) -> None:
    """Requests cut to fit a batch alone, then packed into batches whose bodies, as sent,
    stay within the byte limit and the request count; every goal is in one batch."""
    goals = [goal(i, f"u{i % 23}", props={"remark": "x" * (i % 50), "n": i}) for i in range(1, 600)]
    requests = build_requests(goals, hashed=False, max_bytes=max_bytes)
    start, seen = 0, []
    while start < len(requests):
        end = fitting(requests, start, 20, max_bytes)
        batch = requests[start:end]
        assert 1 <= len(batch) <= 20
        assert len(body(batch, 1_764_000_000_000, batch=True)) <= max_bytes
        seen += [g.id for r in batch for g in r.goals]
        start = end
    assert sorted(seen) == [g.id for g in goals]


def test_a_goal_too_large_alone_is_still_a_request() -> None:
    """A goal bigger than the limit on its own goes alone (the Collector decides), and does
    not take its neighbours with it."""
    goals = [goal(1, "a"), goal(2, "a", props={"remark": "x" * 5_000}), goal(3, "a")]
    requests = build_requests(goals, hashed=False, max_bytes=1_000)
    assert [[g.id for g in r.goals] for r in requests] == [[1], [2], [3]]
    assert fitting(requests, 1, 500, 1_000) == 2


def test_halves_keep_units_and_hashing() -> None:
    """A request split in two keeps its (hashed) units, and its goals in order."""
    [request] = build_requests([goal(i, "bleh@absmarty.com") for i in range(1, 6)], hashed=True)
    first, second = request.halves()
    assert [g.id for g in first.goals] == [1, 2] and [g.id for g in second.goals] == [3, 4, 5]
    for half in (first, second):
        assert half.body["units"] == request.body["units"] and half.body["hashed"] is True
        assert len(body([half], SAMPLE_PUBLISHED_AT, batch=False)) == half.size
