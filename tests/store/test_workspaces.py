"""Many workspaces on one PostgreSQL database, each in its own schema with its own lease; a
state database bound to its workspace; a pooler that does not keep sessions, refused."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from syncer.errors import StateError
from syncer.store.db import open_database
from syncer.store.lease import PgLease, holder
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import generate
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text
from tests.store.test_postgres import goal
from tests.truth import expected_deliveries

DAY = 86_400


def test_each_workspace_schema_has_its_own_active_instance_and_standby(
    postgres_url: str,
) -> None:
    """Two schemas on one database: an active instance in each at once, each refusing a
    second of its own; the same key stored in both is new in both; a standby of one takes
    over its own workspace when the active one goes, and not the other's."""
    us = open_database(postgres_url, schema="ws_us")
    eu = open_database(postgres_url, schema="ws_eu")
    us_standby = open_database(postgres_url, schema="ws_us", lock=False)
    try:
        assert [g.key for g in us.store_page([goal("conversation:1001:started")], {})]
        assert [g.key for g in eu.store_page([goal("conversation:1001:started")], {})]
        with pytest.raises(StateError, match="another syncer is active"):
            open_database(postgres_url, schema="ws_us")
        taker = PgLease(us_standby.engine)
        assert not taker.try_acquire()
        assert "pid" in (holder(us_standby.engine) or "")
        us.close()
        assert taker.try_acquire()  # the US standby takes over the US workspace
        us_standby.fence = taker
        assert us_standby.counts()["pending"] == 1
        assert eu.counts()["pending"] == 1  # the EU one never noticed
        eu.store_page([goal("conversation:1002:started")], {})
    finally:
        for store in (us, eu, us_standby):
            store.close()
    public = open_database(postgres_url)  # the default schema is a workspace of its own
    try:
        assert public.counts()["pending"] == 0
    finally:
        public.close()


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = _popen(config, *args)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_two_workspaces_deliver_each_only_their_own_at_once(
    postgres_url: str, tmp_path: Path, now: int
) -> None:
    """Two Intercom workspaces whose ids overlap (both start at 1000), each syncing into its
    own schema of one database at the same time: each Collector gets exactly its own."""
    fakes = []
    procs = []
    try:
        for name, seed in (("us", 1), ("eu", 2)):
            ws = generate(seed=seed, conversations=60, start=now - 3 * DAY, end=now - 600)
            intercom = FakeIntercom(ws, token=INTERCOM_TOKEN, app_id=name).__enter__()
            collector = FakeCollector(api_key=COLLECTOR_KEY).__enter__()
            fakes.append((ws, intercom, collector))
            text = config_text(
                intercom.url,
                postgres_url,
                collector_url=collector.url,
                sync=f'settle = 0\noverlap = 0\nschema = "ws_{name}"\n',
            )
            path = tmp_path / f"{name}.toml"
            path.write_text(text, encoding="utf-8")
            procs.append((path, _popen(path, "sync", "--since", _iso(now - 4 * DAY))))
        for _path, proc in procs:
            _out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        for ws, _intercom, collector in fakes:
            assert Counter(collector.goal_keys()) == expected_deliveries(ws, now - 4 * DAY, now)
    finally:
        for _ws, intercom, collector in fakes:
            intercom.__exit__(None, None, None)
            collector.__exit__(None, None, None)


def _popen(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN,
        "ABSMARTLY_API_KEY": COLLECTOR_KEY,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "syncer", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_a_token_of_another_workspace_is_refused_before_anything_is_read(
    tmp_path: Path, write_config: Callable[..., Path], now: int
) -> None:
    """The first run binds the database to its workspace; a run with a token that reads
    another workspace stops with one line and exit 2, and reads nothing."""
    ws = generate(seed=4, conversations=10, start=now - DAY, end=now - 600)
    with (
        FakeIntercom(ws, token=INTERCOM_TOKEN, app_id="us") as us,
        FakeIntercom(ws, token=INTERCOM_TOKEN, app_id="eu") as eu,
        FakeCollector(api_key=COLLECTOR_KEY) as collector,
    ):
        first = write_config(config_text(us.url, tmp_path / "s.db", collector_url=collector.url))
        assert _run(first, "run", "--once").returncode == 0
        other = write_config(
            config_text(eu.url, tmp_path / "s.db", collector_url=collector.url), "eu.toml"
        )
        result = _run(other, "run", "--once")
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "reads workspace 'Fake workspace eu' (eu" in lines[0]
        assert "of workspace 'Fake workspace us' (us" in lines[0]
        assert not [r for r in eu.requests if r.path.endswith("/search")]
        status = _run(first, "status")
        assert "Fake workspace us" in status.stdout
        check = _run(other, "check")
        assert check.returncode == 2, check.stderr
        assert "the token reads workspace 'Fake workspace eu'" in check.stderr


# -- poolers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pgbouncer(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """PgBouncer in transaction pooling mode in front of the test server (.ci/run installs
    it; elsewhere the test is skipped without it)."""
    binary = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed: CI must run the pooler test")
        pytest.skip("pgbouncer is not installed")
    url = make_url(postgres_url)
    port = _free_port()
    # Its own folder under /tmp: PgBouncer runs as postgres, who cannot enter pytest's.
    folder = Path(tempfile.mkdtemp(prefix="syncer-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text(f'"{url.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={url.host} port={url.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\nignore_startup_parameters = options\n"
        f"logfile = {folder / 'log'}\npidfile = {folder / 'pid'}\n"
    )
    if os.geteuid() == 0:
        for item in (folder, *folder.iterdir()):
            shutil.chown(item, "postgres")
    command = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer did not start: {_tail(folder / 'log')}")
            time.sleep(0.05)
        yield url.set(port=port).render_as_string(hide_password=False)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-500:] if path.exists() else "(no log)"


def test_a_pooler_in_transaction_mode_is_refused_with_one_line(pgbouncer: str) -> None:
    """Behind PgBouncer in transaction mode the lease's session lock would not hold: the
    database is refused, by the writer and by a reader (`check`, `status`) alike."""
    for writer in (True, False):
        with pytest.raises(StateError, match="does not keep its session"):
            open_database(pgbouncer, writer=writer, lock=False)
