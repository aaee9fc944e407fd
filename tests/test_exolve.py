"""MTS Exolve: the SMS API's answers and errors, receipts, the credential check, and the whole way through."""
import json

import pytest
import requests
import responses

from b24sms import http_client, providers
from b24sms.providers import base
from b24sms.providers.exolve import Exolve
from b24sms.rules.lifecycle import MessageState
from tests.fakes.exolve import API_KEY, EXOLVE, OWN_NUMBER
from tests.helpers import (
    PROSTOR_SETTINGS,
    as_sent,
    bearer,
    handler_form,
    install_with_chain,
    make_due,
    message_id,
    run_job,
    stored,
)
from tests.helpers.suite import PUBLIC_URL

EXOLVE_SETTINGS = {"kind": "exolve", "sender": "SHOP", "credentials": {"api_key": API_KEY}}
CALLBACK = "https://sms.example.com/callbacks/exolve/s3cret"


def provider(sender="SHOP"):
    return Exolve({"api_key": API_KEY}, sender, base_url=EXOLVE, timeout=3, http=http_client.build())


def outgoing(key="k1", phone="+79161234567", sender="SHOP"):
    return base.Outgoing(key=key, phone=phone, text="Привет", sender=sender)


def entry(message_id="777", delivery_status=0, status=0):
    return {"message_id": message_id, "application_uuid": "a", "date": "2026-11-23T10:00:00Z", "number": "SHOP",
            "sender": "SHOP", "receiver": "79161234567", "text": "hi", "direction": 2, "segments_count": 1,
            "billing_status": 0, "delivery_status": delivery_status, "channel": 0, "status": status}


# ---------------------------------------------------------------- declarations
def test_the_registry_finds_it_with_its_declarations():
    cls = providers.PROVIDERS["exolve"]
    assert cls is Exolve and (cls.title, cls.offer_rank, cls.receipts) == ("MTS Exolve", 5, base.ACCOUNT)
    assert [s.name for s in cls.credential_settings] == ["api_key"] and cls.credential_settings[0].secret
    assert cls.statuses_per_request == cls.sends_per_request == 1
    assert provider().can_be_asked is False
    with pytest.raises(base.CannotTell):
        provider().find_sent(outgoing())
    assert API_KEY not in repr(provider())


# ---------------------------------------------------------------- send
@pytest.mark.parametrize("sender, number", [("SHOP", "SHOP"), ("+79991234567", "79991234567")])
def test_send_builds_the_documented_request(rsps, sender, number):
    rsps.post(EXOLVE + "messaging/v1/SendSMS", json={"message_id": "6412345678901234567"})

    accepted = provider(sender).send(outgoing(sender=sender))

    assert accepted == base.Accepted(provider_id="6412345678901234567", status=base.QUEUED, raw="accepted")
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.body) == {"number": number, "destination": "79161234567", "text": "Привет"}


@pytest.mark.parametrize("status, body, error, code, fails_over", [
    (401, {"error": {"message": "Unauthorized"}}, base.InvalidCredentials, "http_401", True),
    (403, {"error": {"message": "Forbidden"}}, base.InvalidCredentials, "http_403", True),
    (400, {"error": {"code": 16, "message": "unauthenticated"}}, base.InvalidCredentials, "16", True),
    (400, {"error": {"code": 7, "message": "permission denied"}}, base.InvalidCredentials, "7", True),
    (400, {"error": {"code": 8, "message": "too many requests"}}, base.RetryLater, "8", True),
    (400, {"error": {"code": 14, "message": "unavailable"}}, base.RetryLater, "14", True),
    (402, {"error": {"message": "insufficient funds"}}, base.NoMoney, "http_402", True),
    (400, {"error": {"code": 3, "message": "invalid destination number"}}, base.ProviderError, "3", True),
    (400, {"code": 3, "message": "grpc-gateway shape"}, base.ProviderError, "3", True),
    (400, {"error": "plain words"}, base.ProviderError, "http_400", True),
    (200, {"error": {"message": "an error inside HTTP 200"}}, base.ProviderError, "http_200", True),
    (404, {"unheard": "of"}, base.ProviderError, "http_404", True),
])
def test_errors_keep_exolve_words_and_code(rsps, status, body, error, code, fails_over):
    rsps.post(EXOLVE + "messaging/v1/SendSMS", json=body, status=status)
    with pytest.raises(error) as caught:
        provider().send(outgoing())
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.fails_over) == (code, fails_over)
    assert caught.value.text  # Exolve's words (or the HTTP status) are kept


