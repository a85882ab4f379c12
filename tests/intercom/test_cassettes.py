"""The client layer replayed from committed cassettes (record mode `none`: no network at all)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import vcr

from syncer.config import IntercomSettings
from syncer.errors import IntercomAuthError
from syncer.intercom.client import IntercomClient
from tests.cassettes.record import QUERY

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
REPLAY = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    match_on=["method", "path", "query", "body"],
)


@pytest.fixture
def client() -> Iterator[IntercomClient]:
    # Port 9 (discard): were anything to escape the cassette, it would fail, not reach out.
    settings = IntercomSettings("INTERCOM_ACCESS_TOKEN", "http://127.0.0.1:9", token="replay")
    with IntercomClient(settings, sleep=lambda _: None) as replaying:
        yield replaying


def test_search_pages_replay(client: IntercomClient) -> None:
    """Two pages of a search: 150 then 50 items, the second reached by `starting_after`."""
    with REPLAY.use_cassette("search_two_pages.yaml") as cassette:
        first = client.search("conversations", QUERY)
        assert first.next is not None
        second = client.search("conversations", QUERY, first.next)
        assert cassette.all_played
    assert (len(first.items), len(second.items), second.next) == (150, 50, None)
    assert first.total == 200
    assert len({i["id"] for i in first.items + second.items}) == 200
    assert "conversation_parts" not in first.items[0]


def test_retry_after_503_replays(client: IntercomClient) -> None:
    """A 503 then a 200: the caller sees the admin; both recorded answers were used."""
    with REPLAY.use_cassette("retry_503.yaml") as cassette:
        assert client.me()["id"] == "7"
        assert cassette.play_count == 2
    assert client.transport.retries == 1


def test_merged_contact_replays(client: IntercomClient) -> None:
    """410 contact_merged, then the canonical contact."""
    with REPLAY.use_cassette("merged_contact.yaml") as cassette:
        contact = client.contact("1911")
        assert cassette.play_count == 2
    assert contact is not None and contact["external_id"] == "merged-user"


def test_conversation_replays_with_parts(client: IntercomClient) -> None:
    """A whole conversation keeps its parts and statistics as plain JSON."""
    with REPLAY.use_cassette("conversation.yaml"):
        conversation = client.conversation("1110")
    assert conversation is not None
    assert conversation["id"] == "1110"
    assert isinstance(conversation["conversation_parts"]["conversation_parts"], list)
    assert "count_conversation_parts" in conversation["statistics"]


def test_unauthorized_replays(client: IntercomClient) -> None:
    """401: one line naming the variable; no retry."""
    with (
        REPLAY.use_cassette("unauthorized.yaml") as cassette,
        pytest.raises(IntercomAuthError, match=r"\$INTERCOM_ACCESS_TOKEN"),
    ):
        client.me()
    assert cassette.play_count == 1


def test_no_cassette_holds_a_token() -> None:
    """Every committed cassette has its Authorization header filtered."""
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert "recording-token" not in text, path.name
        for line in text.splitlines():
            if line.strip().startswith("- Bearer"):
                assert line.strip() == "- Bearer <filtered>", path.name
