"""SMSC.ru: every documented status and error code, in the API's own answer shapes."""
from decimal import Decimal

import pytest

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.smsc import Smsc
from tests.fakes.smsc import SMSC
from tests.helpers import form_of


def provider():
    return Smsc({"login": "smsc-user", "password": "smsc-pass"}, "SHOP", base_url=SMSC, timeout=3,
                http=http_client.build())


@pytest.mark.parametrize("code, status", [
    (-1, base.QUEUED), (0, base.SENT), (1, base.DELIVERED), (2, base.DELIVERED), (4, base.DELIVERED),
    (3, base.UNDELIVERED), (20, base.UNDELIVERED), (25, base.UNDELIVERED),
    (-2, base.FAILED), (-3, base.FAILED), (22, base.FAILED), (23, base.FAILED), (24, base.FAILED),
    (17, base.UNKNOWN),
])
def test_status_table(rsps, code, status):
    rsps.post(SMSC + "status.php", json=[{"status": code, "last_date": "23.11.2026 10:00:00",
                                          "last_timestamp": 1763892000, "flag": 0, "err": 0, "id": 77,
                                          "phone": "79161234567"}])
    [report] = provider().statuses([base.Tracked("77", "+79161234567")])
    assert (report.provider_id, report.status, report.raw) == ("77", status, str(code))


def test_statuses_of_many_messages_in_one_request(rsps):
    rsps.post(SMSC + "status.php", json=[
        {"status": 1, "last_date": "", "last_timestamp": 0, "flag": 0, "err": 0, "id": 5, "phone": "79161234567"},
        {"status": 20, "last_date": "", "last_timestamp": 0, "flag": 0, "err": 248, "id": 6, "phone": "4915112345678"},
    ])
    reports = provider().statuses([base.Tracked("5", "+79161234567"), base.Tracked("6", "+4915112345678")])
    form = form_of(rsps.calls[0])
    # Comma-separated ids and phones in the same order; the trailing comma asks for the list shape.
    assert (form["id"], form["phone"]) == ("5,6,", "79161234567,4915112345678,")
    assert (form["login"], form["psw"], form["fmt"], form["charset"]) == ("smsc-user", "smsc-pass", "3", "utf-8")
    assert [(r.provider_id, r.status) for r in reports] == [("5", base.DELIVERED), ("6", base.UNDELIVERED)]
    assert reports[1].error_code == "smsc:248"
    assert len(rsps.calls) == 1


def test_the_single_message_shape_is_read_too(rsps):
    rsps.post(SMSC + "status.php", json={"status": 1, "last_date": "23.11.2026 10:00:00",
                                         "last_timestamp": 1763892000, "err": 0})
    [report] = provider().statuses([base.Tracked("9", "+79161234567")])
    assert (report.provider_id, report.status) == ("9", base.DELIVERED)


def test_single_message_not_found_is_failed(rsps):
    rsps.post(SMSC + "status.php", json={"error": "message not found", "error_code": 3})
    [report] = provider().statuses([base.Tracked("9", "+79161234567")])
    assert (report.status, report.raw) == (base.FAILED, "-3")


@pytest.mark.parametrize("code, error, fails_over", [
    (1, base.ProviderError, True),
    (2, base.InvalidCredentials, True),
    (3, base.NoMoney, True),
    (4, base.RetryLater, True),
    (5, base.ProviderError, True),
    (6, base.RejectedContent, False),
    (7, base.InvalidRecipient, False),
    (8, base.InvalidRecipient, False),
    (9, base.RetryLater, True),
    (99, base.ProviderError, True),
])
def test_error_codes(rsps, code, error, fails_over):
    rsps.post(SMSC + "send.php", json={"error": "words from smsc", "error_code": code, "id": 5})
    with pytest.raises(error) as caught:
        provider().send(base.Outgoing(key="5", phone="+79161234567", text="hi", sender="SHOP"))
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.text, caught.value.fails_over) == (str(code), "words from smsc",
                                                                               fails_over)


def test_send_builds_the_documented_request(rsps):
    rsps.post(SMSC + "send.php", json={"id": 42, "cnt": 1, "cost": "1.40", "balance": "98.60"})
    accepted = provider().send(base.Outgoing(key="42", phone="+79161234567", text="Привет", sender="SHOP"))
    assert accepted == base.Accepted(provider_id="42", status=base.QUEUED, raw="accepted", cost=Decimal("1.40"),
                                     currency="RUB")
    form = form_of(rsps.calls[0])
    assert form == {"login": "smsc-user", "psw": "smsc-pass", "fmt": "3", "charset": "utf-8", "phones": "79161234567",
                    "mes": "Привет", "id": "42", "cost": "3", "sender": "SHOP"}


def test_our_key_must_fit_smsc_ids(rsps):
    with pytest.raises(base.ProviderError, match="cannot be an SMSC id"):
        provider().send(base.Outgoing(key="3000000000", phone="+79161234567", text="hi"))
    assert len(rsps.calls) == 0


def test_balance_and_credentials(rsps):
    rsps.post(SMSC + "balance.php", json={"balance": "123.45", "credit": "0.00", "currency": "RUB"})
    balance = provider().check_credentials()
    assert (str(balance.amount), balance.currency) == ("123.45", "RUB")
    rsps.replace("POST", SMSC + "balance.php", json={"error": "authorise error", "error_code": 2})
    with pytest.raises(base.InvalidCredentials):
        provider().check_credentials()


@pytest.mark.parametrize("fields, expected", [
    ({"id": "12", "phone": "79161234567", "status": "1", "err": "0", "time": "1763892000"},
     ("12", base.DELIVERED, None)),
    ({"id": "12", "phone": "79161234567", "status": "20", "err": "6"}, ("12", base.UNDELIVERED, "smsc:6")),
    ({"id": "12", "phone": "79161234567", "status": "0", "err": "0"}, ("12", base.SENT, None)),
    ({"id": "12", "status": "777"}, ("12", base.UNKNOWN, None)),
])
def test_receipts(fields, expected):
    [report] = provider().read_receipt(base.Receipt(url="https://x/cb", params=tuple(fields.items())))
    assert (report.provider_id, report.status, report.error_code) == expected


def test_a_receipt_without_id_is_refused():
    with pytest.raises(base.ProviderError, match="no id"):
        provider().read_receipt(base.Receipt(url="https://x/cb", params=(("status", "1"),)))


@pytest.mark.parametrize("answer, found", [
    ({"status": 1, "last_date": "23.11.2026 10:00:00", "last_timestamp": 1763892000, "err": 0},
     base.Accepted(provider_id="42", status=base.DELIVERED, raw="1")),
    ({"status": -1, "last_date": "", "last_timestamp": 0, "err": 0},
     base.Accepted(provider_id="42", status=base.QUEUED, raw="-1")),
    ({"error": "message not found", "error_code": 3}, None),
    ({"status": -3, "last_date": "", "last_timestamp": 0, "err": 0}, None),
])
def test_find_sent_asks_by_our_id_in_the_one_message_shape(rsps, answer, found):
    rsps.post(SMSC + "status.php", json=answer)
    assert provider().find_sent(base.Outgoing(key="42", phone="+79161234567", text="hi")) == found
    form = form_of(rsps.calls[0])
    assert (form["id"], form["phone"]) == ("42", "79161234567")


def test_find_sent_trouble_is_raised_to_ask_again_later(rsps):
    rsps.post(SMSC + "status.php", json={"error": "duplicate request, wait a minute", "error_code": 9})
    with pytest.raises(base.RetryLater):
        provider().find_sent(base.Outgoing(key="42", phone="+79161234567", text="hi"))
