"""What a message cost (issue 20, item 1): each provider's price read from answers shaped like its API, kept with
its currency on the message through the real send, poll and receipt paths, and shown by the log; where a provider
states no price, or a garbled one, the message keeps none (null, never 0)."""
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.p1sms import P1sms
from b24sms.providers.smsaero import SmsAero
from b24sms.providers.smsc import Smsc
from b24sms.providers.smsru import SmsRu
from b24sms.providers.twilio import Twilio
from b24sms.store.models import Message
from tests.fakes.p1sms import P1SMS
from tests.fakes.smsaero import SMSAERO
from tests.fakes.smsc import SMSC
from tests.fakes.smsru import API_ID, SMSRU
from tests.fakes.twilio import TWILIO
from tests.helpers import (
    P1SMS_SETTINGS,
    PROSTOR_SETTINGS,
    SMSAERO_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    bearer,
    install_with_chain,
    make_due,
    post_sms,
    run_job,
    stored,
)

SID = "AC" + "a" * 32
SMSRU_SETTINGS = {"kind": "smsru", "sender": "", "credentials": {"api_id": API_ID}}


def made(cls, credentials, url, sender="SHOP"):
    return cls(credentials, sender, base_url=url, timeout=3, http=http_client.build())


def outgoing(key="42"):
    return base.Outgoing(key=key, phone="+79161234567", text="Привет", sender="SHOP")


# ---------------------------------------------------------------- prices read from the providers' answers
@pytest.mark.parametrize("value, cost", [
    ("1.40", Decimal("1.40")), (2.5, Decimal("2.5")), (3, Decimal("3")), ("0", Decimal("0")),
    ("-0.00750", Decimal("0.0075")), (" 1,25 ", Decimal("1.25")),
    (None, None), ("", None), ("abc", None), ("NaN", None), ("Infinity", None), ("1e12", None), (True, None),
    ({"amount": 1}, None), ([1], None),
])
def test_a_price_is_read_defensively(value, cost):
    assert base.Provider({}, None, base_url="", timeout=1, http=None).cost(value) == cost


def test_smsc_cost_of_the_request_in_roubles(rsps):
    rsps.post(SMSC + "send.php", json={"id": 42, "cnt": 2, "cost": "2.80", "balance": "95.80"})
    accepted = made(Smsc, {"login": "u", "password": "p"}, SMSC).send(outgoing())
    assert (accepted.cost, accepted.currency) == (Decimal("2.80"), "RUB")


def test_smsc_on_its_kazakh_site_bills_in_tenge(rsps):
    rsps.post("https://smsc.kz/sys/send.php", json={"id": 42, "cnt": 1, "cost": "16"})
    accepted = made(Smsc, {"login": "u", "password": "p"}, "https://smsc.kz/sys/").send(outgoing())
    assert (accepted.cost, accepted.currency) == (Decimal("16"), "KZT")


@pytest.mark.parametrize("answer", [{"id": 42, "cnt": 1}, {"id": 42, "cnt": 1, "cost": "n/a"},
                                    {"id": 42, "cnt": 1, "cost": None}])
def test_smsc_without_a_readable_cost_keeps_none(rsps, answer):
    rsps.post(SMSC + "send.php", json=answer)
    accepted = made(Smsc, {"login": "u", "password": "p"}, SMSC).send(outgoing())
    assert (accepted.provider_id, accepted.cost, accepted.currency) == ("42", None, None)


def test_smsru_cost_per_number(rsps):
    rsps.post(SMSRU + "sms/send", json={"status": "OK", "status_code": 100, "balance": 4121.56, "sms": {
        "79161234567": {"status": "OK", "status_code": 100, "sms_id": "000000-10000001", "cost": 1.0, "sms": 2},
        "79161234568": {"status": "OK", "status_code": 100, "sms_id": "000000-10000002"}}})
    provider = made(SmsRu, {"api_id": API_ID}, SMSRU)
    first, second = provider.send_many([outgoing("a"), base.Outgoing(key="b", phone="+79161234568", text="Привет",
                                                                     sender="SHOP")])
    assert (first.cost, first.currency) == (Decimal("1.0"), "RUB")
    assert (second.provider_id, second.cost, second.currency) == ("000000-10000002", None, None)


