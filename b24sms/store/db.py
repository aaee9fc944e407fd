"""The database: one engine per process, a session per unit of work (a request, a job step), Alembic for the
schema. The web's request sessions are b24sms/web/context.py's; `flask db upgrade` is b24sms/cli.py's."""
import fcntl
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import make_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import ARRAY, Integer, any_, bindparam, create_engine, event, false, make_url, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# SQLite: seconds a writer waits for another's lock. Jobs and pages may wait this long (threads of one gunicorn
# worker and the job runner share the file); the handler waits far less (`limit_lock_wait`), since Bitrix24
# waits on the call and the spool (or, once the message is stored, the job) takes over.
SQLITE_LOCK_WAIT = 30
# PostgreSQL: seconds to open a connection; without it libpq waits for the OS's TCP time-out (minutes) on a host
# that drops packets. A connect_timeout in DATABASE_URL wins.
POSTGRES_CONNECT_TIMEOUT = 5
# SQLite primary result codes that say the file cannot take a write now: BUSY, LOCKED, READONLY, IOERR, FULL,
# CANTOPEN, PROTOCOL (not CORRUPT, CONSTRAINT, ERROR: retrying cannot mend those).
SQLITE_UNAVAILABLE = {5, 6, 8, 10, 13, 14, 15}
# READONLY, CANTOPEN: a connection SQLite opened read-only stays read-only after the file becomes writable.
SQLITE_REOPEN = {8, 14}
# PostgreSQL SQLSTATEs (prefixes) that say the server cannot take a write now: connection exceptions,
# insufficient resources (too many connections, disk full), shutting down or starting up (57P01-57P03), and
# a read-only transaction (a standby after a failover).
POSTGRES_UNAVAILABLE = ("08", "53", "57P", "25006")
_LOCK_WAIT = "b24sms_lock_wait"  # in Session.info: seconds its SQLite transactions wait for a lock
_LOCK_WAIT_CUT = "b24sms_lock_wait_cut"  # in a pooled connection's info: its wait is not SQLITE_LOCK_WAIT


class DatabaseUnavailable(Exception):
    """The database could not take a write for the whole of a bounded wait; the message is one loggable line."""


_SHARED: dict[str, "Database"] = {}
_SHARED_LOCK = threading.Lock()


