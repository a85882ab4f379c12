"""Secrets never leak: not in logs at any level, errors, status, check output or the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text


def test_no_secret_in_any_output_or_the_database(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Debug logs of a sync with retries, a refused key, check, status and outbox listings,
    in text and JSON log formats: neither the token nor the key appears anywhere."""
    config = str(
        write_config(
            config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        )
    )
    fake_intercom.fail(503, times=2)
    seen = []
    for log_format in ("text", "json"):
        seen.append(
            cli(
                "--log-level",
                "debug",
                "--log-format",
                log_format,
                "--config",
                config,
                "sync",
                "--since",
                "2000-01-01",
            )
        )
    fake_collector.api_key = "rotated"  # now the Collector refuses our key
    fake_intercom.workspace.add_ticket(next(iter(fake_intercom.workspace.contacts)), 10**9 + 5)
    seen.append(cli("--log-level", "debug", "--config", config, "sync", "--since", "2000-01-01"))
    seen.append(cli("--log-level", "debug", "--config", config, "check"))
    seen.append(cli("--config", config, "status", "--json"))
    seen.append(cli("--config", config, "outbox", "list", "--status", "pending", "--json"))
    monkeypatch.setenv("INTERCOM_ACCESS_TOKEN", INTERCOM_TOKEN + "-wrong")
    seen.append(cli("--log-level", "debug", "--config", config, "check"))
    text = "\n".join(r.out + r.err for r in seen)
    assert "refused the API key" in text and "DEBUG" in text  # the paths did run
    for secret in (INTERCOM_TOKEN, COLLECTOR_KEY):
        assert secret not in text
        assert secret[:12] not in text
    for path in tmp_path.iterdir():
        if path.is_file():
            data = path.read_bytes()
            assert INTERCOM_TOKEN.encode() not in data and COLLECTOR_KEY.encode() not in data, path


def test_readable_config_holding_a_secret_draws_a_warning(
    fake_intercom: FakeIntercom,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """A token pasted into a world-readable config is warned about (by name, not value)."""
    text = config_text(fake_intercom.url, tmp_path / "s.db") + f"# token: {INTERCOM_TOKEN}\n"
    path = write_config(text)
    path.chmod(0o644)
    loud = cli("--config", str(path), "sync", "--since", "2000-01-01", "--dry-run")
    assert "readable by other users and contains the value of $INTERCOM_ACCESS_TOKEN" in loud.err
    assert INTERCOM_TOKEN not in loud.err
    path.chmod(0o600)
    quiet = cli("--config", str(path), "sync", "--since", "2000-01-01", "--dry-run")
    assert "readable by other users" not in quiet.err
