"""One message of the log, looked at closely (its whole trail), and a failed one sent again by an administrator.

A message that failed stays failed: the state machine never moves a final state back (b24sms/rules/lifecycle.py),
and Bitrix24 was told. Sending it again stores a new message (a new id, `received` like any other) with the same
number, text and sender name, whose origin keeps where the first came from and links it (`resent_from`). Bitrix24
does not know the new one, so its statuses are not reported to the CRM card; the log shows them. It passes the
guard rails like any message (stop list, caps, quiet hours) but is never taken for a repeat of the one it
replaces: the admin sends it on purpose (b24sms/flows/guards.py exempts what is not reported to Bitrix24).
"""
import secrets

from b24sms.flows import intake, sending
from b24sms.flows.messaging import check_number
from b24sms.rules import handler_call
from b24sms.rules.errors import N_, BadRequest, Conflict, NotFound
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store import message_log

RESEND_PREFIX = "resend-"  # the stored Bitrix24 message id of a message sent again: no Bitrix24 message has it


def message_of(session, portal, viewer, message_id):
    """The log's message `message_id` (its `id`) as the viewer may see it: any of the portal's for an
    administrator, their own for anyone else; 404 `unknown_message` otherwise."""
    message = message_log.visible_message(session, portal, viewer, message_id)
    if message is None:
        raise NotFound(N_("There is no such message in this portal's log."), "unknown_message")
    return message


def resend(services: Services, session, portal, viewer, message_id):
    """Send a failed message again (an administrator's decision; the view checks who asks). Returns the new
    message as stored and, where it could go at once, as its first send left it."""
    original = message_of(session, portal, viewer, message_id)
    if original.state != MessageState.FAILED or original.direction != "out":
        raise Conflict(N_("Only a message that failed can be sent again."), "not_failed")
    if not portal.active_accounts:
        raise BadRequest(N_("Save a provider first."), "no_provider")
    if portal.paused:
        raise Conflict(N_("Sending is paused for this portal: resume it to send the message again."), "paused")
    check_number(portal, original.recipient_raw)
    origin = {**(original.origin or {}), "resent_from": original.id, "resent_by": viewer.user_id}
    incoming = handler_call.HandlerCall(message_id=RESEND_PREFIX + secrets.token_hex(12),
                                        phone=original.recipient_raw, text=original.body, origin=origin)
    message, _ = intake.receive(session, portal, incoming, report_to_bitrix=False, sender=original.sender,
                                sender_code=original.sender_code)
    if message.state == MessageState.RECEIVED:
        message = sending.send(services, session, message.id)
    return message
