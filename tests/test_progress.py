"""Progress of a long sync: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from syncer.pipeline import ScanStats
from syncer.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_bar_rewritten_in_place() -> None:
    """Carriage returns, a bar, and the share of the window covered."""
    out = Tty()
    progress = Progress(0, 100, ["conversation_started", "user_messaged"], stream=out)
    progress("conversation_started", ScanStats(pages=2, new=1), 100)
    progress._last = 0  # past the redraw interval
    progress("user_messaged", ScanStats(pages=3, new=7), 50)
    line = out.getvalue().split("\r")[-2]
    assert out.getvalue().endswith("\r")
    assert "75%" in line and "pages 5" in line and "new events 8" in line


def test_pipe_gets_plain_lines_not_too_often() -> None:
    """Not a terminal: whole lines, at most one per interval."""
    out = io.StringIO()
    progress = Progress(0, 100, ["ticket_created"], stream=out, every=3600)
    for covered in (10, 20, 30):
        progress("ticket_created", ScanStats(pages=1), covered)
    assert out.getvalue().count("\n") == 1
    assert "\r" not in out.getvalue()
