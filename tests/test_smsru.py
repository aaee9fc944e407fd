"""SMS.RU: every documented status and error code in the API's own answer shapes, receipts with valid and forged
hashes, the callback registered on save, and SMS.RU end to end and as the second link of a failover chain."""
import hashlib
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
import responses
from sqlalchemy import select

from b24sms import http_client
from b24sms.providers import PROVIDERS, base
from b24sms.providers.smsru import SmsRu
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import ProviderAccount
from tests.fakes.smsru import API_ID, ERROR_WORDS, SMSRU, STATUS_WORDS, error
from tests.helpers import (
    PROSTOR_SETTINGS,
    as_sent,
    bearer,
    handler_form,
    handler_path,
    install_with_chain,
    make_due,
    message_id,
    open_page,
    run_job,
    save_providers,
    stored,
)
from tests.helpers.suite import PUBLIC_URL

SMSRU_SETTINGS = {"kind": "smsru", "sender": "SHOP", "credentials": {"api_id": API_ID}}
OK = {"status": "OK", "status_code": 100}


def provider(api_id=API_ID):
    return SmsRu({"api_id": api_id}, "SHOP", base_url=SMSRU, timeout=3, http=http_client.build())


def out(key="k1", phone="+79161234567", text="hi", sender="SHOP"):
    return base.Outgoing(key=key, phone=phone, text=text, sender=sender)


def form_of(call):
    return dict(parse_qsl(call.request.body, keep_blank_values=True))


def sent_answer(*entries):
    return {**OK, "sms": dict(entries), "balance": 4122.56}


def accepted(sms_id):
    return {"status": "OK", "status_code": 100, "sms_id": sms_id}


def refused(code):
    return {"status": "ERROR", "status_code": code, "status_text": ERROR_WORDS.get(code, "что-то новое")}


# ---------------------------------------------------------------- declarations
def test_declared_first_on_the_settings_page_with_its_api_key():
    assert next(iter(PROVIDERS)) == "smsru" and PROVIDERS["smsru"] is SmsRu
    assert [(s.name, s.secret, s.required) for s in SmsRu.credential_settings] == [("api_id", True, True)]
    assert SmsRu.sender_setting.required is False and SmsRu.receipts == base.REGISTERED
    assert SmsRu.sends_per_request == SmsRu.statuses_per_request == 100
    assert not provider().can_be_asked and API_ID not in repr(provider())


def test_a_lost_answer_cannot_be_asked_about():
    with pytest.raises(base.CannotTell):
        provider().find_sent(out())


# ---------------------------------------------------------------- statuses
@pytest.mark.parametrize("code, status", [
    (100, base.QUEUED), (101, base.SENT), (102, base.SENT), (103, base.DELIVERED), (110, base.DELIVERED),
    (104, base.UNDELIVERED), (105, base.UNDELIVERED), (106, base.UNDELIVERED), (107, base.UNDELIVERED),
    (108, base.UNDELIVERED), (150, base.UNDELIVERED), (-1, base.UNKNOWN), (111, base.UNKNOWN),
])
def test_status_table(rsps, code, status):
    entry = {"status": "ERROR" if code == -1 else "OK", "status_code": code, "status_text": STATUS_WORDS.get(code)}
    rsps.post(SMSRU + "sms/status", json={**OK, "sms": {"000000-10000001": entry}, "balance": 10})
    [report] = provider().statuses([base.Tracked("000000-10000001", "+79161234567")])
    assert (report.provider_id, report.status, report.raw) == ("000000-10000001", status, str(code))
    if status == base.UNDELIVERED:  # SMS.RU's code and words stay on the message
        assert (report.error_code, report.error_text) == (f"smsru:{code}", STATUS_WORDS[code])
    else:
        assert report.error_code is None


