"""Secrets at rest: MultiFernet over ENCRYPTION_KEYS (first key encrypts, every key decrypts).

Columns typed `Encrypted` are encrypted on the way into the database and decrypted on the way out, so no
code path can store a token or a provider password in the clear by forgetting a call.
"""
import hmac
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from b24sms.config import ConfigError

_vault = None


class Vault:
    def __init__(self, keys):
        names = [key.strip() for key in keys.split(",") if key.strip()]
        if not names:
            raise ConfigError("ENCRYPTION_KEYS is empty")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in names])
        except ValueError:
            message = "ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64 bytes)"
            raise ConfigError(message) from None

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigError("a stored secret cannot be decrypted with any key in ENCRYPTION_KEYS") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key (what `keys rotate` applies to every stored secret)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise ConfigError("a stored secret cannot be decrypted with any key in ENCRYPTION_KEYS") from None


def configure(keys: str) -> Vault:
    global _vault
    _vault = Vault(keys)
    return _vault


def vault() -> Vault:
    if _vault is None:
        raise ConfigError("encryption keys are not configured; call crypto.configure() first")
    return _vault


class Encrypted(TypeDecorator):
    """A text column holding Fernet ciphertext; Python sees the plain string."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else vault().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else vault().decrypt(value)


class EncryptedJSON(Encrypted):
    """A JSON document (provider credentials) stored encrypted as a whole."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else super().process_bind_param(json.dumps(value, sort_keys=True), dialect)

    def process_result_value(self, value, dialect):
        plain = super().process_result_value(value, dialect)
        return None if plain is None else json.loads(plain)


def same_secret(given, expected) -> bool:
    """Constant-time comparison that tolerates missing values (a missing value never matches)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(str(given).encode(), str(expected).encode())
