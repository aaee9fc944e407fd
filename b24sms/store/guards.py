"""What the guard rails keep: a portal's guard settings, the counters its caps count in, the last time a text went
to a number (repeat suppression), and the spend its money caps compare with.

Caps and repeats are decided by single statements that the database serialises per row, so two job runners and
the web sender at once never let more through than a cap allows, nor two copies of a repeat:
- a counter row per portal and period is upserted with `messages = min(messages + wanted, cap)` and
  `granted = what of `wanted` fitted` in one statement (both read the row's old values); PostgreSQL holds the row
  locked until the transaction ends, so the next runner's statement sees the sum;
- a repeat is an upsert of (portal, number, text) whose UPDATE only happens when the last send is outside the
  window: a statement that returns no row found a repeat.
Every call here runs inside the caller's transaction and commits nothing.
"""
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import cast

from sqlalchemy import Integer, Table, bindparam, case, delete, func, literal, select, update
from sqlalchemy.orm import Session

from b24sms.rules.guards import GuardSettings, from_stored
from b24sms.store.db import dialect_of, insert_of
from b24sms.store.models import GuardCounter, GuardRepeat, Message, Portal

NO_CAP = 2_000_000_000  # a counter without a cap still counts (a cap set later starts from the period's count)


def settings_of(portal: Portal) -> GuardSettings:
    return from_stored(portal.guards)


def store_settings(portal: Portal, guards: GuardSettings) -> None:
    portal.guards = guards.as_json()


def take(session: Session, portal_id: int, period: str, wanted: int, cap: int | None) -> int:
    """Count up to `wanted` messages in the portal's `period` without passing `cap` (None: no cap). Returns how
    many fitted. The row stays locked (PostgreSQL) until the caller's transaction ends."""
    if wanted <= 0:
        return 0
    limit = NO_CAP if cap is None else cap
    if limit <= 0:
        return 0
    return int(session.execute(_take_statement(dialect_of(session)), {
        "portal_id": portal_id, "period": period, "wanted": wanted, "limit": limit, "first": min(wanted, limit),
    }).scalar_one())


@cache
def _take_statement(dialect: str):
    """The counting upsert, built once per dialect (every message sent runs it; building it costs as much as
    running it)."""
    table = cast(Table, GuardCounter.__table__)
    column = table.c
    wanted, limit, first = (bindparam(name, type_=Integer) for name in ("wanted", "limit", "first"))
    statement = insert_of(dialect)(table).values(portal_id=bindparam("portal_id"), period=bindparam("period"),
                                                messages=first, granted=first)
    fits = column.messages + wanted <= limit
    return statement.on_conflict_do_update(
        index_elements=[column.portal_id, column.period],
        set_={"messages": case((fits, column.messages + wanted), else_=limit),
              "granted": case((fits, wanted), (column.messages >= limit, literal(0)), else_=limit - column.messages)},
    ).returning(column.granted)


def give_back(session: Session, portal_id: int, period: str, count: int) -> None:
    """Un-count messages taken in this transaction that will not go after all (repeats found after the count)."""
    if count > 0:
        smaller = func.max if dialect_of(session) == "sqlite" else func.greatest
        session.execute(update(GuardCounter).where(GuardCounter.portal_id == portal_id, GuardCounter.period == period)
                        .values(messages=smaller(GuardCounter.messages - count, 0))
                        .execution_options(synchronize_session=False))


def counted(session: Session, portal_id: int, period: str) -> int:
    return session.scalar(select(GuardCounter.messages).where(GuardCounter.portal_id == portal_id,
                                                              GuardCounter.period == period)) or 0


def first_send(session: Session, portal_id: int, recipient: str, text_key: str, now: datetime,
               since: datetime) -> bool:
    """Note that the text goes to the number now, unless it went there after `since`: then it is a repeat
    (False). Copies racing each other: one gets True."""
    return session.execute(_first_send_statement(dialect_of(session)), {
        "portal_id": portal_id, "recipient": recipient, "text_key": text_key, "sent_at": now, "since": since,
    }).scalar_one_or_none() is not None


@cache
def _first_send_statement(dialect: str):
    """The repeat upsert, built once per dialect (as _take_statement)."""
    table = cast(Table, GuardRepeat.__table__)
    column = table.c
    statement = insert_of(dialect)(table).values(portal_id=bindparam("portal_id"), recipient=bindparam("recipient"),
                                                text_key=bindparam("text_key"), sent_at=bindparam("sent_at"))
    return statement.on_conflict_do_update(
        index_elements=[column.portal_id, column.recipient, column.text_key],
        set_={"sent_at": statement.excluded.sent_at},
        where=column.sent_at < bindparam("since", type_=column.sent_at.type),
    ).returning(column.id)


def forget_repeats(session: Session, before: datetime) -> int:
    """Drop repeat records older than any window could reach (the retention duty's)."""
    result = session.execute(delete(GuardRepeat).where(GuardRepeat.sent_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def spent_since(session: Session, portal_id: int, since: datetime) -> Decimal:
    """What the portal's messages created since `since` cost, where their provider said (unknown costs count 0)."""
    total = session.scalar(select(func.sum(Message.cost)).where(
        Message.portal_id == portal_id, Message.created_at >= since, Message.cost.is_not(None)))
    return Decimal(total or 0)
