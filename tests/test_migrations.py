"""The models and the migrations describe one schema: the suite's database, migrated to head, has the tables,
columns, types, indexes, constraints and server defaults the models declare, and nothing else (on SQLite and on
PostgreSQL, as the suite runs on both). A model changed without a migration, or the other way round, fails here."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from b24sms.store.models import Base


def test_the_migrated_database_is_what_the_models_say(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True, "compare_server_default": _server_defaults_differ})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def _server_defaults_differ(context, inspected_column, metadata_column, inspected_default, metadata_default,
                            rendered_metadata_default):
    """SQLite gives back a default as its table's SQL spells it, where a batch migration (a table copied) wraps
    it in parentheses: `('')` is the models' `""`. None: alembic's own comparison decides."""
    if context.dialect.name == "sqlite" and inspected_default and inspected_default.startswith("("):
        return _sql_literal_text(inspected_default) != rendered_metadata_default
    return None


def _sql_literal_text(default):
    """`('')` -> ``, `('0')` -> `0`: the value inside the parentheses and the quotes."""
    while default.startswith("(") and default.endswith(")"):
        default = default[1:-1]
    return default[1:-1] if len(default) >= 2 and default[0] == default[-1] == "'" else default


def test_every_table_hands_out_no_id_twice_on_sqlite(database_url):
    # A table without AUTOINCREMENT gives the highest id again once that row is deleted: a page token or a log
    # anchor naming the old row would then name a new one. (PostgreSQL's sequences never reuse an id.)
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's AUTOINCREMENT")
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                "('alembic_version', 'sqlite_sequence')").all()
    finally:
        engine.dispose()
    assert {name for name, _ in tables} == set(Base.metadata.tables)
    assert [name for name, sql in tables if "AUTOINCREMENT" not in sql.upper()] == []
