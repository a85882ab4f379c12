"""Fault tests report what they saw; `python tests/faults/run.py` prints it as a table."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

REPORT_ENV = "SYNCER_FAULT_REPORT"


@pytest.fixture
def report() -> Callable[[str, int, Counter, Counter], None]:
    """Record one fault's figures from the goals expected and the goals delivered (a no-op
    unless the fault runner asked for a report)."""

    def record(fault: str, runs: int, expected: Counter, delivered: Counter) -> None:
        path = os.environ.get(REPORT_ENV)
        if path:
            row = {
                "fault": fault,
                "runs": runs,
                "expected": sum(expected.values()),
                "delivered": sum(delivered.values()),
                "lost": sum((expected - delivered).values()),
                "duplicated": sum((delivered - expected).values()),
            }
            with Path(path).open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")

    return record
