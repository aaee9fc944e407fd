"""b24sms: a Bitrix24 SMS provider app. `create_app()` builds the Flask application."""
import logging
from pathlib import Path

from flask import Flask

from b24sms import cli, http_client, log_lines, web
from b24sms._version import __version__  # noqa: F401 (b24sms.__version__)
from b24sms.bitrix.rate_limit import TokenBucket
from b24sms.config import Settings, is_setting, load_settings
from b24sms.demo import page as demo_page
from b24sms.flows import outbox
from b24sms.services import EXTENSION, OutageWaits, Services, SystemClock
from b24sms.store import canary, crypto
from b24sms.store.db import Database
from b24sms.web import i18n

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)


def create_app(test_config=None, instance_path=None):
    """The app; `instance_path` (default: instance/ beside the package) holds development secrets.
    `test_config`: settings named as in the environment, and Flask's own keys (TESTING); anything else is an
    error (b24sms/config.py)."""
    app = Flask(__name__, instance_path=str(instance_path or ROOT / "instance"))
    settings = configure(app, test_config)
    i18n.init_app(app)
    web.init_app(app)
    if settings.app_env != "production":  # the local demo and its Bitrix24 stand-in (GET /demo)
        demo_page.init_app(app)
    cli.init_app(app)
    return app


def configure(app, test_config=None) -> Settings:
    """The app's settings and services, from the environment and `test_config`; returns the settings. Apart from
    its pages and commands (create_app's), this is all an app is: the test suite configures one app per process anew
    for each test, which is much cheaper than compiling its URL rules each time."""
    flask_keys, overrides = _split(test_config or {}, app.config)
    settings = load_settings(app.instance_path, overrides)
    # Flask's app.config holds what Flask itself reads; every setting of ours is read from `settings`.
    app.config.update(flask_keys, SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_content_length)
    log_lines.configure(settings.log_level)  # one line per record: outside text escaped
    # urllib3 logs request lines at DEBUG, and OAuth calls carry tokens in the query string.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    _warn_about_development_secrets(settings.development_secrets)
    crypto.configure(settings.encryption_keys)
    services = build_services(settings)
    app.extensions[EXTENSION] = services
    # Keys that cannot read the stored secrets are logged, not fatal: /healthz then answers 503 with the reason.
    canary.check_at_start_up(services.db)
    return settings


def build_services(settings: Settings) -> Services:
    """This process's services: one database engine, one HTTP client, one rate limit for Bitrix24, and the web
    sender (handler calls are answered once stored; this process's sender then calls the provider)."""
    clock = SystemClock()
    return Services(settings=settings, db=Database.of_process(settings.database_url),
                    http=http_client.build(settings.public_url, connections_per_host=settings.job_concurrency),
                    clock=clock,
                    bitrix_rate_limit=TokenBucket(clock), outage_waits=OutageWaits(), make_outbox=outbox.WebSender)


def _split(test_config, flask_config):
    """(Flask's own keys that a test gives, such as TESTING; the rest, settings to load_settings). SECRET_KEY and
    MAX_CONTENT_LENGTH are settings, which create_app hands on to Flask."""
    flask_keys = {name: value for name, value in test_config.items()
                  if name in flask_config and not is_setting(name)}
    return flask_keys, {name: value for name, value in test_config.items() if name not in flask_keys}


def _warn_about_development_secrets(names):
    if names:
        logger.warning(
            "DEVELOPMENT-ONLY %s from instance/ (generated there, not set in the environment). Production must "
            "set SECRET_KEY and ENCRYPTION_KEYS (with APP_ENV=production); never copy these into it.",
            " and ".join(names),
        )
