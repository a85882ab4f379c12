"""Collector faults: nothing lost, retries spaced out, delivery resumes by itself."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text
from tests.truth import against_truth


def run_sync(
    cli: Callable,
    write_config: Callable,
    tmp_path: Path,
    intercom: FakeIntercom,
    collector: FakeCollector,
    *extra: str,
    timeout: float = 5.0,
) -> object:
    text = config_text(intercom.url, tmp_path / "s.db", collector_url=collector.url).replace(
        'environment = "production"',
        f'environment = "production"\ntimeout = {timeout}\nbatch_size = 50',
    )
    return cli("--config", str(write_config(text)), "sync", "--since", "2000-01-01", *extra)


@pytest.mark.slow  # a real minute-long outage: the backoff's spacing is what it checks
def test_outage_of_more_than_a_minute(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
    report: Callable[..., None],
) -> None:
    """A 65-second outage: a handful of spaced retries, then everything, once."""
    fake_collector.outage = 503
    recovery = threading.Timer(65, lambda: setattr(fake_collector, "outage", None))
    recovery.start()
    result = run_sync(
        cli, write_config, tmp_path, fake_intercom, fake_collector, "--publish-timeout", "200"
    )
    recovery.join()
    assert result.code == 0, result.err
    during = sum(1 for _, _, status in fake_collector.requests if status == 503)
    expected, got = against_truth(fake_intercom.workspace, fake_collector, now)
    report("Collector outage of 65 s", 1, expected, got)
    assert 3 <= during <= 10, f"{during} requests during the outage"
    assert got == expected


@pytest.mark.parametrize(
    ("fault", "arrange"),
    [
        ("5xx burst", lambda c: setattr(c, "fail_next", [(500, {}), (502, {}), (503, {})])),
        ("429 with Retry-After", lambda c: setattr(c, "fail_next", [(429, {"Retry-After": "2"})])),
        ("answers that are not JSON", lambda c: setattr(c, "not_json", 2)),
        (
            "a connection that hangs after the request",
            lambda c: (
                setattr(c, "hang", 3.0),
                threading.Timer(4, setattr, (c, "hang", 0)).start(),
            ),
        ),
        (
            "connections dropped without an answer",
            lambda c: (
                setattr(c, "drop", True),
                threading.Timer(2, setattr, (c, "drop", False)).start(),
            ),
        ),
    ],
)
def test_faults_then_recovery_deliver_everything(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
    fault: str,
    arrange: Callable[[FakeCollector], object],
    report: Callable[..., None],
) -> None:
    """Each fault is retried until it passes; what the Collector took is never sent again,
    except a batch whose answer never came (the documented at-least-once window)."""
    arrange(fake_collector)
    result = run_sync(
        cli,
        write_config,
        tmp_path,
        fake_intercom,
        fake_collector,
        "--publish-timeout",
        "60",
        timeout=1.0,
    )
    assert result.code == 0, result.err
    expected, got = against_truth(fake_intercom.workspace, fake_collector, now)
    report(f"Collector: {fault}", 1, expected, got)
    assert not expected - got
    # Duplicates only from batches the Collector took without an answer we could read.
    window = Counter(
        (g["name"], g["achievedAt"], tuple((u["type"], u["uid"]) for u in r["units"]))
        for body in fake_collector.unanswered
        for r in body.get("requests", [body])
        for g in r["goals"]
    )
    assert not (got - expected) - window
