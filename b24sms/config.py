"""Settings from the environment, each named and explained in the README's "Settings" section: one frozen,
typed `Settings`, built once at start-up by `load_settings`.

In development the project's `.env` file is read and the two secrets are generated into `instance/`; with
`APP_ENV=production` every required setting must be given or start-up stops with a message naming them. A name
that is not a setting (an override, or a `B24_...` variable in the environment) stops start-up too: a misspelled
setting must not run as its default.
"""
import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cryptography.fernet import Fernet
from dotenv import load_dotenv


@dataclass(frozen=True)
class Settings:
    """The app's settings. Each field is read from the environment variable of its name in upper case (its
    default here when unset); `api_urls` and `development_secrets` are gathered by `load_settings`. The app
    always gets its settings from `load_settings`; a test may build one directly with the few it needs. Secrets
    (and the database URL, which may carry a password) stay out of its repr, so a log line never shows them."""

    app_env: str = "development"
    database_url: str = field(default="sqlite:///instance/b24sms.sqlite3", repr=False)
    public_url: str = "http://localhost:8000"
    b24_oauth_url: str = "https://oauth.bitrix.info"
    b24_client_id: str = ""
    b24_client_secret: str = field(default="", repr=False)
    sender_code: str = "b24sms"
    # Seconds an outgoing HTTP call may take (providers, Bitrix24, OAuth).
    http_timeout: int = 10
    # Largest request body we read; Bitrix24 handler posts are a few KB.
    max_content_length: int = 256 * 1024
    # Background duties.
    send_max_attempts: int = 10
    # Seconds after a lost answer that a provider which still cannot be asked is given up for that message.
    reconcile_failover_after: int = 900
    # Messages with a final state unchanged for this many days are deleted (their counts stay in statistics).
    retention_days: int = 90
    worker_interval: int = 20
    # A `jobs run-once` pass works through everything due until this many seconds are spent (cron: every minute).
    job_pass_seconds: int = 50
    # Provider and Bitrix24 calls one job pass (or a web process's sender) may have under way at once.
    job_concurrency: int = 64
    log_level: str = "INFO"
    # Where handler calls wait while the database is unreachable (b24sms/flows/spool.py); relative to the project
    # root. Local to each machine: every machine serving the handler replays its own.
    spool_dir: str = "instance/spool"
    # The most the spool may hold (bytes, handler calls); past either, a handler call it would take gets 503.
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_max_calls: int = 100_000
    # Largest body of a handler call (/handler routes): Bitrix24's are a few KB; a 5,000-character Cyrillic SMS
    # (intake's longest), form-encoded twice (message_body and properties[message_text]), is about 61 KB.
    handler_max_bytes: int = 64 * 1024
    # When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: str = field(default="", repr=False)
    # Signs page session tokens; generated in development (instance/secret_key), required in production.
    secret_key: str = field(default="", repr=False)
    # Comma-separated Fernet keys, the first encrypts (b24sms/store/crypto.py); generated like SECRET_KEY.
    encryption_keys: str = field(default="", repr=False)
    # The `log` provider sends nothing and reports delivered: offered in development, in production on request.
    enable_log_provider: bool = True
    # Provider kind -> its API base, from `<KIND>_API_URL` (tests, regional gateways; b24sms/providers).
    api_urls: Mapping[str, str] = field(default_factory=dict)
    # The secrets read from instance/ (development only): start-up warns about them.
    development_secrets: tuple[str, ...] = ()


