"""Statistics of a portal's messages per day and per provider kind (the `/api/stats` answer): the counts that
retention folded into daily_message_counts plus the messages still stored, read in one statement so that a
retention batch committing meanwhile is seen either wholly before or wholly after.

What counts, per message (retention folds deleted messages by the same rule, `counts_of`):
- sent: a provider took it (gave us its id); segments: the segments of the sent ones, what providers bill;
- delivered, undelivered, failed: its state. Test messages count like any other.
Days are UTC days of the message's creation.
"""
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import CompoundSelect, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from b24sms.rules.lifecycle import MessageState
from b24sms.store import spend
from b24sms.store.models import DailyMessageCounts, Message, utcnow

COUNTS = ("sent", "delivered", "undelivered", "failed", "segments")
NO_PROVIDER = ""  # messages no provider was tried for (an invalid number, no provider configured)


def counts_of(state: str, provider_message_id: str | None, segments: int) -> dict[str, int]:
    """One message's contribution to its day's counts."""
    taken = provider_message_id is not None
    return {
        "sent": int(taken),
        "delivered": int(state == MessageState.DELIVERED),
        "undelivered": int(state == MessageState.UNDELIVERED),
        "failed": int(state == MessageState.FAILED),
        "segments": segments if taken else 0,
    }


def portal_statistics(session: Session, portal_id: int, days: int, today: date | None = None) -> dict[str, Any]:
    """The last `days` days up to `today` (UTC), oldest first, every day listed (zeros included), and the
    window's totals per provider kind:
    {"days": [{"date", "sent", "delivered", "undelivered", "failed", "segments"}],
     "providers": [{"kind", "sent", "delivered", "failed"}], "refused": {...}, and the spend (store/spend.py)}"""
    if days < 1:
        raise ValueError("days must be at least 1")
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    by_day = {first + timedelta(days=n): dict.fromkeys(COUNTS, 0) for n in range(days)}
    by_provider: dict[str, dict[str, int]] = {}
    for row in session.execute(_counts_since(portal_id, first)):
        day = row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day)[:10])
        if day not in by_day:  # created "in the future" by a clock that jumped: outside the window
            continue
        for name in COUNTS:
            by_day[day][name] += row._mapping[name]
        if row.provider != NO_PROVIDER:
            totals = by_provider.setdefault(row.provider, {"sent": 0, "delivered": 0, "failed": 0})
            for name in totals:
                totals[name] += row._mapping[name]
    return {
        "refused": refused_since(session, portal_id, first),
        "days": [{"date": day.isoformat(), **counts} for day, counts in by_day.items()],
        "providers": [{"kind": kind, **totals} for kind, totals in
                      sorted(by_provider.items(), key=lambda item: (-item[1]["sent"], item[0]))],
        # what the messages cost where their providers said, and how many were sent with no price known
        **spend.portal_spend(session, portal_id, first, today),
    }


def refused_since(session: Session, portal_id: int, first: date) -> dict[str, int]:
    """Messages of the window the guard rails refused, by reason (of the messages still stored)."""
    rows = session.execute(
        select(Message.reason, func.count())
        .where(Message.portal_id == portal_id, Message.created_at >= datetime.combine(first, time.min),
               Message.state == MessageState.FAILED, Message.reason.is_not(None))
        .group_by(Message.reason)).all()
    return {reason: count for reason, count in rows}


def _counts_since(portal_id: int, first: date) -> CompoundSelect:
    """Rows of (day, provider, counts...): folded counts and live messages, grouped, in one UNION ALL."""
    folded = select(
        DailyMessageCounts.day.label("day"), DailyMessageCounts.provider.label("provider"),
        *(getattr(DailyMessageCounts, name).label(name) for name in COUNTS),
    ).where(DailyMessageCounts.portal_id == portal_id, DailyMessageCounts.day >= first)

    # The SQL twin of counts_of: keep the two in step.
    taken = Message.provider_message_id.is_not(None)
    day = func.date(Message.created_at)  # SQLite: 'YYYY-MM-DD' text; PostgreSQL: a date
    provider = func.coalesce(Message.provider, literal(NO_PROVIDER))
    live = select(
        day.label("day"), provider.label("provider"),
        func.sum(case((taken, 1), else_=0)).label("sent"),
        *(func.sum(case((Message.state == state, 1), else_=0)).label(state)
          for state in (MessageState.DELIVERED, MessageState.UNDELIVERED, MessageState.FAILED)),
        func.sum(case((taken, Message.segments), else_=0)).label("segments"),
    ).where(
        Message.portal_id == portal_id, Message.created_at >= datetime.combine(first, time.min),
    ).group_by(day, provider)
    return union_all(folded, live)
