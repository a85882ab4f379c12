"""`syncer sync` exits 1 when it dead-lettered goals, saying how many and where to see them;
a gateway refusing one contact's request without detail costs only that contact's goals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text
from tests.truth import expected_deliveries

DEAD_LINE = (
    "dead-lettered in this run (the Collector refused them); `syncer outbox list --status dead` "
    "shows them and why, `syncer outbox retry` queues them again"
)


def test_a_run_that_dead_letters_exits_1_and_says_where_to_look(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """The Collector refuses one contact's request whole (a gateway's 422 page naming no
    request): the sync delivers every other goal, exits 1 with one line naming how many are
    dead and the command that lists them; a later run that dead-letters nothing exits 0."""
    expected = expected_deliveries(fake_intercom.workspace, 0, now)
    [(_, _, units)] = list(expected)[:1]
    uid = units[0][1]
    fake_collector.refuse = lambda request: request["units"][0]["uid"] == uid
    fake_collector.error_page = "<html><body><h1>{status}</h1></body></html>"
    config = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    first = cli("--config", str(config), "sync", "--since", "2000-01-01")
    refused = sum(n for (_, _, u), n in expected.items() if u[0][1] == uid)
    assert first.code == 1, first.err
    dead_lines = [line for line in first.err.splitlines() if DEAD_LINE in line]
    assert dead_lines == [f"syncer: {refused} goal{'s' * (refused != 1)} {DEAD_LINE}"]
    delivered = fake_collector.goal_keys()
    assert len(delivered) == len(set(delivered))
    assert {k for k in expected if k[2][0][1] != uid} == set(delivered)
    listing = cli("--config", str(config), "outbox", "list", "--status", "dead", "--json")
    assert listing.out.count("rejected (422): 422 Unprocessable Entity") == refused
    again = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert again.code == 0, again.err
    assert DEAD_LINE not in again.err
