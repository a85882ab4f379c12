"""The one place that picks SQL by database: `INSERT ... ON CONFLICT` is written the same on
SQLite and PostgreSQL, but SQLAlchemy builds it from each dialect's own `insert`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: Connection, table: Table) -> Any:
    """An `INSERT` that knows `on_conflict_do_nothing/update` for this connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
