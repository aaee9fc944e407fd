"""Settings from the environment (architecture.md, "Settings").

In development a `.env` file is read and the two secrets are generated into `instance/`; with
`APP_ENV=production` every required setting must be given or start-up stops with a message naming them.
"""
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from dotenv import load_dotenv

DEFAULTS = {
    "APP_ENV": "development",
    "DATABASE_URL": "sqlite:///instance/b24sms.sqlite3",
    "PUBLIC_URL": "http://localhost:8000",
    "B24_OAUTH_URL": "https://oauth.bitrix.info",
    "B24_CLIENT_ID": "",
    "B24_CLIENT_SECRET": "",
    "SENDER_CODE": "b24sms",
    # Seconds an outgoing HTTP call may take (providers, Bitrix24, OAuth).
    "HTTP_TIMEOUT": "10",
    # Largest request body we read; Bitrix24 handler posts are a few KB.
    "MAX_CONTENT_LENGTH": str(256 * 1024),
    # Background duties.
    "SEND_MAX_ATTEMPTS": "10",
    # Seconds after a lost answer that a provider which still cannot be asked is given up for that message.
    "RECONCILE_FAILOVER_AFTER": "900",
    # Messages with a final state unchanged for this many days are deleted (their counts stay in statistics).
    "RETENTION_DAYS": "90",
    "WORKER_INTERVAL": "20",
    # A `jobs run-once` pass works through everything due until this many seconds are spent (cron: every minute).
    "JOB_PASS_SECONDS": "50",
    # Provider and Bitrix24 calls one job pass (or a web process's sender) may have under way at once.
    "JOB_CONCURRENCY": "16",
    "LOG_LEVEL": "INFO",
    # Where handler calls wait while the database is unreachable (b24sms/spool.py); relative to the project
    # root. Local to each machine: every machine serving the handler replays its own.
    "SPOOL_DIR": "instance/spool",
    # When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.
    "METRICS_TOKEN": "",
}

REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "ENCRYPTION_KEYS", "B24_CLIENT_ID", "B24_CLIENT_SECRET", "PUBLIC_URL")
INTEGER_SETTINGS = ("HTTP_TIMEOUT", "MAX_CONTENT_LENGTH", "SEND_MAX_ATTEMPTS", "WORKER_INTERVAL", "JOB_PASS_SECONDS",
                    "RECONCILE_FAILOVER_AFTER", "RETENTION_DAYS", "JOB_CONCURRENCY")


class ConfigError(RuntimeError):
    """The environment cannot run the app; the message says what to set."""


def load_settings(instance_path, overrides=None):
    """Build the app's settings: defaults < environment < overrides (tests)."""
    overrides = dict(overrides or {})
    env_name = overrides.get("APP_ENV") or os.environ.get("APP_ENV", DEFAULTS["APP_ENV"])
    if env_name != "production":
        load_dotenv(override=False)

    settings = {}
    for name, default in DEFAULTS.items():
        settings[name] = os.environ.get(name, default)
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS"):
        settings[name] = os.environ.get(name, "")
    # Each provider's API base, where the environment overrides it (b24sms/providers: `<KIND>_API_URL`).
    settings.update({name: value for name, value in os.environ.items() if name.endswith("_API_URL")})
    settings.update(overrides)
    settings["APP_ENV"] = env_name

    # The names of the secrets kept in instance/ (development only): start-up warns about them.
    settings["DEVELOPMENT_SECRETS"] = []
    if env_name == "production":
        missing = [name for name in REQUIRED_IN_PRODUCTION if not os.environ.get(name) and not overrides.get(name)]
        if missing:
            raise ConfigError("b24sms cannot start in production: set " + ", ".join(missing))
    else:
        if not settings["SECRET_KEY"]:
            settings["SECRET_KEY"] = _instance_secret(instance_path, "secret_key", lambda: secrets.token_urlsafe(48))
            settings["DEVELOPMENT_SECRETS"].append("SECRET_KEY")
        if not settings["ENCRYPTION_KEYS"]:
            settings["ENCRYPTION_KEYS"] = _instance_secret(
                instance_path, "encryption_key", lambda: Fernet.generate_key().decode()
            )
            settings["DEVELOPMENT_SECRETS"].append("ENCRYPTION_KEYS")

    # The `log` provider sends nothing and reports delivered: offered in development, in production only on request.
    log_provider = settings.get("ENABLE_LOG_PROVIDER", os.environ.get("ENABLE_LOG_PROVIDER"))
    if log_provider is None:
        log_provider = "0" if env_name == "production" else "1"
    settings["ENABLE_LOG_PROVIDER"] = str(log_provider).strip().lower() in ("1", "true", "yes", "on")
    for name in INTEGER_SETTINGS:
        try:
            settings[name] = int(settings[name])
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, got {settings[name]!r}") from None
    if settings["JOB_CONCURRENCY"] < 1:
        raise ConfigError(f"JOB_CONCURRENCY must be at least 1, got {settings['JOB_CONCURRENCY']}")
    if settings["RETENTION_DAYS"] < 1:  # 0 would delete every message the moment it is final
        raise ConfigError(f"RETENTION_DAYS must be at least 1, got {settings['RETENTION_DAYS']}")
    settings["PUBLIC_URL"] = str(settings["PUBLIC_URL"]).rstrip("/")
    settings["B24_OAUTH_URL"] = str(settings["B24_OAUTH_URL"]).rstrip("/")
    settings["DATABASE_URL"] = _absolute_sqlite_url(settings["DATABASE_URL"], instance_path)
    settings["SPOOL_DIR"] = str(Path(instance_path).parent / settings["SPOOL_DIR"])  # an absolute one stays
    return settings


def _instance_secret(instance_path, name, generate):
    """A development secret kept in instance/ so restarts keep sessions and can read stored secrets."""
    path = Path(instance_path) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _absolute_sqlite_url(url, instance_path):
    """`sqlite:///instance/x.sqlite3` is relative to the project root, not to whatever cwd runs us."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite:///:memory:" or url.startswith("sqlite:////"):
        return url
    relative = url[len(prefix):]
    root = Path(instance_path).parent
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return prefix + str(path)
