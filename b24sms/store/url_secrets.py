"""Secrets that live in URLs we hand out (a portal's handler key, a provider account's receipt secret).

Each is found by its SHA-256 (so no index holds the secret) and kept encrypted beside the hash, because the URL
must be built again: to register it with Bitrix24, to put it on every send, to show it to the admin.
"""
import hashlib
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from b24sms.store.crypto import same_secret

MAX_LENGTH = 128


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def assign(row: object, secret_attr: str, hash_attr: str) -> None:
    """Give `row` a secret (192 random bits) unless it has one: a URL already handed out must stay valid."""
    if not getattr(row, secret_attr):
        secret = secrets.token_urlsafe(24)
        setattr(row, secret_attr, secret)
        setattr(row, hash_attr, digest(secret))


def find(session: Session, model: type[Any], secret_attr: str, hash_attr: str, given: str | None) -> Any:
    """The row whose secret is `given`, or None."""
    if not given or len(given) > MAX_LENGTH:
        return None
    row = session.scalars(select(model).where(getattr(model, hash_attr) == digest(given))).one_or_none()
    if row is None or not same_secret(given, getattr(row, secret_attr)):
        return None
    return row