def test_statuses_of_many_messages_in_one_request(rsps, smsru):
    sms_ids = [provider().send(out(key=str(n), phone=f"+7916123456{n}")).provider_id for n in range(3)]
    smsru.statuses[sms_ids[0]], smsru.statuses[sms_ids[1]] = 103, 104

    reports = provider().statuses([base.Tracked(i) for i in sms_ids + ["000000-404"]])

    assert smsru.paths.count("sms/status") == 1
    assert smsru.requests[-1][1]["sms_id"] == ",".join(sms_ids + ["000000-404"])
    assert [(r.provider_id, r.status) for r in reports] == [
        (sms_ids[0], base.DELIVERED), (sms_ids[1], base.UNDELIVERED), (sms_ids[2], base.QUEUED),
        ("000000-404", base.UNKNOWN)]


@pytest.mark.parametrize("answer, reports", [
    ({**OK, "sms": {"1-1": "not an object", "1-2": {"status": "OK"}}}, [("1-2", base.UNKNOWN, "")]),
    ({**OK, "sms": []}, []), (OK, []),  # nothing readable: polled again
])
def test_odd_status_answers_never_crash(rsps, answer, reports):
    rsps.post(SMSRU + "sms/status", json=answer)
    found = provider().statuses([base.Tracked("1-1"), base.Tracked("1-2")])
    assert [(r.provider_id, r.status, r.raw) for r in found] == reports


def test_a_status_request_refused_whole(rsps):
    rsps.post(SMSRU + "sms/status", json={"status": "ERROR", "status_code": -1, "status_text": "Сообщение не найдено"})
    [report] = provider().statuses([base.Tracked("1-1")])
    assert (report.status, report.raw) == (base.UNKNOWN, "-1")  # polled again
    rsps.replace("POST", SMSRU + "sms/status", json=error(200))
    with pytest.raises(base.InvalidCredentials, match="Неправильный api_id"):
        provider().statuses([base.Tracked("1-1")])


# ---------------------------------------------------------------- errors
ERRORS = [
    (200, base.InvalidCredentials), (300, base.InvalidCredentials), (301, base.InvalidCredentials),
    (302, base.InvalidCredentials), (201, base.NoMoney), (202, base.InvalidRecipient), (209, base.InvalidRecipient),
    (215, base.InvalidRecipient), (230, base.InvalidRecipient), (203, base.RejectedContent),
    (205, base.RejectedContent), (216, base.RejectedContent), (231, base.RejectedContent),
    (232, base.RejectedContent), (233, base.RejectedContent), (204, base.SenderRejected), (206, base.RetryLater),
    (220, base.RetryLater), (500, base.RetryLater), (506, base.RetryLater), (207, base.ProviderError),
    (208, base.ProviderError), (210, base.ProviderError), (211, base.ProviderError), (212, base.ProviderError),
    (213, base.ProviderError), (214, base.ProviderError), (901, base.ProviderError), (777, base.ProviderError),
]


@pytest.mark.parametrize("code, kind", ERRORS)
def test_request_errors_in_http_200(rsps, code, kind):
    rsps.post(SMSRU + "sms/send", json=refused(code))
    with pytest.raises(kind) as caught:
        provider().send(out())
    assert type(caught.value) is kind
    assert (caught.value.code, caught.value.text) == (str(code), refused(code)["status_text"])


@pytest.mark.parametrize("code, kind", ERRORS)
def test_per_number_errors_inside_an_ok_answer(rsps, code, kind):
    rsps.post(SMSRU + "sms/send", json=sent_answer(("79161234567", refused(code))))
    with pytest.raises(kind) as caught:
        provider().send(out())
    assert type(caught.value) is kind and caught.value.code == str(code)
    assert caught.value.fails_over is (kind not in (base.InvalidRecipient, base.RejectedContent))


