"""Per-day and per-provider statistics: folded counts of deleted messages plus the messages still stored."""
from datetime import date, datetime, timedelta

import pytest

from b24sms.store.models import DailyMessageCounts, Portal, utcnow
from b24sms.store.statistics import portal_statistics
from tests.helpers.rows import installed_portal_id, stored_message

TODAY = date(2026, 11, 23)


def at(day, hour=12):
    return datetime(day.year, day.month, day.day, hour)


def day_of(stats, day):
    return next(entry for entry in stats["days"] if entry["date"] == day.isoformat())


def test_every_day_of_the_window_is_listed_oldest_first_with_zeros(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    with db.session() as session:
        stats = portal_statistics(session, portal_id, 7, today=TODAY)

    assert [entry["date"] for entry in stats["days"]] == [(TODAY - timedelta(days=n)).isoformat()
                                                          for n in range(6, -1, -1)]
    assert stats["days"][0] == {"date": "2026-11-17", "sent": 0, "delivered": 0, "undelivered": 0, "failed": 0,
                                "segments": 0}
    assert stats["providers"] == []


def test_live_messages_are_counted_by_creation_day_state_and_provider(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    yesterday = TODAY - timedelta(days=1)
    with db.session() as session:
        stored_message(session, portal_id, state="delivered", created_at=at(TODAY), segments=2)
        stored_message(session, portal_id, state="undelivered", created_at=at(TODAY, 0), segments=3)
        stored_message(session, portal_id, state="sent", created_at=at(TODAY, 23))  # not final yet: sent
        stored_message(session, portal_id, state="delivered", created_at=at(yesterday), provider="smsc",
                       report_to_bitrix=False)  # a test message counts too
        # Refused by the provider, and an invalid number no provider was tried for: failed, never sent.
        stored_message(session, portal_id, state="failed", created_at=at(yesterday), taken=False, segments=5)
        stored_message(session, portal_id, state="failed", created_at=at(yesterday), provider=None, taken=False)
        stored_message(session, portal_id, state="delivered", created_at=at(TODAY - timedelta(days=7)))  # before

    with db.session() as session:
        stats = portal_statistics(session, portal_id, 7, today=TODAY)

    assert day_of(stats, TODAY) == {"date": TODAY.isoformat(), "sent": 3, "delivered": 1, "undelivered": 1,
                                    "failed": 0, "segments": 6}
    assert day_of(stats, yesterday) == {"date": yesterday.isoformat(), "sent": 1, "delivered": 1,
                                        "undelivered": 0, "failed": 2, "segments": 1}
    assert stats["providers"] == [{"kind": "prostor", "sent": 3, "delivered": 1, "failed": 1},
                                  {"kind": "smsc", "sent": 1, "delivered": 1, "failed": 0}]


def test_folded_counts_and_live_messages_add_up(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    with db.session() as session:
        session.add(DailyMessageCounts(portal_id=portal_id, day=TODAY, provider="prostor", sent=10, delivered=7,
                                       undelivered=2, failed=1, segments=14))
        session.add(DailyMessageCounts(portal_id=portal_id, day=TODAY - timedelta(days=30), provider="prostor",
                                       sent=99, delivered=99, undelivered=0, failed=0, segments=99))  # outside
        stored_message(session, portal_id, state="delivered", created_at=at(TODAY), segments=2)

    with db.session() as session:
        stats = portal_statistics(session, portal_id, 30, today=TODAY)

    assert day_of(stats, TODAY) == {"date": TODAY.isoformat(), "sent": 11, "delivered": 8, "undelivered": 2,
                                    "failed": 1, "segments": 16}
    assert len(stats["days"]) == 30 and sum(entry["sent"] for entry in stats["days"]) == 11
    assert stats["providers"] == [{"kind": "prostor", "sent": 11, "delivered": 8, "failed": 1}]


def test_other_portals_messages_are_not_counted(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    with db.session() as session:
        other = Portal(member_id="other-member", domain="other.bitrix24.ru", client_endpoint="https://x/rest/")
        session.add(other)
        session.flush()
        stored_message(session, other.id, state="delivered", created_at=at(TODAY))
        session.add(DailyMessageCounts(portal_id=other.id, day=TODAY, provider="prostor", sent=1, delivered=1,
                                       undelivered=0, failed=0, segments=1))

    with db.session() as session:
        stats = portal_statistics(session, portal_id, 1, today=TODAY)

    assert stats["days"] == [{"date": TODAY.isoformat(), "sent": 0, "delivered": 0, "undelivered": 0,
                              "failed": 0, "segments": 0}]


def test_today_defaults_to_the_current_utc_day(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    with db.session() as session:
        stored_message(session, portal_id, state="delivered", created_at=utcnow())
    with db.session() as session:
        stats = portal_statistics(session, portal_id, 1)
    assert stats["days"][0]["date"] == utcnow().date().isoformat() and stats["days"][0]["delivered"] == 1


def test_a_window_of_no_days_is_refused(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    with db.session() as session, pytest.raises(ValueError):
        portal_statistics(session, portal_id, 0)


def test_api_stats_answers_the_window_for_admins_only(client, db, bitrix, prostor):
    from tests.helpers import bearer, open_page

    portal_id = installed_portal_id(client, bitrix, db)
    today = utcnow().date()
    with db.session() as session:
        stored_message(session, portal_id, state="delivered", created_at=at(today), segments=2)
        stored_message(session, portal_id, state="failed", created_at=at(today), taken=False, provider=None)
    _, token = open_page(client, bitrix, path="/")

    answer = client.get("/api/stats?days=7", headers=bearer(token))

    assert answer.status_code == 200
    body = answer.get_json()
    assert [entry["date"] for entry in body["days"]][-1] == today.isoformat() and len(body["days"]) == 7
    assert day_of(body, today) == {"date": today.isoformat(), "sent": 1, "delivered": 1, "undelivered": 0,
                                   "failed": 1, "segments": 2}
    assert body["providers"] == [{"kind": "prostor", "sent": 1, "delivered": 1, "failed": 0}]
    assert len(client.get("/api/stats", headers=bearer(token)).get_json()["days"]) == 30
    for bad in ("0", "abc", "1000"):
        refused = client.get(f"/api/stats?days={bad}", headers=bearer(token))
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_parameter"
    bitrix.admins.discard("2")
    _, employee = open_page(client, bitrix, path="/", user_id="2")
    assert client.get("/api/stats", headers=bearer(employee)).status_code == 403
