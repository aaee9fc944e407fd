"""Twilio: every documented status and the error codes we classify, plus X-Twilio-Signature vectors."""
from urllib.parse import parse_qsl

import pytest

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.twilio import Twilio, signature
from tests.fakes.twilio import TWILIO

SID = "AC" + "a" * 32
MESSAGES = f"{TWILIO}Accounts/{SID}/Messages.json"
CALLBACK = "https://sms.example.com/callbacks/twilio/s3cret"


def provider(sender="+15017122661", token="twilio-auth-token"):
    return Twilio({"account_sid": SID, "auth_token": token}, sender, base_url=TWILIO, timeout=3,
                  http=http_client.build())


def resource(sid="SM" + "1" * 32, status="queued", error_code=None, error_message=None):
    return {"sid": sid, "account_sid": SID, "to": "+79161234567", "from": "+15017122661", "body": "hi",
            "status": status, "num_segments": "1", "direction": "outbound-api", "error_code": error_code,
            "error_message": error_message, "price": None, "api_version": "2010-04-01"}


@pytest.mark.parametrize("word, status", [
    ("accepted", base.QUEUED), ("scheduled", base.QUEUED), ("queued", base.QUEUED), ("sending", base.SENT),
    ("sent", base.SENT), ("delivered", base.DELIVERED), ("read", base.DELIVERED),
    ("undelivered", base.UNDELIVERED), ("failed", base.FAILED), ("canceled", base.FAILED),
    ("partially_delivered", base.UNKNOWN),
])
def test_status_table(rsps, word, status):
    sid = "SM" + "2" * 32
    rsps.get(f"{TWILIO}Accounts/{SID}/Messages/{sid}.json", json=resource(sid, word))
    [report] = provider().statuses([base.Tracked(sid, "+79161234567")])
    assert (report.provider_id, report.status, report.raw) == (sid, status, word)


def test_a_carrier_error_is_kept_with_the_status(rsps):
    sid = "SM" + "3" * 32
    rsps.get(f"{TWILIO}Accounts/{SID}/Messages/{sid}.json",
             json=resource(sid, "undelivered", 30007, "Message filtered"))
    [report] = provider().statuses([base.Tracked(sid)])
    assert (report.status, report.error_code, report.error_text) == (base.UNDELIVERED, "twilio:30007",
                                                                     "Message filtered")


def test_send_builds_the_documented_request(rsps):
    rsps.post(MESSAGES, json=resource(), status=201)
    accepted = provider().send(base.Outgoing(key="7", phone="+79161234567", text="Привет",
                                             sender="+15017122661", callback_url=CALLBACK))
    assert accepted == base.Accepted(provider_id="SM" + "1" * 32, status=base.QUEUED, raw="queued")
    assert dict(parse_qsl(rsps.calls[0].request.body)) == {
        "To": "+79161234567", "Body": "Привет", "From": "+15017122661", "StatusCallback": CALLBACK}


def test_a_messaging_service_sid_is_sent_as_such(rsps):
    rsps.post(MESSAGES, json=resource(), status=201)
    service = "MG" + "b" * 32
    provider(sender=service).send(base.Outgoing(key="7", phone="+79161234567", text="hi", sender=service))
    form = dict(parse_qsl(rsps.calls[0].request.body))
    assert form["MessagingServiceSid"] == service and "From" not in form


