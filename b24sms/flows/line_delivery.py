"""Open Lines, both ways on the Bitrix24 side: replies handed to the line their number feeds
(imconnector.send.messages: the client is known by the number, and with the CRM tracker on Bitrix24 links or
creates the contact), and operators' answers confirmed to their line once a provider took them
(imconnector.send.status.delivery)."""
import logging
from collections import defaultdict
from datetime import UTC, timedelta

from sqlalchemy import select, update

from b24sms.bitrix import open_lines
from b24sms.bitrix.errors import BitrixError
from b24sms.bitrix.portal_tokens import rest_client
from b24sms.rules.lifecycle import MessageState
from b24sms.rules.replies import LINE_GAVE_NO_REASON, LINE_SAID_NOTHING
from b24sms.services import Services
from b24sms.store import claims, incoming
from b24sms.store.db import one_of
from b24sms.store.models import Message, Portal, PortalState
from b24sms.store.reply_models import IncomingMessage, IncomingState

logger = logging.getLogger(__name__)

DELIVERY_LEASE = timedelta(minutes=2)
DELIVERY_SLICE = 200  # replies one claim takes
MAX_ATTEMPTS = 12  # then a reply Bitrix24 keeps refusing is given up (it stays in the log)
LINE_BATCH = 20  # replies in one imconnector.send.messages
TAKEN = (MessageState.ACCEPTED, MessageState.SENT, MessageState.DELIVERED, MessageState.UNDELIVERED)


def deliver_due(services: Services, workers) -> int:
    """Hand every due reply to its Open Line, portals in parallel. Returns how many a line took."""
    with services.db.session() as session:
        claim = claims.claim(session, claims.INCOMING, (IncomingMessage.state == IncomingState.PENDING,),
                             among=((Portal, Portal.id == IncomingMessage.portal_id,
                                     Portal.state == PortalState.ACTIVE),),
                             now=services.clock.now(), lease=DELIVERY_LEASE, limit=DELIVERY_SLICE)
        if not claim.ids:
            return 0
        by_portal = defaultdict(list)
        for row in session.execute(select(IncomingMessage.id, IncomingMessage.portal_id)
                                   .where(one_of(session, IncomingMessage.id, claim.ids))):
            by_portal[row.portal_id].append(row.id)
    return workers.map(by_portal, lambda session, portal_id: _deliver(services, session, claim,
                                                                     portal_id, by_portal[portal_id]))


def _deliver(services: Services, session, claim, portal_id, ids) -> int:
    replies = claims.held(session, claims.INCOMING, claim, ids)
    portal = session.get(Portal, portal_id)
    now = services.clock.now()
    by_line = defaultdict(list)
    for reply in replies:
        line = incoming.line_fed_by(session, portal_id, reply.receiver)
        if line is None:  # kept, and shown in the page's log
            claims.settle(session, claims.INCOMING, reply.id, claim, state=IncomingState.NO_LINE, due_at=None)
        else:
            by_line[line.line].append(reply)
    session.commit()
    if not by_line:
        return 0
    client, delivered = rest_client(services, portal), 0
    for line, waiting in by_line.items():
        for batch in [waiting[i:i + LINE_BATCH] for i in range(0, len(waiting), LINE_BATCH)]:
            delivered += _send_to_line(services, session, claim, client, line, batch, now)
    return delivered


