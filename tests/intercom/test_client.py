"""The Intercom client against the fake Intercom: paging, pacing, retries, errors."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from syncer.config import IntercomSettings
from syncer.errors import IntercomAuthError, IntercomUnavailable
from syncer.intercom.client import IntercomClient
from syncer.intercom.scans import Checkpoint, Page, ScanSpec, scan, window_query
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate
from tests.conftest import INTERCOM_TOKEN

_open: list[IntercomClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def make_client(
    fake: FakeIntercom, token: str = INTERCOM_TOKEN, **kwargs: object
) -> IntercomClient:
    settings = IntercomSettings(token_env="INTERCOM_ACCESS_TOKEN", base_url=fake.url, token=token)
    client = IntercomClient(settings, **kwargs)  # type: ignore[arg-type]
    _open.append(client)
    return client


@pytest.fixture
def big(now: int) -> Iterator[FakeIntercom]:
    """400 conversations created inside one day: more than two pages in one slice."""
    ws = generate(seed=3, conversations=400, start=now - 86_000, end=now - 10)
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        yield fake


def test_search_walks_every_page_of_a_slice(big: FakeIntercom, now: int) -> None:
    """All items come back exactly once across pages; the SDK's pager would loop on page one."""
    client = make_client(big)
    spec = ScanSpec("conversations", "created_at")
    steps = list(scan(client, spec, now - 86_399, now, 86_400))
    ids = [item["id"] for step in steps if isinstance(step, Page) for item in step.items]
    expected = {c["id"] for c in big.workspace.conversations.values()}
    assert len(ids) == len(expected) == 400
    assert set(ids) == expected
    assert big.calls()["POST /conversations/search"] == 3  # 150 + 150 + 100
    assert isinstance(steps[-1], Checkpoint)


def test_sends_version_header_and_token(fake_intercom: FakeIntercom) -> None:
    """Every request, through the SDK or read as raw JSON, pins 2.14 and carries the token."""
    client = make_client(fake_intercom)
    client.me()
    page = client.search(
        "conversations", window_query(ScanSpec("conversations", "created_at"), 0, 2**31)
    )
    client.conversation(str(page.items[0]["id"]))
    assert len(fake_intercom.requests) == 3
    for request in fake_intercom.requests:
        assert request.headers["intercom-version"] == "2.14"
        assert request.headers["authorization"] == f"Bearer {INTERCOM_TOKEN}"
    assert fake_intercom.requests[2].path.endswith("?display_as=plaintext")


@pytest.mark.parametrize("body", [b"<html>busy</html>", b"[1, 2]", b"null"])
def test_a_2xx_that_is_not_a_json_object_is_retryable(body: bytes) -> None:
    """A proxy's page or a bare list answered 200 is an outage, never an empty conversation."""
    inner = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    settings = IntercomSettings("INTERCOM_ACCESS_TOKEN", "http://127.0.0.1:9", token="t")
    with IntercomClient(settings, inner=inner) as client:
        with pytest.raises(IntercomUnavailable, match="not a JSON object"):
            client.conversation("1")
        with pytest.raises(IntercomUnavailable, match="not a JSON object"):
            client.search("tickets", {"field": "created_at", "operator": ">", "value": 0})


def test_pacer_keeps_under_a_small_budget_with_zero_429(workspace: Workspace) -> None:
    """Fifteen calls against a budget of 4 per 1-second window: all answered, none 429."""
    with FakeIntercom(workspace, token=INTERCOM_TOKEN, budget=4, window=1) as fake:
        client = make_client(fake)
        for _ in range(15):
            client.me()
        assert fake.statuses() == {200: 15}
        assert client.transport.rate_limited == 0
        assert client.pacer.waits > 0


def test_retries_503_then_succeeds(fake_intercom: FakeIntercom) -> None:
    """Two 503s, then the answer: the caller sees only the answer, after growing waits."""
    waits: list[float] = []
    fake_intercom.fail(503, times=2)
    client = make_client(fake_intercom, sleep=waits.append)
    assert client.me()["id"] == "7"
    assert [r.status for r in fake_intercom.requests] == [503, 503, 200]
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


def test_retries_429_honouring_retry_after(fake_intercom: FakeIntercom) -> None:
    """A 429 is retried after at least its Retry-After."""
    waits: list[float] = []
    fake_intercom.fail(429, times=1, headers={"Retry-After": "3"})
    client = make_client(fake_intercom, sleep=waits.append)
    assert client.me()["id"] == "7"
    assert waits and waits[0] >= 3.0