@pytest.mark.parametrize("answer, code", [
    ({"status": "ERROR"}, None),  # no code, no words
    ({"status": "ERROR", "errors": [{"status_code": 201, "status_text": "Не хватает средств"}]}, "201"),
    ({"status": "weird", "status_code": "x1"}, "x1"),
])
def test_odd_error_shapes_keep_what_there_is(rsps, answer, code):
    rsps.post(SMSRU + "sms/send", json=answer)
    with pytest.raises(base.ProviderError) as caught:
        provider().send(out())
    assert caught.value.code == code and caught.value.text


# ---------------------------------------------------------------- sending
def test_send_builds_the_documented_request(rsps):
    rsps.post(SMSRU + "sms/send", json=sent_answer(("79161234567", accepted("000000-10000007"))))
    assert provider().send(out(text="Привет")) == base.Accepted("000000-10000007", base.QUEUED, "100")
    assert form_of(rsps.calls[0]) == {"api_id": API_ID, "json": "1", "to": "79161234567", "msg": "Привет",
                                      "from": "SHOP"}


def test_the_one_entry_is_read_whatever_number_sms_ru_made_of_it(rsps):
    rsps.post(SMSRU + "sms/send", json=sent_answer(("89161234567", accepted("1-2"))))
    assert provider().send(out(sender=None)).provider_id == "1-2"
    assert "from" not in form_of(rsps.calls[0])


def test_send_many_one_text_goes_as_to_and_msg_in_one_request(smsru):
    results = provider().send_many([out(key=str(n), phone=f"+7916123456{n}", text="sale") for n in range(3)])
    [(path, form)] = smsru.requests
    assert (path, form["to"], form["msg"]) == ("sms/send", "79161234560,79161234561,79161234562", "sale")
    assert [r.provider_id for r in results] == [m["sms_id"] for m in smsru.sent]


def test_send_many_different_texts_go_per_number(smsru):
    results = provider().send_many([out(key="a", phone="+79161234560", text="one"),
                                    out(key="b", phone="+49151123456789", text="two")])
    [(_, form)] = smsru.requests
    assert form["to[79161234560]"] == "one" and form["to[49151123456789]"] == "two" and "msg" not in form
    assert [(m["to"], m["text"]) for m in smsru.sent] == [("79161234560", "one"), ("49151123456789", "two")]
    assert all(isinstance(r, base.Accepted) for r in results)


def test_send_many_splits_by_sender_and_repeated_numbers(smsru):
    messages = [out(key="a", text="1"), out(key="b", text="2"), out(key="c", sender="OTHER", text="3"),
                out(key="d", phone="+79160000000", text="4")]
    results = provider().send_many(messages)
    assert [(form.get("from"), sorted(k for k in form if k.startswith("to"))) for _, form in smsru.requests] == [
        ("SHOP", ["to[79160000000]", "to[79161234567]"]), ("SHOP", ["to"]), ("OTHER", ["to"])]
    by_text = {m["text"]: m["sms_id"] for m in smsru.sent}
    assert [r.provider_id for r in results] == [by_text[t] for t in "1234"]


def test_send_many_answers_each_number_and_marks_the_unnamed_one_lost(rsps):
    rsps.post(SMSRU + "sms/send", json=sent_answer(("79161234560", refused(207)), ("79161234561", accepted("1-1"))))
    results = provider().send_many([out(key=str(n), phone=f"+7916123456{n}", text=str(n)) for n in range(3)])
    assert type(results[0]) is base.ProviderError and results[0].code == "207"
    assert results[1].provider_id == "1-1"
    assert isinstance(results[2], base.AnswerLost) and results[2].code == "missing_in_answer"


def test_send_many_renumbered_answer_is_read_in_order(rsps):
    rsps.post(SMSRU + "sms/send", json=sent_answer(("89161234560", accepted("1-1")), ("89161234561", accepted("1-2"))))
    results = provider().send_many([out(key="a", phone="+79161234560", text="a"),
                                    out(key="b", phone="+79161234561", text="b")])
    assert [r.provider_id for r in results] == ["1-1", "1-2"]


