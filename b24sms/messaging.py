"""The flows that take an SMS in: a Bitrix24 handler call, and a test SMS from the settings page."""
import secrets

from . import installs, intake, sending
from .errors import N_, BadRequest
from .models import MessageState


def store_handler_call(session, settings, data, auth, handler_key=None, http=None):
    """Authenticate the call, validate it and store the message once. Returns (message, created). The web
    handler retries this through a database outage, and the spool replays it after one."""
    portal = installs.portal_for_handler_call(session, settings, auth, handler_key, http)
    incoming = intake.Incoming.from_payload(data)
    return intake.receive(session, portal, incoming)


def send_test_sms(session, settings, portal, user_id, to, text, http):
    """A test SMS from the settings page: stored and sent like any other, never reported to Bitrix24."""
    if not portal.active_accounts:
        raise BadRequest(N_("Save a provider first."), "no_provider")
    incoming = intake.Incoming(message_id="test-" + secrets.token_hex(12), phone=to, text=text,
                               origin={"module_id": "b24sms-test", "user_id": user_id})
    message, _ = intake.receive(session, portal, incoming, report_to_bitrix=False)
    if message.state == MessageState.RECEIVED:
        message = sending.send(session, settings, message.id, http=http)
    return message
