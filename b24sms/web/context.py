"""What a view works with: the app's services (b24sms/services.py, built once by `create_app`) and the request's
database session, opened on first use and closed when the request ends."""
import logging

from flask import current_app, g
from sqlalchemy.exc import SQLAlchemyError

from b24sms.services import EXTENSION, Services
from b24sms.store.db import error_line

logger = logging.getLogger(__name__)


def services() -> Services:
    return current_app.extensions[EXTENSION]


def db_session():
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = services().db.Session()
    return g.db_session


def _close_db_session(_exc):
    session = g.pop("db_session", None)
    if session is not None:
        try:
            session.close()
        except SQLAlchemyError as exc:  # the connection died under us (a database restart): the answer stands
            logger.info("request's database session closed on a dead connection (%s)", error_line(exc))


def init_app(app):
    app.teardown_appcontext(_close_db_session)
