"""b24sms: a Bitrix24 SMS provider app. `create_app()` builds the Flask application."""
import logging
from pathlib import Path

from flask import Flask

from b24sms import cli, http_client, log_lines, web
from b24sms._version import __version__  # noqa: F401 (b24sms.__version__)
from b24sms.config import load_settings
from b24sms.flows import outbox  # noqa: E402
from b24sms.store import canary, crypto, db  # noqa: E402
from b24sms.web import i18n

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)


def create_app(test_config=None, instance_path=None):
    """The app; `instance_path` (default: instance/ beside the package) holds development secrets."""
    app = Flask(
        __name__,
        instance_path=str(instance_path or ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_settings(app.instance_path, test_config))
    log_lines.configure(app.config["LOG_LEVEL"])  # one line per record: outside text escaped
    # urllib3 logs request lines at DEBUG, and OAuth calls carry tokens in the query string.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    _warn_about_development_secrets(app.config["DEVELOPMENT_SECRETS"])
    crypto.configure(app.config["ENCRYPTION_KEYS"])
    db.init_app(app)
    app.extensions["b24sms.http"] = http_client.build(app.config["PUBLIC_URL"])
    # Handler calls are answered once stored; this process's sender then calls the provider.
    app.extensions["b24sms.sender"] = outbox.WebSender(app.extensions["b24sms.db"], app.config,
                                                           app.extensions["b24sms.http"])
    i18n.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    # Keys that cannot read the stored secrets are logged, not fatal: /healthz then answers 503 with the reason.
    canary.check_at_start_up(app.extensions["b24sms.db"])
    return app


def _warn_about_development_secrets(names):
    if names:
        logger.warning(
            "DEVELOPMENT-ONLY %s from instance/ (generated there, not set in the environment). Production must "
            "set SECRET_KEY and ENCRYPTION_KEYS (with APP_ENV=production); never copy these into it.",
            " and ".join(names),
        )
