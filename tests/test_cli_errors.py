"""Every touch point of the CLI gives one line, the right exit status (0 ok, 1 a runtime
failure, 2 a usage or configuration error), never a traceback and never a secret."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer import demo
from syncer.metrics import Metrics
from syncer.store.outbox import Goal
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.server import Answer, FakeServer
from syncer.testing.workspace import Workspace, generate
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, Result, config_text, wait_until

SECRETS = (INTERCOM_TOKEN, COLLECTOR_KEY, "pw-s3cret-9f8e", "tok-s3cret-4711")
# The fixtures' workspace holds the last 8 days: a window of 9 reads all of it, quickly.
SINCE = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 9 * 86_400))
ENV = {**os.environ, "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN, "ABSMARTLY_API_KEY": COLLECTOR_KEY}


def one_line(result: Result, code: int, *words: str) -> str:
    """The exit status, exactly one line on stderr (naming `words`), no traceback and no
    secret anywhere."""
    lines = result.err.strip().splitlines()
    assert result.code == code, result
    assert len(lines) == 1 and lines[0].startswith("syncer: "), result.err
    assert all(word in lines[0] for word in words), lines[0]
    clean(result.out + result.err)
    return lines[0]


def clean(text: str) -> None:
    assert "Traceback" not in text, text
    assert not [secret for secret in SECRETS if secret in text], text


@pytest.fixture
def workspace(now: int) -> Workspace:
    """Smaller than the shared one: these tests are about what the CLI says, not volume."""
    return generate(seed=7, conversations=40, start=now - 8 * 86_400, end=now - 600)


@pytest.fixture
def good(fake_intercom: FakeIntercom, fake_collector: FakeCollector, tmp_path: Path) -> str:
    """A config that works against the fakes."""
    return config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)


@pytest.fixture
def run_cli(
    cli: Callable[..., Result], write_config: Callable[..., Path], secrets: None
) -> Callable[..., Result]:
    """The CLI, in-process, on a config of this text."""

    def run(text: str, *args: str) -> Result:
        return cli("--config", str(write_config(text)), *args)

    return run


def syncer(config: Path, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "syncer", "--config", str(config), *args],
        env=ENV,
        text=True,
        **kwargs,
    )


# -- the config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        # A password in a URL: refused, never echoed.
        (('endpoint = "http://', 'endpoint = "http://u:pw-s3cret-9f8e@'), "absmartly.endpoint"),
        (('base_url = "http://', 'base_url = "http://u:pw-s3cret-9f8e@'), "intercom.base_url"),
        # A URL that does not parse, a port that is not a number.
        (('base_url = "http://127.0.0.1:', 'base_url = "http://[::1/v1"\n#'), "intercom.base_url"),
        (('endpoint = "http://127.0.0.1:', 'endpoint = "http://127.0.0.1:x/v1"\n#'), "endpoint"),
        # Header values: printable ASCII.
        (('application = "www"', 'application = "wwé"'), "absmartly.application"),
        (('environment = "production"', 'environment = "prod\\u0007"'), "absmartly.environment"),
        (('environment = "production"', 'environment = "production"\nagent = "a\\tb"'), "agent"),
        (('type = "user_id"', 'type = "user_ïd"'), "units[0].type"),
        # The secret itself where its variable's name belongs: refused, not echoed.
        (("[intercom]", '[intercom]\ntoken_env = "tok-s3cret-4711"'), "intercom.token_env"),
        # An empty SQLite path, a metrics address that is no host:port.
        (('database = "sqlite:///', 'database = "sqlite:///"\n#'), "sync.database"),
        (("[sync]", '[metrics]\nlisten = "::1:9464"\n\n[sync]'), "metrics.listen"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_bad_config_value_is_one_line_exit_2(
    run_cli: Callable[..., Result], good: str, edit: tuple[str, str], words: str
) -> None:
    old, new = edit
    assert old in good
    for command in (("check",), ("sync", "--since", SINCE)):
        one_line(run_cli(good.replace(old, new, 1), *command), 2, words)


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("INTERCOM_ACCESS_TOKEN", "tök-s3cret-4711", "intercom.token_env"),
        ("INTERCOM_ACCESS_TOKEN", "tok-s3cret-4711\x01", "intercom.token_env"),
        ("ABSMARTLY_API_KEY", "tok-s3cret-4711\nmore", "absmartly.api_key_env"),
        ("ABSMARTLY_API_KEY", "“tok-s3cret-4711”", "absmartly.api_key_env"),
    ],
)
def test_a_secret_an_http_header_cannot_carry_is_named_not_shown(
    run_cli: Callable[..., Result],
    good: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    key: str,
) -> None:
    monkeypatch.setenv(variable, value)
    line = one_line(run_cli(good, "check"), 2, key, f"${variable}", "printable ASCII")
    assert "s3cret" not in line


def test_a_byte_order_mark_and_config_after_the_command_are_accepted(
    cli: Callable[..., Result], write_config: Callable[..., Path], good: str, secrets: None
) -> None:
    """An editor's BOM at the top is no TOML error; `--config` goes before or after."""
    path = write_config("\ufeff" + good)
    for args in (("--config", str(path), "check"), ("check", "--config", str(path))):
        result = cli(*args)
        assert result.code == 0, result
        clean(result.out + result.err)
    result = cli("outbox", "list", "--config", str(path), "--log-level", "warning")
    one_line(result, 1, "no database yet")


