"""`syncer`: parse the command line, run one command, and end it the way every command ends.

Exit status: 0 done, 1 a runtime failure (Intercom or the Collector unreachable, a credential
refused, the database unusable), 2 a usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TextIO, cast

from syncer.cli import console
from syncer.cli.console import EXIT_FAILURE
from syncer.cli.parser import build_parser
from syncer.errors import ConfigError, OutputError, ReaderGone, SyncerError
from syncer.logs import setup as setup_logging
from syncer.timeparse import shown

log = logging.getLogger("syncer")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. `argv` None: this is the process itself."""
    console.session = session = console.Session(process=argv is None)
    args = build_parser().parse_args(argv)
    session.redactor = setup_logging(args.log_level, args.log_format)
    if args.command == "demo" and args.log_level == "info":
        # The demo's table is the point.
        session.redactor = setup_logging("warning", args.log_format)
    handler: Callable[[argparse.Namespace], int] = args.handler
    stdout = sys.stdout
    try:
        check_arguments(args)
        if stdout is None and args.command != "run":
            raise SyncerError("standard output is closed: nowhere to write to; nothing was done")
        if stdout is not None:
            sys.stdout = cast(TextIO, console.Output(stdout))
        code = handler(args)
        sys.stdout.flush()  # here, where a closed pipe can still be met quietly
        return code
    except (ReaderGone, BrokenPipeError):
        return console.reader_went_away()
    except SyncerError as exc:
        if session.reader_gone.is_set():
            return console.reader_went_away()
        if isinstance(exc, OutputError):
            console.silence_stdout()  # or Python says it again, flushing stdout at exit
        console.say(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        if session.reader_gone.is_set():  # the stop a gone reader asked for
            return console.reader_went_away()
        return console.interrupted()
    except Exception as exc:  # whatever it is, one line: never a traceback
        if session.reader_gone.is_set():
            return console.reader_went_away()
        if console.interrupted_by(exc):
            return console.interrupted()
        log.debug("unexpected error", exc_info=True)
        console.say(
            f"unexpected error: {type(exc).__name__}: {str(exc)[:300]} "
            "(`--log-level debug` shows where; please report it)"
        )
        return EXIT_FAILURE
    finally:
        if isinstance(sys.stdout, console.Output):
            sys.stdout = stdout


def check_arguments(args: argparse.Namespace) -> None:
    """Text from the command line that is not UTF-8 (`--since $'\\xff'`) is refused here,
    naming its option, not later by whatever it reaches first (the database)."""
    names = {"keys": "KEY", "ids": "ID"}
    for dest, value in vars(args).items():
        if dest == "config":  # a file name: any bytes are fine
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not _is_utf8(text):
                name = names.get(dest, "--" + dest.replace("_", "-"))
                raise ConfigError(
                    f"{name}: {shown(text)} is not valid UTF-8 text (check the terminal's or "
                    "the script's encoding)"
                )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True
