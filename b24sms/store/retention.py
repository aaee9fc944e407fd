"""Retention: messages with a final state left unchanged for RETENTION_DAYS are deleted; their counts are folded
into daily_message_counts (and their spend into daily_spend) first, in the same transaction, so statistics outlive them.

Safe beside other runners: each batch claims its rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one
runner at a time), and only the rows the DELETE actually returned are counted, so every deleted message is
counted exactly once, and a batch that rolls back neither deletes nor counts anything.
"""
from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import delete, select

from b24sms.rules.lifecycle import MessageState
from b24sms.store import spend
from b24sms.store.db import dialect_of, insert_of
from b24sms.store.models import DailyMessageCounts, Message
from b24sms.store.statistics import COUNTS, NO_PROVIDER, counts_of

BATCH = 1000
MAX_BATCHES = 50  # per pass: a backlog (the first run, a long outage) is worked off over several passes


def delete_expired(session, retention_days, now):
    """The job's duty: messages final for `retention_days` (RETENTION_DAYS). Returns how many were deleted."""
    cutoff = now - timedelta(days=retention_days)
    deleted = 0
    for _ in range(MAX_BATCHES):
        count = delete_batch(session, cutoff)
        deleted += count
        if count < BATCH:  # nothing more, or the rest is another runner's now
            break
    return deleted


def delete_batch(session, cutoff, size=BATCH):
    """Delete up to `size` expired messages and fold their counts, in one transaction."""
    # Claimed first, then deleted by id: one DELETE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) makes
    # PostgreSQL hash-join the whole table against the batch.
    still_expired = (Message.state.in_(MessageState.FINAL), Message.updated_at < cutoff)
    expired = session.scalars(
        select(Message.id).where(*still_expired).limit(size).with_for_update(skip_locked=True)
    ).all()
    if not expired:
        session.commit()
        return 0
    rows = session.execute(  # the condition again: SQLite has no row locks to hold between the two
        delete(Message).where(Message.id.in_(expired), *still_expired)
        .returning(Message.portal_id, Message.created_at, Message.provider, Message.state, Message.segments,
                   Message.provider_message_id, Message.cost, Message.currency, Message.direction)
        .execution_options(synchronize_session=False)
    ).all()
    fold(session, rows)
    spend.fold(session, rows)  # what they cost (or that no price was known) outlives them too
    session.commit()
    return len(rows)


def fold(session, rows):
    """Add deleted messages' counts to their (portal, day, provider) rows: an upsert that adds, so that runners
    folding into the same row at once both count."""
    totals: defaultdict[tuple[int, date, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for row in rows:
        key = (row.portal_id, row.created_at.date(), row.provider or NO_PROVIDER)
        for name, value in counts_of(row.state, row.provider_message_id, row.segments).items():
            totals[key][name] += value
    if not totals:
        return
    # In key order: two runners upserting the same rows take their locks in the same order (no deadlock).
    values = [{"portal_id": portal_id, "day": day, "provider": provider, **counts}
              for (portal_id, day, provider), counts in sorted(totals.items())]
    insert = insert_of(dialect_of(session))
    table = DailyMessageCounts.__table__
    statement = insert(table).values(values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["portal_id", "day", "provider"],
        set_={name: table.c[name] + statement.excluded[name] for name in COUNTS},
    ))
