"""The systemd units: valid, hardened, and no restart loop on a configuration error."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = ("syncer.service", "syncer@.service")
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def installed(unit: str, folder: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's `syncer`, as an install would."""
    syncer = Path(sys.executable).parent / "syncer"
    text = (DEPLOY / unit).read_text(encoding="utf-8")
    path = folder / unit
    path.write_text(text.replace("/opt/syncer/bin/syncer", str(syncer)), encoding="utf-8")
    return path


@pytest.mark.parametrize("unit", UNITS)
def test_a_config_error_is_not_restarted_forever(unit: str) -> None:
    """Exit status 2 (a configuration error) stops the restarts; other failures restart."""
    text = (DEPLOY / unit).read_text(encoding="utf-8")
    assert "Restart=on-failure" in text
    assert re.search(r"^RestartPreventExitStatus=2$", text, re.MULTILINE)


@needs_systemd
@pytest.mark.parametrize("unit", UNITS)
def test_units_verify_clean_and_score_2_5_or_lower(unit: str, tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing; `security` rates the exposure 2.5 or lower."""
    assert ANALYZE is not None
    path = installed(unit, tmp_path)
    target = path if "@" not in unit else path.with_name("syncer@acme.service")
    if target != path:
        shutil.copy(path, target)
    verify = subprocess.run(
        [ANALYZE, "verify", str(target)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert score is not None, security.stdout[-500:]
    assert float(score.group(1)) <= 2.5
