"""The flows that take an SMS in: a Bitrix24 handler call, and a test SMS from the settings page."""
import secrets

from b24sms.bitrix import installs, sender_names
from b24sms.flows import intake, pausing, sending
from b24sms.rules import handler_call
from b24sms.rules.errors import N_, BadRequest
from b24sms.rules.lifecycle import MessageState
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.services import Services


def store_handler_call(services: Services, session, data, auth, handler_key):
    """Authenticate the call, validate it and store the message once. Returns (message, created). The web
    handler retries this through a database outage, and the spool replays it after one. `handler_key`: the
    key of its URL, None for the legacy /handler."""
    portal = installs.portal_for_handler_call(services, session, auth, handler_key)
    incoming = handler_call.HandlerCall.from_payload(data)
    sender = sender_names.for_code(services.settings, portal, incoming.code)
    return intake.receive(session, portal, incoming, sender=sender, sender_code=incoming.code)


def check_number(portal, to, field="to"):
    """A number typed on the page that cannot take an SMS is refused at its field, before anything is stored."""
    try:
        normalize(to, portal.region)
    except InvalidPhone:
        raise BadRequest(N_("This is not a phone number that can receive SMS."), "invalid_phone",
                         field_path=field) from None


def send_test_sms(services: Services, session, portal, user_id, to, text, sender):
    """A test SMS from the settings page: stored and sent like any other (with the sender name it names, or the
    default one), never reported to Bitrix24."""
    if not portal.active_accounts:
        raise BadRequest(N_("Save a provider first."), "no_provider")
    pausing.refuse_while_paused(portal)
    check_number(portal, to)
    sender = sender_names.named(portal, sender)
    incoming = handler_call.HandlerCall(message_id="test-" + secrets.token_hex(12), phone=to, text=text,
                               origin={"module_id": "b24sms-test", "user_id": user_id})
    message, _ = intake.receive(session, portal, incoming, report_to_bitrix=False, sender=sender)
    if message.state == MessageState.RECEIVED:
        message = sending.send(services, session, message.id)
    return message
