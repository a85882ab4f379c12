"""The command's console: its exit statuses, stdout that fails in one line, stderr's one line
at the end, and a reader of stdout that goes away (`syncer status | head -2`).

Whatever happens, a command ends with at most one line on stderr that says why: no
traceback, no secret, nothing more from threads still winding down.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from syncer.errors import OutputError
from syncer.logs import RedactSecrets

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Output:
    """stdout for one command: a failed write is an OutputError, met like any other error;
    a reader that went away stays a BrokenPipeError, met quietly."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write the output ({exc.strerror or exc})") from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write the output ({exc.strerror or exc})") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@dataclass
class Session:
    """One `main` call: whether it is the process itself (the `syncer` script, `python -m
    syncer`), which may rearrange its signals and standard streams on the way out, and what
    masks secrets in the lines it prints."""

    process: bool = False
    redactor: RedactSecrets = field(default_factory=lambda: RedactSecrets(()))
    reader_gone: threading.Event = field(default_factory=threading.Event)


# The command running now (`shell.main` sets it).
session = Session()


def say(text: str) -> None:
    """One line on stderr, secrets masked."""
    line = " ".join(session.redactor.redact(text).split("\n"))
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed or full
        print(f"syncer: {line}", file=sys.stderr, flush=True)


def interrupted() -> int:
    mute()
    say("interrupted; what was stored is kept")
    if session.process:
        # A second Ctrl-C, while threads wind down, ends the process at once and quietly.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return EXIT_INTERRUPTED


def interrupted_by(exc: BaseException) -> bool:
    """An error met while unwinding from Ctrl-C (a resource closed under a thread)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__context__
    return False


def reader_went_away() -> int:
    """The reader of stdout went away (`syncer status | head -2`): end quietly with 0, as
    Unix tools do. Python would print an error flushing stdout at exit: point it at
    /dev/null. Threads still winding down say nothing more."""
    session.reader_gone.set()
    mute()
    silence_stdout()
    return EXIT_OK


def mute() -> None:
    session.redactor.muted = True


def silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def stop_for_reader() -> None:
    """The first scan to meet a gone reader stops the others: as the process, by Ctrl-C to
    the main thread (which a catch-up answers by stopping its scans)."""
    if session.reader_gone.is_set():
        return
    reader_went_away()
    main_thread = threading.main_thread()
    if session.process and threading.current_thread() is not main_thread:
        assert main_thread.ident is not None
        signal.pthread_kill(main_thread.ident, signal.SIGINT)


def print_rows(
    rows: list[dict[str, Any]], as_json: bool, render: Callable[[dict[str, Any]], str], none: str
) -> int:
    """A listing: one JSON object or one rendered line per row; `none` on stderr if empty."""
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if as_json else render(row))
    if not rows and not as_json:
        print(none, file=sys.stderr)
    return EXIT_OK
