"""P1SMS: every documented status and refusal in the API's own answer shapes, unknown values, receipts, the lost
answer looked up in the account's list; end to end through the handler, a job pass and the report to Bitrix24,
and as the second link of a failover chain."""
import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.p1sms import P1sms
from b24sms.rules.lifecycle import MessageState
from tests.fakes.p1sms import API_KEY, P1SMS
from tests.helpers import (
    P1SMS_SETTINGS,
    PROSTOR_SETTINGS,
    install_with_chain,
    make_due,
    message_id,
    post_sms,
    run_job,
    stored,
)
from tests.helpers.suite import PUBLIC_URL

CALLBACK = "https://sms.example.com/callbacks/p1sms/s3cret"


def provider(base_url=P1SMS):
    return P1sms({"api_key": API_KEY}, "SHOP", base_url=base_url, timeout=3, http=http_client.build())


def out(key="k1", phone="+79161234567", text="Привет", callback_url=None):
    return base.Outgoing(key=key, phone=phone, text=text, sender="SHOP", callback_url=callback_url)


def body_of(call):
    return json.loads(call.request.body)


def query_of(call):
    return dict(parse_qsl(urlsplit(call.request.url).query))


def info(id_=12854727, status="delivered", error=None):
    return {"id": id_, "errorDescription": error, "cost": "0.50", "createdAt": 1504988172, "updatedAt": 1504988191,
            "cascadeSmsId": None, "status": status}


# ---------------------------------------------------------------- statuses
@pytest.mark.parametrize("word, status", [
    ("created", base.QUEUED), ("moderation", base.QUEUED), ("planned", base.QUEUED), ("sent", base.SENT),
    ("delivered", base.DELIVERED), ("read", base.DELIVERED), ("not_delivered", base.UNDELIVERED),
    ("error", base.FAILED), ("rejected", base.FAILED), ("low_balance", base.FAILED),
    ("low_partner_balance", base.FAILED), ("clicked", base.UNKNOWN), ("", base.UNKNOWN),
])
def test_status_table(rsps, word, status):
    rsps.post(P1SMS + "apiSms/get", json={"status": "success", "data": [info(status=word)]})
    [report] = provider().statuses([base.Tracked("12854727", "+79161234567")])
    assert (report.provider_id, report.status, report.raw) == ("12854727", status, word)
    assert body_of(rsps.calls[0]) == {"apiKey": API_KEY, "apiSmsIdList": [12854727]}


def test_statuses_of_many_in_one_request_keep_the_words_and_leave_out_unknown_ids(rsps):
    rsps.post(P1SMS + "apiSms/get", json={"status": "success", "data": [
        info(1, "delivered"), info(2, "not_delivered", "Абонент недоступен"), "odd", {"status": "sent"}]})
    reports = provider().statuses([base.Tracked(str(n)) for n in (1, 2, 3)])
    assert len(rsps.calls) == 1 and body_of(rsps.calls[0])["apiSmsIdList"] == [1, 2, 3]
    assert [(r.provider_id, r.status) for r in reports] == [("1", base.DELIVERED), ("2", base.UNDELIVERED)]
    assert (reports[1].error_code, reports[1].error_text) == ("p1sms:not_delivered", "Абонент недоступен")


def test_p1sms_declares_a_thousand_per_send_and_per_status_request():
    assert P1sms.sends_per_request == P1sms.statuses_per_request == 1000
    assert P1sms.receipts == base.PER_MESSAGE and P1sms.offer_rank == 7


# ---------------------------------------------------------------- sending
def test_send_builds_the_documented_request(rsps):
    rsps.post(P1SMS + "apiSms/create", json={"status": "success", "data": [
        {"id": 12854727, "phone": "79161234567", "status": "sent", "cost": "3.45", "smsCount": 1}]})
    accepted = provider().send(out(callback_url=CALLBACK + "?m=k1"))
    # "sent" at once is not to be trusted (moderation may follow): queued until the first poll.
    assert accepted == base.Accepted(provider_id="12854727", status=base.QUEUED, raw="sent")
    assert body_of(rsps.calls[0]) == {"apiKey": API_KEY, "webhookUrl": CALLBACK + "?m=k1", "sms": [
        {"phone": "79161234567", "text": "Привет", "channel": "char", "sender": "SHOP"}]}


