"""Every retry ends: Intercom's 429s have a bound of their own, so `syncer check` against a
workspace answering 429 forever ends; and every wait (a retry's backoff, the pacer's wait for
a window) ends at once when the process stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer import retries
from syncer.config import IntercomSettings
from syncer.errors import IntercomUnavailable
from syncer.intercom.client import IntercomClient
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import INTERCOM_TOKEN, config_text, wait_until

SOON = 3.0  # seconds a stopped wait may take to notice, on a busy machine


@pytest.fixture
def client_for() -> Iterator[Callable[..., IntercomClient]]:
    opened: list[IntercomClient] = []

    def make(fake: FakeIntercom, **kwargs: object) -> IntercomClient:
        settings = IntercomSettings("INTERCOM_ACCESS_TOKEN", fake.url, token=INTERCOM_TOKEN)
        opened.append(IntercomClient(settings, **kwargs))  # type: ignore[arg-type]
        return opened[-1]

    yield make
    for client in opened:
        client.close()


def test_429_forever_ends_after_its_patience(
    fake_intercom: FakeIntercom, client_for: Callable[..., IntercomClient]
) -> None:
    """A 429 is not a failure (it does not use up the attempts) but has a bound of its own:
    RATE_LIMIT_PATIENCE seconds from the first, or, where waits take no time (here),
    RATE_LIMIT_TRIES of them; then the 429 is the answer."""
    fake_intercom.fail(429, times=10**6)
    waits: list[float] = []
    client = client_for(fake_intercom, attempts=2, sleep=waits.append)
    with pytest.raises(IntercomUnavailable, match="Intercom answered 429"):
        client.me()
    assert len(waits) == retries.INTERCOM_RATE_LIMIT.attempts
    assert len(fake_intercom.requests) == retries.INTERCOM_RATE_LIMIT.attempts + 1
    assert max(waits) <= retries.INTERCOM_RATE_LIMIT.hint_cap


def test_check_against_429_forever_ends_saying_so(
    fake_intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`syncer check` against an Intercom answering 429 forever ends (here after a patience
    of 3 s, not the real 120 s), exit 1, naming the 429."""
    monkeypatch.setattr(retries, "RATE_LIMIT_PATIENCE", 3.0)
    fake_intercom.fail(429, times=10**6)
    config = write_config(config_text(fake_intercom.url, tmp_path / "s.db"))
    started = time.monotonic()
    result = cli("--config", str(config), "check")
    assert time.monotonic() - started < 30
    assert result.code == 1
    [line] = [line for line in result.out.splitlines() if line.startswith("intercom")]
    assert "FAILED" in line and "Intercom answered 429" in line


def test_stop_ends_a_retry_backoff_at_once(
    fake_intercom: FakeIntercom, client_for: Callable[..., IntercomClient]
) -> None:
    """A 429 with Retry-After: 60 is being waited out when the process stops: the wait ends
    at once and the 429 is the answer; nothing more is sent."""
    fake_intercom.fail(429, times=10**6, headers={"Retry-After": "60"})
    client = client_for(fake_intercom)
    failed: list[BaseException] = []
    caller = threading.Thread(target=lambda: _call(client.me, failed))
    caller.start()
    assert wait_until(lambda: len(fake_intercom.requests) == 1, 30)
    stopped = time.monotonic()
    client.pacer.stop.set()
    caller.join(timeout=SOON + 30)
    assert time.monotonic() - stopped < SOON
    assert isinstance(failed[0], IntercomUnavailable) and "429" in str(failed[0])
    assert len(fake_intercom.requests) == 1


def test_stop_ends_a_wait_for_the_rate_window_without_sending(
    workspace: Workspace, client_for: Callable[..., IntercomClient]
) -> None:
    """The budget is spent and the window lasts: a request waits in the pacer, and a stop
    ends the wait without sending it."""
    with FakeIntercom(workspace, token=INTERCOM_TOKEN, budget=1, window=10**9) as fake:
        client = client_for(fake)
        client.me()
        failed: list[BaseException] = []
        caller = threading.Thread(target=lambda: _call(client.me, failed))
        caller.start()
        assert wait_until(lambda: client.pacer.waits == 1, 30)
        stopped = time.monotonic()
        client.pacer.stop.set()
        caller.join(timeout=SOON + 30)
        assert time.monotonic() - stopped < SOON
        assert isinstance(failed[0], IntercomUnavailable) and "Stopped" in str(failed[0])
        assert fake.statuses() == {200: 1}


def _call(request: Callable[[], object], failed: list[BaseException]) -> None:
    try:
        request()
    except IntercomUnavailable as exc:
        failed.append(exc)
