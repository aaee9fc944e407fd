"""The flows that take an SMS in: a Bitrix24 handler call, and a test SMS from the settings page."""
import logging
import secrets

from sqlalchemy.exc import SQLAlchemyError

from . import installs, intake, sending
from .errors import BadRequest
from .models import Message, MessageState

logger = logging.getLogger(__name__)


def store_handler_call(session, settings, data, auth, handler_key=None, http=None):
    """Authenticate the call, validate it and store the message once. Returns (message, created). The web
    handler retries this through a database outage, and the spool replays it after one."""
    portal = installs.portal_for_handler_call(session, settings, auth, handler_key, http)
    incoming = intake.Incoming.from_payload(data)
    return intake.receive(session, portal, incoming)


def send_new(session, settings, message, created, http):
    """Send a message that this call stored (a repeated call sends nothing). Returns the message, or None when
    the send failed and the database cannot be read again (the message is stored: the job sends it)."""
    if created and message.state == MessageState.RECEIVED:
        message = _send_now(session, settings, message, http)
    return message


def send_test_sms(session, settings, portal, user_id, to, text, http):
    """A test SMS from the settings page: stored and sent like any other, never reported to Bitrix24."""
    if not portal.active_accounts:
        raise BadRequest("Save a provider first.", "no_provider")
    incoming = intake.Incoming(message_id="test-" + secrets.token_hex(12), phone=to, text=text,
                               origin={"module_id": "b24sms-test", "user_id": user_id})
    message, _ = intake.receive(session, portal, incoming, report_to_bitrix=False)
    if message.state == MessageState.RECEIVED:
        message = sending.send(session, settings, message.id, http=http)
    return message


def _send_now(session, settings, message, http):
    message_id = message.id  # read now: a failed flush leaves the object unreadable until the rollback
    try:
        return sending.send(session, settings, message_id, http=http)
    except Exception:  # the message is stored: the job will pick it up
        logger.exception("inline send of message %s failed; left for the job", message_id)
        try:
            session.rollback()
            return session.get(Message, message_id, populate_existing=True)
        except SQLAlchemyError:  # the database went away meanwhile
            return None
