"""Retention: old final messages are deleted, their counts folded into per-day statistics exactly once."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from b24sms.config import ConfigError, load_settings
from b24sms.rules.lifecycle import MessageState
from b24sms.store import retention
from b24sms.store.models import DailyMessageCounts, Message, Portal, utcnow
from b24sms.store.statistics import portal_statistics
from tests.helpers import handler_form, install_with_prostor, make_due, message_id, run_job, uninstall
from tests.helpers.rows import stored_message
from tests.helpers.suite import on_postgres, use_settings

LONG_TEXT = "x" * 200  # two GSM-7 segments
OLD = timedelta(days=100)  # beyond the default RETENTION_DAYS of 90


def send_and_settle(client, bitrix, prostor, runner, db, outcomes):
    """Handler calls for message_id(n) with `outcomes` {n: prostor status word or None (left in flight)}, the
    statuses polled. Returns the portal's id."""
    install_with_prostor(client, bitrix)
    for n in outcomes:
        text = LONG_TEXT if n % 2 == 0 else "Hello"
        phone = f"+7 916 123-45-{n:02d}"  # one number each: the same text twice to one number would be a repeat
        assert client.post("/handler", data=handler_form(bitrix, message_id(n), phone=phone, text=text)).status_code \
            == 200
    make_due(db)
    run_job(runner)  # sends whatever the handler left
    for n, outcome in outcomes.items():
        if outcome is not None:
            prostor.statuses[smsc_id_of(db, n)] = outcome
    make_due(db)
    run_job(runner)  # polls the statuses
    with db.session() as session:
        return session.scalars(select(Portal.id)).one()


def smsc_id_of(db, n):
    with db.session() as session:
        return session.scalars(select(Message.provider_message_id)
                               .where(Message.bitrix_message_id == message_id(n))).one()


def age(db, *numbers, by=OLD):
    """Move messages' creation and last change back in time, as if they were that old."""
    with db.session() as session:  # row by row: SQLite cannot subtract an interval from its text times
        for message in session.scalars(select(Message).where(
                Message.bitrix_message_id.in_([message_id(n) for n in numbers]))):
            message.created_at, message.updated_at = message.created_at - by, message.updated_at - by


def remaining(db):
    with db.session() as session:
        return {int(bitrix_id, 16) for bitrix_id in session.scalars(select(Message.bitrix_message_id))}


def statistics(db, portal_id):
    with db.session() as session:
        return portal_statistics(session, portal_id, 120)


def test_old_final_messages_are_deleted_and_their_counts_kept(client, db, bitrix, prostor, runner):
    portal_id = send_and_settle(client, bitrix, prostor, runner, db,
                                {1: "delivered", 2: "delivered", 3: "delivery error", 4: None})
    # 5: an invalid number, failed without a provider
    assert client.post("/handler", data=handler_form(bitrix, message_id(5), phone="12")).status_code == 200
    with db.session() as session:
        assert session.scalars(select(Message.state).where(Message.bitrix_message_id == message_id(5))).one() \
            == MessageState.FAILED
    run_job(runner)  # reports its status to Bitrix24 (a change too)
    age(db, 1, 2, 3, 4, 5)
    before = statistics(db, portal_id)

    output = run_job(runner)

    assert remaining(db) == {4}  # in flight: never deleted, however old
    assert statistics(db, portal_id) == before
    old_day = next(entry for entry in before["days"] if entry["sent"])
    assert old_day == {"date": old_day["date"], "sent": 4, "delivered": 2, "undelivered": 1, "failed": 1,
                       "segments": 2 + 1 + 2 + 1}
    assert before["providers"] == [{"kind": "prostor", "sent": 4, "delivered": 2, "failed": 0}]
    assert "expired=4" in output


def test_recent_and_unfinished_messages_stay(client, db, bitrix, prostor, runner):
    send_and_settle(client, bitrix, prostor, runner, db, {1: "delivered", 2: "delivered", 3: None})
    age(db, 1, by=timedelta(days=89))  # changed within RETENTION_DAYS
    age(db, 3)  # old, but no final status yet

    run_job(runner)

    assert remaining(db) == {1, 2, 3}
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DailyMessageCounts)) == 0


