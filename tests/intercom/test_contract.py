"""Every search body the syncer sends validates against Intercom's 2.14 request schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text
from tests.spec import schemas


@pytest.fixture(scope="module")
def search_schema() -> dict:
    return {"$ref": "#/components/schemas/search_request", "components": {"schemas": schemas()}}


def test_search_bodies_validate(
    fake_intercom: FakeIntercom,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
    search_schema: dict,
) -> None:
    """A dry run's every search request (all four scans, later pages too) is schema-valid."""
    config = write_config(config_text(fake_intercom.url, tmp_path / "s.db"))
    result = cli("--config", str(config), "sync", "--since", "2000-01-01", "--dry-run")
    assert result.code == 0, result.err
    bodies = [r.body for r in fake_intercom.requests if r.path.endswith("/search")]
    assert {r.path for r in fake_intercom.requests if r.path.endswith("/search")} == {
        "/conversations/search",
        "/tickets/search",
    }
    assert any("starting_after" in b["pagination"] for b in bodies)
    validator = jsonschema.Draft7Validator(search_schema)
    for body in bodies:
        validator.validate(body)
        assert body["pagination"]["per_page"] == 150


def test_schema_check_has_teeth(search_schema: dict) -> None:
    """A body that mixes a filter and a group in one list is rejected by the same check."""
    mixed = {
        "query": {
            "operator": "AND",
            "value": [
                {"field": "created_at", "operator": ">", "value": 1},
                {"operator": "OR", "value": [{"field": "id", "operator": "=", "value": "1"}]},
            ],
        }
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(search_schema).validate(mixed)
