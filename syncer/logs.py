"""Logging for journald and log shippers, with every known secret value masked."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable

MASK = "[redacted]"


class RedactSecrets(logging.Filter):
    """Masks secret values wherever they appear in a record, arguments included.

    Code never logs a secret on purpose; this filter is the second line, for text that came
    from elsewhere (an exception, an echoed request).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        # Set once the command has said its last line (Ctrl-C, a reader that went away):
        # threads still winding down say nothing more.
        self.muted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self.muted:
            return False
        if self.secrets:
            text = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg, record.args = self.redact(text), None
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
        return True

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # figures as data: log.info(..., extra={"fields": {...}})
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def is_json() -> bool:
    """Whether the syncer's log lines are JSON (`--log-format json`)."""
    return any(
        h.get_name() == "syncer" and isinstance(h.formatter, JsonFormatter)
        for h in logging.getLogger().handlers
    )


def setup(level: str = "info", fmt: str = "text", secrets: Iterable[str] = ()) -> RedactSecrets:
    """Log to stderr; journald adds its own timestamps, so the text form has none."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    redactor = RedactSecrets(secrets)
    handler.addFilter(redactor)
    handler.set_name("syncer")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "syncer"]:
        root.removeHandler(old)  # only our own: a host (pytest, an embedding app) keeps its own
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request line at INFO; keep that for --log-level debug.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for chatty in ("httpx", "alembic", "apscheduler"):  # a line per request, step, job run
        logging.getLogger(chatty).setLevel(quiet)
    logging.Formatter.converter = time.gmtime
    return redactor
