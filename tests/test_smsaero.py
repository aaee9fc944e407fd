"""SMS Aero v2: every documented status, the error shapes, in the API's own answers."""
import json

import pytest

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.smsaero import SmsAero
from tests.fakes.smsaero import SMSAERO

CALLBACK = "https://sms.example.com/callbacks/smsaero/s3cret"


def provider():
    return SmsAero({"email": "shop@example.com", "api_key": "aero-key"}, "SHOP", base_url=SMSAERO, timeout=3,
                   http=http_client.build())


def item(id_=12345, status=0, extend="queue"):
    return {"id": id_, "from": "SHOP", "number": "79161234567", "text": "hi", "status": status,
            "extendStatus": extend, "channel": "DIRECT", "cost": "4.49", "dateCreate": 1763888000,
            "dateSend": 1763888000, "dateAnswer": 1763888100}


@pytest.mark.parametrize("code, status", [
    (0, base.QUEUED), (8, base.QUEUED), (3, base.SENT), (4, base.SENT), (1, base.DELIVERED),
    (2, base.UNDELIVERED), (6, base.FAILED), (5, base.UNKNOWN),
])
def test_status_table(rsps, code, status):
    rsps.post(SMSAERO + "sms/status", json={"success": True, "data": item(status=code), "message": None})
    [report] = provider().statuses([base.Tracked("12345", "+79161234567")])
    assert (report.provider_id, report.status) == ("12345", status)
    assert report.raw.startswith(str(code))
    assert json.loads(rsps.calls[0].request.body) == {"id": 12345}


def test_statuses_are_one_request_per_message(rsps):
    rsps.post(SMSAERO + "sms/status", json={"success": True, "data": item(status=1), "message": None})
    reports = provider().statuses([base.Tracked("1"), base.Tracked("2"), base.Tracked("3")])
    assert [json.loads(c.request.body) for c in rsps.calls] == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert [r.provider_id for r in reports] == ["1", "2", "3"]


def test_send_builds_the_documented_request(rsps):
    rsps.post(SMSAERO + "sms/send", json={"success": True, "data": item(status=8, extend="moderation"),
                                          "message": None})
    accepted = provider().send(base.Outgoing(key="7", phone="+79161234567", text="Привет", sender="SHOP",
                                             callback_url=CALLBACK))
    assert (accepted.provider_id, accepted.status) == ("12345", base.QUEUED)
    request = rsps.calls[0].request
    # Digits only, as a number; the sign; our receipt URL.
    assert json.loads(request.body) == {"number": 79161234567, "text": "Привет", "sign": "SHOP",
                                        "callbackUrl": CALLBACK}
    assert request.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("status, answer, error, fails_over", [
    (401, {"success": False, "data": None, "message": "Your request was made with invalid credentials."},
     base.InvalidCredentials, True),
    (200, {"success": False, "data": None, "message": "Your request was made with invalid credentials."},
     base.InvalidCredentials, True),
    (400, {"success": False, "data": {"number": ["incorrect"]}, "message": "Validation error."},
     base.InvalidRecipient, False),
    (400, {"success": False, "data": {"text": ["Text cannot be blank."]}, "message": "Validation error."},
     base.RejectedContent, False),
    (400, {"success": False, "data": {"sign": ["incorrect"]}, "message": "Validation error."},
     base.SenderRejected, True),
    (200, {"result": "no credits"}, base.NoMoney, True),
    (200, {"success": False, "data": None, "message": "Something unheard of."}, base.ProviderError, True),
])
def test_errors(rsps, status, answer, error, fails_over):
    rsps.post(SMSAERO + "sms/send", json=answer, status=status)
    with pytest.raises(error) as caught:
        provider().send(base.Outgoing(key="7", phone="+79161234567", text="hi", sender="SHOP"))
    assert type(caught.value) is error and caught.value.fails_over is fails_over
    assert caught.value.text  # the provider's own words are kept


def test_server_trouble_is_retry_later(rsps):
    rsps.post(SMSAERO + "sms/send", body="<html>Bad Gateway</html>", status=502)
    with pytest.raises(base.RetryLater):
        provider().send(base.Outgoing(key="7", phone="+79161234567", text="hi", sender="SHOP"))


def test_balance(rsps):
    rsps.post(SMSAERO + "balance", json={"success": True, "data": {"balance": 337.03}, "message": None})
    balance = provider().check_credentials()
    assert (str(balance.amount), balance.currency) == ("337.03", "RUB")


@pytest.mark.parametrize("receipt", [
    base.Receipt(url=CALLBACK, json={"id": 12345, "status": 1, "extendStatus": "delivery"}),
    base.Receipt(url=CALLBACK, json={"success": True, "data": {"id": 12345, "status": 1}}),
    base.Receipt(url=CALLBACK, params=(("id", "12345"), ("status", "1"), ("extendStatus", "delivery"))),
])
def test_receipts_in_any_likely_shape(receipt):
    [report] = provider().read_receipt(receipt)
    assert (report.provider_id, report.status) == ("12345", base.DELIVERED)


def test_a_receipt_without_id_is_refused():
    with pytest.raises(base.ProviderError, match="no message id"):
        provider().read_receipt(base.Receipt(url=CALLBACK, json={"status": 1}))
