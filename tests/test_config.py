"""Config validation: every mistake is one line naming the key, exit status 2, nothing written."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer import config, kinds
from syncer.cli import main
from syncer.errors import ConfigError

ENV = {"INTERCOM_ACCESS_TOKEN": "tok-123456", "ABSMARTLY_API_KEY": "key-123456"}
BASE = """
[intercom]
region = "eu"
[absmartly]
endpoint = "https://acme.absmartly.io/v1"
application = "www"
environment = "production"
[[units]]
type = "user_id"
from = "external_id"
[sync]
database = "sqlite:////tmp/x.db"
"""


def load(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> config.Config:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path, env=ENV if env is None else env)


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    """Region picks the base URL; goals default to the guide's four names; rating carries score."""
    cfg = load(BASE, tmp_path)
    assert cfg.intercom.base_url == "https://api.eu.intercom.io"
    assert cfg.intercom.token == "tok-123456"
    assert [g.name for g in cfg.enabled_goals()] == [
        "intercom_conversation_started",
        "intercom_conversation_rated",
        "intercom_user_messaged",
        "intercom_ticket_created",
    ]
    assert cfg.goals_of("conversation_rated")[0].properties == (("rating", "rating.score"),)
    assert cfg.goals_of("conversation_started")[0].properties == ()
    assert not cfg.goals_of("conversation_closed") and not cfg.goals_of("ai_agent_resolved")
    assert cfg.sync.start is None


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    """A config printed by mistake does not show the token or the key."""
    cfg = load(BASE, tmp_path)
    assert "tok-123456" not in repr(cfg)
    assert "key-123456" not in repr(cfg)


