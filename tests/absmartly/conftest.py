"""The publisher's tests run against a real SQLite outbox in the test's folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.store.db import open_database
from syncer.store.store import Store


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    database = open_database(f"sqlite:///{tmp_path / 's.db'}")
    yield database
    database.close()
