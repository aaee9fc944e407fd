"""A Bitrix24 handler call from end to end: stored once (riding out a database outage), answered, then sent by
the web process's sender (b24sms/web_sender.py), off the request.

Bitrix24 never retries a handler call and does not read the answer: a call answered 200 must not be lost. While
the database cannot take it, the call is retried for a few seconds, then written to the spool (b24sms/spool.py)
and stored when the database is back; 503 only when even the spool cannot be written.
"""
import logging
from dataclasses import dataclass

from . import intake, messaging, spool
from .config import ConfigError
from .db import DatabaseUnavailable, write_retrying
from .errors import N_, AppError
from .models import Message, MessageState

logger = logging.getLogger(__name__)
# Seconds of retrying a database outage within the call (Bitrix24 waits on it); the spool takes over after.
STORE_RETRY_SECONDS = 3


@dataclass(frozen=True)
class Outcome:
    message: Message | None = None  # as stored; None when the call was spooled
    created: bool = False
    spooled_message_id: str | None = None


def take(db, session, settings, data, auth, form_pairs, handler_key, http, sender):
    """Store the call's message once and hand it to `sender`; spool the call when it cannot be stored now."""
    try:
        message, created = write_retrying(
            session, lambda: messaging.store_handler_call(session, settings, data, auth, handler_key, http),
            STORE_RETRY_SECONDS)
    except (DatabaseUnavailable, ConfigError) as exc:  # ConfigError: ENCRYPTION_KEYS cannot read the portal's key
        incoming = intake.Incoming.from_payload(data)  # needs no database: a bad call is a 400 even now
        _spool(db, settings, handler_key, form_pairs, incoming, exc, http, sender)
        return Outcome(spooled_message_id=incoming.message_id)
    if created and message.state == MessageState.RECEIVED:  # a repeated call sends nothing
        sender.submit(message.portal_id, message.id)
    return Outcome(message=message, created=created)


def _spool(db, settings, handler_key, form_pairs, incoming, outage, http, sender):
    """Keep the call for replay; its key and auth are checked then (they need the database)."""
    try:
        spool.append(settings, handler_key, form_pairs)
    except spool.SpoolUnwritable as exc:
        logger.error("message %s not taken: it cannot be stored now (%s) and the spool cannot be written "
                     "(%s)", incoming.message_id, outage, exc)
        raise AppError(N_("The message could not be stored now: the database is unavailable."),
                       "database_unavailable", status=503) from None
    logger.warning("message %s spooled: it cannot be stored now (%s)", incoming.message_id, outage)
    spool.replay_in_background(db, settings, http, sender)