@pytest.mark.parametrize("word, description, error, fails_over", [
    ("low_balance", "Недостаточно средств", base.NoMoney, True),
    ("low_partner_balance", "Ошибка 592", base.NoMoney, True),
    ("rejected", "Сообщение отклонено модератором", base.RejectedContent, False),
    ("rejected", "Имя отправителя не зарегистрировано", base.SenderRejected, True),
    ("error", "Ошибка в системе", base.ProviderError, True),
    ("error", "Неверный формат номера телефона", base.InvalidRecipient, False),
    ("error", None, base.ProviderError, True),
])
def test_per_message_refusals(rsps, word, description, error, fails_over):
    rsps.post(P1SMS + "apiSms/create", json={"status": "success", "data": [
        {"id": 5, "phone": "79161234567", "status": word, "errorDescription": description}]})
    with pytest.raises(error) as caught:
        provider().send(out())
    assert type(caught.value) is error and caught.value.fails_over is fails_over
    assert (caught.value.code, caught.value.text) == (word, description or word)  # the provider's code and words


@pytest.mark.parametrize("http_status, answer, error, code", [
    (200, {"status": "error", "data": {"message": "Пользователь с таким apiKey не найден",
                                       "exception": "UnauthorizedException"}}, base.InvalidCredentials,
     "UnauthorizedException"),
    (401, {"message": "Unauthenticated."}, base.InvalidCredentials, "http_401"),
    (403, "<html>Forbidden</html>", base.InvalidCredentials, "http_403"),
    (422, {"status": "error", "data": {"message": "The sms.0.phone must be 11 digits.",
                                       "exception": "ValidationException"}}, base.InvalidRecipient,
     "ValidationException"),
    (200, {"status": "error", "data": {"message": "Недостаточно средств на балансе"}}, base.NoMoney, "error"),
    (200, {"status": "error", "data": {"message": "Too many requests"}}, base.RetryLater, "error"),
    (200, {"status": "error", "data": {"message": "Something new", "exception": "OddException"}},
     base.ProviderError, "OddException"),
    (200, {"status": "error", "data": "Текст ошибки строкой"}, base.ProviderError, "error"),
    (200, {"status": "weird"}, base.ProviderError, "weird"),
    (200, ["not", "an", "object"], base.ProviderError, "http_200"),
    (200, "<html>maintenance</html>", base.ProviderError, "http_200"),
    (404, "<html>Not Found</html>", base.ProviderError, "http_404"),
])
def test_request_errors_are_read_whatever_the_http_status(rsps, http_status, answer, error, code):
    body = json.dumps(answer) if not isinstance(answer, str) else answer
    rsps.add(responses.POST, P1SMS + "apiSms/create", body=body, status=http_status)
    with pytest.raises(error) as caught:
        provider().send(out())
    assert type(caught.value) is error and caught.value.code == code and caught.value.text


@pytest.mark.parametrize("answer", [{"status": 502, "body": "<html>bad gateway</html>"},
                                    {"status": 429, "body": "slow down"},
                                    {"body": requests.ConnectionError("refused")}])
def test_transport_trouble_is_retry_later(rsps, answer):
    rsps.add(responses.POST, P1SMS + "apiSms/create", **answer)
    with pytest.raises(base.RetryLater):
        provider().send(out())


def test_send_many_is_one_request_answered_in_order_with_one_webhook_url(rsps):
    rsps.post(P1SMS + "apiSms/create", json={"status": "success", "data": [
        {"id": 1, "phone": "79161234567", "status": "sent"},
        {"id": 2, "phone": "79161234568", "status": "low_balance", "errorDescription": "Низкий баланс"},
        {"id": 3, "phone": "79161234569", "status": "moderation"},
        {"phone": "79161234570", "status": "created"},
        {"id": 5, "phone": "79161234571", "status": "brand_new_word"}]})
    phones = ["+79161234567", "+79161234568", "+79161234569", "+79161234570", "+79161234571"]
    messages = [out(f"k{n}", phone, f"text {n}", CALLBACK + f"?m=k{n}") for n, phone in enumerate(phones)]

    results = provider().send_many(messages)

    body = body_of(rsps.calls[0])
    assert body["webhookUrl"] == CALLBACK  # one URL per request: the account's, without a message key
    assert [item["phone"] for item in body["sms"]] == ["79161234567", "79161234568", "79161234569",
                                                      "79161234570", "79161234571"]
    assert results[0] == base.Accepted("1", base.QUEUED, "sent")
    assert isinstance(results[1], base.NoMoney) and results[1].text == "Низкий баланс"
    assert results[2] == base.Accepted("3", base.QUEUED, "moderation")
    assert isinstance(results[3], base.AnswerLost) and results[3].code == "no_id"  # taken, no id: ask
    assert results[4] == base.Accepted("5", base.QUEUED, "brand_new_word")  # an unknown word: taken, polled


