"""`syncer check` names each failure kind; exit 0 only when everything works."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from syncer import config as config_mod
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import INTERCOM_TOKEN, config_text


def run_check(cli: Callable, write_config: Callable, text: str) -> tuple[int, dict[str, str]]:
    result = cli("--config", str(write_config(text)), "check")
    lines = {line.split()[0]: line for line in result.out.splitlines()}
    return result.code, lines


@pytest.fixture
def text(fake_intercom: FakeIntercom, fake_collector: FakeCollector, tmp_path: Path) -> str:
    return config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)


def test_all_well_exits_0(cli: Callable, write_config: Callable, text: str, secrets: None) -> None:
    """Config, database place, Intercom and Collector all ok."""
    code, lines = run_check(cli, write_config, text)
    assert code == 0
    assert set(lines) == {"config", "database", "intercom", "collector"}
    assert all(" ok " in line for line in lines.values())
    assert "workspace 'Fake workspace'" in lines["intercom"]


def test_invalid_token(
    cli: Callable, write_config: Callable, text: str, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """401 from Intercom: FAILED, the variable named, its value not shown."""
    monkeypatch.setenv("INTERCOM_ACCESS_TOKEN", "bad-token-value")
    code, lines = run_check(cli, write_config, text)
    assert code == 1
    assert "FAILED" in lines["intercom"] and "$INTERCOM_ACCESS_TOKEN" in lines["intercom"]
    assert "bad-token-value" not in "".join(lines.values())
    assert " ok " in lines["collector"]


def test_plan_without_api_access(
    cli: Callable, write_config: Callable, text: str, secrets: None, fake_intercom: FakeIntercom
) -> None:
    """403 from Intercom: the plan or scope refuses access."""
    fake_intercom.fail(403, times=5)
    code, lines = run_check(cli, write_config, text)
    assert code == 1
    assert "refused access (plan or scope)" in lines["intercom"]


def test_wrong_region_is_named(
    cli: Callable,
    write_config: Callable,
    tmp_path: Path,
    secrets: None,
    fake_collector: FakeCollector,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token is refused in the configured region and accepted in another: say which."""
    with (
        FakeIntercom(workspace, token="other") as us,
        FakeIntercom(workspace, token=INTERCOM_TOKEN) as eu,
    ):
        monkeypatch.setitem(config_mod.REGIONS, "us", us.url)
        monkeypatch.setitem(config_mod.REGIONS, "eu", eu.url)
        monkeypatch.setitem(config_mod.REGIONS, "au", "http://127.0.0.1:9")
        text = config_text("x", tmp_path / "s.db", collector_url=fake_collector.url).replace(
            'base_url = "x"', 'region = "us"'
        )
        code, lines = run_check(cli, write_config, text)
    assert code == 1
    assert 'the token works in region eu: set intercom.region = "eu"' in lines["intercom"]


def test_collector_key_rejected(
    cli: Callable, write_config: Callable, text: str, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """401 from the Collector: FAILED naming the key variable."""
    monkeypatch.setenv("ABSMARTLY_API_KEY", "bad-key-value")
    code, lines = run_check(cli, write_config, text)
    assert code == 1
    assert "refused the API key in $ABSMARTLY_API_KEY" in lines["collector"]
    assert "bad-key-value" not in lines["collector"]


def test_collector_unreachable(
    cli: Callable,
    write_config: Callable,
    tmp_path: Path,
    secrets: None,
    fake_intercom: FakeIntercom,
) -> None:
    """Nothing listening at the endpoint: FAILED, unreachable."""
    text = config_text(fake_intercom.url, tmp_path / "s.db", collector_url="http://127.0.0.1:9/v1")
    code, lines = run_check(cli, write_config, text)
    assert code == 1
    assert "Collector unreachable" in lines["collector"]
