"""Fault tests report what they saw; `python tests/faults/run.py` prints it as a table."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPORT_ENV = "SYNCER_FAULT_REPORT"


@pytest.fixture
def report() -> Callable[..., None]:
    """Record one fault's figures (a no-op unless the fault runner asked for a report)."""

    def record(
        fault: str, runs: int, expected: int, delivered: int, lost: int, duplicated: int
    ) -> None:
        path = os.environ.get(REPORT_ENV)
        if path:
            row = {
                "fault": fault,
                "runs": runs,
                "expected": expected,
                "delivered": delivered,
                "lost": lost,
                "duplicated": duplicated,
            }
            with Path(path).open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")

    return record