def test_retention_days_is_a_setting(client, db, bitrix, prostor, runner, app):
    send_and_settle(client, bitrix, prostor, runner, db, {1: "delivered", 2: "delivered"})
    age(db, 1, by=timedelta(days=11))
    age(db, 2, by=timedelta(days=9))
    use_settings(app, retention_days=10)

    run_job(runner)

    assert remaining(db) == {2}


def test_retention_days_defaults_to_90_and_must_be_positive(tmp_path, monkeypatch):
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    assert load_settings(tmp_path / "instance").retention_days == 90
    monkeypatch.setenv("RETENTION_DAYS", "0")
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        load_settings(tmp_path / "instance")


def test_counts_folded_in_later_passes_add_up(client, db, bitrix, prostor, runner):
    portal_id = send_and_settle(client, bitrix, prostor, runner, db,
                                {1: "delivered", 2: "delivered", 3: "delivery error", 4: "delivered"})
    before = statistics(db, portal_id)
    age(db, 1, 2)
    run_job(runner)
    age(db, 3, 4)  # created on the same day as 1 and 2: folded into the same row
    run_job(runner)

    assert remaining(db) == set()
    with db.session() as session:
        row = session.scalars(select(DailyMessageCounts)).one()
        assert (row.provider, row.sent, row.delivered, row.undelivered, row.failed, row.segments) == \
            ("prostor", 4, 3, 1, 0, 1 + 2 + 1 + 2)
    after = statistics(db, portal_id)
    assert [e for e in after["days"] if e["sent"]][0]["segments"] == 6 == sum(e["segments"] for e in before["days"])


def test_test_messages_count_too(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id)).one()
        stored_message(session, portal_id, state="delivered", created_at=utcnow() - OLD, report_to_bitrix=False)
    with db.session() as session:
        assert retention.delete_expired(session, 90, utcnow()) == 1
    assert statistics(db, portal_id)["providers"] == [{"kind": "prostor", "sent": 1, "delivered": 1, "failed": 0}]


def test_a_clean_uninstall_removes_the_portals_statistics(client, db, bitrix, prostor, runner):
    send_and_settle(client, bitrix, prostor, runner, db, {1: "delivered"})
    age(db, 1)
    run_job(runner)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DailyMessageCounts)) == 1

    assert uninstall(client, bitrix, "1").status_code == 200

    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DailyMessageCounts)) == 0


def test_many_messages_are_deleted_in_batches(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    old = utcnow() - OLD
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id)).one()
        for n in range(retention.BATCH + 5):
            stored_message(session, portal_id, state="delivered", created_at=old - timedelta(days=n % 3))
    before = statistics(db, portal_id)

    with db.session() as session:
        assert retention.delete_expired(session, 90, utcnow()) == retention.BATCH + 5

    assert remaining(db) == set() and statistics(db, portal_id) == before
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DailyMessageCounts)) == 3


@pytest.mark.skipif(not on_postgres(), reason="row locks are tested on PostgreSQL")
def test_two_runners_at_once_delete_and_count_each_message_once(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    old = utcnow() - OLD
    states = (MessageState.DELIVERED, MessageState.UNDELIVERED, MessageState.FAILED)
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id)).one()
        for n in range(3000):
            stored_message(session, portal_id, state=states[n % 3], created_at=old - timedelta(days=n % 7),
                           provider=("prostor", "smsc")[n % 2], segments=1 + n % 4, taken=n % 5 != 0)
    before = statistics(db, portal_id)
    start = threading.Barrier(2)

    def runner(_):
        start.wait()
        deleted = 0
        with db.session() as session:  # small batches, so that the two interleave many times
            while count := retention.delete_batch(session, utcnow() - timedelta(days=90), size=50):
                deleted += count
        return deleted

    with ThreadPoolExecutor(2) as pool:
        deleted = list(pool.map(runner, range(2)))

    assert sum(deleted) == 3000
    assert remaining(db) == set()
    after = statistics(db, portal_id)
    assert after == before
    assert sum(e["sent"] for e in after["days"]) == 2400
    assert sum(e["delivered"] + e["undelivered"] + e["failed"] for e in after["days"]) == 3000
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DailyMessageCounts)) == 7 * 2
