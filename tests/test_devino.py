"""Devino (devino.online): the REST API's answers, per-message refusals inside HTTP 200, receipts, the account
check, and the whole way through."""
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from b24sms import http_client, providers
from b24sms.providers import base
from b24sms.providers.devino import VALIDITY, Devino
from b24sms.rules.lifecycle import MessageState
from tests.fakes.devino import API_KEY, DEVINO
from tests.helpers import (
    PROSTOR_SETTINGS,
    as_sent,
    handler_form,
    install_with_chain,
    make_due,
    message_id,
    run_job,
    stored,
)
from tests.helpers.suite import PUBLIC_URL

DEVINO_SETTINGS = {"kind": "devino", "sender": "SHOP", "credentials": {"api_key": API_KEY}}
CALLBACK = "https://sms.example.com/callbacks/devino/s3cret?m=k1"
SEND = DEVINO + "sms/messages"
ACCOUNT = DEVINO + "billing-api/companies/current/account"


def provider():
    return Devino({"api_key": API_KEY}, "SHOP", base_url=DEVINO, timeout=3, http=http_client.build())


def outgoing(key="k1", phone="+79161234567", callback_url=None):
    return base.Outgoing(key=key, phone=phone, text="Привет", sender="SHOP", callback_url=callback_url)


def rejected(*reasons, description="Message rejected"):
    return {"code": "REJECTED", "description": description, "reasons": [{"key": k, "ref": r} for k, r in reasons]}


# ---------------------------------------------------------------- declarations
def test_the_registry_finds_it_with_its_declarations():
    cls = providers.PROVIDERS["devino"]
    assert cls is Devino and (cls.title, cls.offer_rank, cls.receipts) == ("Devino", 6, base.PER_MESSAGE)
    assert [s.name for s in cls.credential_settings] == ["api_key", "legacy_login", "legacy_password"]
    assert [(s.secret, s.required) for s in cls.credential_settings] == [(True, True), (False, False), (True, False)]
    assert cls.sends_per_request == 200
    assert provider().can_be_asked is False and provider().sender_names() is None
    with pytest.raises(base.CannotTell):
        provider().find_sent(outgoing())
    assert API_KEY not in repr(provider())


def test_statuses_ask_nothing():  # no status query is documented: receipts bring them (the rsps mock is unused)
    assert provider().statuses([base.Tracked("1"), base.Tracked("2")]) == []


# ---------------------------------------------------------------- send
def test_send_builds_the_documented_request(rsps):
    rsps.post(SEND, json={"result": [{"code": "OK", "messageId": "3482512350952730368"}]})

    accepted = provider().send(outgoing(callback_url=CALLBACK))

    assert accepted == base.Accepted(provider_id="3482512350952730368", status=base.QUEUED, raw="OK")
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == f"Key {API_KEY}"
    assert json.loads(request.body) == {"messages": [{
        "from": "SHOP", "to": "79161234567", "text": "Привет", "validity": VALIDITY,
        "options": {"b24sms_key": "k1"}, "callbackUrl": CALLBACK}]}


def test_send_many_answers_each_message_in_order(rsps):
    rsps.post(SEND, json={"result": [
        {"code": "OK", "messageId": "101"},
        rejected(("invalid", "to")),
        {"code": "OK", "messageId": "103"},
    ]})
    results = provider().send_many([outgoing(key=k) for k in "abcd"])

    assert len(json.loads(rsps.calls[0].request.body)["messages"]) == 4 and len(rsps.calls) == 1
    assert results[0].provider_id == "101" and results[2].provider_id == "103"
    assert isinstance(results[1], base.InvalidRecipient) and results[1].code == "invalid"
    assert "invalid to" in results[1].text
    # Not answered for: it may have been taken; a receipt naming it settles it.
    assert isinstance(results[3], base.AnswerLost) and results[3].code == "missing_in_answer"


