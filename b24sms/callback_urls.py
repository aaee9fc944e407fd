"""Receipt URLs: `/callbacks/<kind>/<secret>`, one random secret per provider account.

The secret is looked up by its SHA-256 (so the database index never holds it) and kept encrypted beside it,
because per-message callback URLs are built from it at every send and the admin must be able to see the URL
that goes into a provider's cabinet.
"""
import hashlib
import secrets

from sqlalchemy import select

from .crypto import same_secret
from .models import ProviderAccount


def secret_hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def assign_secret(account):
    """Give the account a secret unless it has one: a URL pasted into a provider's cabinet must stay valid."""
    if not account.callback_secret:
        account.callback_secret = secrets.token_urlsafe(24)
        account.callback_secret_hash = secret_hash(account.callback_secret)


def url_for(settings, account):
    if not account.callback_secret:
        return None
    return f"{settings['PUBLIC_URL']}/callbacks/{account.kind}/{account.callback_secret}"


def account_for(session, kind, secret):
    """The account a receipt URL belongs to, or None."""
    if not secret or len(secret) > 128:
        return None
    account = session.scalars(
        select(ProviderAccount).where(ProviderAccount.callback_secret_hash == secret_hash(secret))
    ).one_or_none()
    if account is None or account.kind != kind or not same_secret(secret, account.callback_secret):
        return None
    return account