def test_example_config_is_valid() -> None:
    """config.example.toml, as shipped, loads."""
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    cfg = config.load(example, env=ENV)
    assert cfg.goals_of("conversation_started")[0].properties == (
        ("user_email", "contact.email"),
        ("user_name", "contact.name"),
        ("company", "company.name"),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace('region = "eu"', 'region = "mars"'),
            "intercom.region: must be one of us, eu, au, got 'mars'",
        ),
        (lambda t: t.replace('region = "eu"', 'regoin = "eu"'), "intercom.regoin: unknown key"),
        (
            lambda t: t + 'poll_interval = "60s"\n',
            "sync.poll_interval: expected an integer, got a string",
        ),
        (lambda t: t + "poll_interval = 1\n", "sync.poll_interval: must be at least 2, got 1"),
        (
            lambda t: t.replace("https://acme", "http://acme"),
            "absmartly.endpoint: must use https (plain http only for loopback)",
        ),
        (
            lambda t: t.replace("https://acme.absmartly.io/v1", "ftp://x"),
            "absmartly.endpoint: 'ftp://x' is not an http(s) URL",
        ),
        (
            lambda t: t.replace('application = "www"\n', ""),
            "absmartly.application: missing (required)",
        ),
        (
            lambda t: t.replace('application = "www"', 'application = ""'),
            "absmartly.application: must not be empty",
        ),
        (
            lambda t: t.replace('from = "external_id"', 'from = "phone"'),
            "units[0].from: must be external_id, email, id or custom_attributes.NAME",
        ),
        (
            lambda t: t.replace("[sync]", '[[units]]\ntype = "user_id"\nfrom = "email"\n[sync]'),
            "units[1].type: unit type 'user_id' is listed twice",
        ),
        (
            lambda t: t.replace('[[units]]\ntype = "user_id"\nfrom = "external_id"\n', ""),
            "units: missing (required)",
        ),
        (
            lambda t: t + 'start = "last tuesday"\n',
            "sync.start: 'last tuesday' is not an ISO 8601 date or time",
        ),
        (
            lambda t: t.replace("sqlite:////tmp/x.db", "mysql://db"),
            "sync.database: must be a sqlite:/// or postgresql+psycopg:// URL, got 'mysql://db'",
        ),
        (
            lambda t: t.replace("sqlite:////tmp/x.db", "postgresql://u:hunter2@db/s"),
            "sync.database: holds a password; put it in the environment",
        ),
        (
            lambda t: t + 'password_env = "PGPASS"\n',
            "sync.password_env: only for a postgresql database",
        ),
        (
            lambda t: t + '[goals.conversation_started]\nname = ""\n',
            "goals.conversation_started.name: must not be empty",
        ),
        (
            lambda t: t + '[goals.conversation_started.properties]\nx = "contact.phone"\n',
            "goals.conversation_started.properties.x: unknown source 'contact.phone'",
        ),
        (
            lambda t: t + '[goals.conversation_shut]\nname = "x"\n',
            "goals.conversation_shut: unknown key",
        ),
        (
            lambda t: t + "[goals.user_messaged]\nbot_started = true\n",
            "goals.user_messaged.bot_started: unknown key",
        ),
        (
            lambda t: t + '[goals.ticket_created]\ncategories = ["Customer", "Spam"]\n',
            "goals.ticket_created.categories: a non-empty list of Customer, Back-office, Tracker",
        ),
        (
            lambda t: t + "[goals.ticket_created]\ncategories = []\n",
            "goals.ticket_created.categories: a non-empty list",
        ),
        (
            lambda t: t + "reconcile_interval = 30\n",
            "sync.reconcile_interval: 0 (off) or at least 60 seconds, got 30",
        ),
        (
            lambda t: t + "reresolve_days = 0\n",
            "sync.reresolve_days: must be at least 1, got 0",
        ),
        (
            lambda t: t + "".join(f"[goals.{k}]\nenabled = false\n" for k in kinds.BY_NAME),
            "goals: every goal is disabled",
        ),
        (
            lambda t: t.replace("[absmartly]", '[absmartly]\nhash_units = "yes"'),
            "absmartly.hash_units: expected a boolean, got a string",
        ),
        (
            lambda t: t.replace("[intercom]", '[intercom]\ntoken_env = "MY TOKEN"'),
            "intercom.token_env: 'MY TOKEN' is not an environment variable name",
        ),
        (lambda t: t + "[extra]\n", "extra: unknown key"),
        (
            lambda t: t.replace("[intercom]", "[intercom]\ntimeout = inf"),
            "intercom.timeout: must be more than 0 and at most 600 seconds, got inf",
        ),
        (
            lambda t: t.replace("[absmartly]", "[absmartly]\ntimeout = nan"),
            "absmartly.timeout: must be more than 0 and at most 600 seconds, got nan",
        ),
        (
            lambda t: t.replace("[intercom]", "[intercom]\ntimeout = 0"),
            "intercom.timeout: must be more than 0",
        ),
        (
            lambda t: t.replace("[absmartly]", "[absmartly]\ntimeout = -1"),
            "absmartly.timeout: must be more than 0",
        ),
        (
            lambda t: t + "poll_interval = 9223372036854775807\n",
            "sync.poll_interval: must be at most 3600",
        ),
        (lambda t: t + "settle = 9999999999\n", "sync.settle: must be at most 3600"),
        (lambda t: t + "overlap = -5\n", "sync.overlap: must be at least 0"),
        (lambda t: t + "slice = 10\n", "sync.slice: must be at least 60"),
        (lambda t: t + "contact_ttl = 99999999\n", "sync.contact_ttl: must be at most"),
        (
            lambda t: t.replace("[intercom]", "[intercom]\nconcurrency = 100000000"),
            "intercom.concurrency: must be at most 256",
        ),
        (lambda t: t + 'start = "2999-01-01"\n', "sync.start: 2999-01-01 is in the future"),
        (lambda t: t + 'start = "0001-01-01"\n', "sync.start: 0001-01-01 is before 2000-01-01"),
        (
            lambda t: t + f'[goals.user_messaged]\nname = "{"x" * 200}"\n',
            "goals.user_messaged.name: at most 128 characters, got 200",
        ),
        (
            lambda t: t + '[goals.user_messaged]\nname = "a\\tb"\n',
            "goals.user_messaged.name: must not hold control characters",
        ),
        (
            lambda t: t + '[goals.user_messaged]\nname = "intercom_ticket_created"\n',
            "goals.ticket_created.name: 'intercom_ticket_created' is also the name of "
            "user_messaged",
        ),
    ],
)
def test_each_mistake_names_its_key(
    tmp_path: Path, change: Callable[[str], str], message: str
) -> None:
    """Each broken config raises one ConfigError line that starts with the key."""
    with pytest.raises(ConfigError) as caught:
        load(change(BASE), tmp_path)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_secret_names_the_variable(tmp_path: Path) -> None:
    """An unset token variable is named, with the key that names it."""
    with pytest.raises(
        ConfigError,
        match=r"^intercom.token_env: environment variable "
        r"INTERCOM_ACCESS_TOKEN is not set$",
    ):
        load(BASE, tmp_path, env={"ABSMARTLY_API_KEY": "k"})