# `testing` is the test suite's (tests/conftest.py sets it, and removes the developer's settings from the
# environment): the app behaves as in development (the local demo, the `log` provider offered), but reads nothing
# else of the developer's: never a `.env`, never instance/, which may hold the developer's own keys. A secret a
# test does not give is generated for that app alone and kept in memory.
# Any other value stops start-up: a misspelled `production` must not run as development.
ENVIRONMENTS = ("development", "production", "testing")
GATHERED = ("api_urls", "development_secrets")  # Settings' fields that are no environment variable of their own
NAMES = {f.name.upper(): f for f in dataclasses.fields(Settings) if f.name not in GATHERED}
API_URL_SUFFIX = "_API_URL"  # `<KIND>_API_URL`: a provider's API base (b24sms/providers)
# Read from the environment by a library, not by us: prometheus_client (b24sms/store/metrics.py).
LIBRARY_SETTINGS = ("PROMETHEUS_MULTIPROC_DIR",)
OUR_PREFIX = "B24_"  # an environment variable named so that is not a setting stops start-up (a misspelling)
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "ENCRYPTION_KEYS", "B24_CLIENT_ID", "B24_CLIENT_SECRET", "PUBLIC_URL")
AT_LEAST_ONE = ("JOB_CONCURRENCY", "RETENTION_DAYS", "SPOOL_MAX_BYTES", "SPOOL_MAX_CALLS", "HANDLER_MAX_BYTES")
# Development secrets not given: (setting, its file in instance/, how a new one is made).
GENERATED_SECRETS = (("SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(48)),
                     ("ENCRYPTION_KEYS", "encryption_key", lambda: Fernet.generate_key().decode()))
SWITCHED_ON = ("1", "true", "yes", "on")


# A sender name's CODE is SENDER_CODE + "_" + a suffix of up to 16 characters, and a message keeps its CODE in 64.
MAX_SENDER_CODE = 64 - 17


class ConfigError(RuntimeError):
    """The environment cannot run the app; the message says what to set."""


def is_setting(name: str) -> bool:
    """Whether the app reads the environment variable `name` (the suite removes every such one of the
    developer's: tests/conftest.py)."""
    return name in NAMES or name in LIBRARY_SETTINGS or name.endswith(API_URL_SUFFIX)


def environment_name(overrides) -> str:
    name = overrides.get("APP_ENV") or os.environ.get("APP_ENV", Settings.app_env)
    if name not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}; got {name!r}")
    return name


def load_settings(instance_path, overrides=None) -> Settings:
    """The app's settings: defaults < environment < overrides (tests). `overrides` are named as the environment
    variables are; one that is not a setting is an error."""
    overrides = dict(overrides or {})
    _refuse_unknown(overrides)
    env_name = environment_name(overrides)
    if env_name == "development":
        # The `.env` beside instance/ (the project root, where the Makefile is), whatever the working directory.
        load_dotenv(Path(instance_path).parent / ".env", override=False)
    _refuse_unknown({name: None for name in os.environ if name.startswith(OUR_PREFIX)})
    given = {name: value for name, value in os.environ.items() if is_setting(name)}
    given.update(overrides)
    if env_name == "production":
        missing = [name for name in REQUIRED_IN_PRODUCTION if not given.get(name)]
        if missing:
            raise ConfigError("b24sms cannot start in production: set " + ", ".join(missing))

    values = {name.lower(): _typed(name, given[name]) for name in NAMES if name in given}
    values.update(app_env=env_name, api_urls=MappingProxyType({
        name.removesuffix(API_URL_SUFFIX).lower(): str(value) for name, value in given.items()
        if name.endswith(API_URL_SUFFIX) and value}))
    if "ENABLE_LOG_PROVIDER" not in given:
        values["enable_log_provider"] = env_name != "production"
    settings = Settings(**values)
    _check(settings)
    return dataclasses.replace(
        settings, **_secrets(settings, env_name, instance_path),
        public_url=settings.public_url.rstrip("/"), b24_oauth_url=settings.b24_oauth_url.rstrip("/"),
        database_url=_absolute_sqlite_url(settings.database_url, instance_path),
        spool_dir=str(Path(instance_path).parent / settings.spool_dir))  # relative to the project root, if not absolute


def _refuse_unknown(names):
    unknown = sorted(name for name in names if not is_setting(name))
    if unknown:
        raise ConfigError(f"not a b24sms setting: {', '.join(unknown)} (misspelled? README's \"Settings\" "
                          "names them all)")


def _typed(name, value):
    kind = NAMES[name].type
    if kind is bool:
        return str(value).strip().lower() in SWITCHED_ON
    if kind is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    return str(value)


def _secrets(settings, env_name, instance_path):
    """SECRET_KEY and ENCRYPTION_KEYS where not given: this app's own in testing (instance/ may be the
    developer's), kept in instance/ in development (named in `development_secrets`)."""
    made, from_instance = {}, []
    if env_name == "production":
        return made
    for name, file_name, generate in GENERATED_SECRETS:
        if getattr(settings, name.lower()):
            continue
        if env_name == "testing":
            made[name.lower()] = generate()
        else:
            made[name.lower()] = _instance_secret(instance_path, file_name, generate)
            from_instance.append(name)
    made["development_secrets"] = tuple(from_instance)
    return made


def _check(settings):
    for name in AT_LEAST_ONE:
        value = getattr(settings, name.lower())
        if value < 1:  # RETENTION_DAYS=0 would delete every message the moment it is final
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if not 1 <= len(settings.sender_code) <= MAX_SENDER_CODE:
        raise ConfigError(f"SENDER_CODE must have 1 to {MAX_SENDER_CODE} characters, got {settings.sender_code!r}")


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
