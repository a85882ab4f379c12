"""Intercom's 2.14 schemas that the tests use, extracted by `extract.py` (MIT, LICENSE.md)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parent / "intercom-2.14-schemas.json"


@functools.cache
def schemas() -> dict[str, Any]:
    """components.schemas of the 2.14 description, as far as the tests need them."""
    return dict(json.loads(SCHEMAS.read_text(encoding="utf-8"))["schemas"])
