"""Key rotation: every encrypted column re-encrypted under the first key of ENCRYPTION_KEYS."""
from collections.abc import Iterator

from sqlalchemy import Row, Table, Text, select, type_coerce, update

from b24sms.config import ConfigError
from b24sms.store.crypto import Encrypted, vault
from b24sms.store.models import Base


class UnreadableSecret(ConfigError):
    """No key in ENCRYPTION_KEYS decrypts a stored secret; the message names where it is, never the keys."""


def encrypted_columns() -> Iterator[tuple[Table, list[str]]]:
    """(table, [column names]) for every table holding secrets."""
    for table in Base.metadata.sorted_tables:
        names = [column.name for column in table.columns if isinstance(column.type, Encrypted)]
        if names:
            yield table, names


def rotate(db):
    """Re-encrypt the raw ciphertext (no need to know what the secrets are). Returns how many were rewritten.

    All or nothing, in one transaction: a secret that no key decrypts raises UnreadableSecret and nothing is
    changed, so a wrong key list never leaves the data half under one key and half under another."""
    count = 0
    with db.engine.begin() as connection:
        for table, names in encrypted_columns():
            raw_columns = [type_coerce(table.c[name], Text).label(name) for name in names]
            for row in connection.execute(select(table.c.id, *raw_columns)).all():
                values = {name: type_coerce(_rotated(table, name, row), Text)
                          for name in names if row._mapping[name] is not None}
                if values:
                    connection.execute(update(table).where(table.c.id == row.id).values(**values))
                    count += len(values)
    return count


def _rotated(table: Table, name: str, row: Row) -> str:
    try:
        return vault().rotate(row._mapping[name])
    except ConfigError:
        raise UnreadableSecret(
            f"no key in ENCRYPTION_KEYS decrypts {table.name}.{name} (row id {row.id}): nothing was changed"
        ) from None
