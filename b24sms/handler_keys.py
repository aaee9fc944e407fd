"""Handler keys: HANDLER is `PUBLIC_URL/handler/<key>`, a random secret per portal that names and authenticates it
(Bitrix24 posts messages that have no author without any `auth` block). Looked up by its SHA-256, kept
encrypted so that the URL can be registered again; never logged."""
import hashlib
import secrets

from sqlalchemy import select

from .crypto import same_secret
from .errors import NotFound
from .models import Portal

MAX_KEY_LENGTH = 128


def key_hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


def ensure_handler_key(portal):
    """Give the portal its handler key (192 random bits) unless it has one: registered URLs must stay valid."""
    if not portal.handler_key:
        portal.handler_key = secrets.token_urlsafe(24)
        portal.handler_key_hash = key_hash(portal.handler_key)


def handler_url(settings, portal):
    return f"{settings['PUBLIC_URL']}/handler/{portal.handler_key}"


def portal_by_key(session, handler_key):
    portal = None
    if handler_key and len(handler_key) <= MAX_KEY_LENGTH:
        portal = session.scalars(select(Portal).where(Portal.handler_key_hash == key_hash(handler_key))).one_or_none()
    if portal is None or not same_secret(handler_key, portal.handler_key):
        raise NotFound("No handler address like this one.", "unknown_handler")
    return portal