@pytest.mark.parametrize("answer", [
    {"status": 502, "body": "<html>bad gateway</html>"},
    {"status": 429, "body": "slow down"},
    {"body": requests.ConnectionError("refused")},
])
def test_transport_trouble_is_retry_later(rsps, answer):
    rsps.add(responses.POST, EXOLVE + "messaging/v1/SendSMS", **answer)
    with pytest.raises(base.RetryLater):
        provider().send(outgoing())


@pytest.mark.parametrize("status, body", [(200, "<html>maintenance</html>"), (400, "<html>bad</html>")])
def test_a_body_that_is_not_json_is_a_provider_error(rsps, status, body):
    rsps.add(responses.POST, EXOLVE + "messaging/v1/SendSMS", body=body, status=status)
    with pytest.raises(base.ProviderError) as caught:
        provider().send(outgoing())
    assert caught.value.code == f"http_{status}" and not caught.value.retryable


def test_an_answer_without_message_id_is_refused(rsps):
    rsps.post(EXOLVE + "messaging/v1/SendSMS", json={})
    with pytest.raises(base.ProviderError, match="without a message_id"):
        provider().send(outgoing())


# ---------------------------------------------------------------- statuses
@pytest.mark.parametrize("delivery, overall, status", [
    ("DELIVERED", None, base.DELIVERED), ("DELIVERY_STATUS_DELIVERED", None, base.DELIVERED),
    ("SENT", None, base.SENT), ("QUEUED", None, base.QUEUED), ("UNDELIVERED", None, base.UNDELIVERED),
    ("EXPIRED", None, base.UNDELIVERED), ("REJECTED", None, base.FAILED), ("FAILED", None, base.FAILED),
    (None, "STATUS_DELIVERED", base.DELIVERED),  # only the combined status: read that
    (2, 3, base.UNKNOWN),  # unpublished numbers: kept raw, polled again
    ("SOMETHING_NEW", None, base.UNKNOWN),
])
def test_status_table(rsps, delivery, overall, status):
    rsps.post(EXOLVE + "messaging/v1/GetList", json={"messages": [entry("777", delivery, overall)]})
    [report] = provider().statuses([base.Tracked("777", "+79161234567")])
    assert (report.provider_id, report.status) == ("777", status)
    assert report.raw == "/".join(str(v) for v in (delivery, overall) if v is not None)
    assert json.loads(rsps.calls[0].request.body) == {"message_id": "777"}
    if status in (base.UNDELIVERED, base.FAILED):
        assert report.error_code == f"exolve:{report.raw}"


def test_statuses_are_one_request_per_message_and_an_unlisted_one_is_polled_again(rsps):
    rsps.post(EXOLVE + "messaging/v1/GetList", json={"messages": []})
    rsps.post(EXOLVE + "messaging/v1/GetList", json={"messages": [entry("2", "DELIVERED")]})
    reports = provider().statuses([base.Tracked("1"), base.Tracked("2")])
    assert [json.loads(c.request.body) for c in rsps.calls] == [{"message_id": "1"}, {"message_id": "2"}]
    assert [(r.provider_id, r.status) for r in reports] == [("2", base.DELIVERED)]


def test_odd_status_answers_never_crash(rsps):
    rsps.post(EXOLVE + "messaging/v1/GetList", json={"messages": ["odd", {"message_id": "9"}, None]})
    assert provider().statuses([base.Tracked("1")]) == []


# ---------------------------------------------------------------- balance, credentials, sender names
def test_check_on_save_is_get_count_then_the_balance(exolve):
    balance = provider().check_credentials()
    assert (str(balance.amount), balance.currency) == ("512.75", "RUB")
    assert [method for method, _ in exolve.requests] == ["GetCount", "GetBalance"]


def test_a_missing_balance_method_does_not_refuse_a_good_key(exolve):
    exolve.has_balance_method = False
    assert provider().check_credentials() is None


def test_a_wrong_key_is_refused_on_save(exolve):
    exolve.api_key = "another"
    with pytest.raises(base.InvalidCredentials, match="unauthenticated"):
        provider().check_credentials()


@pytest.mark.parametrize("answer, names", [
    ({"alpha_names": [{"name": "SHOP", "status": "ACTIVE"}, {"name": "NEW1", "status": "MODERATION"},
                      {"name": "OLD", "status": "REJECTED"}, {"name": "SHOP"}]}, ["SHOP"]),
    ({"alpha_names": [{"alpha_name": "SHOP", "status": 2}]}, ["SHOP"]),  # an unknown state is kept
    ({"names": ["SHOP", "CAFE"]}, ["SHOP", "CAFE"]),
    ([{"name": "SHOP"}], ["SHOP"]),
    ({"alpha_names": []}, []),
    ({"alpha_names": [{"name": "X", "status": "BLOCKED"}]}, []),
    ({"something": "else"}, None),  # unreadable: cannot list, never "none approved"
    ({"alpha_names": [{"id": 5}]}, None),
])
def test_sender_names(rsps, answer, names):
    rsps.post(EXOLVE + "messaging/v1/GetAlphaNames", json=answer)
    assert provider().sender_names() == names


