"""POST /handler/<key> (and the legacy POST /handler): Bitrix24 hands us one SMS.

Bitrix24 never retries a handler call and does not read the answer: a call answered 200 must not be lost. While
the database cannot take it, the call is retried for a few seconds, then written to the spool (b24sms/spool.py)
and stored when the database is back; 503 only when even the spool cannot be written.
"""
import logging

from flask import Blueprint, current_app, jsonify, request

from .. import intake, messaging, spool
from ..config import ConfigError
from ..db import DatabaseUnavailable, get_db, get_session, limit_lock_wait, write_retrying
from ..errors import AppError
from . import outgoing
from .forms import auth_block, posted_data
from .views import message_view

bp = Blueprint("handler", __name__)
logger = logging.getLogger(__name__)
# Seconds of retrying a database outage within the call (Bitrix24 waits on it); the spool takes over after.
STORE_RETRY_SECONDS = 3
# SQLite: seconds each write of the inline send waits for a lock; past that the job sends the stored message.
SEND_LOCK_WAIT = 2


@bp.post("/handler/<handler_key>")
def handle_keyed_sms(handler_key):
    return _handle(handler_key)


@bp.post("/handler")
def handle_sms():
    return _handle(None)


def _handle(handler_key):
    data = posted_data()
    auth = auth_block(data)
    session, settings, http = get_session(), current_app.config, outgoing.http()
    try:
        message, created = write_retrying(
            session, lambda: messaging.store_handler_call(session, settings, data, auth, handler_key, http),
            STORE_RETRY_SECONDS)
    except (DatabaseUnavailable, ConfigError) as exc:  # ConfigError: ENCRYPTION_KEYS cannot read the portal's key
        incoming = intake.Incoming.from_payload(data)  # needs no database: a bad call is a 400 even now
        return _spool(handler_key, incoming, exc)
    answer = message_view(message, created=created)  # as stored, should the database go away during the send
    limit_lock_wait(session, SEND_LOCK_WAIT)
    message = messaging.send_new(session, settings, message, created, http)
    return jsonify(message_view(message, created=created) if message is not None else answer)


def _spool(handler_key, incoming, outage):
    """Keep the call for replay; its key and auth are checked then (they need the database)."""
    try:
        spool.append(current_app.config, handler_key, request.form.items(multi=True))
    except spool.SpoolUnwritable as exc:
        logger.error("message %s not taken: it cannot be stored now (%s) and the spool cannot be written "
                     "(%s)", incoming.message_id, outage, exc)
        raise AppError("The message could not be stored now: the database is unavailable.",
                       "database_unavailable", status=503) from None
    logger.warning("message %s spooled: it cannot be stored now (%s)", incoming.message_id, outage)
    spool.replay_in_background(get_db(), current_app.config, outgoing.http())
    return jsonify(spooled=True, message_id=incoming.message_id)