def _send_to_line(services, session, claim, client, line, replies, now) -> int:
    try:
        results = open_lines.send_messages(client, services.settings, line, [_client_message(r) for r in replies])
    except open_lines.LineGone as exc:  # deleted or switched off: recorded, not retried for ever
        logger.warning("open line %s is gone or inactive: %s", line, exc)
        incoming.line_gone(session, replies[0].portal_id, line, str(exc))
        for reply in replies:
            claims.settle(session, claims.INCOMING, reply.id, claim, state=IncomingState.LINE_GONE, line=line,
                          error=str(exc)[:500], due_at=None)
        session.commit()
        return 0
    except BitrixError as exc:
        logger.warning("replies to open line %s not taken: %s", line, exc)
        for reply in replies:
            _retry(session, claim, reply, line, str(exc), now)
        session.commit()
        return 0
    delivered, by_id = 0, {result.message_id: result for result in results}
    for reply in replies:
        result = by_id.get(str(reply.id)) or open_lines.LineResult(str(reply.id), False, error=LINE_SAID_NOTHING)
        if result.success:
            delivered += claims.settle(session, claims.INCOMING, reply.id, claim, state=IncomingState.DELIVERED,
                                       line=line, bitrix_chat_id=result.chat_id, bitrix_session_id=result.session_id,
                                       error=None, due_at=None)
        else:
            _retry(session, claim, reply, line, result.error or LINE_GAVE_NO_REASON, now)
    session.commit()
    return delivered


def _client_message(reply) -> open_lines.ClientMessage:
    moment = reply.received_at or reply.created_at
    # A sender that is not a number (a short code, a name) cannot be checked as a phone by Bitrix24.
    return open_lines.ClientMessage(id=str(reply.id), phone=reply.sender, text=reply.body,
                                    date=int(moment.replace(tzinfo=UTC).timestamp()),
                                    skip_phone_validate=not reply.sender.startswith("+"))


def _retry(session, claim, reply, line, why, now):
    attempts = reply.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        claims.settle(session, claims.INCOMING, reply.id, claim, state=IncomingState.FAILED, line=line,
                      attempts=attempts, error=why[:500], due_at=None)
    else:
        claims.settle(session, claims.INCOMING, reply.id, claim, attempts=attempts, line=line, error=why[:500],
                      due_at=now + timedelta(minutes=min(2 ** attempts, 60)))


def confirm_answers(services: Services, workers) -> int:
    """Tell each Open Line that the operators' answers a provider took are delivered. A confirmation is taken by
    flipping its mark (one runner wins the flip); a Bitrix24 failure flips it back for the next pass."""
    with services.db.session() as session:
        candidates = session.scalars(select(Message.id).where(
            Message.line.is_not(None), Message.line_confirmed.is_(False), Message.state.in_(TAKEN)).limit(500)).all()
        if not candidates:
            return 0
        taken = session.execute(update(Message.__table__).where(
            one_of(session, Message.__table__.c.id, candidates), Message.__table__.c.line_confirmed.is_(False))
            .values(line_confirmed=True).returning(Message.__table__.c.id)).scalars().all()
        session.commit()
        rows = session.execute(select(Message.id, Message.portal_id, Message.line, Message.origin,
                                      Message.updated_at).where(one_of(session, Message.id, taken))).all()
    by_portal = defaultdict(list)
    for row in rows:
        by_portal[row.portal_id].append(row)
    return workers.map(by_portal, lambda session, portal_id: _confirm(services, session, portal_id,
                                                                     by_portal[portal_id]))


def _confirm(services, session, portal_id, rows) -> int:
    client, confirmed = rest_client(services, session.get(Portal, portal_id)), 0
    by_line = defaultdict(list)
    for row in rows:
        by_line[row.line].append(row)
    for line, answers in by_line.items():
        try:
            open_lines.confirm_delivery(client, services.settings, line, [_delivered(row) for row in answers])
            confirmed += len(answers)
        except BitrixError as exc:
            logger.warning("answers in open line %s not confirmed: %s", line, exc)
            session.execute(update(Message.__table__).where(
                one_of(session, Message.__table__.c.id, [row.id for row in answers])).values(line_confirmed=False))
    session.commit()
    return confirmed


def _delivered(answer) -> open_lines.Delivered:
    origin = answer.origin or {}
    im = origin.get("im") or {}
    return open_lines.Delivered(im_chat_id=str(im.get("chat_id", "")), im_message_id=str(im.get("message_id", "")),
                                chat_id=str((origin.get("chat") or {}).get("id", "")), message_ids=[str(answer.id)],
                                date=int(answer.updated_at.replace(tzinfo=UTC).timestamp()))