def test_smsaero_cost_per_message(rsps):
    rsps.post(SMSAERO + "sms/send", json={"success": True, "message": None, "data": {
        "id": 501, "from": "SHOP", "number": "79161234567", "text": "Привет", "status": 8,
        "extendStatus": "moderation", "channel": "DIRECT", "cost": 4.49, "dateCreate": 1763888000,
        "dateSend": 1763888000}})
    accepted = made(SmsAero, {"email": "e", "api_key": "k"}, SMSAERO).send(outgoing())
    assert (accepted.provider_id, accepted.cost, accepted.currency) == ("501", Decimal("4.49"), "RUB")


def twilio_message(price, price_unit="USD", status="delivered"):
    return {"sid": "SM1", "account_sid": SID, "to": "+79161234567", "from": "+15017122661", "body": "hi",
            "status": status, "num_segments": "1", "direction": "outbound-api", "error_code": None,
            "error_message": None, "price": price, "price_unit": price_unit}


@pytest.mark.parametrize("price, unit, cost, currency", [
    ("-0.00750", "USD", Decimal("0.0075"), "USD"), ("-0.05", "eur", Decimal("0.05"), "EUR"),
    (None, "USD", None, None), ("-0.0075", None, None, None), ("garbled", "USD", None, None),
])
def test_twilio_price_when_polled(rsps, price, unit, cost, currency):
    rsps.get(f"{TWILIO}Accounts/{SID}/Messages/SM1.json", json=twilio_message(price, unit))
    provider = made(Twilio, {"account_sid": SID, "auth_token": "t"}, TWILIO, sender="+15017122661")
    [report] = provider.statuses([base.Tracked("SM1", "+79161234567")])
    assert (report.status, report.cost, report.currency) == (base.DELIVERED, cost, currency)


def test_twilio_price_is_null_when_sent(rsps):
    rsps.post(f"{TWILIO}Accounts/{SID}/Messages.json", status=201, json=twilio_message(None, status="queued"))
    provider = made(Twilio, {"account_sid": SID, "auth_token": "t"}, TWILIO, sender="+15017122661")
    accepted = provider.send(outgoing())
    assert (accepted.cost, accepted.currency) == (None, None)


@pytest.mark.parametrize("cost, kept", [("3.45", Decimal("3.45")), ("0.00", None), (None, None), ("x", None)])
def test_p1sms_cost_of_the_listed_message(rsps, cost, kept):
    rsps.post(P1SMS + "apiSms/get", json={"status": "success", "data": [
        {"id": 7, "errorDescription": None, "cost": cost, "createdAt": 1504988172, "updatedAt": 1504988191,
         "cascadeSmsId": None, "status": "delivered"}]})
    [report] = made(P1sms, {"api_key": "k"}, P1SMS).statuses([base.Tracked("7", "+79161234567")])
    assert (report.status, report.cost, report.currency) == (base.DELIVERED, kept, "RUB" if kept else None)


# ---------------------------------------------------------------- kept on the message through the flows
def cost_of(client, token, message_id):
    [entry] = [m for m in client.get("/api/messages", headers=bearer(token)).get_json() if m["id"] == message_id]
    return entry["cost"], entry["currency"]


def test_smsc_price_is_kept_from_the_send(client, bitrix, smsc):
    token = install_with_chain(client, bitrix, SMSC_SETTINGS)
    message = post_sms(client, bitrix)
    assert message["state"] == "accepted"
    assert (message["cost"], message["currency"]) == ("1.4", "RUB")
    assert cost_of(client, token, message["id"]) == ("1.4", "RUB")


def test_smsru_price_is_kept_from_the_send(client, bitrix, smsru):
    install_with_chain(client, bitrix, SMSRU_SETTINGS)
    message = post_sms(client, bitrix, text="x" * 161)  # two segments at 0.5
    assert (message["segments"], message["encoding"], message["cost"], message["currency"]) == (2, "gsm7", "1",
                                                                                                "RUB")


