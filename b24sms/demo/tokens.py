"""The stand-in's OAuth tokens: signed with SECRET_KEY and carrying their user, admin flag and expiry, so that
they still verify after the development server restarts (the job runner keeps using the demo portal's token).

Refresh tokens rotate as Bitrix24's do: a used one is refused for as long as the process remembers it.
"""
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "b24sms.demo-bitrix-token"
ACCESS_LIFETIME = 3600  # as Bitrix24's
REFRESH_LIFETIME = 180 * 24 * 3600
# The demo portal's own stored pair: valid so far ahead that no refresh is ever needed.
LONG_LIFETIME = 10 * 365 * 24 * 3600
ACCESS, REFRESH = "access", "refresh"


class TokenRefused(Exception):
    """The token is not one the stand-in issued (`invalid_token`) or has run out (`expired_token`)."""

    def __init__(self, code, description):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass(frozen=True)
class Token:
    kind: str
    user_id: str
    admin: bool
    expires: int  # Unix time
    nonce: str


def _serializer(settings):
    return URLSafeSerializer(settings.secret_key, salt=SALT)


def issue(settings, user_id, admin, kind=ACCESS, lifetime=None):
    """(token, expires as Unix time) for a user of the demo portal."""
    if lifetime is None:
        lifetime = ACCESS_LIFETIME if kind == ACCESS else REFRESH_LIFETIME
    expires = int(time.time()) + lifetime
    payload = {"k": kind, "u": str(user_id), "a": bool(admin), "e": expires, "n": secrets.token_hex(6)}
    return _serializer(settings).dumps(payload), expires


def issue_pair(settings, user_id, admin, lifetime=None):
    """(access, refresh, access expiry) as the OAuth server hands them out."""
    access, expires = issue(settings, user_id, admin, ACCESS, lifetime)
    refresh, _ = issue(settings, user_id, admin, REFRESH, None if lifetime is None else max(lifetime, REFRESH_LIFETIME))
    return access, refresh, expires


def read(settings, token, kind=ACCESS):
    """The token's claims; TokenRefused when it is not a live token of `kind` that the stand-in issued."""
    if not token or not isinstance(token, str):
        raise TokenRefused("NO_AUTH_FOUND", "Wrong authorization data")
    try:
        payload = _serializer(settings).loads(token)
    except BadSignature:
        raise TokenRefused("invalid_token", "The access token provided is invalid.") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise TokenRefused("invalid_token", "The access token provided is invalid.")
    if int(payload.get("e", 0)) <= time.time():
        raise TokenRefused("expired_token", "The access token provided has expired.")
    return Token(kind=kind, user_id=str(payload["u"]), admin=bool(payload["a"]), expires=int(payload["e"]),
                 nonce=str(payload.get("n", "")))


def application_token(settings):
    """The demo installation's `application_token`: the same after restarts, so the one pinned stays valid."""
    key = settings.secret_key.encode()
    return hmac.new(key, b"b24sms demo application token", hashlib.sha256).hexdigest()[:32]
