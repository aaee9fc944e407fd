"""The spend in `/api/stats` (issue 20, item 1): per day, per provider and month to date, per currency, from the
prices providers stated; messages sent without a price are counted as such, never as 0."""
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from b24sms.store import retention
from b24sms.store.models import DailySpend, utcnow
from b24sms.store.spend import amount_text
from b24sms.store.statistics import portal_statistics
from tests.helpers import bearer, install_with_prostor
from tests.helpers.rows import installed_portal_id, stored_message

TODAY = date(2026, 11, 23)


def at(day, hour=12):
    return datetime(day.year, day.month, day.day, hour)


def priced(session, portal_id, day, cost, currency="RUB", provider="smsc", **kwargs):
    message = stored_message(session, portal_id, state="delivered", created_at=at(day), provider=provider, **kwargs)
    message.cost, message.currency = (Decimal(cost) if cost is not None else None), currency
    return message


def test_amounts_are_plain_decimal_strings():
    assert [amount_text(v) for v in (Decimal("1.400000"), Decimal("0.0079"), 12, Decimal("0"), 0.1 + 0.2)] == \
        ["1.4", "0.0079", "12", "0", "0.3"]


def test_spend_per_day_provider_and_month_to_date_per_currency(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    yesterday = TODAY - timedelta(days=1)
    last_month = date(2026, 10, 30)
    with db.session() as session:
        priced(session, portal_id, TODAY, "1.40")
        priced(session, portal_id, TODAY, "2.80")
        priced(session, portal_id, TODAY, "0.0079", currency="USD", provider="twilio")
        priced(session, portal_id, yesterday, "4.49", provider="smsaero")
        priced(session, portal_id, last_month, "1.00")  # in the window, not in the month
        priced(session, portal_id, TODAY - timedelta(days=40), "100")  # outside both
        # Taken without a price: unknown, not 0; one never taken (failed at intake) is not a sent message at all.
        priced(session, portal_id, TODAY, None, currency=None, provider="prostor")
        priced(session, portal_id, yesterday, None, currency=None, provider="prostor")
        priced(session, portal_id, last_month, None, currency=None, provider="twilio")
        stored_message(session, portal_id, state="failed", created_at=at(TODAY), taken=False)

    with db.session() as session:
        stats = portal_statistics(session, portal_id, 30, today=TODAY)

    assert stats["spend"] == [
        {"date": "2026-10-30", "currency": "RUB", "amount": "1"},
        {"date": "2026-11-22", "currency": "RUB", "amount": "4.49"},
        {"date": "2026-11-23", "currency": "RUB", "amount": "4.2"},
        {"date": "2026-11-23", "currency": "USD", "amount": "0.0079"},
    ]
    assert stats["spend_by_provider"] == [
        {"provider": "smsaero", "currency": "RUB", "amount": "4.49"},
        {"provider": "smsc", "currency": "RUB", "amount": "5.2"},
        {"provider": "twilio", "currency": "USD", "amount": "0.0079"},
    ]
    assert stats["month_to_date"] == [{"currency": "RUB", "amount": "8.69"}, {"currency": "USD", "amount": "0.0079"}]
    assert (stats["unpriced"], stats["unpriced_by_provider"]) == (3, {"prostor": 2, "twilio": 1})
    assert stats["month_to_date_unpriced"] == 2


def test_no_price_known_is_empty_lists_not_zero(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    with db.session() as session:
        stored_message(session, portal_id, state="delivered", created_at=at(TODAY))
    with db.session() as session:
        stats = portal_statistics(session, portal_id, 7, today=TODAY)
    assert (stats["spend"], stats["spend_by_provider"], stats["month_to_date"]) == ([], [], [])
    assert (stats["unpriced"], stats["month_to_date_unpriced"]) == (1, 1)


def test_the_stats_api_carries_the_spend(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    body = client.get("/api/stats?days=7", headers=bearer(token)).get_json()
    assert {"spend", "spend_by_provider", "month_to_date", "unpriced", "unpriced_by_provider",
            "month_to_date_unpriced"} <= body.keys()
    assert body["month_to_date"] == [] and body["unpriced"] == 0


def test_the_spend_outlives_retention_as_the_counts_do(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    now = utcnow()
    old = (now - timedelta(days=100)).date()
    with db.session() as session:
        for cost in ("1.40", "2.80"):
            priced(session, portal_id, old, cost, updated_at=at(old))
        priced(session, portal_id, old, "0.0079", currency="USD", provider="twilio", updated_at=at(old))
        priced(session, portal_id, old, None, currency=None, provider="prostor", updated_at=at(old))
        priced(session, portal_id, now.date(), "4.49", provider="smsaero")  # recent: kept
        session.commit()
    with db.session() as session:
        before = portal_statistics(session, portal_id, 120, today=now.date())
    assert before["unpriced"] == 1 and len(before["spend"]) == 3

    with db.session() as session:
        assert retention.delete_expired(session, 90, now) == 4
    with db.session() as session:
        after = portal_statistics(session, portal_id, 120, today=now.date())
        assert session.scalar(select(func.count()).select_from(DailySpend)) == 3  # RUB, USD, and the unpriced one
    assert after == before
    # Deleted again (a second batch of the same day) adds to the rows, never replaces them.
    with db.session() as session:
        priced(session, portal_id, old, "1.00", updated_at=at(old))
        session.commit()
    with db.session() as session:
        retention.delete_expired(session, 90, now)
    with db.session() as session:
        spend = portal_statistics(session, portal_id, 120, today=now.date())["spend"]
    assert {"date": old.isoformat(), "currency": "RUB", "amount": "5.2"} in spend
