"""One exception tree for the syncer, split by what the caller must do.

    SyncerError
    ├── ConfigError            bad config, bad option: fix it and run again (exit 2)
    ├── RetryableError         try again later; nothing was lost
    │   ├── IntercomUnavailable
    │   │   └── IntercomObjectError   one object's request failed: park it, read the rest
    │   ├── CollectorUnavailable
    │   └── ScanIncomplete     a slice could not be read to its end
    ├── PermanentError         stop: a person has to act (exit 1)
    │   ├── AuthError          a credential was refused (IntercomAuthError, CollectorAuthError)
    │   └── StateError         the database cannot be used (locked, newer schema, unwritable)
    │       └── LeaseLost      another instance took over: this one stops writing
    └── OutputError            stdout cannot be written (exit 1)

Beside the tree: `Stopped` (an httpx transport error, so the SDK and httpx pass it through
as what it is: a request not sent because the process stops), `ReaderGone` (a
BaseException: stdout's reader went away, which ends a command quietly), `Unreadable` (an
Intercom object its event cannot be read from: skipped and counted), and the signals that
stay inside one module (`NotFound`, `Merged`, `SliceRestart`, `ShortSlice`).

Foreign errors (the SDK's, httpx's, SQLAlchemy's) are translated at the edge of the module
that calls them, and nowhere else. Messages never contain a secret's value.
"""

from __future__ import annotations

import httpx


class SyncerError(Exception):
    """Base of every error the syncer raises on purpose."""

    exit_code = 1


class ConfigError(SyncerError):
    """The configuration or a command-line option is wrong."""

    exit_code = 2


class RetryableError(SyncerError):
    """A passing condition; the next attempt may succeed and nothing was lost."""


class IntercomUnavailable(RetryableError):
    """Intercom did not answer usefully after our retries."""


class IntercomObjectError(IntercomUnavailable):
    """A request for one object (a conversation, a contact, a company) failed after the
    retries. The scan parks the object and moves on; the object is retried later."""

    def __init__(self, message: str, *, request: str) -> None:
        super().__init__(message)
        self.request = request  # "GET /conversations/123": no header, no token


class CollectorUnavailable(RetryableError):
    """The ABsmartly Collector did not answer usefully."""


class ScanIncomplete(RetryableError):
    """A scan slice could not be read to its end; its cursor was not moved."""


class PermanentError(SyncerError):
    """A condition that retrying will not fix."""


class AuthError(PermanentError):
    """A credential was refused."""


class IntercomAuthError(AuthError):
    """Intercom refused the access token (401) or the plan or scope (403)."""


class CollectorAuthError(AuthError):
    """The Collector refused the API key."""


class StateError(PermanentError):
    """The state database cannot be used."""


class LeaseLost(StateError):
    """This instance no longer holds the lease: another took over, or its session ended."""


class OutputError(SyncerError):
    """stdout cannot be written (a full disk, an I/O error): exit 1, saying so."""


class ReaderGone(BaseException):
    """stdout's reader went away (`syncer sync --dry-run | head -1`). A BaseException, so
    that the scans' handlers of odd errors let it through and the command ends quietly."""


class Stopped(httpx.TransportError):
    """The process stopped while this request waited for a rate-limit window: it was not sent."""


class Unreadable(ValueError):
    """The object lacks what its event needs (an id, a time); it is skipped and counted."""


class NotFound(Exception):
    """Inside the client: Intercom answered 404 to a lookup (None to the caller)."""


class Merged(Exception):
    """Inside the client: a contact merged into another (410 with its canonical link)."""

    def __init__(self, into: str) -> None:
        super().__init__(into)
        self.into = into


class SliceRestart(Exception):
    """Inside a scan: this slice must be read again in smaller pieces."""


class ShortSlice(SliceRestart):
    """Inside a scan: the slice's pages held fewer distinct items than the search counted."""

    def __init__(self, read: int, total: int) -> None:
        super().__init__(f"read {read} distinct items of the {total} the search counted")
        self.read = read
