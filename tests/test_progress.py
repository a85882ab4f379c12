"""Progress of a long sync: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

import pytest

from syncer.pipeline import ScanStats
from syncer.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_terminal_gets_a_bar_rewritten_in_place_with_rate_and_eta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each redraw returns to the line's start and clears it; the bar shows the share of the
    window covered, what was delivered, the rate of new events and the time left."""
    monkeypatch.setenv("COLUMNS", "200")
    out, clock = Tty(), Clock()
    progress = Progress(
        0,
        100,
        ["conversation_started", "user_messaged"],
        stream=out,
        clock=clock,
        delivered=lambda: 6,
    )
    progress("conversation_started", ScanStats(pages=2, new=1), 100)
    clock.now += 4  # past the redraw interval; 8 events in 4 s, 75 % done
    progress("user_messaged", ScanStats(pages=3, new=7), 50)
    line = out.getvalue().split("\r\x1b[K")[-1]
    assert "75%" in line and "pages 5" in line and "new events 8" in line
    assert "delivered 6" in line and "2/s" in line and "ETA 1s" in line
    progress.done()
    assert out.getvalue().endswith("\n")


def test_a_narrow_terminal_gets_a_line_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """No line is wider than the terminal, so nothing wraps and each redraw replaces it."""
    monkeypatch.setenv("COLUMNS", "40")
    out = Tty()
    progress = Progress(0, 100, ["ticket_created"], stream=out)
    progress("ticket_created", ScanStats(pages=1), 50)
    drawn = out.getvalue().split("\r\x1b[K")[-1]
    assert 0 < len(drawn) <= 39


def test_json_logs_get_progress_as_a_record_with_figures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With logs as data, progress is a log record carrying its figures, not a raw line."""
    out = io.StringIO()
    progress = Progress(0, 100, ["ticket_created"], stream=out, as_log=True)
    with caplog.at_level("INFO", logger="syncer.progress"):
        progress("ticket_created", ScanStats(pages=4, new=3), 50)
    assert out.getvalue() == ""
    [record] = caplog.records
    assert record.fields["pages"] == 4 and record.fields["share"] == 0.5  # type: ignore[attr-defined]


def test_pipe_gets_plain_lines_not_too_often() -> None:
    """Not a terminal: whole lines, at most one per interval."""
    out = io.StringIO()
    progress = Progress(0, 100, ["ticket_created"], stream=out, every=3600)
    for covered in (10, 20, 30):
        progress("ticket_created", ScanStats(pages=1), covered)
    assert out.getvalue().count("\n") == 1
    assert "\r" not in out.getvalue()
