"""What a portal's messages cost, as their providers said (the spend part of the `/api/stats` answer).

Only prices a provider stated count (messages.cost with its currency); a message a provider took without stating
a price is counted as unpriced, never as 0, so that the page can say "price unknown" instead of showing a sum
that is too low. Amounts are per currency (a chain of providers may bill in roubles and in dollars) and go out as
decimal strings. Days are UTC days of the message's creation, as in the statistics. Retention folds the deleted
messages' spend into daily_spend first (`fold`), so the spend outlives them as the counts do.
"""
from collections import defaultdict
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from b24sms.store.db import dialect_of, insert_of
from b24sms.store.models import DailySpend, Message

PLACES = Decimal("0.000001")  # what messages.cost keeps
UNPRICED = ""  # the currency of daily_spend rows that count messages taken without a price


class Entry(NamedTuple):
    day: date
    provider: str
    currency: str  # UNPRICED: `messages` were taken with no price known
    amount: Decimal
    messages: int


def amount_text(amount: Decimal | float | int) -> str:
    """A sum as JSON: a plain decimal string, at most six places, no trailing zeros ("1.4", "0.0079", "12")."""
    text = format(Decimal(str(amount)).quantize(PLACES), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def portal_spend(session: Session, portal_id: int, first: date, today: date) -> dict[str, Any]:
    """The spend of the days `first`..`today` and of the month `today` falls in:
    {"spend": [{"date", "currency", "amount"}] (days with a known price only, oldest first),
     "spend_by_provider": [{"provider", "currency", "amount"}] (the window's),
     "month_to_date": [{"currency", "amount"}],
     "unpriced": n, "unpriced_by_provider": {"<kind>": n} (the window's messages a provider took without a price),
     "month_to_date_unpriced": n}"""
    month_start = today.replace(day=1)
    by_day: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    by_provider: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    month: dict[str, Decimal] = defaultdict(Decimal)
    unpriced: dict[str, int] = defaultdict(int)
    month_unpriced = 0
    for entry in _entries(session, portal_id, min(first, month_start)):
        if entry.day > today:  # created "in the future" by a clock that jumped
            continue
        in_window, in_month = entry.day >= first, entry.day >= month_start
        if entry.currency == UNPRICED:
            unpriced[entry.provider] += entry.messages if in_window else 0
            month_unpriced += entry.messages if in_month else 0
            continue
        if in_window:
            by_day[(entry.day.isoformat(), entry.currency)] += entry.amount
            by_provider[(entry.provider, entry.currency)] += entry.amount
        if in_month:
            month[entry.currency] += entry.amount
    return {
        "spend": [{"date": day, "currency": currency, "amount": amount_text(total)}
                  for (day, currency), total in sorted(by_day.items())],
        "spend_by_provider": [{"provider": provider, "currency": currency, "amount": amount_text(total)}
                              for (provider, currency), total in sorted(by_provider.items())],
        "month_to_date": [{"currency": currency, "amount": amount_text(total)}
                          for currency, total in sorted(month.items())],
        "unpriced": sum(unpriced.values()),
        "unpriced_by_provider": {kind: n for kind, n in sorted(unpriced.items()) if n},
        "month_to_date_unpriced": month_unpriced,
    }


def _entries(session: Session, portal_id: int, since: date) -> list[Entry]:
    """The spend of the stored messages created since `since`, grouped, and what retention folded."""
    priced = and_(Message.cost.is_not(None), Message.currency.is_not(None))
    taken_unpriced = and_(Message.provider_message_id.is_not(None), Message.cost.is_(None),
                          Message.direction == "out")
    day = func.date(Message.created_at)  # SQLite: 'YYYY-MM-DD' text; PostgreSQL: a date
    provider = func.coalesce(Message.provider, literal(""))
    currency = case((priced, Message.currency), else_=literal(UNPRICED))
    live = session.execute(
        select(day, provider, currency, func.sum(case((priced, Message.cost), else_=0)), func.count())
        .where(Message.portal_id == portal_id, Message.created_at >= datetime.combine(since, time.min),
               priced | taken_unpriced)
        .group_by(day, provider, currency)).all()
    folded = session.execute(
        select(DailySpend.day, DailySpend.provider, DailySpend.currency, DailySpend.amount, DailySpend.messages)
        .where(DailySpend.portal_id == portal_id, DailySpend.day >= since)).all()
    return [Entry(_day(row[0]), row[1] or "", row[2] or UNPRICED, Decimal(str(row[3] or 0)), int(row[4] or 0))
            for row in (*live, *folded)]


def fold(session: Session, rows: Any) -> None:
    """Add deleted messages' spend to their (portal, day, provider, currency) rows (retention's, beside the counts):
    an upsert that adds, so that runners folding into the same row at once both count. `rows` carry portal_id,
    created_at, provider, provider_message_id, cost, currency and direction."""
    totals: dict[tuple[int, date, str, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for row in rows:
        if row.cost is not None and row.currency:
            key, amount = (row.portal_id, row.created_at.date(), row.provider or "", row.currency), row.cost
        elif row.provider_message_id is not None and row.cost is None and row.direction == "out":
            key, amount = (row.portal_id, row.created_at.date(), row.provider or "", UNPRICED), Decimal(0)
        else:
            continue
        totals[key][0] += Decimal(str(amount))
        totals[key][1] += 1
    if not totals:
        return
    # In key order: two runners upserting the same rows take their locks in the same order (no deadlock).
    values = [{"portal_id": portal_id, "day": day, "provider": provider, "currency": currency,
               "amount": amount.quantize(PLACES), "messages": messages}
              for (portal_id, day, provider, currency), (amount, messages) in sorted(totals.items())]
    insert = insert_of(dialect_of(session))
    table = DailySpend.__table__
    statement = insert(table).values(values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["portal_id", "day", "provider", "currency"],
        set_={name: table.c[name] + statement.excluded[name] for name in ("amount", "messages")},
    ))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