def test_secret_only_required_when_the_command_needs_it(tmp_path: Path) -> None:
    """`status` needs no secret; a missing one is not an error there."""
    path = tmp_path / "c.toml"
    path.write_text(BASE, encoding="utf-8")
    assert config.load(path, secrets=(), env={}).intercom.token == ""


def test_toml_syntax_error_is_one_line(tmp_path: Path) -> None:
    """A TOML syntax error names the file and the position."""
    with pytest.raises(ConfigError, match=r"c\.toml: not valid TOML \(.*line 2"):
        load("[intercom]\nregion = \n", tmp_path)


def test_unquoted_toml_datetime_start_is_accepted(tmp_path: Path) -> None:
    """`start = 2026-01-01T00:00:00Z` (a TOML datetime) means that moment."""
    cfg = load(BASE + "start = 2026-01-01T00:00:00Z\n", tmp_path)
    assert cfg.sync.start == 1_767_225_600


def test_cli_config_error_exits_2_without_traceback_or_database(
    tmp_path: Path, cli: Callable, write_config: Callable[..., Path], secrets: None
) -> None:
    """The command prints one line, exits 2, and creates no database."""
    db = tmp_path / "state.db"
    path = write_config(BASE.replace("/tmp/x.db", str(db)).replace('"eu"', '"mars"'))
    result = cli("--config", str(path), "sync", "--since", "2026-01-01")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "syncer: intercom.region: must be one of us, eu, au, got 'mars'"
    ]
    assert "Traceback" not in result.err
    assert not db.exists()
    assert not list(tmp_path.glob("state.db*"))


