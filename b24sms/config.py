"""Settings from the environment (architecture.md, "Settings").

In development the project's `.env` file is read and the two secrets are generated into `instance/`; with
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
    # Where handler calls wait while the database is unreachable (b24sms/flows/spool.py); relative to the project
    # root. Local to each machine: every machine serving the handler replays its own.
    "SPOOL_DIR": "instance/spool",
    # The most the spool may hold (bytes, handler calls); past either, a handler call it would take gets 503.
    "SPOOL_MAX_BYTES": str(256 * 1024 * 1024),
    "SPOOL_MAX_CALLS": "100000",
    # Largest body of a handler call (/handler routes): Bitrix24's are a few KB; a 5,000-character Cyrillic SMS
    # (intake's longest), form-encoded twice (message_body and properties[message_text]), is about 61 KB.
    "HANDLER_MAX_BYTES": str(64 * 1024),
    # When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.
    "METRICS_TOKEN": "",
}

# `testing` is the test suite's (tests/conftest.py sets it, and removes the developer's settings from the
# environment): the app behaves as in development (the local demo, the `log` provider offered), but reads nothing
# else of the developer's: never a `.env`, never instance/, which may hold the developer's own keys. A secret a
# test does not give is generated for that app alone and kept in memory.
# Any other value stops start-up: a misspelled `production` must not run as development.
ENVIRONMENTS = ("development", "production", "testing")
# Besides the DEFAULTS' names, the app reads these from the environment (b24sms/store/metrics.py reads the last one).
SECRETS = ("SECRET_KEY", "ENCRYPTION_KEYS")
OTHER_SETTINGS = ("ENABLE_LOG_PROVIDER", "PROMETHEUS_MULTIPROC_DIR")
API_URL_SUFFIX = "_API_URL"  # `<KIND>_API_URL`: a provider's API base (b24sms/providers)
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "ENCRYPTION_KEYS", "B24_CLIENT_ID", "B24_CLIENT_SECRET", "PUBLIC_URL")
INTEGER_SETTINGS = ("HTTP_TIMEOUT", "MAX_CONTENT_LENGTH", "SEND_MAX_ATTEMPTS", "WORKER_INTERVAL", "JOB_PASS_SECONDS",
                    "RECONCILE_FAILOVER_AFTER", "RETENTION_DAYS", "JOB_CONCURRENCY", "SPOOL_MAX_BYTES",
                    "SPOOL_MAX_CALLS", "HANDLER_MAX_BYTES")
# Development secrets not given: (setting, its file in instance/, how a new one is made).
GENERATED_SECRETS = (("SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(48)),
                     ("ENCRYPTION_KEYS", "encryption_key", lambda: Fernet.generate_key().decode()))


# A sender name's CODE is SENDER_CODE + "_" + a suffix of up to 16 characters, and a message keeps its CODE in 64.
MAX_SENDER_CODE = 64 - 17


class ConfigError(RuntimeError):
    """The environment cannot run the app; the message says what to set."""


def is_setting(name: str) -> bool:
    """Whether the app reads the environment variable `name` (the suite removes every such one of the
    developer's: tests/conftest.py)."""
    return name in DEFAULTS or name in SECRETS or name in OTHER_SETTINGS or name.endswith(API_URL_SUFFIX)


def environment_name(overrides) -> str:
    name = overrides.get("APP_ENV") or os.environ.get("APP_ENV", DEFAULTS["APP_ENV"])
    if name not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}; got {name!r}")
    return name


def load_settings(instance_path, overrides=None):
    """Build the app's settings: defaults < environment < overrides (tests)."""
    overrides = dict(overrides or {})
    env_name = environment_name(overrides)
    if env_name == "development":
        # The `.env` beside instance/ (the project root, where the Makefile is), whatever the working directory.
        load_dotenv(Path(instance_path).parent / ".env", override=False)

    settings = {}
    for name, default in DEFAULTS.items():
        settings[name] = os.environ.get(name, default)
    for name in SECRETS:
        settings[name] = os.environ.get(name, "")
    # Each provider's API base, where the environment overrides it (b24sms/providers: `<KIND>_API_URL`).
    settings.update({name: value for name, value in os.environ.items() if name.endswith(API_URL_SUFFIX)})
    settings.update(overrides)
    settings["APP_ENV"] = env_name

    # The names of the secrets kept in instance/ (development only): start-up warns about them.
    settings["DEVELOPMENT_SECRETS"] = []
    if env_name == "production":
        missing = [name for name in REQUIRED_IN_PRODUCTION if not os.environ.get(name) and not overrides.get(name)]
        if missing:
            raise ConfigError("b24sms cannot start in production: set " + ", ".join(missing))
    else:
        for name, file_name, generate in GENERATED_SECRETS:
            if settings[name]:
                continue
            if env_name == "testing":
                settings[name] = generate()  # this app's alone: instance/ may be the developer's
            else:
                settings[name] = _instance_secret(instance_path, file_name, generate)
                settings["DEVELOPMENT_SECRETS"].append(name)

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
    if not 1 <= len(settings["SENDER_CODE"]) <= MAX_SENDER_CODE:
        raise ConfigError(f"SENDER_CODE must have 1 to {MAX_SENDER_CODE} characters, got {settings['SENDER_CODE']!r}")
    for name in ("SPOOL_MAX_BYTES", "SPOOL_MAX_CALLS", "HANDLER_MAX_BYTES"):
        if settings[name] < 1:
            raise ConfigError(f"{name} must be at least 1, got {settings[name]}")
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
