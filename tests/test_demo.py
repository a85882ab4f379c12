"""`syncer demo`: no config, no accounts; its table is what its fake Collector recorded."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from syncer import demo
from tests.truth import expected_goals


def test_demo_table_matches_the_collector_and_the_truth(tmp_path: Path) -> None:
    """Per goal, the delivered counts equal the workspace's own record of what happened."""
    result = demo.run(conversations=120, folder=tmp_path)
    assert result.exit_code == 0
    truth = Counter(name for name, _, _ in expected_goals(result.workspace, 0, 2**40).values())
    assert result.delivered == truth
    table = demo.render(result)
    for name, count in truth.items():
        assert any(line.split() == [name, str(count)] for line in table.splitlines())
    assert str(result.database) in table
    assert result.database.exists()


def test_demo_command_runs_with_no_config_and_cleans_up(tmp_path: Path) -> None:
    """The README's first command: exits 0 with no config file or environment, and leaves
    no folder behind unless --keep says so."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}

    def demo(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncer", "demo", "--conversations", "60", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = demo()
    assert done.returncode == 0, done.stderr
    assert "intercom_conversation_started" in done.stdout
    assert not list(tmp_path.glob("syncer-demo-*"))
    kept = demo("--keep")
    assert kept.returncode == 0, kept.stderr
    [folder] = tmp_path.glob("syncer-demo-*")
    assert f"database: {folder / 'state.db'}" in kept.stdout