def test_a_list_refused_for_one_number_is_sent_again_one_by_one(smsru):
    smsru.request_errors.append(202)
    smsru.refused_numbers["79161234561"] = 202
    results = provider().send_many([out(key=str(n), phone=f"+7916123456{n}", text="x") for n in range(3)])
    assert smsru.paths == ["sms/send"] * 4
    assert isinstance(results[1], base.InvalidRecipient) and results[1].text == ERROR_WORDS[202]
    assert [type(r) for r in (results[0], results[2])] == [base.Accepted, base.Accepted]


def test_send_many_account_trouble_raises_for_the_whole_batch(smsru):
    smsru.api_id = "changed"
    with pytest.raises(base.InvalidCredentials):
        provider().send_many([out(key="a", text="1"), out(key="b", sender="OTHER", text="2")])
    assert smsru.paths == ["sms/send"] * 2


def test_after_a_timeout_the_rest_of_a_batch_is_not_sent(smsru):
    smsru.fail_next.append(requests.ReadTimeout())
    results = provider().send_many([out(key="a"), out(key="b", sender="OTHER")])
    assert isinstance(results[0], base.AnswerLost)
    assert isinstance(results[1], base.RetryLater) and results[1].code == "not_tried"
    assert smsru.paths == ["sms/send"] and smsru.sent == []


def test_a_batch_that_cannot_connect_raises_and_sends_nothing_more(smsru):
    smsru.fail_next.append(requests.ConnectTimeout())
    with pytest.raises(base.Unreachable):
        provider().send_many([out(key="a"), out(key="b", sender="OTHER")])
    assert smsru.paths == ["sms/send"]


@pytest.mark.parametrize("answer, kind", [
    ({"status": 502, "body": "<html>bad gateway</html>"}, base.RetryLater),
    ({"body": requests.Timeout()}, base.AnswerLost),
    ({"body": responses.ConnectionError("refused")}, base.RetryLater),
    ({"body": "<html>maintenance</html>"}, base.ProviderError),
    ({"body": "200\nНеправильный api_id"}, base.InvalidCredentials),  # the plain-lines shape
    ({"body": "100\n000000-10000000\nbalance=10"}, base.AnswerLost),  # taken, but the id cannot be read
    ({"json": ["a", "list"]}, base.ProviderError),
])
def test_transport_trouble_and_unreadable_answers(rsps, answer, kind):
    rsps.add(responses.POST, SMSRU + "sms/send", **answer)
    with pytest.raises(kind):
        provider().send(out())


# ---------------------------------------------------------------- balance, senders, callbacks
def test_balance_is_the_credential_check(smsru):
    balance = provider().check_credentials()
    assert (str(balance.amount), balance.currency) == ("4122.56", "RUB")
    with pytest.raises(base.InvalidCredentials, match="Неправильный api_id"):
        provider("wrong").check_credentials()


@pytest.mark.parametrize("senders, names", [
    (["SHOP", "", "SHOP", "Other"], ["SHOP", "Other"]), ({"0": "SHOP"}, ["SHOP"]),
    ([{"name": "SHOP"}, None, 5], ["SHOP", "5"]), ([], []),
    ("nonsense", None), (None, None),  # a shape we cannot read: cannot check, never "none approved"
])
def test_sender_names(rsps, senders, names):
    rsps.post(SMSRU + "my/senders", json={**OK, "senders": senders})
    assert provider().sender_names() == names


def test_the_callback_is_added_once(smsru):
    provider().register_receipts("https://sms.example.com/callbacks/smsru/s3cret")
    provider().register_receipts("https://sms.example.com/callbacks/smsru/s3cret")
    assert smsru.callbacks == ["https://sms.example.com/callbacks/smsru/s3cret"]
    assert smsru.paths == ["callback/get", "callback/add", "callback/get"]
    with pytest.raises(base.ProviderError, match="URL неверный") as caught:
        provider().register_receipts("ftp://nope")
    assert caught.value.code == "901"