def test_smsaero_price_is_kept_from_the_send(client, bitrix, smsaero):
    install_with_chain(client, bitrix, SMSAERO_SETTINGS)
    message = post_sms(client, bitrix)
    assert (message["cost"], message["currency"]) == ("4.49", "RUB")


def test_twilio_price_arrives_with_polling_and_a_receipt_keeps_it(client, bitrix, twilio, db, runner):
    token = install_with_chain(client, bitrix, TWILIO_SETTINGS)
    message = post_sms(client, bitrix)
    assert (message["cost"], message["currency"]) == (None, None)  # Twilio does not know it yet
    [sid] = twilio.messages
    twilio.set_status(sid, "sent")
    make_due(db)
    run_job(runner)
    assert (stored(db).cost, stored(db).currency) == (Decimal("0.0079"), "USD")
    assert cost_of(client, token, message["id"]) == ("0.0079", "USD")
    # A receipt carries no price: the one known stays.
    form, headers = twilio.status_callback(sid, "delivered")
    path = twilio.messages[sid]["status_callback"].removeprefix("https://sms.example.com")
    assert client.post(path, data=form, headers=headers).get_json()["changed"] == 1
    assert (stored(db).state, stored(db).cost, stored(db).currency) == ("delivered", Decimal("0.0079"), "USD")


def test_p1sms_price_arrives_with_polling(client, bitrix, p1sms, db, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    message = post_sms(client, bitrix)
    assert message["cost"] is None  # apiSms/create's own `cost` is not read: what it means is not documented
    p1sms.statuses[int(stored(db).provider_message_id)] = "delivered"
    make_due(db)
    run_job(runner)
    assert (stored(db).state, stored(db).cost, stored(db).currency) == ("delivered", Decimal("3.45"), "RUB")


def test_a_provider_that_states_no_price_leaves_it_unknown(client, bitrix, prostor, db, runner):
    token = install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    message = post_sms(client, bitrix)
    make_due(db)
    run_job(runner)
    assert (stored(db).cost, stored(db).currency) == (None, None)
    assert cost_of(client, token, message["id"]) == (None, None)


def test_a_twilio_price_is_asked_for_after_a_final_receipt_came_first(client, bitrix, twilio, db, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS)
    post_sms(client, bitrix)
    [sid] = twilio.messages
    form, headers = twilio.status_callback(sid, "delivered")  # before any poll: no price known yet
    path = twilio.messages[sid]["status_callback"].removeprefix("https://sms.example.com")
    assert client.post(path, data=form, headers=headers).get_json()["changed"] == 1
    assert (stored(db).state, stored(db).cost) == ("delivered", None)
    assert stored(db).due_at is not None  # asked again for the price in a moment
    twilio.set_status(sid, "delivered", price="-0.0158")  # Twilio has priced it meanwhile (two segments)
    make_due(db)
    run_job(runner)
    message = stored(db)
    assert (message.state, message.cost, message.currency, message.due_at) == ("delivered", Decimal("0.0158"), "USD",
                                                                               None)
    requests = len(twilio.requests)
    make_due(db)
    run_job(runner)
    assert len(twilio.requests) == requests  # priced: never asked again


def test_a_price_twilio_never_states_is_given_up(client, bitrix, twilio, db, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS)
    post_sms(client, bitrix)
    [sid] = twilio.messages
    form, headers = twilio.status_callback(sid, "delivered")
    client.post(twilio.messages[sid]["status_callback"].removeprefix("https://sms.example.com"), data=form,
                headers=headers)
    with db.session() as session:  # two days later, still no price (row by row: SQLite keeps times as text)
        for message in session.scalars(select(Message)):
            message.created_at -= timedelta(days=2)
        session.commit()
    make_due(db)
    run_job(runner)
    assert (stored(db).cost, stored(db).due_at) == (None, None)