def test_gives_up_after_bounded_attempts(fake_intercom: FakeIntercom) -> None:
    """A 5xx that does not pass becomes IntercomUnavailable after the last attempt."""
    fake_intercom.fail(500, times=10)
    client = make_client(fake_intercom, attempts=3, sleep=lambda _: None)
    with pytest.raises(IntercomUnavailable, match="Intercom answered 500"):
        client.me()
    assert len(fake_intercom.requests) == 3


def test_401_fails_loudly_naming_the_variable_not_the_value(fake_intercom: FakeIntercom) -> None:
    """A wrong token stops with the variable's name and never its value; no retries."""
    client = make_client(fake_intercom, token="wrong-token-value")
    with pytest.raises(IntercomAuthError) as caught:
        client.search("conversations", window_query(ScanSpec("conversations", "created_at"), 0, 1))
    assert "$INTERCOM_ACCESS_TOKEN" in str(caught.value)
    assert "wrong-token-value" not in str(caught.value)
    assert len(fake_intercom.requests) == 1


def test_deleted_conversation_is_none(fake_intercom: FakeIntercom) -> None:
    """A conversation deleted between search and fetch (404) reads as None, not an error."""
    assert make_client(fake_intercom).conversation("does-not-exist") is None


def test_merged_contact_answers_404_on_2_14(fake_intercom: FakeIntercom) -> None:
    """Register R-merged-contacts: on 2.14 a merged contact is not retrievable (404), which
    the client reports as no contact; the fake decides by the Intercom-Version we send."""
    ws = fake_intercom.workspace
    old = ws.add_contact(role="lead")
    ws.merge_contact(old, ws.add_contact(external_id="merged-user"))
    assert make_client(fake_intercom).contact(old) is None
    asked = [r for r in fake_intercom.requests if r.path.startswith("/contacts/")]
    assert [(r.status, r.headers.get("intercom-version")) for r in asked] == [(404, "2.14")]


def test_merged_contact_is_followed_where_410_is_served(fake_intercom: FakeIntercom) -> None:
    """From 2.16 a 410 contact_merged with a canonical link leads to the contact it was
    merged into."""
    fake_intercom.merged_status = 410
    ws = fake_intercom.workspace
    old = ws.add_contact(role="lead")
    into = ws.add_contact(external_id="merged-user")
    ws.merge_contact(old, into)
    contact = make_client(fake_intercom).contact(old)
    assert contact is not None and contact["external_id"] == "merged-user"


def test_conversation_has_at_most_500_parts(fake_intercom: FakeIntercom, now: int) -> None:
    """The fake, like Intercom, returns only the 500 most recent parts."""
    ws = fake_intercom.workspace
    contact = next(iter(ws.contacts))
    conv = ws.start_conversation(contact, now - 5_000)
    for i in range(520):
        ws.add_part(conv, now - 4_000 + i, author_type="admin", author_id="7")
    found = make_client(fake_intercom).conversation(conv)
    assert found is not None
    assert len(found["conversation_parts"]["conversation_parts"]) == 500
    # The workspace's default reading: the parts, not the opening message.
    assert found["statistics"]["count_conversation_parts"] == 520


def test_each_thread_keeps_its_connection_and_a_pool_stays_small(workspace: Workspace) -> None:
    """48 threads, 240 requests of 20 ms, through one client of concurrency 48: connections
    are kept (at most one per thread is opened, never one per request), and no pool holds
    more than a few: httpcore's pool is walked whole on every request, so its size is CPU."""
    with FakeIntercom(workspace, token=INTERCOM_TOKEN, latency=0.02) as fake:
        settings = IntercomSettings("X", fake.url, concurrency=48, token=INTERCOM_TOKEN)
        with IntercomClient(settings) as client, ThreadPoolExecutor(48) as pool:
            got = list(pool.map(client.conversation, list(workspace.conversations)))
            pools = client.transport._inner._pools  # type: ignore[attr-defined]
            sizes = [len(p._pool.connections) for p in pools]
        opened = fake.connections
    assert len(got) == 240 and all(c is not None for c in got)
    assert opened <= 48
    assert len(pools) > 1 and max(sizes) <= 10, sizes