def test_the_applications_number_as_sender_is_listed_beside_the_names(exolve):
    assert provider(sender="+" + OWN_NUMBER).sender_names() == ["SHOP", "+" + OWN_NUMBER]


# ---------------------------------------------------------------- receipts
@pytest.mark.parametrize("receipt, expected", [
    (base.Receipt(url=CALLBACK, json=entry("5", "DELIVERED", "DELIVERED")), [("5", base.DELIVERED)]),
    (base.Receipt(url=CALLBACK, json={"messages": [entry("5", "SENT"), entry("6", "UNDELIVERED")]}),
     [("5", base.SENT), ("6", base.UNDELIVERED)]),
    (base.Receipt(url=CALLBACK, json={"data": {"message_id": "5", "delivery_status": 4}}), [("5", base.UNKNOWN)]),
    (base.Receipt(url=CALLBACK, params=(("message_id", "5"), ("delivery_status", "DELIVERED"))),
     [("5", base.DELIVERED)]),
])
def test_receipts_in_any_likely_shape(receipt, expected):
    assert [(r.provider_id, r.status) for r in provider().read_receipt(receipt)] == expected


@pytest.mark.parametrize("body", [{"delivery_status": "DELIVERED"}, [], ["odd"], {"messages": [{}]}])
def test_a_receipt_without_message_id_is_refused(body):
    with pytest.raises(base.ProviderError, match="no message_id"):
        provider().read_receipt(base.Receipt(url=CALLBACK, json=body))


# ---------------------------------------------------------------- the whole way
def callback_path(client, token):
    [entry_] = [p for p in client.get("/api/settings", headers=bearer(token)).get_json()["providers"]
                if p["kind"] == "exolve"]
    assert entry_["callback_url"].startswith(PUBLIC_URL + "/callbacks/exolve/")
    return entry_["callback_url"].removeprefix(PUBLIC_URL)


def test_handler_job_pass_and_report(client, db, bitrix, exolve, runner):
    install_with_chain(client, bitrix, EXOLVE_SETTINGS)
    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert answer["state"] == MessageState.ACCEPTED and answer["provider"] == "exolve"
    [sent] = exolve.sent
    assert (sent["number"], sent["receiver"], sent["text"]) == ("SHOP", "79161234567", "Hello from CRM")
    assert stored(db).provider_message_id == sent["message_id"]

    make_due(db)
    run_job(runner)  # a number Exolve does not publish: kept raw, nothing reported
    assert stored(db).provider_status == "0/0" and bitrix.statuses == {}

    exolve.set_status(sent["message_id"], "DELIVERED")
    make_due(db)
    run_job(runner)
    assert stored(db).state == MessageState.DELIVERED
    assert bitrix.statuses == {message_id(1): "delivered"}
    assert len(exolve.calls_of("GetList")) == 2


def test_receipts_at_the_account_url_valid_and_forged(client, db, bitrix, exolve, runner):
    token = install_with_chain(client, bitrix, EXOLVE_SETTINGS)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))
    [sent] = exolve.sent
    path = callback_path(client, token)
    exolve.set_status(sent["message_id"], "UNDELIVERED")

    forged = client.post(path[:-4] + "abcd", json=exolve.delivery_report(sent["message_id"]))
    assert forged.status_code == 404 and stored(db).state == MessageState.ACCEPTED

    response = client.post(path, json=exolve.delivery_report(sent["message_id"]))
    assert response.get_json() == {"ok": True, "received": 1, "matched": 1, "changed": 1}
    message = stored(db)
    assert (message.state, message.error_code) == (MessageState.UNDELIVERED, "exolve:UNDELIVERED/UNDELIVERED")
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "undelivered"}


def test_as_the_second_link_of_a_failover_chain(client, db, bitrix, prostor, exolve, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, EXOLVE_SETTINGS)
    prostor.fail_next.append(502)

    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert answer["provider"] == "exolve" and [t["provider"] for t in answer["tried"]] == ["prostor", "exolve"]
    [sent] = exolve.sent
    exolve.set_status(sent["message_id"], "DELIVERED")
    make_due(db)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_a_lost_answer_is_never_sent_twice_to_exolve(client, db, bitrix, exolve, runner):
    install_with_chain(client, bitrix, EXOLVE_SETTINGS)
    exolve.lose_answers = 1

    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert answer["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)  # Exolve cannot be asked: the message waits for a receipt, it is not sent again
    assert len(exolve.sent) == 1 and stored(db).state == MessageState.RECONCILING
