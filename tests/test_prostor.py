"""Prostor SMS: every documented status and error, in the API's own answer shapes."""
import json

import pytest
import responses

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.prostor import Prostor
from tests.fakes.prostor import PROSTOR


def provider():
    return Prostor({"login": "user", "password": "secret"}, "SHOP", base_url=PROSTOR, timeout=3,
                   http=http_client.build())


@pytest.mark.parametrize("word, status", [
    ("accepted", base.QUEUED), ("queued", base.QUEUED), ("smsc submit", base.SENT),
    ("delivered", base.DELIVERED), ("delivery error", base.UNDELIVERED), ("smsc reject", base.FAILED),
    ("incorrect id", base.FAILED), ("something new", base.UNKNOWN),
])
def test_status_table(rsps, word, status):
    rsps.post(PROSTOR + "status.json", json={"status": "ok", "messages": [{"smscId": 77, "status": word}]})
    [report] = provider().statuses([base.Tracked("77", "+79161234567")])
    assert (report.provider_id, report.status, report.raw) == ("77", status, word)
    assert json.loads(rsps.calls[0].request.body)["messages"] == [{"smscId": 77}]


@pytest.mark.parametrize("word, error, fails_over", [
    ("invalid mobile phone", base.InvalidRecipient, False),
    ("not enough balance", base.NoMoney, True),
    ("text is empty", base.RejectedContent, False),
    ("sender address invalid", base.SenderRejected, True),
    ("mystery", base.ProviderError, True),
])
def test_per_message_errors(rsps, word, error, fails_over):
    rsps.post(PROSTOR + "send.json", json={"status": "ok", "messages": [{"clientId": "5", "status": word}]})
    with pytest.raises(error) as caught:
        provider().send(base.Outgoing(key="5", phone="+79161234567", text="hi", sender="SHOP"))
    assert type(caught.value) is error
    assert caught.value.text == word and caught.value.fails_over is fails_over


def test_request_error_authorization(rsps):
    rsps.post(PROSTOR + "balance.json", json={"status": "error", "description": "error authorization"})
    with pytest.raises(base.InvalidCredentials, match="error authorization"):
        provider().check_credentials()


def test_send_builds_the_documented_payload(rsps):
    rsps.post(PROSTOR + "send.json",
              json={"status": "ok", "messages": [{"clientId": "42", "smscId": 9001, "status": "accepted"}]})
    accepted = provider().send(base.Outgoing(key="42", phone="+79161234567", text="Привет", sender="SHOP"))
    assert accepted == base.Accepted(provider_id="9001", status=base.QUEUED, raw="accepted")
    assert json.loads(rsps.calls[0].request.body) == {
        "login": "user", "password": "secret",
        "messages": [{"clientId": "42", "phone": "+79161234567", "text": "Привет", "sender": "SHOP"}]}


@pytest.mark.parametrize("answer", [
    {"status": 502, "body": "<html>bad gateway</html>"},
    {"status": 429, "body": "slow down"},
    {"body": responses.ConnectionError("refused")},
])
def test_transport_trouble_is_retry_later(rsps, answer):
    rsps.add(responses.POST, PROSTOR + "send.json", **answer)
    with pytest.raises(base.RetryLater) as caught:
        provider().send(base.Outgoing(key="1", phone="+79161234567", text="hi"))
    assert caught.value.retryable is True


def test_timeout_is_retry_later(rsps):
    import requests

    rsps.add(responses.POST, PROSTOR + "send.json", body=requests.Timeout())
    with pytest.raises(base.RetryLater, match="did not answer"):
        provider().send(base.Outgoing(key="1", phone="+79161234567", text="hi"))


def test_a_body_that_is_not_json_is_a_provider_error(rsps):
    rsps.add(responses.POST, PROSTOR + "send.json", body="<html>maintenance</html>", status=200)
    with pytest.raises(base.ProviderError, match="not JSON"):
        provider().send(base.Outgoing(key="1", phone="+79161234567", text="hi"))


def test_balance(rsps):
    rsps.post(PROSTOR + "balance.json",
              json={"status": "ok", "balance": [{"type": "RUB", "balance": 1500.25, "credit": 0}]})
    balance = provider().balance()
    assert str(balance.amount) == "1500.25" and balance.currency == "RUB"


def test_credentials_never_appear_in_repr():
    assert "secret" not in repr(provider())


def test_send_many_carries_every_message_in_one_request_and_answers_each_by_its_client_id(rsps):
    # Prostor answers per message; the order of its answer need not be ours.
    rsps.post(PROSTOR + "send.json", json={"status": "ok", "messages": [
        {"clientId": "b", "status": "invalid mobile phone"},
        {"clientId": "a", "smscId": 501, "status": "accepted"},
        {"clientId": "c", "smscId": 503, "status": "accepted"},
    ]})
    outgoing = [base.Outgoing(key=key, phone="+79161234567", text=f"text {key}") for key in "abcd"]

    results = provider().send_many(outgoing)

    assert json.loads(rsps.calls[0].request.body)["messages"] == [
        {"clientId": key, "phone": "+79161234567", "text": f"text {key}"} for key in "abcd"]
    assert results[0] == base.Accepted(provider_id="501", status=base.QUEUED, raw="accepted")
    assert isinstance(results[1], base.InvalidRecipient) and results[1].text == "invalid mobile phone"
    assert results[2].provider_id == "503"
    # Not named in the answer: it may have been taken, so it is asked about (by its clientId) before a resend.
    assert isinstance(results[3], base.AnswerLost) and results[3].code == "missing_in_answer"


def test_send_many_request_errors_raise_for_the_whole_request(rsps):
    rsps.post(PROSTOR + "send.json", json={"status": "error", "description": "error authorization"})
    with pytest.raises(base.InvalidCredentials):
        provider().send_many([base.Outgoing(key=key, phone="+79161234567", text="hi") for key in "ab"])


def test_prostor_declares_two_hundred_per_send_and_per_status_request():
    assert Prostor.sends_per_request == Prostor.statuses_per_request == 200
