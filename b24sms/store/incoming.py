"""Replies as stored: taken in once per provider id, however often a provider pushes or a duty fetches them."""
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from b24sms.store.db import dialect_of, insert_of
from b24sms.store.reply_models import IncomingMessage, OpenLine


def insert_new(session: Session, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the rows whose (portal, provider, provider id) is not stored yet (INSERT ... ON CONFLICT DO NOTHING,
    so a reply pushed twice at once is stored once). Returns the rows that were new. Not committed."""
    insert = insert_of(dialect_of(session))
    table = IncomingMessage.__table__
    new = []
    for row in rows:  # one at a time: which ones were new is what the stop list and the count need
        statement = (insert(table).values(**row)
                     .on_conflict_do_nothing(index_elements=["portal_id", "provider", "provider_message_id"])
                     .returning(table.c.id))
        if session.execute(statement).scalar_one_or_none() is not None:
            new.append(row)
    return new


def last_reply_to(session: Session, portal_id: int, client: str, line: str) -> tuple[str, int] | None:
    """(the reply number, its account) that received the most recent reply from the number `client` to the portal,
    the replies that went to Open Line `line` first; None when the client never replied."""
    row = session.execute(
        select(IncomingMessage.receiver, IncomingMessage.account_id)
        .where(IncomingMessage.portal_id == portal_id, IncomingMessage.sender == client,
               IncomingMessage.account_id.is_not(None))
        .order_by(case((IncomingMessage.line == line, 0), else_=1), IncomingMessage.created_at.desc(),
                  IncomingMessage.id.desc())
        .limit(1)).first()
    return (row.receiver, row.account_id) if row is not None else None


def line_fed_by(session: Session, portal_id: int, number: str) -> OpenLine | None:
    """The portal's active Open Line that the reply number feeds (the lowest line id where several do)."""
    lines = session.scalars(select(OpenLine).where(OpenLine.portal_id == portal_id, OpenLine.active.is_(True))
                            .order_by(OpenLine.id)).all()
    return next((line for line in lines if number in (line.reply_numbers or [])), None)


def line_gone(session: Session, portal_id: int, line: str, why: str) -> None:
    """Bitrix24 says the line is deleted or inactive: it takes no more replies until connected again."""
    row = session.scalars(select(OpenLine).where(OpenLine.portal_id == portal_id, OpenLine.line == line)).first()
    if row is not None:
        row.active, row.error = False, why[:500]
