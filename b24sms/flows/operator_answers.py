"""An operator's answer in an Open Line (the event ONIMCONNECTORMESSAGEADD) becomes an SMS to the chat's number:
stored first like a handler call (once per Bitrix24 message), sent off the request through the portal's provider
chain with its guard rails (a number that sent STOP gets nothing), from the number that received the client's
last reply where the provider needs a from-number (Twilio), and confirmed to the line once a provider took
it (b24sms/flows/line_delivery.py). Also the line events: a deleted line, a connector switched off on a line."""
import logging
from dataclasses import dataclass, replace

from sqlalchemy import select

from b24sms.bitrix import installs, open_lines
from b24sms.flows import intake
from b24sms.rules import replies as reply_rules
from b24sms.rules.handler_call import HandlerCall
from b24sms.rules.lifecycle import MessageState
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.rules.replies import plain_text
from b24sms.services import Services
from b24sms.store import incoming
from b24sms.store.reply_models import OpenLine

logger = logging.getLogger(__name__)
ORIGIN_MODULE = "imopenlines"  # the origin's module_id of an operator's answer (the log and the trail say so)


@dataclass(frozen=True)
class Answered:
    stored: int  # new messages (a repeated event stores nothing)
    skipped: int  # entries with no number or no text


def take_answers(services: Services, session, data, auth) -> Answered:
    """ONIMCONNECTORMESSAGEADD: each operator message of our connector stored as an SMS to its chat's number and
    handed to the web sender. The pinned application_token is the proof."""
    portal = installs.pinned_portal(session, auth)
    details = data.get("data") if isinstance(data.get("data"), dict) else {}
    if str(details.get("CONNECTOR", "")).lower() != open_lines.connector_id(services.settings):
        return Answered(0, 0)  # another app's connector: not ours to send
    line = str(details.get("LINE", ""))[:16]
    entries = details.get("MESSAGES")
    entries = list(entries.values()) if isinstance(entries, dict) else entries if isinstance(entries, list) else []
    stored = skipped = 0
    for entry in entries:
        answer = _answer(entry, line)
        if answer is None:
            skipped += 1
            continue
        message, created = intake.receive(session, portal, _from_reply_number(session, portal, answer, line),
                                          report_to_bitrix=False, line=line)
        if created:
            stored += 1
            if message.state == MessageState.RECEIVED:
                services.outbox.submit(portal.id, message.id)
    return Answered(stored, skipped)


def _answer(entry, line) -> HandlerCall | None:
    if not isinstance(entry, dict):
        return None
    im = entry.get("im") if isinstance(entry.get("im"), dict) else {}
    message = entry.get("message") if isinstance(entry.get("message"), dict) else {}
    chat = entry.get("chat") if isinstance(entry.get("chat"), dict) else {}
    number, text = str(chat.get("id", "")).strip(), plain_text(str(message.get("text", "")))
    im_message_id = str(im.get("message_id", "")).strip()
    if not number or not text or not im_message_id:
        return None
    origin = {"module_id": ORIGIN_MODULE, "line": line, "user_id": str(message.get("user_id", ""))[:32] or None,
              "im": {"chat_id": str(im.get("chat_id", ""))[:32], "message_id": im_message_id[:32]},
              "chat": {"id": number[:32]}}
    return HandlerCall(message_id=f"openlines-{line}-{im_message_id}"[:64], phone=number, text=text, origin=origin)


def _from_reply_number(session, portal, answer: HandlerCall, line) -> HandlerCall:
    """The answer, its origin naming the reply number (and its account) that received the client's last reply,
    which a provider that needs a from-number sends it from (b24sms/rules/replies.py answer_from)."""
    try:
        client = normalize(answer.phone, portal.region)
    except InvalidPhone:
        return answer  # refused at intake
    received = incoming.last_reply_to(session, portal.id, client, line)
    if received is None:
        return answer
    number, account_id = received
    return replace(answer, origin={**answer.origin, **reply_rules.reply_number_origin(number, account_id)})


def line_deleted(session, auth, line) -> bool:
    """ONIMCONNECTORLINEDELETE / ONIMCONNECTORSTATUSDELETE: the line takes no more replies (they stay kept)."""
    portal = installs.pinned_portal(session, auth)
    row = session.scalars(select(OpenLine).where(OpenLine.portal_id == portal.id,
                                                 OpenLine.line == str(line)[:16])).first()
    if row is not None:
        row.active = False
        row.error = "the line was deleted or disconnected in Bitrix24"
    session.commit()
    return row is not None