# -- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("sync", "--since", "9999-12-31T23:59:59-14:00"), ("--since", "after 9999-12-31")),
        (("sync", "--since", SINCE, "--until", "9999-12-31T23:59:59-14:00"), ("--until",)),
        (("sync", "--since", "7" * 100_000), ("--since", "7" * 40 + "\u2026'")),
        (("sync", "--since", "\udcff"), ("--since",)),  # `--since $'\xff'`, as Python sees it
        (("forget", "--contact", "\udcff"), ("--contact", "not valid UTF-8")),
        (("outbox", "retry", "k\udcff"), ("KEY", "not valid UTF-8")),
    ],
)
def test_a_bad_option_is_one_line_exit_2_not_blamed_on_the_database(
    run_cli: Callable[..., Result], good: str, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    line = one_line(run_cli(good, *args), 2, *words)
    assert len(line) < 200 and "s.db" not in line


def test_forget_says_when_it_found_nothing(run_cli: Callable[..., Result], good: str) -> None:
    result = run_cli(good, "forget", "--contact", "no-such-contact")
    assert result.code == 0 and result.err == ""
    assert result.out.startswith("found nothing for contact no-such-contact")
    assert not result.out.startswith("forgot")


# -- the database -------------------------------------------------------------------------


def _folder(path: Path) -> None:
    path.mkdir()


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def _empty(path: Path) -> None:
    path.touch()


@pytest.mark.parametrize(
    ("make", "run_code", "words"),
    [
        (_folder, 2, "is a folder"),
        (_random, 1, "not a SQLite database"),
        (_empty, 1, "empty (0 bytes)"),
    ],
    ids=["folder", "random-bytes", "zero-bytes"],
)
def test_a_database_run_cannot_use_fails_check_too(
    run_cli: Callable[..., Result],
    good: str,
    tmp_path: Path,
    fake_intercom: FakeIntercom,
    make: Callable[[Path], None],
    run_code: int,
    words: str,
) -> None:
    """`check` fails where `run` would; none of them takes the file for a new database."""
    make(tmp_path / "s.db")
    one_line(run_cli(good, "run", "--once"), run_code, words)
    one_line(run_cli(good, "sync", "--since", SINCE), run_code, words)
    one_line(run_cli(good, "status"), run_code, words)
    assert not fake_intercom.requests  # refused before anything reached Intercom
    result = run_cli(good, "check")
    assert result.code == 1
    [database] = [line for line in result.out.splitlines() if line.startswith("database")]
    assert "FAILED" in database and words in database
    clean(result.out + result.err)


def test_check_fails_for_a_database_folder_that_does_not_exist(
    run_cli: Callable[..., Result], good: str, tmp_path: Path
) -> None:
    text = good.replace(str(tmp_path / "s.db"), str(tmp_path / "no" / "s.db"))
    result = run_cli(text, "check")
    assert result.code == 1
    assert any(line.startswith("database   FAILED") for line in result.out.splitlines())
    one_line(run_cli(text, "run", "--once"), 2, "does not exist")


def test_check_reads_an_existing_database(run_cli: Callable[..., Result], good: str) -> None:
    assert run_cli(good, "outbox", "retry").code == 0  # makes the database, reads nothing
    result = run_cli(good, "check")
    assert result.code == 0, result
    assert "schema current" in result.out


# -- the Collector ------------------------------------------------------------------------


class Page(FakeServer):
    """A web server that is not the Collector: every path answers `status` with HTML."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        return self.status, {}, b"<!doctype html><html><body>Sign in</body></html>"


@pytest.mark.parametrize(("status", "words"), [(200, "200"), (404, "404"), (401, "(401")])
def test_check_fails_against_an_endpoint_that_is_not_the_collector(
    run_cli: Callable[..., Result],
    fake_intercom: FakeIntercom,
    tmp_path: Path,
    status: int,
    words: str,
) -> None:
    with Page(status) as page:
        text = config_text(fake_intercom.url, tmp_path / "s.db", collector_url=page.url + "/v1")
        result = run_cli(text, "check")
    assert result.code == 1
    [collector] = [line for line in result.out.splitlines() if line.startswith("collector")]
    assert "FAILED" in collector and words in collector, collector
    clean(result.out + result.err)


# -- [metrics] listen ---------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, not listening: connecting to it is refused
        yield held.getsockname()[1]


def test_a_metrics_port_in_use_stops_run_before_anything_else_and_fails_check(
    run_cli: Callable[..., Result],
    good: str,
    tmp_path: Path,
    fake_intercom: FakeIntercom,
    taken_port: int,
) -> None:
    text = good + f'[metrics]\nlisten = "127.0.0.1:{taken_port}"\n'
    one_line(run_cli(text, "run"), 1, "metrics.listen", "in use")
    assert not fake_intercom.requests and not (tmp_path / "s.db").exists()
    result = run_cli(text, "check")
    assert result.code == 1 and "metrics    FAILED" in result.out
    clean(result.out + result.err)


def test_a_metrics_address_of_another_machine_is_exit_2(
    run_cli: Callable[..., Result], good: str, fake_intercom: FakeIntercom
) -> None:
    text = good + '[metrics]\nlisten = "192.0.2.1:9464"\n'  # TEST-NET: never this machine's
    one_line(run_cli(text, "run"), 2, "metrics.listen", "not an address of this machine")
    assert not fake_intercom.requests


def _free_ipv6_port() -> int:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            return int(probe.getsockname()[1])
    except OSError:  # no IPv6 loopback here: the syncer must say so
        return 9464


def test_an_ipv6_metrics_address_binds_or_is_refused_clearly(
    run_cli: Callable[..., Result], good: str
) -> None:
    result = run_cli(good + f'[metrics]\nlisten = "[::1]:{_free_ipv6_port()}"\n', "check")
    [line] = [line for line in result.out.splitlines() if line.startswith("metrics")]
    assert " ok " in line or "not an address of this machine" in line, line
    clean(result.out + result.err)


# -- output and signals (the real process) ------------------------------------------------


def test_dry_run_into_a_reader_that_stops_early_ends_quietly(
    write_config: Callable[..., Path], good: str
) -> None:
    """`syncer sync --dry-run | head -1`: exit 0, no BrokenPipe from the scan threads."""
    with syncer(
        write_config(good),
        "--log-level",
        "warning",
        "sync",
        "--since",
        SINCE,
        "--dry-run",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith('{"key":')
        process.stdout.close()  # as `head -1` does
        err = process.stderr.read()
        assert process.wait(timeout=30) == 0
    assert err == "", err


@pytest.mark.parametrize("where", ["closed", "/dev/full"])
def test_status_that_cannot_write_its_output_is_one_line_exit_1(
    run_cli: Callable[..., Result], write_config: Callable[..., Path], good: str, where: str
) -> None:
    path = write_config(good)
    assert run_cli(good, "outbox", "retry").code == 0  # makes the database
    command = [sys.executable, "-m", "syncer", "--config", str(path), "status"]
    if where == "closed":
        done = subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", *command],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=30,
        )
    else:
        with Path(where).open("w") as full:
            done = subprocess.run(
                command, env=ENV, stdout=full, stderr=subprocess.PIPE, text=True, timeout=30
            )
    one_line(Result(done.returncode, done.stdout or "", done.stderr), 1, "output")


def test_ctrl_c_during_sync_is_one_line(
    write_config: Callable[..., Path], good: str, fake_intercom: FakeIntercom
) -> None:
    """No thread says anything after the one line; exit 130."""
    fake_intercom.latency = 0.05
    with syncer(
        write_config(good),
        "--log-level",
        "warning",
        "sync",
        "--since",
        time.strftime("%Y-%m-%d", time.gmtime(time.time() - 300 * 86_400)),  # a long one
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        try:
            started = wait_until(lambda: len(fake_intercom.requests) >= 5, 20)
            process.send_signal(signal.SIGINT if started else signal.SIGKILL)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert started, (process.returncode, out, err, fake_intercom.requests)
    one_line(Result(process.returncode, out, err), 130, "interrupted")


# -- demo, progress, metrics --------------------------------------------------------------


def test_demo_keep_keeps_its_config(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept config reads the kept database: `syncer --config it status` works."""
    result = demo.run(conversations=10, folder=tmp_path, keep=True)
    assert result.config == tmp_path / "syncer.toml" and result.config.exists()
    assert str(result.config) in demo.render(result)
    monkeypatch.delenv("INTERCOM_ACCESS_TOKEN", raising=False)
    status = cli("status", "--config", str(result.config))
    assert status.code == 0 and str(result.database) in status.out, status


def test_sync_prints_no_progress_line_to_a_stderr_that_is_no_terminal(
    run_cli: Callable[..., Result], good: str
) -> None:
    result = run_cli(good, "--log-level", "warning", "sync", "--since", SINCE)
    assert result.code == 0
    assert result.err.strip().splitlines() == [result.err.strip()]
    assert result.err.startswith("sync ") and "[" not in result.err


def _goal(key: str, achieved_ms: int) -> Goal:
    return Goal(key, "user_messaged", "g", achieved_ms, (("user_id", "u"),), {}, {})


def test_freshness_counts_only_goals_this_process_found() -> None:
    """A back-filled goal (stored by a catch-up, delivered by the daemon) is delivered but
    is no delay: only the goals the daemon's scans found count in the freshness histogram."""
    metrics = Metrics()
    now_ms = int(time.time() * 1000)
    live, backfilled = _goal("live", now_ms - 3_000), _goal("old", now_ms - 86_400_000)
    metrics.found([live])
    metrics.verdict("ok", [live, backfilled], 0)
    count = metrics.registry.get_sample_value("syncer_goal_freshness_seconds_count")
    assert count == 1
    assert metrics.registry.get_sample_value("syncer_goals_delivered_total") == 2
    assert metrics.registry.get_sample_value("syncer_goal_freshness_seconds_sum") < 60
