"""Shared fixtures: fake servers on 127.0.0.1, configs, and an in-process CLI runner."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from syncer.cli import main
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate

# A PostgreSQL server the tests may create databases on; .ci/run starts one and sets it.
POSTGRES_ENV = "SYNCER_TEST_POSTGRES"
INTERCOM_TOKEN = "test-intercom-token-0123456789"
COLLECTOR_KEY = "test-collector-key-9876543210"


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll `check` until it holds; False if it still does not after `timeout` seconds (a
    bound for a hung test, not a time any test relies on)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def now() -> int:
    return int(time.time())


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERCOM_ACCESS_TOKEN", INTERCOM_TOKEN)
    monkeypatch.setenv("ABSMARTLY_API_KEY", COLLECTOR_KEY)


@pytest.fixture
def workspace(now: int) -> Workspace:
    return generate(seed=7, conversations=240, start=now - 8 * 86_400, end=now - 600)


@pytest.fixture
def fake_intercom(workspace: Workspace) -> Iterator[FakeIntercom]:
    with FakeIntercom(workspace, token=INTERCOM_TOKEN) as fake:
        yield fake


@pytest.fixture
def fake_collector() -> Iterator[FakeCollector]:
    with FakeCollector(api_key=COLLECTOR_KEY) as fake:
        yield fake


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards. Without a server the
    test is skipped, except in CI (CI=true), where that is a failure."""
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the PostgreSQL tests")
        pytest.skip(f"no PostgreSQL server to test on (set {POSTGRES_ENV})")
    name = f"syncer_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The state database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.db'}"
    return str(request.getfixturevalue("postgres_url"))


def config_text(
    intercom_url: str,
    database: Path | str,
    *,
    collector_url: str = "http://127.0.0.1:9/v1",
    extra: str = "",
    units: str = '[[units]]\ntype = "user_id"\nfrom = "external_id"\n',
    sync: str = "settle = 0\noverlap = 0\n",  # tests bound publish_timeout: see below
) -> str:
    return (
        f'[intercom]\nbase_url = "{intercom_url}"\n\n'
        f'[absmartly]\nendpoint = "{collector_url}"\napplication = "www"\n'
        f'environment = "production"\n\n{units}\n'
        # A Collector a test forgot would otherwise be retried for the default 300 s.
        f'[sync]\ndatabase = "{_url(database)}"\npublish_timeout = 5\n{sync}\n{extra}'
    )


def _url(database: Path | str) -> str:
    return database if isinstance(database, str) else f"sqlite:///{database}"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "syncer.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