class Database:
    def __init__(self, url):
        self.url = url
        # Request threads, the web sender's and a job pass's JOB_CONCURRENCY workers each hold a connection for
        # a moment (never across an HTTP call): more than the default 5 + 10 at busy times.
        options: dict[str, Any] = {"pool_pre_ping": True}
        if ":memory:" not in url:  # an in-memory SQLite database is one connection, not a pool
            options.update(pool_size=10, max_overflow=40)
        if url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_LOCK_WAIT}
        elif make_url(url).get_backend_name() == "postgresql" and "connect_timeout" not in make_url(url).query:
            options["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT}
        self.engine = create_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "checkout", _restore_lock_wait)
            event.listen(self.engine, "handle_error", _reopen_after_sqlite_file_errors)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        if self.is_sqlite:
            event.listen(self.Session, "after_begin", _apply_lock_wait)

    @classmethod
    def of_process(cls, url: str) -> "Database":
        """This process's Database for `url`, made on first use: one engine (its pool, its compiled statements)
        per database and process, however many apps the process makes (the suite, the chaos and bench scripts
        make several)."""
        with _SHARED_LOCK:
            if url not in _SHARED:
                _SHARED[url] = cls(url)
            return _SHARED[url]

    @property
    def is_sqlite(self):
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self):
        """A short unit of work of its own: committed on success, rolled back on error."""
        session = self.Session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self, revision="head"):
        command.upgrade(alembic_config(self.url), revision)

    @contextmanager
    def runner_lock(self):
        """Yields whether this process may run the background duties now. PostgreSQL shares work between any
        number of runners (row locks, SKIP LOCKED); SQLite has no row locks, so one runner at a time holds an
        OS file lock beside the database file (released by the OS if the runner dies)."""
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:":
            yield True
            return
        with open(f"{path}.jobs-lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def lock_rows(session, model, *where, columns=None):
    """The matching rows, re-read and locked until the session's transaction ends (PostgreSQL: FOR UPDATE;
    SQLite has no row locks, so a write that matches no row first takes the database's write lock: any write
    statement does, and one that rewrites no row costs nothing). With `columns`: plain records of just those
    columns (attribute access, writable), not ORM objects, for bulk work."""
    if dialect_of(session) == "sqlite":
        session.execute(update(model).where(false()).values(id=model.id).execution_options(synchronize_session=False))
    if columns is not None:
        return plain_records(session.execute(select(*core_columns(model, columns)).where(*where)
                                             .order_by(model.__table__.c.id).with_for_update()))
    return session.scalars(
        select(model).where(*where).order_by(model.id).with_for_update().execution_options(populate_existing=True)
    ).all()


def plain_records(result):
    """A result's rows as plain records (attribute access, writable; more attributes may be set on them), the
    column names read once."""
    record = record_class(tuple(result.keys()))
    return [record(*row) for row in result]


@lru_cache(maxsize=256)
def record_class(names):
    """The class of plain records of these columns: a dataclass, which is built a few times faster than a namespace
    (a job pass builds thousands of records)."""
    return make_dataclass("Record", names)


def core_columns(model, columns):
    """The table's own columns for these mapped attributes: a select of them returns plain rows without the ORM's
    loading machinery (a job pass reads thousands of rows at a time)."""
    table = model.__table__
    return [table.c[column.key] for column in columns]


def dialect_of(bind) -> str:
    """The database's kind ("postgresql", "sqlite") behind a Session or a Connection."""
    return (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name


def insert_of(dialect: str) -> Any:
    """The dialect's own INSERT, the one with ON CONFLICT (SQLAlchemy's plain INSERT has none); store-first writes
    and counters are upserts."""
    return (postgresql if dialect == "postgresql" else sqlite).insert


def one_of(session, column, ids):
    """`column IN ids` for a long list of integer ids: on PostgreSQL one array parameter (`= ANY(...)`), so the
    statement stays short and the same whatever the list's length (the driver parses it once); elsewhere IN."""
    if dialect_of(session) == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


def unavailable(exc):
    """Whether `exc` says the database cannot be reached or cannot take a write now (connection refused, reset
    or closed, too many connections, shutting down, a standby; SQLite: locked, read-only, cannot be opened),
    as opposed to a fault of the statement or of the data (a constraint, a bad value), which no retry mends."""
    if isinstance(exc, PoolTimeout):  # every pooled connection stayed taken
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # SQLAlchemy saw the connection die under the statement
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return _sqlite_code(orig) in SQLITE_UNAVAILABLE
    if isinstance(orig, psycopg.Error):
        if orig.sqlstate is None:  # raised by the client: the connection could not be made, or was lost
            return isinstance(orig, psycopg.OperationalError)
        return orig.sqlstate.startswith(POSTGRES_UNAVAILABLE)
    return False


def write_retrying(session, work, seconds):
    """`work()`, a write on `session`, tried again with a short backoff while the database is `unavailable`, for
    at most `seconds` in all (SQLite's lock wait is cut to what is left of them). The session is rolled back
    after each failure. Raises DatabaseUnavailable once the time is up; any other error at once."""
    deadline = time.monotonic() + seconds
    pause = 0.05
    lock_wait = session.info.get(_LOCK_WAIT)
    try:
        while True:
            limit_lock_wait(session, deadline - time.monotonic())
            try:
                return work()
            except SQLAlchemyError as exc:
                _roll_back(session)
                if not unavailable(exc):
                    raise
                if time.monotonic() + pause >= deadline:
                    raise DatabaseUnavailable(error_line(exc)) from exc
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
    finally:
        limit_lock_wait(session, lock_wait)


def limit_lock_wait(session, seconds):
    """SQLite: `session` waits at most `seconds` for another writer's lock from now on (None: SQLITE_LOCK_WAIT).
    Its connections wait SQLITE_LOCK_WAIT again for their next user from the pool."""
    if seconds is None:
        session.info.pop(_LOCK_WAIT, None)
    else:
        session.info[_LOCK_WAIT] = max(seconds, 0.001)
    if session.in_transaction() and dialect_of(session) == "sqlite":
        _apply_lock_wait(session, None, session.connection())


def error_line(exc):
    """One line about a database error: no SQL statement, no parameters (they may hold message texts)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _roll_back(session):
    try:
        session.rollback()
    except SQLAlchemyError:  # the connection is gone: closing discards it
        session.close()


def _apply_lock_wait(session, _transaction, connection):
    seconds = session.info.get(_LOCK_WAIT)
    if seconds is None and not connection.connection.info.get(_LOCK_WAIT_CUT):
        return
    connection.exec_driver_sql(f"PRAGMA busy_timeout = {max(int((seconds or SQLITE_LOCK_WAIT) * 1000), 1)}")
    connection.connection.info[_LOCK_WAIT_CUT] = seconds is not None


def _restore_lock_wait(dbapi_connection, record, _proxy):
    """On checkout from the pool: a connection a handler's session cut waits the full time for its next user."""
    if record.info.pop(_LOCK_WAIT_CUT, False):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_LOCK_WAIT * 1000}")


def _sqlite_code(error):
    return getattr(error, "sqlite_errorcode", 0) & 0xFF if isinstance(error, sqlite3.OperationalError) else None


def _reopen_after_sqlite_file_errors(context):
    """A read-only or unopenable file: the pool opens new connections, which see the file as it is by then."""
    if _sqlite_code(context.original_exception) in SQLITE_REOPEN:
        context.is_disconnect = True


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def alembic_config(url):
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
