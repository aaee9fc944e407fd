"""Intake: a handler call (or a test SMS) validated, counted in segments and stored, once per Bitrix24 id.

Storing is `INSERT ... ON CONFLICT DO NOTHING` on (portal, message_id), so a repeated call, even a concurrent
one or one replayed from the spool, stores nothing new.
"""
from datetime import timedelta

from sqlalchemy import select

from b24sms.rules import lifecycle
from b24sms.rules.handler_call import new_provider_key
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.rules.segments import segments
from b24sms.store.db import dialect_of, insert_of
from b24sms.store.models import Message, utcnow

# The web process's sender sends at once; the job picks up what it left (a crash, a restart) after this grace.
INLINE_GRACE = timedelta(minutes=2)


def receive(session, portal, incoming, *, report_to_bitrix=True, sender=None, sender_code=None, line=None):
    """Store the message (unique per portal + Bitrix id), with the sender name it asks for (`sender`; None: each
    provider's own) and the CODE of the sender it came through (`sender_code`: its statuses are reported under
    it); an operator's answer with its Open Line (`line`; the chat and message ids to confirm it with are in its
    origin). Returns (message, created)."""
    now = utcnow()
    values = {
        "portal_id": portal.id,
        "bitrix_message_id": incoming.message_id,
        "provider_key": new_provider_key(),
        "author_id": str(incoming.origin["user_id"])[:32] if incoming.origin.get("user_id") else None,
        "recipient_raw": incoming.phone,
        "sender": sender,
        "sender_code": sender_code,
        "body": incoming.text,
        "segments": segments(incoming.text),
        "origin": incoming.origin,
        "attempts": 0,
        "report_to_bitrix": report_to_bitrix,
        "line": line,
        **lifecycle.received(now + INLINE_GRACE),
        "created_at": now,
        "updated_at": now,
    }
    try:
        values["recipient"] = normalize(incoming.phone, portal.region)
    except InvalidPhone as exc:
        values.update(recipient=None, **lifecycle.refused_at_intake("invalid_phone", str(exc), report_to_bitrix))
    # INSERT ... ON CONFLICT DO NOTHING: a repeated message_id, even from a concurrent request, stores nothing.
    insert = insert_of(dialect_of(session))
    table = Message.__table__
    statement = (
        insert(table).values(**values)
        .on_conflict_do_nothing(index_elements=["portal_id", "bitrix_message_id"])
        .returning(table.c.id)
    )
    created = session.execute(statement).scalar_one_or_none() is not None
    session.commit()
    message = session.scalars(
        select(Message).where(Message.portal_id == portal.id, Message.bitrix_message_id == incoming.message_id)
    ).one()
    return message, created