# ---------------------------------------------------------------- receipts
def receipt(params):
    return base.Receipt(url=PUBLIC_URL + "/callbacks/smsru/s3cret", params=tuple(params))


@pytest.mark.parametrize("code, status", [("103", base.DELIVERED), ("104", base.UNDELIVERED), ("102", base.SENT),
                                          ("999", base.UNKNOWN)])
def test_receipts_are_read(smsru, code, status):
    signed = receipt(smsru.receipt(("000000-1", code), "test\n1763892000", "callcheck_status\n2-2\n401\n1"))
    assert provider().verify_receipt(signed)
    [report] = provider().read_receipt(signed)
    assert (report.provider_id, report.status, report.raw) == ("000000-1", status, code)


@pytest.mark.parametrize("forge", ["tampered", "other_api_id", "no_hash", "no_data", "reordered"])
def test_forged_receipts_are_refused(smsru, forge):
    params = smsru.receipt(("000000-1", "104"), ("000000-2", "103"), api_id="someone-else" if forge ==
                           "other_api_id" else None, indexed=True)
    if forge == "tampered":
        params[0] = ("data[0]", "sms_status\n000000-1\n103\n1763892000")
    elif forge == "no_hash":
        params = params[:-1]
    elif forge == "no_data":
        params = params[-1:]
    elif forge == "reordered":
        params[0], params[1] = ("data[0]", params[1][1]), ("data[1]", params[0][1])
    assert not provider().verify_receipt(receipt(params))


def test_indexed_entries_are_hashed_in_index_order(smsru):
    params = smsru.receipt(("1-1", "103"), ("1-2", "104"), indexed=True)
    assert provider().verify_receipt(receipt([params[1], params[0], params[2]]))
    assert not provider(api_id="").verify_receipt(receipt(params))


def test_a_receipt_without_data_is_refused_and_odd_entries_are_skipped():
    with pytest.raises(base.ProviderError, match="no data"):
        provider().read_receipt(receipt([("hash", "00")]))
    assert provider().read_receipt(receipt([("data[]", "sms_status\n"), ("data[]", "garbage")])) == []


# ---------------------------------------------------------------- through the app
def callback_path(smsru):
    [url] = smsru.callbacks
    assert url.startswith(PUBLIC_URL + "/callbacks/smsru/")
    return url.removeprefix(PUBLIC_URL)


def post_receipt(client, smsru, params):
    """As SMS.RU posts it: a urlencoded form with repeated `data[]` fields."""
    return client.post(callback_path(smsru), data=urlencode(params), content_type="application/x-www-form-urlencoded")


def test_end_to_end_handler_receipt_poll_and_report(client, db, bitrix, smsru, runner):
    token = install_with_chain(client, bitrix, SMSRU_SETTINGS)
    [entry] = client.get("/api/settings", headers=bearer(token)).get_json()["providers"]
    assert "callback_url" not in entry and entry["credentials"]["api_id"] == "********"

    for n in (1, 2):
        answer = as_sent(client, client.post(handler_path(db), data=handler_form(bitrix, message_id(n))))
        assert (answer["state"], answer["provider"]) == (MessageState.ACCEPTED, "smsru")
    first, second = smsru.sent
    assert (first["to"], first["text"], first["from"]) == ("79161234567", "Hello from CRM", "SHOP")

    forged = post_receipt(client, smsru, smsru.receipt((first["sms_id"], "103"), api_id="forger"))
    assert forged.status_code == 403 and stored(db, 1).state == MessageState.ACCEPTED
    response = post_receipt(client, smsru, smsru.receipt((first["sms_id"], "103")))
    assert (response.status_code, response.get_data(as_text=True)) == (200, "100")
    assert stored(db, 1).state == MessageState.DELIVERED

    smsru.statuses[second["sms_id"]] = 104
    make_due(db)
    run_job(runner)

    assert bitrix.statuses == {message_id(1): "delivered", message_id(2): "undelivered"}
    message = stored(db, 2)
    assert (message.error_code, message.error_text) == ("smsru:104", STATUS_WORDS[104])
    assert smsru.paths.count("sms/status") == 1 and smsru.requests[-1][1]["sms_id"] == second["sms_id"]


