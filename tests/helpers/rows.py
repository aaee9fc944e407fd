"""Rows put straight into the database, and counted there."""
import itertools
from datetime import timedelta

from sqlalchemy import func, insert, select

from b24sms.rules.handler_call import new_provider_key
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import EncryptionCanary, Message, Portal, ProviderAccount, utcnow
from b24sms.store.reply_models import IncomingMessage, IncomingState
from tests.helpers import install_with_prostor

_numbers = itertools.count(1)


def stored_message(session, portal_id, *, state, created_at, provider="prostor", taken=True, segments=1,
                   updated_at=None, report_to_bitrix=True):
    """A message row as the flows leave it: `taken` means a provider gave us its id."""
    n = next(_numbers)
    message = Message(
        portal_id=portal_id, bitrix_message_id=f"stat-{n}", provider_key=new_provider_key(),
        recipient="+79161234567", recipient_raw="+79161234567", body="Hello", segments=segments,
        provider=provider, provider_message_id=f"p{n}" if taken else None, state=state,
        report_to_bitrix=report_to_bitrix, created_at=created_at, updated_at=updated_at or created_at,
    )
    session.add(message)
    return message


def stored_reply(session, portal_id, *, created_at, sender="+79161234567", receiver="+79990000001", text="Hi",
                 state=IncomingState.DELIVERED, line="3", provider="smsc"):
    """A client's reply as the flows leave it (stored, then handed to its Open Line)."""
    n = next(_numbers)
    reply = IncomingMessage(portal_id=portal_id, provider=provider, provider_message_id=f"r{n}", sender=sender,
                            receiver=receiver, body=text, state=state, line=line, created_at=created_at,
                            updated_at=created_at)
    session.add(reply)
    return reply


def installed_portal_id(client, bitrix, db):
    install_with_prostor(client, bitrix)
    with db.session() as session:
        return session.scalars(select(Portal.id)).one()


def accepted_backlog(db, prostor, count, domain=None, first=0):
    """`count` messages Prostor took and has since delivered, all due for polling now."""
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id).where(Portal.domain == domain) if domain
                                    else select(Portal.id)).one()
        account_id = session.scalars(select(ProviderAccount.id).where(ProviderAccount.portal_id == portal_id)).one()
        now = utcnow()
        rows = [{"portal_id": portal_id, "bitrix_message_id": f"{n:032x}", "provider_key": new_provider_key(),
                 "recipient": "+79161234567", "recipient_raw": "+79161234567", "body": "campaign", "segments": 1,
                 "account_id": account_id, "provider": "prostor", "provider_message_id": str(50_000 + n),
                 "state": MessageState.ACCEPTED, "attempts": 1, "due_at": now - timedelta(seconds=1),
                 "report_pending": False, "report_to_bitrix": True, "possible_duplicate": False,
                 "created_at": now, "updated_at": now} for n in range(first, first + count)]
        session.execute(insert(Message), rows)
    for n in range(first, first + count):
        prostor.statuses[str(50_000 + n)] = "delivered"


def due_for_polling(db, domain, provider, provider_id):
    """One message the portal's provider account took under `provider_id`, due for polling now. Its id."""
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id).where(Portal.domain == domain)).one()
        account_id = session.scalars(select(ProviderAccount.id).where(ProviderAccount.portal_id == portal_id)).one()
        now = utcnow()
        return session.scalars(insert(Message).returning(Message.id), [{
            "portal_id": portal_id, "bitrix_message_id": new_provider_key(), "provider_key": new_provider_key(),
            "recipient": "+79161234567", "recipient_raw": "+79161234567", "body": "hi", "segments": 1,
            "account_id": account_id, "provider": provider, "provider_message_id": provider_id,
            "state": MessageState.ACCEPTED, "attempts": 1, "due_at": now - timedelta(seconds=1),
            "report_pending": False, "report_to_bitrix": True, "possible_duplicate": False, "created_at": now,
            "updated_at": now}]).one()


def count(db, model):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def canary_rows(db):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(EncryptionCanary))


def waiting_messages(db, portal_id, numbers, *, text, recipient="+79161234567"):
    """Handler calls stored for message_id(n) of `numbers` and left to the job (the web sender was busy), in one
    statement: as intake stores them, due now. `text` may name the message: "Order {n}"."""
    now = utcnow()
    rows = [{"portal_id": portal_id, "bitrix_message_id": f"{n:032x}", "provider_key": new_provider_key(),
             "recipient": recipient, "recipient_raw": recipient, "body": text.format(n=n), "segments": 1, "attempts": 0,
             "origin": {"module_id": "bizproc"}, "state": MessageState.RECEIVED, "due_at": now - timedelta(seconds=1),
             "report_pending": False, "report_to_bitrix": True, "created_at": now, "updated_at": now}
            for n in numbers]
    with db.session() as session:
        session.execute(insert(Message), rows)
