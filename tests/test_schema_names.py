"""`sync.schema`: the names PostgreSQL keeps for itself are refused in one line before
anything is opened, and `status` reports the size of the workspace's own schema, not of
the whole database other workspaces share."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from syncer import config as config_mod
from syncer.errors import ConfigError
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text

BASE = {
    "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "a", "environment": "e"},
    "units": [{"type": "user_id", "from": "external_id"}],
}
DATABASE = "postgresql+psycopg://syncer@127.0.0.1:5432/syncer"


def _schema(value: str) -> str:
    raw = {**BASE, "sync": {"database": DATABASE, "schema": value}}
    return config_mod.parse(raw, env={}).sync.schema


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("", 'sync.schema: "" names no schema; leave the key out for the default (public)'),
        ("information_schema", "sync.schema: 'information_schema' is PostgreSQL's own"),
        ("pg_catalog", "sync.schema: 'pg_catalog' is PostgreSQL's own"),
        ("pg_mine", "sync.schema: 'pg_mine' is PostgreSQL's own"),
        ("Intercom", "sync.schema: 'Intercom' is not a schema name the syncer can use"),
    ],
)
def test_a_schema_postgresql_reserves_or_an_empty_one_is_refused(schema: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _schema(schema)
    assert str(refused.value).startswith(message), str(refused.value)


def test_public_and_names_of_ones_own_are_taken_and_no_key_is_the_default() -> None:
    assert _schema("public") == "public"
    assert _schema("intercom_eu") == "intercom_eu"
    assert config_mod.parse({**BASE, "sync": {"database": DATABASE}}, env={}).sync.schema == ""


def test_status_reports_the_size_of_its_own_schema(
    postgres_url: str,
    fake_intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """Another schema of the same database holds 8 MB: the workspace's `status` does not
    count it (it did: `pg_database_size`), yet counts its own tables."""
    sync = 'settle = 0\noverlap = 0\nschema = "ws_a"\n'
    config = write_config(config_text(fake_intercom.url, postgres_url, sync=sync))
    assert cli("--config", str(config), "sync", "--since", "2026-12-01").code in (0, 1)
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE SCHEMA other"))
            conn.execute(text("CREATE TABLE other.big (filler text)"))
            conn.execute(
                text(
                    "INSERT INTO other.big SELECT md5(i::text) || repeat('x', 200) "
                    "FROM generate_series(1, 40000) i"
                )
            )
            whole = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
            other = int(conn.execute(text("SELECT pg_total_relation_size('other.big')")).scalar())
    finally:
        engine.dispose()
    assert other > 8 * 2**20
    size = json.loads(cli("--config", str(config), "status", "--json").out)["size_bytes"]
    assert 0 < size < other
    assert size < whole - other
