"""Opening the state database: single-writer lock, WAL, durable commits, migrations at start."""

from __future__ import annotations

import fcntl
import importlib.resources
import logging
import os
import stat
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
from syncer.errors import ConfigError, LeaseLost, StateError
from syncer.store.lease import KEY
from syncer.store.store import READ_ONLY, Store

log = logging.getLogger("syncer.store")

# `migrations/` in a checkout, installed as the package `syncer.migrations`.
MIGRATIONS = Path(str(importlib.resources.files("syncer.migrations")))
# How long a statement waits for another program's write lock before giving up with one line.
BUSY_TIMEOUT_MS = 10_000
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


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
    """`open_database` for the configured database, its password and schema."""
    return open_database(
        sync.database, writer=writer, lock=lock, password=sync.password, schema=sync.schema
    )


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def open_database(
    url: str,
    *,
    writer: bool = True,
    lock: bool = True,
    password: str | None = None,
    schema: str = "",
) -> Store:
    """Open (creating and migrating if `writer`) the database; a second locking writer (a
    daemon, a sync) is refused: SQLite's by a file lock, PostgreSQL's by the lease.

    A reader (`status`, `outbox list`) takes no lock and applies no migration, so it works
    beside a running daemon; so does a writer without `lock` (an operator's short command,
    or a PostgreSQL daemon that will wait for the lease as a standby).
    """
    if is_postgres(url):
        return _open_postgres(url, writer=writer, lock=lock, password=password, schema=schema)
    path = sqlite_path(url)
    if writer and not path.parent.is_dir():
        # A typo must not quietly create a database somewhere else.
        raise ConfigError(f"sync.database: the folder {path.parent} does not exist")
    refuse_unusable(path)
    held = _take_lock(path) if writer and lock else None
    try:
        if not writer and not path.exists():
            raise StateError(f"{path}: no database yet (run `syncer sync` or `syncer run` first)")
        if writer and not path.exists():
            _create(path)
        elif writer:
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


def refuse_unusable(path: Path) -> None:
    """Refuse, in one line that says what to do, a file SQLite would fail on obscurely or,
    worse, take for a new database: a folder, an empty file, a file that is no database."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"{path}: cannot open the database ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"sync.database: {path} is a folder; name the database file in it")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"sync.database: {path} is not a regular file")
    if info.st_size == 0:
        # SQLite would take it as a new database and the next sync would send every goal
        # of its window again: the syncer's own database is never empty.
        raise StateError(
            f"{path}: the file is empty (0 bytes), so the syncer did not make it; restore the "
            "syncer's database there, or remove the file to start a new one (a new database "
            "sends again what its first sync reads)"
        )
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StateError(f"{path}: cannot read the database ({exc.strerror})") from None
    if head != SQLITE_MAGIC:
        raise StateError(
            f"{path}: not a SQLite database (written by something else); point sync.database "
            "at the syncer's database, or move this file away"
        )


def inspect(sync: SyncSettings) -> str:
    """What opening the SQLite database as `run` does would meet, found without writing or
    locking: a short description, or the error `run` would raise (for `check`)."""
    path = sqlite_path(sync.database)
    if not path.parent.is_dir():
        raise ConfigError(f"sync.database: the folder {path.parent} does not exist")
    refuse_unusable(path)
    if not path.exists():
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise ConfigError(
                f"sync.database: cannot create the database in {path.parent} (permission denied)"
            )
        return f"{path} (created at the first run)"
    if not os.access(path, os.R_OK | os.W_OK):
        raise StateError(f"{path}: the database is not readable and writable by this user")
    engine = _engine(path, writer=False)
    try:
        _check_revision(engine, path, want_current=False)
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    except SQLAlchemyError as exc:
        raise StateError(f"{path}: cannot use the database ({_reason(exc)})") from None
    finally:
        engine.dispose()
    heads = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
    if not current:
        schema = "no schema yet: the first run creates it"
    elif set(current) == heads:
        schema = "schema current"
    else:
        schema = "schema older: the next run migrates it"
    active = _lock_holder(path)
    return f"{path} ({schema}{f'; in use by syncer pid {active}' if active else ''})"


def _lock_holder(path: Path) -> str | None:
    """The pid a running syncer wrote in the lock file, if one holds the lock."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        with lock_path.open("r", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "?"
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _private(path: Path) -> None:
    """The database holds personal data: its file is 0600 whatever the umask (SQLite gives
    its -wal and -shm files the database's own mode). One others can already read is named."""
    try:
        if path.stat().st_mode & 0o077:
            log.warning("%s can be read by other users and holds personal data; chmod 600 it", path)
    except OSError as exc:
        raise StateError(f"{path}: cannot open the database ({exc.strerror})") from None