def test_an_answer_short_of_entries_is_matched_by_number_and_the_rest_asked_about(rsps):
    rsps.post(P1SMS + "apiSms/create", json={"status": "success", "data": [
        {"id": 9, "phone": "79161234568", "status": "sent"}]})
    results = provider().send_many([out("a", "+79161234567"), out("b", "+79161234568")])
    assert isinstance(results[0], base.AnswerLost) and results[0].code == "missing_in_answer"
    assert results[1].provider_id == "9"


# ---------------------------------------------------------------- balance, credentials, sender names
def test_balance_is_the_credentials_check(rsps):
    rsps.get(P1SMS + "apiUsers/getUserBalanceInfo", json={"status": "success", "data": "15.0000"})
    balance = provider().check_credentials()
    assert (str(balance.amount), balance.currency) == ("15.0000", "RUB")
    assert query_of(rsps.calls[0]) == {"apiKey": API_KEY}
    rsps.get("https://admin.p1sms.kz/apiUsers/getUserBalanceInfo", json={"status": "success", "data": "2.5"})
    assert provider("https://admin.p1sms.kz/").balance().currency == "KZT"


def test_a_wrong_key_fails_the_credentials_check(rsps):
    rsps.get(P1SMS + "apiUsers/getUserBalanceInfo", json={"status": "error", "data": {
        "message": "Пользователь с таким apiKey не найден", "exception": "UnauthorizedException"}})
    with pytest.raises(base.InvalidCredentials, match="apiKey"):
        provider().check_credentials()


def test_sender_names_leave_out_only_plainly_unapproved_ones(rsps):
    rsps.get(P1SMS + "apiUsers/getUserSenders", json={"status": "success", "data": [
        {"senderName": "SHOP", "status": None}, {"senderName": "NEWONE", "status": "moderation"},
        {"senderName": "OLD", "status": "rejected"}, {"senderName": "ODD", "status": "something"},
        {"senderName": "SHOP", "status": None}, {"senderName": ""}, "junk"]})
    assert provider().sender_names() == ["SHOP", "ODD"]


def test_credentials_never_appear_in_repr():
    assert API_KEY not in repr(provider())


# ---------------------------------------------------------------- a lost answer: the account's list
def listed(entries, total=None, page=1, per_page=500):
    return {"status": "success", "data": {"data": entries, "total": len(entries) if total is None else total,
                                          "currentPage": page, "perPage": per_page}}


def entry(sms_id=77, phone="79161234567", text="Привет", status="delivered"):
    return {"smsId": sms_id, "createdAt": 1636458777, "updatedAt": 1636469578, "sentAt": None, "cost": "0.00",
            "phone": phone, "status": status, "sender": "SHOP", "text": text}


LISTED_AT = datetime(2021, 11, 9, 11, 52, 57)  # entry()'s createdAt, 1636458777