@pytest.mark.parametrize("answer, error, code, fails_over", [
    (rejected(("billing.error", "")), base.NoMoney, "billing.error", True),
    (rejected(("invalid", "to")), base.InvalidRecipient, "invalid", False),
    (rejected(("invalid", "messages[0].to")), base.InvalidRecipient, "invalid", False),
    (rejected(("forbidden", "to")), base.InvalidRecipient, "forbidden", False),
    (rejected(("invalid", "from")), base.SenderRejected, "invalid", True),
    (rejected(("forbidden", "from")), base.SenderRejected, "forbidden", True),
    (rejected(("length.too.long", "from")), base.SenderRejected, "length.too.long", True),
    (rejected(("must.be.not.null", "text")), base.RejectedContent, "must.be.not.null", False),
    (rejected(("length.too.long", "text")), base.RejectedContent, "length.too.long", False),
    (rejected(("too.many.messages", "messages")), base.ProviderError, "too.many.messages", True),
    (rejected(("unknown", "")), base.ProviderError, "unknown", True),
    (rejected(("some.new.key", "validity")), base.ProviderError, "some.new.key", True),
    ({"code": "REJECTED", "reasons": {"invalid": "to"}}, base.InvalidRecipient, "invalid", False),
    ({"code": "REJECTED"}, base.ProviderError, "REJECTED", True),
    ({"code": "SOMETHING_NEW", "messageId": "5"}, base.ProviderError, "SOMETHING_NEW", True),
    ({"code": "OK"}, base.ProviderError, "no_message_id", True),
])
def test_refusals_inside_http_200(rsps, answer, error, code, fails_over):
    rsps.post(SEND, json={"result": [answer]})
    with pytest.raises(error) as caught:
        provider().send(outgoing())
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.fails_over) == (code, fails_over)
    assert caught.value.text


@pytest.mark.parametrize("status, body, error, code", [
    (401, {"code": "UNAUTHORIZED", "description": "Invalid API key"}, base.InvalidCredentials, "UNAUTHORIZED"),
    (403, {}, base.InvalidCredentials, "http_403"),
    (402, {"description": "Payment required"}, base.NoMoney, "http_402"),
    (400, {"result": [rejected(("billing.error", ""))]}, base.NoMoney, "billing.error"),
    (400, {"description": "Bad request"}, base.ProviderError, "http_400"),
    (404, {"code": "NOT_FOUND"}, base.ProviderError, "NOT_FOUND"),
])
def test_request_errors(rsps, status, body, error, code):
    rsps.post(SEND, json=body, status=status)
    with pytest.raises(error) as caught:
        provider().send(outgoing())
    assert type(caught.value) is error and caught.value.code == code


def test_a_request_refused_for_one_messages_field_does_not_fail_the_others_as_theirs(rsps):
    rsps.post(SEND, json={"result": [rejected(("invalid", "messages[1].to"))]}, status=400)
    with pytest.raises(base.ProviderError) as caught:
        provider().send_many([outgoing(key="a"), outgoing(key="b")])
    assert type(caught.value) is base.ProviderError and caught.value.fails_over


@pytest.mark.parametrize("answer", [
    {"status": 502, "body": "<html>bad gateway</html>"},
    {"status": 429, "body": "slow down"},
    {"body": requests.ConnectionError("refused")},
])
def test_transport_trouble_is_retry_later(rsps, answer):
    rsps.add(responses.POST, SEND, **answer)
    with pytest.raises(base.RetryLater):
        provider().send(outgoing())


def test_a_body_that_is_not_json_is_a_provider_error(rsps):
    rsps.add(responses.POST, SEND, body="<html>maintenance</html>", status=200)
    with pytest.raises(base.ProviderError, match="not a JSON object"):
        provider().send(outgoing())


def test_the_older_one_message_shape_is_read_too(rsps):
    rsps.post(SEND, json={"code": "OK", "messageId": "77", "segmentsId": ["771"]})
    assert provider().send(outgoing()).provider_id == "77"


# ---------------------------------------------------------------- balance and the check on save
@pytest.mark.parametrize("account, amount, currency", [
    ({"companyId": 1, "balance": 1500.5, "currencyId": "RUB", "isBlocked": False}, "1500.5", "RUB"),
    ({"balance": "10.00", "currencyId": 643}, "10.00", "RUB"),
    ({"balance": 3, "currencyId": 7}, "3", "RUB"),  # an id we do not know: Devino bills in roubles
    ({"credit": 0}, None, "RUB"),
])
def test_balance(rsps, account, amount, currency):
    rsps.get(ACCOUNT, json={"result": {"account": account}})
    balance = provider().balance()
    assert (None if balance.amount is None else str(balance.amount), balance.currency) == (amount, currency)


def test_check_on_save(devino):
    balance = provider().check_credentials()
    assert str(balance.amount) == "1500.5"
    devino.blocked = True
    with pytest.raises(base.ProviderError) as caught:
        provider().check_credentials()
    assert caught.value.code == "account_blocked"
    devino.api_key = "another"
    with pytest.raises(base.InvalidCredentials, match="Invalid API key"):
        provider().check_credentials()