@pytest.mark.parametrize("http_status, code, error, fails_over", [
    (401, 20003, base.InvalidCredentials, True),
    (401, 20005, base.NoMoney, True),
    (403, 10001, base.NoMoney, True),
    (429, 20429, base.RetryLater, True),
    (400, 21211, base.InvalidRecipient, False),
    (400, 21614, base.InvalidRecipient, False),
    (400, 21610, base.InvalidRecipient, False),
    (400, 21612, base.InvalidRecipient, False),
    (400, 21617, base.RejectedContent, False),
    (400, 21606, base.SenderRejected, True),
    (400, 21212, base.SenderRejected, True),
    (400, 21608, base.ProviderError, True),  # trial account: another provider can still send it
    (400, 21408, base.ProviderError, True),  # region not enabled on this account
    (400, 21611, base.RetryLater, True),
])
def test_error_codes(rsps, http_status, code, error, fails_over):
    rsps.post(MESSAGES, status=http_status, json={
        "code": code, "message": f"words for {code}", "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http_status})
    with pytest.raises(error) as caught:
        provider().send(base.Outgoing(key="7", phone="+79161234567", text="hi", sender="+15017122661"))
    assert type(caught.value) is error and caught.value.fails_over is fails_over
    if http_status != 429:  # a 429 is retried before its body is read
        assert (caught.value.code, caught.value.text) == (str(code), f"words for {code}")


def test_credentials_check_reads_the_account(rsps):
    rsps.get(f"{TWILIO}Accounts/{SID}.json", json={"sid": SID, "status": "active"})
    provider().check_credentials()
    rsps.replace("GET", f"{TWILIO}Accounts/{SID}.json", json={"sid": SID, "status": "suspended"})
    with pytest.raises(base.NoMoney, match="suspended"):
        provider().check_credentials()
    rsps.replace("GET", f"{TWILIO}Accounts/{SID}.json", status=401,
                 json={"code": 20003, "message": "Authenticate", "more_info": "", "status": 401})
    with pytest.raises(base.InvalidCredentials):
        provider().check_credentials()


def test_balance(rsps):
    rsps.get(f"{TWILIO}Accounts/{SID}/Balance.json", json={"account_sid": SID, "balance": "0.05", "currency": "USD"})
    balance = provider().balance()
    assert (str(balance.amount), balance.currency) == ("0.05", "USD")


# ---- X-Twilio-Signature: Twilio's published vectors (auth token "12345") ----
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = (("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
                 ("From", "+14158675309"), ("To", "+18005551212"))


def receipt(url=VECTOR_URL, params=VECTOR_PARAMS, header="RSOYDt4T1cUTdK1PDd93/VVr8B8="):
    return base.Receipt(url=url, params=params, headers={"x-twilio-signature": header} if header else {})


def test_signature_matches_twilios_published_vector():
    assert signature("12345", VECTOR_URL, VECTOR_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature("12345", VECTOR_URL, tuple(reversed(VECTOR_PARAMS))) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_repeated_params_are_signed_distinct_and_sorted_by_value():
    repeated = (("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"),
                ("Digits", "1234"))
    assert signature("12345", VECTOR_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize("case, kwargs, valid", [
    ("valid", {}, True),
    ("tampered param", {"params": VECTOR_PARAMS[:2] + (("Digits", "9999"),) + VECTOR_PARAMS[3:]}, False),
    ("extra param", {"params": VECTOR_PARAMS + (("Extra", "1"),)}, False),
    ("wrong URL", {"url": "https://mycompany.com/other.php?foo=1&bar=2"}, False),
    ("wrong query", {"url": VECTOR_URL + "&baz=3"}, False),
    ("http instead of https", {"url": VECTOR_URL.replace("https:", "http:")}, False),
    ("default port added", {"url": "https://mycompany.com:443/myapp.php?foo=1&bar=2"}, True),
    ("no header", {"header": None}, False),
    ("garbage header", {"header": "not base64 at all ∆"}, False),
])
def test_verify_receipt(case, kwargs, valid):
    assert provider(token="12345").verify_receipt(receipt(**kwargs)) is valid, case


def test_wrong_auth_token_fails():
    assert provider(token="54321").verify_receipt(receipt()) is False


def test_read_receipt():
    fields = (("MessageSid", "SM9"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003"),
              ("AccountSid", SID))
    [report] = provider().read_receipt(base.Receipt(url=CALLBACK, params=fields))
    assert (report.provider_id, report.status, report.error_code) == ("SM9", base.UNDELIVERED, "twilio:30003")