@pytest.mark.parametrize("entries, found", [
    ([entry()], [("77", LISTED_AT, base.DELIVERED, "delivered")]),
    ([entry(status="moderation"), entry(78, text="other text")], [("77", LISTED_AT, base.QUEUED, "moderation")]),
    ([entry(status="new_word")], [("77", LISTED_AT, base.QUEUED, "new_word")]),
    ([entry(77), entry(78)], [("77", LISTED_AT, base.DELIVERED, "delivered"),
                              ("78", LISTED_AT, base.DELIVERED, "delivered")]),
    ([entry(text="other text"), entry(79, phone="79160000000")], []),
    ([], []),
])
def test_find_sent_looks_the_number_up_and_hands_back_every_entry_with_the_text(rsps, entries, found):
    """Which look-alike is ours is the reconciling flow's to decide (b24sms/flows/content_matching.py), not P1SMS's."""
    rsps.get(P1SMS + "apiUsers/getSmsList", json=listed(entries))
    answer = provider().find_sent(out())
    assert [(a.provider_id, a.created_at, a.status, a.raw) for a in answer.entries] == found
    assert [a.entry for a in answer.entries] == [e for e in entries if e["text"] == "Привет"
                                                 and e["phone"] == "79161234567"]  # the raw entries are kept
    query = query_of(rsps.calls[0])
    assert (query["apiKey"], query["search"], query["pageCapacity"], query["page"]) == (API_KEY, "79161234567",
                                                                                       "500", "1")
    assert int(query["to"]) - int(query["from"]) > 3 * 86400  # the last days, not only today (the default)
    assert answer.since == datetime.fromtimestamp(int(query["from"]), UTC).replace(tzinfo=None)


@pytest.mark.parametrize("created, read", [
    (1636458777, LISTED_AT), ("1636458777", LISTED_AT), (1636458777000, None), ("2021-11-09 11:52:57", None),
    (None, None), ("", None), (True, None), (1636458777.5, None), ({"date": 1}, None),
])
def test_a_date_that_is_not_unix_seconds_is_not_read(rsps, created, read):
    rsps.get(P1SMS + "apiUsers/getSmsList", json=listed([{**entry(), "createdAt": created}]))
    [alike] = provider().find_sent(out()).entries
    assert alike.created_at == read


def test_an_entry_without_an_id_is_handed_back_without_one(rsps):
    rsps.get(P1SMS + "apiUsers/getSmsList", json=listed([{**entry(), "smsId": None}]))
    [alike] = provider().find_sent(out()).entries
    assert alike.provider_id is None


def test_find_sent_reads_further_pages_then_gives_up_saying_so(rsps):
    rsps.get(P1SMS + "apiUsers/getSmsList", json=listed([entry(text="x")] * 500, total=5000))
    with pytest.raises(base.CannotTell, match="too many"):
        provider().find_sent(out())
    assert [query_of(call)["page"] for call in rsps.calls] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("data", [{"items": []}, "nothing", None])
def test_find_sent_never_reads_an_unknown_list_shape_as_not_there(rsps, data):
    rsps.get(P1SMS + "apiUsers/getSmsList", json={"status": "success", "data": data})
    with pytest.raises(base.CannotTell):
        provider().find_sent(out())


def test_find_sent_tries_the_other_documented_path(rsps):
    rsps.get(P1SMS + "apiUsers/getSmsList", body="<html>Not Found</html>", status=404)
    rsps.get(P1SMS + "apiSms/getSmsList", json={"status": "success", "data": [entry()]})
    assert [alike.provider_id for alike in provider().find_sent(out()).entries] == ["77"]


def test_find_sent_trouble_is_raised_to_ask_again_later(rsps):
    rsps.get(P1SMS + "apiUsers/getSmsList", body="<html>Bad Gateway</html>", status=502)
    with pytest.raises(base.RetryLater):
        provider().find_sent(out())


# ---------------------------------------------------------------- receipts (payload not documented: read leniently)
@pytest.mark.parametrize("receipt, expected", [
    (base.Receipt(url=CALLBACK, json=info(12854727, "delivered")), [("12854727", base.DELIVERED)]),
    (base.Receipt(url=CALLBACK, json={"sms_id": 5, "sms_status": "not_delivered"}), [("5", base.UNDELIVERED)]),
    (base.Receipt(url=CALLBACK, json={"data": [info(1, "read"), info(2, "sent")]}),
     [("1", base.DELIVERED), ("2", base.SENT)]),
    (base.Receipt(url=CALLBACK, json=[{"smsId": 3, "status": "odd"}]), [("3", base.UNKNOWN)]),
    (base.Receipt(url=CALLBACK, params=(("id", "4"), ("status", "delivered"))), [("4", base.DELIVERED)]),
])
def test_receipts_in_any_likely_shape(receipt, expected):
    assert [(r.provider_id, r.status) for r in provider().read_receipt(receipt)] == expected


