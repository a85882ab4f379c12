"""PublishRequests: grouping by unit set, integer times, hashing as the SDKs do."""

from __future__ import annotations

import pytest

from syncer.absmartly.payload import MAX_GOALS_PER_REQUEST, build_requests, hash_uid
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