def test_cli_without_config_exits_2(cli: Callable, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --config and no $SYNCER_CONFIG: say how to give one."""
    monkeypatch.delenv("SYNCER_CONFIG", raising=False)
    result = cli("status")
    assert result.code == 2
    assert "pass --config PATH or set SYNCER_CONFIG" in result.err


@pytest.mark.parametrize("since", ["yesterday", "2026-13-45", "2026-01-01T25:00"])
def test_cli_bad_date_exits_2(cli: Callable, since: str) -> None:
    """A malformed --since is named, with an example of a good one."""
    result = cli("--config", "/nonexistent.toml", "sync", "--since", since)
    assert result.code == 2
    assert result.err.startswith(f"syncer: --since: {since!r} is not an ISO 8601 date or time")


def test_a_relative_database_path_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    """`sqlite:///state.db` next to the config, wherever the command runs from."""
    cfg = load(BASE.replace("sqlite:////tmp/x.db", "sqlite:///state.db"), tmp_path)
    assert cfg.sync.database == f"sqlite:///{tmp_path / 'state.db'}"


def test_a_database_in_a_missing_folder_is_one_line_and_nothing_is_made(
    tmp_path: Path, cli: Callable, write_config: Callable[..., Path], secrets: None
) -> None:
    """A typo in the folder: exit 2 naming sync.database; no folder, no file is created."""
    missing = tmp_path / "no" / "such"
    path = write_config(BASE.replace("/tmp/x.db", str(missing / "state.db")))
    result = cli("--config", str(path), "sync", "--since", "2026-01-01")
    assert result.code == 2
    assert result.err.strip() == f"syncer: sync.database: the folder {missing} does not exist"
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sync", "--since", "0001-01-01"), "syncer: --since: 0001-01-01 is before 2000-01-01"),
        (
            ("sync", "--since", "2026-02-01", "--until", "2026-01-01"),
            "syncer: --until: 2026-01-01T00:00:00Z is before --since (2026-02-01T00:00:00Z)",
        ),
        (("demo", "--conversations", "-5"), "must be from 10 to 20000, got -5"),
        (("outbox", "list", "--limit", "0"), "must be from 1 to 1000000, got 0"),
        (("sync", "--since", "2026-01-01", "--publish-timeout", "inf"), "at most 86400"),
    ],
)
def test_out_of_range_options_are_one_line_exit_2(
    args: tuple[str, ...],
    message: str,
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    tmp_path: Path,
    secrets: None,
) -> None:
    """Each option out of its range is named, exit 2, no traceback."""
    path = write_config(BASE.replace("/tmp/x.db", str(tmp_path / "s.db")))
    try:
        code = main(["--config", str(path), *args])
    except SystemExit as stopped:  # argparse's own checks end the parse this way
        code = int(stopped.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err.strip().splitlines()[-1], err
    assert "Traceback" not in err


def test_a_postgresql_url_takes_its_password_from_the_environment(tmp_path: Path) -> None:
    """`postgresql://` becomes psycopg 3's URL; the password comes from `password_env` and
    never shows in the config's repr."""
    text = BASE.replace("sqlite:////tmp/x.db", "postgresql://syncer@db.internal/state")
    cfg = load(text + 'password_env = "PGPASS"\n', tmp_path, env={**ENV, "PGPASS": "s3cret-pw"})
    assert cfg.sync.database == "postgresql+psycopg://syncer@db.internal/state"
    assert cfg.sync.password == "s3cret-pw"
    assert "s3cret-pw" not in repr(cfg)


def _section(example: str, name: str) -> str:
    """The lines of one `[name]` table of the example config."""
    return example.split(f"\n[{name}]\n", 1)[1].split("\n[", 1)[0]


@pytest.mark.parametrize(
    ("model", "section"),
    [
        (config.IntercomSettings, "intercom"),
        (config.CollectorSettings, "absmartly"),
        (config.SyncSettings, "sync"),
    ],
)
def test_every_number_setting_is_declared_once_and_the_example_shows_its_default(
    model: type, section: str
) -> None:
    """A number setting's key, default and bounds are declared on its settings class only
    (settings.bounded): the parser reads them from there, a value past a bound is refused
    naming them, and config.example.toml shows the same default."""
    import dataclasses

    from syncer.config.values import Table

    example = (Path(__file__).parents[1] / "config.example.toml").read_text(encoding="utf-8")
    lines = _section(example, section)
    declared = [f for f in dataclasses.fields(model) if "minimum" in f.metadata]
    assert declared
    for spec in declared:
        key = spec.metadata["key"] or spec.name
        default = spec.default
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        assert re.search(rf"^#? ?{key} = {shown}\b", lines, re.MULTILINE), (section, key)
        assert Table({}, section).declared(model, spec.name) == default
        maximum = spec.metadata["maximum"]
        if maximum is not None:
            with pytest.raises(ConfigError, match=rf"^{section}\.{key}: must be "):
                Table({key: maximum + 1}, section).declared(model, spec.name)


def test_every_secret_is_declared_so_and_masked_by_that_declaration() -> None:
    """The secrets' values come back from `Config.secrets` (what the redactor masks) because
    their fields are declared `secret()`, and no other setting's value does."""
    import dataclasses

    env = {
        "INTERCOM_ACCESS_TOKEN": "tok-1234567890",
        "ABSMARTLY_API_KEY": "key-1234567890",
        "SYNCER_DB_PASSWORD": "pw-1234567890",
        "INTERCOM_CLIENT_SECRET": "cs-1234567890",
    }
    raw = {
        "intercom": {"base_url": "http://127.0.0.1:9"},
        "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "a", "environment": "e"},
        "units": [{"type": "user_id", "from": "external_id"}],
        "sync": {
            "database": "postgresql+psycopg://u@127.0.0.1/db",
            "password_env": "SYNCER_DB_PASSWORD",
        },
        "webhooks": {"listen": "127.0.0.1:8473"},
    }
    loaded = config.parse(raw, secrets=("intercom", "absmartly"), env=env)
    assert sorted(loaded.secrets()) == sorted(env.values())
    for model in (config.IntercomSettings, config.CollectorSettings, config.SyncSettings):
        for spec in dataclasses.fields(model):
            secretive = spec.name in {"token", "api_key", "password", "client_secret"}
            assert bool(spec.metadata.get("secret")) is secretive, spec.name
            assert spec.repr is not secretive, spec.name
