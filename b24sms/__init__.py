"""b24sms: a Bitrix24 SMS provider app. `create_app()` builds the Flask application."""
import logging
from pathlib import Path

from flask import Flask

from . import cli, crypto, db, web
from .config import load_settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config=None):
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_settings(app.instance_path, test_config))
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # urllib3 logs request lines at DEBUG, and OAuth calls carry tokens in the query string.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    crypto.configure(app.config["ENCRYPTION_KEYS"])
    db.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    return app
