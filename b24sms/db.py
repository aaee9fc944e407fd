"""The database: one engine per app, a session per request (or per job step), Alembic for the schema."""
import fcntl
from contextlib import contextmanager
from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import current_app, g
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.orm import sessionmaker

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class Database:
    def __init__(self, url):
        self.url = url
        options = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            # Threads of one gunicorn worker share the file; wait for each other's writes.
            options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = create_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

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


def lock_rows(session, model, *where):
    """The matching rows, re-read and locked until the session's transaction ends (PostgreSQL: FOR UPDATE;
    SQLite has no row locks, so a no-op write first takes the database's write lock)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(model).where(*where).values(id=model.id).execution_options(synchronize_session=False))
    return session.scalars(
        select(model).where(*where).order_by(model.id).with_for_update().execution_options(populate_existing=True)
    ).all()


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


def get_db() -> Database:
    return current_app.extensions["b24sms.db"]


def get_session():
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = get_db().Session()
    return g.db_session


def _close_session(_exc):
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@click.group("db")
def db_cli():
    """Database schema (Alembic migrations)."""


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision):
    """Apply migrations up to REVISION (default: head)."""
    get_db().upgrade(revision)
    click.echo(f"database at {revision}")


def init_app(app):
    app.extensions["b24sms.db"] = Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_session)
    app.cli.add_command(db_cli)