def _create(path: Path) -> None:
    """A new database appears whole or not at all: it is made and migrated under a
    temporary name beside it, then renamed into place. A kill during the first start leaves
    no file at `path` (an empty one would be refused as not the syncer's, see
    `refuse_unusable`), only a temporary file the next start replaces. Called under the lock."""
    new = path.with_name(path.name + ".new")
    try:
        for stale in (new, *(new.with_name(new.name + tail) for tail in ("-wal", "-shm"))):
            stale.unlink(missing_ok=True)
        os.close(os.open(new, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        new.chmod(0o600)
    except OSError as exc:
        raise StateError(f"{path}: cannot create the database ({exc.strerror})") from None
    engine = _engine(new)
    try:
        migrate(engine, path)
        _incremental_vacuum(engine)
    finally:
        # The last connection to close checkpoints the WAL into the file and removes it:
        # the -wal is named for the temporary file, so nothing may stay in it.
        engine.dispose()
    wal = new.with_name(new.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        raise StateError(f"{path}: cannot create the database (its log was not written back)")
    try:
        for tail in ("-wal", "-shm"):
            new.with_name(new.name + tail).unlink(missing_ok=True)
        fd = os.open(new, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        new.rename(path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)
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
        # A read (`Store._read` marks it) begins deferred: WAL readers never wait, and
        # taking the write lock to read made the scans' threads queue on SQLite's unfair
        # busy handler until one gave up ("database is locked") on a busy machine.
        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            reading = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

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


def _open_postgres(
    url: str, *, writer: bool, lock: bool, password: str | None, schema: str = ""
) -> Store:
    parsed = make_url(url)
    if password:
        parsed = parsed.set(password=password)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
    # A workspace's own schema: every unqualified name (the tables, alembic_version, the
    # lease row) resolves there, so the migrations and queries need no change.
    search_path = {"options": f"-c search_path={schema}"} if schema else {}
    if schema:
        where += f" schema {schema}"
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
            **search_path,
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
            if schema:
                with engine.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            migrate(engine, Path(where))
        else:
            _check_revision(engine, Path(where), want_current=True)
        session_kept(engine, where)
        store = Store(engine, f"postgresql {where}")
        if writer and lock:
            store.take_lease()
    except BaseException:
        engine.dispose()
        raise
    return store


SESSION_CHECKS = 3


def session_kept(engine: Engine, where: str) -> None:
    """Refuse a connection that does not keep its session: behind a pooler in transaction
    mode (PgBouncer's `pool_mode = transaction`) each transaction may run on another server
    session, so the session lock that is the lease would not hold. Seen as a setting made in
    one transaction that a later one does not see, or another backend answering it, while a
    second connection holds a transaction open (which takes the server session a pooler
    would otherwise hand back to the first)."""
    with engine.connect() as first, engine.connect() as second:
        first = first.execution_options(isolation_level="AUTOCOMMIT")
        pid = first.execute(text("SELECT pg_backend_pid()")).scalar()
        for attempt in range(SESSION_CHECKS):
            mark = f"kept-{attempt}"
            first.execute(text("SELECT set_config('syncer.session_probe', :v, false)"), {"v": mark})
            with second.begin():
                second.execute(text("SELECT pg_backend_pid()"))
                seen = first.execute(
                    text("SELECT current_setting('syncer.session_probe', true), pg_backend_pid()")
                ).one()
            if tuple(seen) != (mark, pid):
                raise StateError(
                    f"{where}: the connection does not keep its session (a pooler in "
                    "transaction mode?); connect directly, or through session pooling"
                )


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
        "file is not a database": "not a SQLite database (is sync.database the syncer's file?)",
    }
    for needle, meaning in known.items():
        if needle in text:
            return meaning
    return text


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).splitlines()[0]
