"""The one claim primitive: rows taken with `FOR UPDATE SKIP LOCKED`, stamped with a lease token and a lease end,
and written back only by the holder of that token.

A claim is one short transaction: the due rows are selected and locked (skipping rows another runner has locked),
then one conditional UPDATE stamps them by id, re-checking the condition (SQLite has no row locks: the UPDATE is what
decides there). The claim is committed at once, so no lock is held across a provider or Bitrix24 call.

Fencing: the lease token, not the clock, says who may write. A runner whose lease ran out (it hung, or its
clock is behind) and was taken over finds its token gone: `held()` returns none of those rows, a fenced
`settle()` changes nothing, and any ORM write of a Message fails with StaleDataError (models.Message is
versioned on its token).
"""
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, bindparam, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from b24sms.store.db import core_columns, lock_rows, one_of, plain_records
from b24sms.store.models import Message, Portal, ProviderAccount
from b24sms.store.reply_models import IncomingMessage


@dataclass(frozen=True)
class Queue:
    """A table worked through by claims: its due column (when the next runner may take a row) and its token."""

    model: type[Message] | type[Portal] | type[IncomingMessage] | type[ProviderAccount]
    due: InstrumentedAttribute[datetime | None]  # the column whose value <= now makes a row due
    token: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]  # the holder's lease token
    free: str | None  # the token's value once a holder settled the row
    null_is_due: bool = False  # messages: no due time means nothing to do; portals: nobody holds it


MESSAGES = Queue(Message, Message.due_at, Message.lease_token, "")
PORTAL_REPORTS = Queue(Portal, Portal.report_not_before, Portal.report_lease, None, null_is_due=True)
# Replies on their way to an Open Line, and the accounts whose replies a duty fetches (never fetched: due).
INCOMING = Queue(IncomingMessage, IncomingMessage.due_at, IncomingMessage.lease, None)
REPLY_PULLS = Queue(ProviderAccount, ProviderAccount.replies_due_at, ProviderAccount.replies_lease, None,
                    null_is_due=True)


@dataclass(frozen=True)
class Claim:
    token: str
    # The rows this claim holds (its lease ends at their due time; then another runner may take them).
    ids: tuple[int, ...]
    # With `columns` given to the claim: plain records of those columns of its rows, as the claim left them, in id
    # order (the rows need not be read again before the work they are for).
    records: tuple[Any, ...] = ()


def new_token() -> str:
    return secrets.token_hex(8)


def claim(session: Session, queue: Queue, where: Sequence[ColumnElement[bool]], *, now: datetime,
          lease: timedelta, limit: int, among: Iterable[tuple[Any, ...]] = (), order_by: Sequence[Any] | None = None,
          values: dict[str, Any] | None = None, columns: Sequence[Any] = ()) -> Claim:
    """Take up to `limit` rows of `queue` matching `where` (conditions on the queue's own table, re-checked by the
    stamping UPDATE) whose due time has come, for `lease`. `among`: joins that narrow the choice, each
    `(table, onclause, *conditions)` (a portal's state, say). `values`: more columns set by the claim (a state
    change: the caller takes them from lifecycle). `columns`: what the stamping UPDATE returns of each row, as
    the Claim's records. Returns the Claim; its rows come from `held()`."""
    model = queue.model
    due: tuple[ColumnElement[bool], ...]
    if queue.null_is_due:
        due = (queue.due.is_(None) | (queue.due <= now),)
    else:
        due = (queue.due.is_not(None), queue.due <= now)
    candidates = select(model.id).where(*where, *due)
    for table, onclause, *conditions in among:
        candidates = candidates.join(table, onclause).where(*conditions)
    # Two statements: the due rows are chosen and locked first, then stamped by id. As one statement (the choice a
    # WITH or a subquery of the UPDATE), PostgreSQL may lock the candidates one at a time through a nested loop,
    # or run the choice again for the UPDATE's rows, and its LIMIT then no longer bounds what is taken.
    chosen = session.scalars(candidates.order_by(*(order_by if order_by is not None else (queue.due,)))
                             .limit(limit).with_for_update(skip_locked=True, of=model)).all()
    return _stamp(session, queue, chosen, (*where, *due), now + lease, values, columns)


def claim_ids(session: Session, queue: Queue, ids: Sequence[int], where: Sequence[ColumnElement[bool]], *,
              now: datetime, lease: timedelta, values: dict[str, Any] | None = None) -> Claim:
    """Take the named rows (those still matching `where`, due or not): for a sender handed them directly."""
    model = queue.model
    locked = session.scalars(select(model.id).where(one_of(session, model.id, ids), *where)
                             .with_for_update(skip_locked=True)).all() if ids else []
    return _stamp(session, queue, locked, where, now + lease, values)