def test_a_receipt_without_id_is_refused():
    with pytest.raises(base.ProviderError, match="no message id"):
        provider().read_receipt(base.Receipt(url=CALLBACK, json={"status": "delivered"}))


# ---------------------------------------------------------------- end to end
def create_requests(fake):
    return [body for method, path, body in fake.requests if path == "apiSms/create"]


def test_end_to_end_handler_job_pass_and_report(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    assert [path for _, path, _ in p1sms.requests] == ["apiUsers/getUserBalanceInfo", "apiUsers/getUserSenders"]

    answer = post_sms(client, bitrix)

    assert (answer["state"], answer["provider"]) == (MessageState.ACCEPTED, "p1sms")
    message = stored(db)
    [sent] = create_requests(p1sms)
    assert sent["sms"] == [{"phone": "79161234567", "text": "Hello from CRM", "channel": "char", "sender": "SHOP"}]
    assert sent["webhookUrl"].startswith(PUBLIC_URL + "/callbacks/p1sms/")
    assert sent["webhookUrl"].endswith(f"?m={message.provider_key}")
    assert message.provider_message_id == "12854727"
    p1sms.statuses[12854727] = "delivered"
    make_due(db)

    run_job(runner)

    assert bitrix.statuses == {message_id(1): "delivered"}
    assert [path for _, path, _ in p1sms.requests].count("apiSms/get") == 1


def test_receipts_with_the_right_secret_count_and_forged_ones_do_not(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    post_sms(client, bitrix)
    [sent] = create_requests(p1sms)
    path = sent["webhookUrl"].removeprefix(PUBLIC_URL)
    secret = path.split("/")[3].split("?")[0]

    forged = [client.post(f"/callbacks/p1sms/{'x' * len(secret)}", json=p1sms.receipt(12854727, "delivered")),
              client.post(f"/callbacks/smsc/{secret}", json=p1sms.receipt(12854727, "delivered"))]

    assert [r.status_code for r in forged] == [404, 404]
    assert stored(db).state == MessageState.ACCEPTED
    response = client.post(path, json=p1sms.receipt(12854727, "not_delivered"))
    assert response.get_json() == {"ok": True, "received": 1, "matched": 1, "changed": 1}
    message = stored(db)
    assert (message.state, message.error_code) == (MessageState.UNDELIVERED, "p1sms:not_delivered")
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "undelivered"}


def test_a_lost_answer_is_found_in_the_list_and_not_sent_again(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    p1sms.lose_answers = 1  # P1SMS takes the message; its answer never arrives

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert (message.state, message.provider_message_id) == (MessageState.SENT, "12854727")  # as the list says
    assert len(p1sms.sent) == 1 and len(create_requests(p1sms)) == 1
    [lookup] = [query for _, path, query in p1sms.requests if path == "apiUsers/getSmsList"]
    assert lookup["search"] == "79161234567"


def test_a_send_that_never_reached_p1sms_is_sent_again_once(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    p1sms.fail_next.append(requests.ReadTimeout())  # the request itself was lost

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)

    assert stored(db).state == MessageState.ACCEPTED
    assert len(p1sms.sent) == 1 and len(create_requests(p1sms)) == 2


def test_p1sms_as_the_second_link_of_a_failover_chain(client, db, bitrix, prostor, p1sms, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, P1SMS_SETTINGS)
    prostor.fail_next.append(502)

    answer = post_sms(client, bitrix)

    assert (answer["state"], answer["provider"]) == (MessageState.ACCEPTED, "p1sms")
    assert [t["provider"] for t in answer["tried"]] == ["prostor", "p1sms"]
    assert len(p1sms.sent) == 1 and prostor.sent == {}
    p1sms.statuses[12854727] = "read"
    make_due(db)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_a_refusal_at_p1sms_after_the_primary_failed_is_kept_with_its_words(client, db, bitrix, prostor, p1sms):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, P1SMS_SETTINGS)
    prostor.fail_next.append(503)
    p1sms.refuse_next.append(("error", "Неверный формат номера телефона"))

    answer = post_sms(client, bitrix)

    assert answer["state"] == MessageState.FAILED and answer["provider"] == "p1sms"
    assert answer["error"] == {"code": "invalid_recipient:error", "message": "Неверный формат номера телефона",
                               "words": "P1SMS refused the number: Неверный формат номера телефона"}
