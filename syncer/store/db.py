"""Opening the state database: single-writer lock, WAL, durable commits, migrations at start."""

from __future__ import annotations

import fcntl
import importlib.resources
import logging
import os
from pathlib import Path
from typing import IO, Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from syncer.config import SyncSettings
from syncer.errors import ConfigError, StateError
from syncer.store.lease import KEY, LeaseLost, PgLease, holder
from syncer.store.store import Store

log = logging.getLogger("syncer.store")

# `migrations/` in a checkout, installed as the package `syncer.migrations`.
MIGRATIONS = Path(str(importlib.resources.files("syncer.migrations")))
# How long a statement waits for another program's write lock before giving up with one line.
BUSY_TIMEOUT_MS = 10_000


class Flock:
    """SQLite's single writer: an flock on a file beside the database, held while open.

    There is no standby with SQLite, so there is nothing to fence: `check` passes.
    """

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def check(self, conn: Connection) -> None:
        return None

    def close(self) -> None:
        self.handle.close()  # closing the file releases the flock


def sqlite_path(url: str) -> Path:
    """The file behind a sqlite:/// URL."""
    return Path(url.removeprefix("sqlite:///"))


def open_store(sync: SyncSettings, *, writer: bool = True, lock: bool = True) -> Store:
    """`open_database` for the configured database and its password."""
    return open_database(sync.database, writer=writer, lock=lock, password=sync.password)


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def open_database(
    url: str, *, writer: bool = True, lock: bool = True, password: str | None = None
) -> Store:
    """Open (creating and migrating if `writer`) the database; a second locking writer (a
    daemon, a sync) is refused: SQLite's by a file lock, PostgreSQL's by the lease.

    A reader (`status`, `outbox list`) takes no lock and applies no migration, so it works
    beside a running daemon; so does a writer without `lock` (an operator's short command,
    or a PostgreSQL daemon that will wait for the lease as a standby).
    """
    if is_postgres(url):
        return _open_postgres(url, writer=writer, lock=lock, password=password)
    path = sqlite_path(url)
    if writer and not path.parent.is_dir():
        # A typo must not quietly create a database somewhere else.
        raise ConfigError(f"sync.database: the folder {path.parent} does not exist")
    held = _take_lock(path) if writer and lock else None
    try:
        if not writer and not path.exists():
            raise StateError(f"{path}: no database yet (run `syncer sync` or `syncer run` first)")
        if writer:
            _private(path)
        engine = _engine(path, writer=writer)
        if writer:
            migrate(engine, path)
            _incremental_vacuum(engine)
        else:
            _check_revision(engine, path, want_current=True)
    except SQLAlchemyError as exc:
        if held is not None:
            held.close()
        raise StateError(f"{path}: cannot use the database ({_reason(exc)})") from None
    except BaseException:
        if held is not None:
            held.close()
        raise
    return Store(engine, str(path), Flock(held) if held is not None else None)


def _private(path: Path) -> None:
    """The database holds personal data: its file is 0600 whatever the umask (SQLite gives
    its -wal and -shm files the database's own mode). One others can already read is named."""
    try:
        if path.exists():
            if path.stat().st_mode & 0o077:
                log.warning(
                    "%s can be read by other users and holds personal data; chmod 600 it", path
                )
            return
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
    except OSError as exc:
        raise StateError(f"{path}: cannot create the database ({exc.strerror})") from None


def _incremental_vacuum(engine: Engine) -> None:
    """Pages freed by retention go back to the file system in small steps (`prune`): this
    needs auto_vacuum = INCREMENTAL, set on a new database and, once, on an old one."""
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA auto_vacuum").scalar()
    if mode == 2:
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("VACUUM")
        cursor.close()
    finally:
        raw.close()


def _take_lock(path: Path) -> IO[str]:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        handle = os.fdopen(fd, "a+", encoding="utf-8")
    except OSError as exc:
        if path.exists():  # a database that was there: the disk or mount changed under it
            raise StateError(f"{path}: cannot open the database ({exc.strerror})") from None
        raise ConfigError(
            f"sync.database: cannot create the database in {path.parent} ({exc.strerror})"
        ) from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StateError(
            f"{path}: another syncer process is using this database; stop it first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _engine(path: Path, *, writer: bool = True) -> Engine:
    # NullPool: each connection is opened and closed by its user, so threads never share one
    # and nothing lingers holding the WAL open.
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)

    if writer:
        # Scans run in parallel threads. A deferred transaction that reads and then writes
        # fails at once (SQLITE_BUSY_SNAPSHOT) when another thread committed in between, with
        # no busy wait; BEGIN IMMEDIATE takes the write lock first and waits its turn. Taking
        # BEGIN from pysqlite also makes DDL transactional: migrations apply whole or not.
        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> None:
        # Every SQLite failure, wherever a query runs, surfaces as one StateError line.
        raise StateError(f"{path}: {explain(context.original_exception)}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # Before the first table: a new database frees pages incrementally (see prune).
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that says "sent" or moves a cursor survives a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if writer:
            dbapi_connection.isolation_level = None  # we send BEGIN ourselves (above)

    return engine


def _open_postgres(url: str, *, writer: bool, lock: bool, password: str | None) -> Store:
    parsed = make_url(url)
    if password:
        parsed = parsed.set(password=password)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=8,
        max_overflow=64,
        # Keepalives: a dead peer or a cut network ends the session within half a minute,
        # which is what frees the lease for a standby.
        connect_args={
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "application_name": "intercom-absmartly-syncer",
        },
    )

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> None:
        if isinstance(context.original_exception, LeaseLost):
            return
        text_ = str(context.original_exception).strip().splitlines()
        raise StateError(f"{where}: {text_[0] if text_ else 'database error'}")

    try:
        if writer:
            migrate(engine, Path(where))
        else:
            _check_revision(engine, Path(where), want_current=True)
        store = Store(engine, f"postgresql {where}")
        if writer and lock:
            lease = PgLease(engine)
            if not lease.try_acquire():
                active = holder(engine) or "another instance"
                raise StateError(
                    f"{where}: another syncer is active on this database ({active}); stop it first"
                )
            store.fence = lease
    except BaseException:
        engine.dispose()
        raise
    return store


def _alembic_config(connection: Any) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, path: Path) -> None:
    """Bring the schema to this version's head; refuse a database from a newer version."""
    _check_revision(engine, path, want_current=False)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two instances starting together: one migrates, the other waits, then finds
            # nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEY + 1})
        command.upgrade(_alembic_config(connection), "head")


def _check_revision(engine: Engine, path: Path, *, want_current: bool) -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise StateError(
            f"{path}: the database was written by a newer syncer (schema {unknown[0]}); "
            "upgrade the syncer"
        )
    if want_current and set(current) != set(script.get_heads()):
        raise StateError(f"{path}: the database schema is out of date; run a command that writes")


def explain(exc: BaseException) -> str:
    """SQLite's complaint, in words that say what to do."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    known = {
        "database or disk is full": "the disk is full; free space and run again (nothing is lost)",
        "readonly database": "the database is read-only; make it writable and run again",
        "database is locked": "the database is locked by another program; stop it and run again",
        "unable to open database file": "cannot open the database file (check the path and "
        "permissions)",
        "disk I/O error": "disk I/O error; check the disk, then run again",
    }
    for needle, meaning in known.items():
        if needle in text:
            return meaning
    return text


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).splitlines()[0]