# ---------------------------------------------------------------- receipts
@pytest.mark.parametrize("body, expected", [
    ({"messageId": "5", "status": "DELIVERED", "options": {"b24sms_key": "k1"}}, ("5", base.DELIVERED, None)),
    ({"messageId": "5", "status": "CLICKED"}, ("5", base.DELIVERED, None)),
    ({"messageId": "5", "status": "SENT"}, ("5", base.SENT, None)),
    ({"messageId": "5", "status": "UNDELIVERED", "errorCode": 11}, ("5", base.UNDELIVERED, "devino:11")),
    ({"messageId": "5", "status": "EXPIRED"}, ("5", base.UNDELIVERED, "devino:EXPIRED")),
    ({"messageId": "5", "status": "REJECTED"}, ("5", base.FAILED, "devino:REJECTED")),
    ({"messageId": "5", "status": "SOMETHING_NEW"}, ("5", base.UNKNOWN, None)),
    ({"result": [{"messageId": "5", "status": "DELIVERED"}]}, ("5", base.DELIVERED, None)),
    ([{"messageId": 5, "status": "delivered"}], ("5", base.DELIVERED, None)),
])
def test_receipts(body, expected):
    [report] = provider().read_receipt(base.Receipt(url=CALLBACK, json=body))
    assert (report.provider_id, report.status, report.error_code) == expected


@pytest.mark.parametrize("body", [{"status": "DELIVERED"}, [], {"result": []}])
def test_a_receipt_without_message_id_is_refused(body):
    with pytest.raises(base.ProviderError, match="no messageId"):
        provider().read_receipt(base.Receipt(url=CALLBACK, json=body))


# ---------------------------------------------------------------- the whole way
def callback_path(url):
    assert url.startswith(PUBLIC_URL + "/callbacks/devino/")
    return url.removeprefix(PUBLIC_URL)


def test_handler_job_pass_receipt_and_report(client, db, bitrix, devino, runner):
    install_with_chain(client, bitrix, DEVINO_SETTINGS)
    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert answer["state"] == MessageState.ACCEPTED and answer["provider"] == "devino"
    [(devino_id, sent)] = devino.messages.items()
    message = stored(db)
    assert (sent["from"], sent["to"], sent["text"]) == ("SHOP", "79161234567", "Hello from CRM")
    assert sent["options"] == {"b24sms_key": message.provider_key}
    assert parse_qs(urlsplit(sent["callbackUrl"]).query) == {"m": [message.provider_key]}
    assert message.provider_message_id == devino_id

    make_due(db)
    run_job(runner)  # nothing to poll: no request goes to Devino
    assert len(devino.send_requests) == 1 and bitrix.statuses == {}

    url, body = devino.callback(devino_id, "DELIVERED")
    response = client.post(callback_path(url), json=body)
    assert response.get_json() == {"ok": True, "received": 1, "matched": 1, "changed": 1}
    run_job(runner)
    assert stored(db).state == MessageState.DELIVERED
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_a_receipt_with_a_forged_secret_changes_nothing(client, db, bitrix, devino):
    install_with_chain(client, bitrix, DEVINO_SETTINGS)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))
    [devino_id] = devino.messages
    url, body = devino.callback(devino_id, "DELIVERED")
    path = urlsplit(callback_path(url)).path

    response = client.post(path[:-4] + "abcd", json=body)

    assert response.status_code == 404 and response.get_json()["error"] == "unknown_callback"
    assert stored(db).state == MessageState.ACCEPTED


def test_a_lost_answer_is_settled_by_the_receipt_naming_our_key(client, db, bitrix, devino, runner):
    install_with_chain(client, bitrix, DEVINO_SETTINGS)
    devino.lose_answers = 1

    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert answer["state"] == MessageState.RECONCILING
    [devino_id] = devino.messages
    url, body = devino.callback(devino_id, "DELIVERED")
    assert client.post(callback_path(url), json=body).get_json()["matched"] == 1
    message = stored(db)
    assert (message.provider_message_id, message.state) == (devino_id, MessageState.DELIVERED)
    run_job(runner)
    assert len(devino.send_requests) == 1 and bitrix.statuses == {message_id(1): "delivered"}


def test_as_the_second_link_of_a_failover_chain(client, db, bitrix, prostor, devino, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, DEVINO_SETTINGS)
    prostor.next_send_status.append("not enough balance")

    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert answer["provider"] == "devino" and [t["provider"] for t in answer["tried"]] == ["prostor", "devino"]
    [devino_id] = devino.messages
    url, body = devino.callback(devino_id, "UNDELIVERED", errorCode=6)
    assert client.post(callback_path(url), json=body).get_json()["changed"] == 1
    run_job(runner)
    assert stored(db).error_code == "devino:6"
    assert bitrix.statuses == {message_id(1): "undelivered"}


def test_a_refused_recipient_fails_without_trying_others(client, db, bitrix, devino, runner):
    install_with_chain(client, bitrix, DEVINO_SETTINGS)
    devino.reject_next.append([("invalid", "to")])

    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert answer["state"] == MessageState.FAILED
    assert answer["error"]["code"] == "invalid_recipient:invalid"
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "failed"}
