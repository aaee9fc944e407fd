"""A portal's stop list: numbers (E.164) that no SMS goes to."""
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from b24sms.store.db import dialect_of, insert_of
from b24sms.store.models import StopListEntry

ADMIN = "admin"  # an admin added it on the page
REPLY = "reply"  # the recipient answered with a stop word


def add(session: Session, portal_id: int, numbers: Iterable[str], reason: str, now: datetime) -> None:
    """Add the numbers (already E.164); a number listed already keeps its entry. Not committed."""
    rows = [{"portal_id": portal_id, "number": number, "reason": reason, "created_at": now}
            for number in dict.fromkeys(numbers)]
    if rows:
        insert = insert_of(dialect_of(session))
        session.execute(insert(StopListEntry.__table__).values(rows)
                        .on_conflict_do_nothing(index_elements=["portal_id", "number"]))


def remove(session: Session, portal_id: int, numbers: Sequence[str]) -> None:
    if numbers:
        session.execute(delete(StopListEntry).where(StopListEntry.portal_id == portal_id,
                                                    StopListEntry.number.in_(list(numbers))))


def listed(session: Session, portal_id: int, numbers: Iterable[str]) -> set[str]:
    """Which of `numbers` are on the portal's stop list."""
    wanted = sorted(set(numbers))
    if not wanted:
        return set()
    return set(session.scalars(select(StopListEntry.number).where(StopListEntry.portal_id == portal_id,
                                                                  StopListEntry.number.in_(wanted))))


def page(session: Session, portal_id: int, *, q: str | None, before: int | None, limit: int) -> Sequence[StopListEntry]:
    """The newest first; `q`: part of the number; `before`: an entry id, for the next page."""
    query = select(StopListEntry).where(StopListEntry.portal_id == portal_id)
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        if digits:
            query = query.where(StopListEntry.number.contains(digits, autoescape=True))
    if before is not None:
        query = query.where(StopListEntry.id < before)
    return session.scalars(query.order_by(StopListEntry.id.desc()).limit(limit)).all()
