"""Run the fault suite and print what each fault cost: `python tests/faults/run.py`.

Columns: the fault, how many syncer runs it took, goals expected, delivered, lost (expected
but never delivered) and duplicated (delivered more than once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("fault", "runs", "expected", "delivered", "lost", "duplicated")
PYTEST = (sys.executable, "-m", "pytest", "-q", "-m", "slow or not slow", "tests/faults")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "faults.jsonl"
        env = {**os.environ, "SYNCER_FAULT_REPORT": str(report)}
        done = subprocess.run(
            # The slow faults too (a real outage, the kill loop): the last -m wins over addopts.
            [*PYTEST, *sys.argv[1:]],
            cwd=ROOT,
            env=env,
            check=False,
        )
        rows = (
            [json.loads(line) for line in report.read_text().splitlines()]
            if report.exists()
            else []
        )
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) if rows else len(c) for c in COLUMNS]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
