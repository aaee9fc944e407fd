"""The encryption canary: one known value encrypted with ENCRYPTION_KEYS, so that keys which cannot read the
stored secrets (changed without `keys rotate`) are found at start-up, by /healthz and by the job runner,
before a handler call answers 500.

The row has the fixed id 1 and is written insert-if-absent, so processes starting at once cannot clash. It is
only written once the keys have read one secret already stored (portals from before the canary existed), so a
canary never vouches for keys that cannot read the data.
"""
import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Text, inspect, or_, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from b24sms.config import ConfigError
from b24sms.store.crypto import vault
from b24sms.store.db import dialect_of, insert_of
from b24sms.store.keys import encrypted_columns
from b24sms.store.models import EncryptionCanary, utcnow

logger = logging.getLogger(__name__)

CANARY_ID = 1
PLAINTEXT = "b24sms encryption canary"
TABLE = EncryptionCanary.metadata.tables[EncryptionCanary.__tablename__]


@dataclass(frozen=True)
class Problem:
    """Why the app cannot serve: `error` is a code for JSON answers, `message` one line for people (never a key)."""

    error: str
    message: str


NOT_MIGRATED = Problem("database_not_migrated",
                       "The database has no schema yet: run `flask --app wsgi db upgrade`.")


def ensure(db):
    """Check the keys, and write the canary when there is none and the keys read what is stored.
    Returns a Problem or None. Database errors propagate."""
    with db.engine.begin() as connection:
        if not inspect(connection).has_table(TABLE.name):
            return NOT_MIGRATED
        ciphertext = _canary_ciphertext(connection)
        if ciphertext is not None:
            return _canary_problem(ciphertext)
        problem = _stored_secret_problem(connection)
        if problem is None:
            _write_canary(connection)
        return problem


def verify(db):
    """For /healthz: read-only, one small query once the canary exists. Returns a Problem or None."""
    try:
        with db.engine.connect() as connection:
            ciphertext = _canary_ciphertext(connection)
            if ciphertext is not None:
                return _canary_problem(ciphertext)
            return _stored_secret_problem(connection)
    except SQLAlchemyError:
        return _database_problem(db)


def check_at_start_up(db):
    """Log why the keys cannot read stored secrets. The app serves on regardless, so that /healthz answers
    503 with the reason to the load balancer instead of the process dying in a restart loop."""
    try:
        problem = ensure(db)
    except SQLAlchemyError as exc:
        logger.warning("encryption keys not checked at start-up: the database does not answer (%s)",
                       database_error_line(exc))
        return
    finally:
        db.engine.dispose()  # forked gunicorn workers must not share a pooled connection made here
    if problem is NOT_MIGRATED:
        logger.info("encryption keys not checked at start-up: the database is not migrated yet")
    elif problem is not None:
        logger.error("%s /healthz answers 503 until this is fixed.", problem.message)


def _canary_ciphertext(connection: Connection) -> str | None:
    return connection.execute(
        select(type_coerce(TABLE.c.value, Text)).where(TABLE.c.id == CANARY_ID)
    ).scalar_one_or_none()


def _canary_problem(ciphertext: str) -> Problem | None:
    plain = _decrypted(ciphertext)
    if plain is None:
        return _keys_problem(f"no key in the list decrypts {TABLE.name}.value")
    if plain != PLAINTEXT:
        return _keys_problem(f"{TABLE.name}.value decrypts to an unexpected value")
    return None


def _stored_secret_problem(connection: Connection) -> Problem | None:
    """No canary yet: try one secret already stored, if any (data from before the canary existed)."""
    for table, names in encrypted_columns():
        if table is TABLE:
            continue
        raw = [type_coerce(table.c[name], Text).label(name) for name in names]
        row = connection.execute(
            select(*raw).where(or_(*(table.c[name].is_not(None) for name in names))).limit(1)
        ).first()
        if row is None:
            continue
        name, ciphertext = next((name, value) for name, value in row._mapping.items() if value is not None)
        if _decrypted(ciphertext) is None:
            return _keys_problem(f"no key in the list decrypts {table.name}.{name}")
        return None
    return None


def _write_canary(connection: Connection) -> None:
    insert = insert_of(dialect_of(connection))
    connection.execute(
        insert(TABLE).values(id=CANARY_ID, value=PLAINTEXT, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
    )


def _decrypted(ciphertext: str) -> str | None:
    try:
        return vault().decrypt(ciphertext)
    except ConfigError:
        return None


def _keys_problem(reason: str) -> Problem:
    return Problem(
        "encryption_keys",
        f"ENCRYPTION_KEYS cannot decrypt stored secrets: {reason}. Were the keys changed without `keys rotate`? "
        "Put the key that wrote the data back into the list (after the new one).",
    )


def _database_problem(db):
    """The canary query failed: a schema not migrated yet, or a database that does not answer."""
    try:
        with db.engine.connect() as connection:
            if not inspect(connection).has_table(TABLE.name):
                return NOT_MIGRATED
    except SQLAlchemyError:
        pass
    return Problem("database_unavailable", "The database does not answer.")


def database_error_line(exc: BaseException) -> str:
    """One line about a database error, without the SQL statement SQLAlchemy appends."""
    first_line = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {first_line[0][:200]}" if first_line else type(exc).__name__