def test_saving_again_registers_the_callback_once(client, db, bitrix, smsru):
    token = install_with_chain(client, bitrix, SMSRU_SETTINGS)
    masked = client.get("/api/settings", headers=bearer(token)).get_json()["providers"]
    assert save_providers(client, token, masked).status_code == 200
    assert len(smsru.callbacks) == 1 and smsru.paths.count("callback/add") == 1


@pytest.mark.parametrize("trouble", [502, requests.ConnectionError("down"), "refused"])
def test_a_failed_callback_registration_keeps_the_save_and_polls(client, db, bitrix, smsru, runner, caplog,
                                                                 trouble):
    if trouble == "refused":
        smsru.broken["callback/add"] = 200  # an empty page: not SMS.RU's answer
    else:
        smsru.broken["callback/get"] = trouble
    install_with_chain(client, bitrix, SMSRU_SETTINGS)
    assert smsru.callbacks == [] and "did not take the receipt URL" in caplog.text
    assert "/callbacks/smsru/" not in caplog.text  # the URL carries the account's secret

    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))
    smsru.statuses[smsru.sent[0]["sms_id"]] = 103
    make_due(db)
    run_job(runner)

    assert answer["provider"] == "smsru" and bitrix.statuses == {message_id(1): "delivered"}


def test_a_wrong_api_id_is_refused_on_save(client, bitrix, smsru):
    _, token = open_page(client, bitrix, APPLICATION_TOKEN="f3f0d0c5ff4dddad30a5088db9d7abc5")
    response = save_providers(client, token, [{**SMSRU_SETTINGS, "credentials": {"api_id": "wrong"}}])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_credentials"
    assert "Неправильный api_id" in response.get_json()["message"] and smsru.callbacks == []


@pytest.mark.parametrize("trouble", ["http_502", "no money"])
def test_second_link_of_a_failover_chain(client, db, bitrix, prostor, smsru, runner, trouble):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, SMSRU_SETTINGS)
    if trouble == "http_502":
        prostor.fail_next.append(502)
    else:
        prostor.next_send_status.append("not enough balance")

    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))

    assert (answer["state"], answer["provider"]) == (MessageState.ACCEPTED, "smsru")
    assert [t["provider"] for t in answer["tried"]] == ["prostor", "smsru"]
    [sent] = smsru.sent
    assert stored(db).provider_message_id == sent["sms_id"] and stored(db).attempts == 2
    smsru.statuses[sent["sms_id"]] = 103
    make_due(db)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}
    with db.session() as session:
        assert session.scalar(select(ProviderAccount.kind).where(ProviderAccount.id == stored(db).account_id)) == \
            "smsru"


def test_a_recipient_refusal_at_sms_ru_fails_the_message(client, db, bitrix, smsru, runner):
    install_with_chain(client, bitrix, SMSRU_SETTINGS)
    smsru.refused_numbers["79161234567"] = 215
    answer = as_sent(client, client.post("/handler", data=handler_form(bitrix, message_id(1))))
    assert answer["state"] == MessageState.FAILED
    assert answer["error"] == {"code": "invalid_recipient:215", "message": ERROR_WORDS[215],
                               "words": f"SMS.RU refused the number: {ERROR_WORDS[215]}"}
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "failed"}


def test_the_fake_signs_as_sms_ru_documents(smsru):
    *_, (name, signed) = smsru.receipt("a", "b")
    assert (name, signed) == ("hash", hashlib.sha256(f"{API_ID}ab".encode()).hexdigest())
