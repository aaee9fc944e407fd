"""What a portal's messages cost, as their providers said (the spend part of the `/api/stats` answer).

Only prices a provider stated count (messages.cost with its currency); a message a provider took without stating
a price is counted as unpriced, never as 0, so that the page can say "price unknown" instead of showing a sum
that is too low. Amounts are per currency (a chain of providers may bill in roubles and in dollars) and go out as
decimal strings. Days are UTC days of the message's creation, as in the statistics; the spend is read from the
stored messages, so it reaches back RETENTION_DAYS at most.
"""
from collections import defaultdict
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from b24sms.store.models import Message

PLACES = Decimal("0.000001")  # what messages.cost keeps


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
    since = datetime.combine(first, time.min)
    month_start = datetime.combine(today.replace(day=1), time.min)
    day = func.date(Message.created_at)  # SQLite: 'YYYY-MM-DD' text; PostgreSQL: a date
    priced = (Message.portal_id == portal_id, Message.cost.is_not(None), Message.currency.is_not(None))

    by_day = session.execute(
        select(day.label("day"), Message.currency, func.sum(Message.cost))
        .where(*priced, Message.created_at >= since).group_by(day, Message.currency)).all()
    spend = sorted(({"date": _day(row.day).isoformat(), "currency": row.currency, "amount": amount_text(row[2])}
                    for row in by_day if _day(row.day) <= today), key=lambda e: (e["date"], e["currency"]))

    by_provider = session.execute(
        select(Message.provider, Message.currency, func.sum(Message.cost))
        .where(*priced, Message.created_at >= since).group_by(Message.provider, Message.currency)).all()
    providers = sorted(({"provider": kind or "", "currency": currency, "amount": amount_text(total)}
                        for kind, currency, total in by_provider), key=lambda e: (e["provider"], e["currency"]))

    month = session.execute(
        select(Message.currency, func.sum(Message.cost))
        .where(*priced, Message.created_at >= month_start).group_by(Message.currency)).all()

    unpriced: dict[str, int] = defaultdict(int)
    taken_unpriced = (Message.portal_id == portal_id, Message.provider_message_id.is_not(None),
                      Message.cost.is_(None), Message.direction == "out")
    for kind, count in session.execute(
            select(Message.provider, func.count()).where(*taken_unpriced, Message.created_at >= since)
            .group_by(Message.provider)):
        unpriced[kind or ""] += count
    month_unpriced = session.scalar(
        select(func.count()).select_from(Message).where(*taken_unpriced, Message.created_at >= month_start))
    return {
        "spend": spend,
        "spend_by_provider": providers,
        "month_to_date": [{"currency": currency, "amount": amount_text(total)}
                          for currency, total in sorted(month, key=lambda row: row[0])],
        "unpriced": sum(unpriced.values()),
        "unpriced_by_provider": dict(sorted(unpriced.items())),
        "month_to_date_unpriced": int(month_unpriced or 0),
    }


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