def _stamp(session: Session, queue: Queue, chosen: Sequence[int], where: Sequence[ColumnElement[bool]],
           until: datetime, values: dict[str, Any] | None, columns: Sequence[Any] = ()) -> Claim:
    """Stamp the `chosen` rows that still match `where` with a new token and lease end; commit. The Claim (with
    `columns`: and records of those columns of the stamped rows)."""
    token = new_token()
    records: list[Any] = []
    if chosen:
        model = queue.model
        # A Core statement: the ORM's bulk-update machinery costs more than the write.
        table = cast(Table, model.__table__)
        stamped = session.execute(
            update(table).where(one_of(session, table.c.id, chosen), *where)
            .values({queue.token.key: token, queue.due.key: until, **(values or {})})
            .returning(*core_columns(model, (model.id, *(c for c in columns if c.key != "id")))))
        records = sorted(plain_records(stamped), key=lambda record: record.id)
    session.commit()
    return Claim(token=token, ids=tuple(record.id for record in records), records=tuple(records) if columns else ())


def held(session: Session, queue: Queue, claim_: Claim, ids: Iterable[int] | None = None, lock: bool = False,
         columns: Sequence[Any] | None = None) -> Sequence[Any]:
    """The claim's rows that it still holds (token unchanged), fresh from the database, in id order; `lock`:
    locked until the transaction ends, for a write that must see a receipt's change made meanwhile. With
    `columns`: plain records of those columns (write them back with `write_held`), not ORM objects."""
    ids = list(claim_.ids if ids is None else ids)
    if not ids:
        return []
    table = queue.model.__table__  # Core columns: plain rows come back without the ORM's loading machinery
    where = (one_of(session, table.c.id, ids), table.c[queue.token.key] == claim_.token)
    if lock:
        return lock_rows(session, queue.model, *where, columns=columns)
    if columns is not None:
        return plain_records(session.execute(select(*core_columns(queue.model, columns)).where(*where)
                                             .order_by(table.c.id)))
    return session.scalars(select(queue.model).where(*where).order_by(queue.model.id)
                           .execution_options(populate_existing=True)).all()


def write_held(session: Session, queue: Queue, claim_: Claim, records: Sequence[Any], names: Iterable[str],
               locked: bool = False) -> int:
    """Write the `names` attributes of `records` (from `held(..., columns=...)`) back, each row only while the claim
    still holds it, in one executemany (rows in id order, so two runners never wait on each other's rows in a
    circle). `locked`: the transaction holds the rows locked already (`held(..., lock=True)`), so the rows given the
    same values are written by one statement each (a poll's answers are mostly alike: delivered, asked again in a
    minute), the rest by the executemany. Returns how many rows it wrote."""
    if not records:
        return 0
    names = tuple(names)
    # Core statements: not the ORM's bulk update by primary key.
    table = queue.model.metadata.tables[queue.model.__tablename__]
    holder = table.c[queue.token.key] == claim_.token
    written, apart = 0, list(records)
    if locked:
        apart, alike = [], defaultdict(list)
        for record in records:
            try:
                alike[tuple(getattr(record, name) for name in names)].append(record)
            except TypeError:  # a value that cannot be a key (a JSON list): written on its own
                apart.append(record)
        for values, same in alike.items():
            if len(same) == 1:
                apart += same
                continue
            result = session.execute(update(table).where(one_of(session, table.c.id, [r.id for r in same]), holder)
                                     .values(dict(zip(names, values))))
            written += cast(CursorResult[Any], result).rowcount
    if apart:
        statement = (update(table).where(table.c.id == bindparam("_id"), holder)
                     .values({name: bindparam(f"_{name}") for name in names}))
        result = session.execute(statement, [{"_id": r.id, **{f"_{name}": getattr(r, name) for name in names}}
                                             for r in apart])
        written += cast(CursorResult[Any], result).rowcount
    return written


def settle(session: Session, queue: Queue, row_id: int, claim_: Claim, **values: Any) -> bool:
    """Write `values` to one held row, only if the claim still holds it, and end the lease. Returns whether it
    landed."""
    values.setdefault(queue.token.key, queue.free)
    result = session.execute(
        update(queue.model).where(queue.model.id == row_id, queue.token == claim_.token).values(**values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1
