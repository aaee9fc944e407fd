"""SMS Traffic: every documented status and refusal in its XML answers, unknown values, answers that must not be
parsed; end to end through the handler, a job pass and the report to Bitrix24, and as the second link of a
failover chain."""
from datetime import timedelta

import pytest
import requests
import responses

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.smstraffic import SmsTraffic
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, utcnow
from tests.fakes.smstraffic import HEAD, SMSTRAFFIC, SMSTRAFFIC_RESERVE
from tests.helpers import (
    PROSTOR_SETTINGS,
    form_of,
    install_with_chain,
    make_due,
    message_id,
    post_sms,
    run_job,
    stored,
)

SMSTRAFFIC_SETTINGS = {"kind": "smstraffic", "sender": "SHOP",
                       "credentials": {"login": "traffic-user", "password": "traffic-pass"}}
MULTI = SMSTRAFFIC + "multi.php"
LONG_ID = "13844748821563942605296525281335443643"


def provider(base_url=SMSTRAFFIC):
    return SmsTraffic({"login": "traffic-user", "password": "traffic-pass"}, "SHOP", base_url=base_url, timeout=3,
                      http=http_client.build())


def out(key="k1", phone="+79161234567", text="Привет"):
    return base.Outgoing(key=key, phone=phone, text=text, sender="SHOP")


def xml(inner):
    return f"{HEAD}<reply>{inner}</reply>"


def status_entry(sms_id=LONG_ID, status="Delivered", error=""):
    return (f"<submition_date>2020-05-09 14:11:39</submition_date><send_date>2020-05-09 14:11:39</send_date>"
            f"<last_status_change_date>2020-05-09 14:12:00</last_status_change_date><status>{status}</status>"
            f"<error>{error}</error><sms_id>{sms_id}</sms_id>")


def sent_reply(sms_id=LONG_ID, phone="79161234567"):
    return xml("<result>OK</result><code>0</code><description>queued 1 messages</description><message_infos>"
               f"<message_info><phone>{phone}</phone><sms_id>{sms_id}</sms_id></message_info></message_infos>")


# ---------------------------------------------------------------- statuses
@pytest.mark.parametrize("word, status", [
    ("Acceptd", base.QUEUED), ("", base.QUEUED), ("Buffered SMSC", base.SENT), ("Delivered", base.DELIVERED),
    ("Non Delivered", base.UNDELIVERED), ("Expired", base.UNDELIVERED), ("Deleted", base.UNDELIVERED),
    ("Rejected", base.FAILED), ("Lost Notification", base.SENT), ("Unknown status", base.SENT),
    ("Read", base.UNKNOWN),
])
def test_status_table(rsps, word, status):
    rsps.post(MULTI, body=xml(status_entry(status=word)))
    [report] = provider().statuses([base.Tracked(LONG_ID, "+79161234567")])
    assert (report.provider_id, report.status, report.raw) == (LONG_ID, status, word)
    form = form_of(rsps.calls[0])
    assert (form["operation"], form["sms_id"], form["login"], form["password"]) == (
        "status", LONG_ID, "traffic-user", "traffic-pass")


def test_statuses_of_many_in_one_request_one_sms_element_each(rsps):
    rsps.post(MULTI, body=xml("<sms>" + status_entry("1", "Non Delivered", "absent subscriber") + "</sms>"
                              "<sms>" + status_entry("2", "Delivered") + "</sms>"
                              "<sms><error>no such message or this message does not belong to you</error>"
                              "<submition_date/><send_date/><last_status_change_date/><sms_id>3</sms_id><status/>"
                              "</sms><sms><status>Delivered</status></sms>"))
    reports = provider().statuses([base.Tracked(n) for n in ("1", "2", "3")])
    assert form_of(rsps.calls[0])["sms_id"] == "1,2,3" and len(rsps.calls) == 1
    assert [(r.provider_id, r.status) for r in reports] == [("1", base.UNDELIVERED), ("2", base.DELIVERED),
                                                            ("3", base.UNKNOWN)]
    assert (reports[0].error_code, reports[0].error_text) == ("smstraffic:Non Delivered", "absent subscriber")
    assert reports[2].raw.startswith("no such message")  # kept, polled again: not reported as failed


def test_smstraffic_declares_fifteen_statuses_and_one_send_per_request():
    assert (SmsTraffic.statuses_per_request, SmsTraffic.sends_per_request, SmsTraffic.receipts) == (15, 1, None)
    assert SmsTraffic.offer_rank == 8 and not SmsTraffic.can_be_asked.fget(provider())
    with pytest.raises(base.CannotTell):
        provider().find_sent(out())
    assert provider().sender_names() is None


# ---------------------------------------------------------------- sending
def test_send_builds_the_documented_request_and_keeps_the_long_id_a_string(rsps):
    rsps.post(MULTI, body=sent_reply())
    accepted = provider().send(out())
    assert accepted == base.Accepted(provider_id=LONG_ID, status=base.QUEUED, raw="OK")
    assert form_of(rsps.calls[0]) == {"login": "traffic-user", "password": "traffic-pass", "phones": "79161234567",
                                      "message": "Привет", "rus": "5", "want_sms_ids": "1", "max_parts": "255",
                                      "originator": "SHOP"}


def test_a_taken_message_without_an_id_is_not_sent_blindly_again(rsps):
    rsps.post(MULTI, body=xml("<result>OK</result><code>0</code><description>queued 1 messages</description>"))
    with pytest.raises(base.AnswerLost) as caught:
        provider().send(out())
    assert caught.value.code == "no_id" and "queued 1 messages" in caught.value.text


@pytest.mark.parametrize("code, description, error, fails_over", [
    ("401", "login param is missing", base.InvalidCredentials, True),
    ("1000", "system is busy", base.RetryLater, True),
    ("402", "wrong login or password", base.InvalidCredentials, True),
    ("405", "authorization failed", base.InvalidCredentials, True),
    ("406", "not enough money on the account", base.NoMoney, True),
    ("407", "originator is not allowed", base.SenderRejected, True),
    ("403", "bad phone number: 7916", base.InvalidRecipient, False),
    ("408", "too many requests", base.RetryLater, True),
    ("499", "something unheard of", base.ProviderError, True),
    ("", "", base.ProviderError, True),
])
def test_refusals_keep_the_code_and_the_words(rsps, code, description, error, fails_over):
    rsps.post(MULTI, body=xml(f"<result>ERROR</result><code>{code}</code><description>{description}</description>"))
    with pytest.raises(error) as caught:
        provider().send(out())
    assert type(caught.value) is error and caught.value.fails_over is fails_over
    assert caught.value.code == (code or "ERROR")
    assert caught.value.text == (description or "SMS Traffic reported an error")


def test_an_error_code_without_result_is_a_refusal_too(rsps):
    rsps.post(MULTI, body=xml("<code>1000</code><description>try later</description>"))
    with pytest.raises(base.RetryLater):
        provider().send(out())


@pytest.mark.parametrize("body, words", [
    ('<?xml version="1.0"?><!DOCTYPE reply [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
     "<reply><result>OK</result><description>&b;</description></reply>", "not XML"),
    ('<!DOCTYPE reply SYSTEM "file:///etc/passwd"><reply><result>OK</result></reply>', "not XML"),
    ("<reply><result>&undefined;</result></reply>", "not XML"),
    ("<html><body>maintenance</body></html>", "unexpected shape"),
    ("plain words", "not XML"),
    ("", "not XML"),
])
def test_answers_that_must_not_or_cannot_be_read(rsps, body, words):
    rsps.post(MULTI, body=body)
    with pytest.raises(base.ProviderError, match=words) as caught:
        provider().balance()
    assert type(caught.value) is base.ProviderError


def test_an_answer_in_windows_1251_is_read(rsps):
    body = '<?xml version="1.0" encoding="windows-1251"?><reply><result>ERROR</result><code>499</code>' \
           "<description>неизвестная ошибка</description></reply>"
    rsps.post(MULTI, body=body.encode("cp1251"))
    with pytest.raises(base.ProviderError, match="неизвестная ошибка"):
        provider().send(out())


@pytest.mark.parametrize("answer", [{"status": 502, "body": "<html>bad gateway</html>"},
                                    {"status": 429, "body": "slow down"}])
def test_server_trouble_is_retry_later(rsps, answer):
    rsps.add(responses.POST, MULTI, **answer)
    with pytest.raises(base.RetryLater):
        provider().send(out())


def test_the_reserve_host_is_tried_when_the_main_one_cannot_be_reached(rsps):
    rsps.add(responses.POST, MULTI, body=requests.ConnectTimeout())
    rsps.post(SMSTRAFFIC_RESERVE + "multi.php", body=sent_reply("42"))
    assert provider().send(out()).provider_id == "42"
    assert [call.request.url for call in rsps.calls] == [MULTI, SMSTRAFFIC_RESERVE + "multi.php"]


def test_a_lost_answer_is_not_retried_at_the_reserve_nor_with_another_base(rsps):
    rsps.add(responses.POST, MULTI, body=requests.ReadTimeout())
    with pytest.raises(base.AnswerLost):
        provider().send(out())
    rsps.add(responses.POST, "https://gw.example.com/multi.php", body=requests.ConnectTimeout())
    with pytest.raises(base.Unreachable):
        provider("https://gw.example.com/").send(out())
    assert len(rsps.calls) == 2


# ---------------------------------------------------------------- balance, credentials
def test_balance_is_the_credentials_check(rsps):
    rsps.post(MULTI, body=xml("<account>123.45</account>"))
    balance = provider().check_credentials()
    assert (str(balance.amount), balance.currency) == ("123.45", "RUB")
    assert form_of(rsps.calls[0])["operation"] == "account"
    rsps.replace(responses.POST, MULTI, body=xml("<result>ERROR</result><code>402</code>"
                                                 "<description>wrong login or password</description>"))
    with pytest.raises(base.InvalidCredentials, match="wrong login or password"):
        provider().check_credentials()


def test_credentials_never_appear_in_repr():
    assert "traffic-pass" not in repr(provider())


# ---------------------------------------------------------------- end to end
def sends(fake):
    return [form for form in fake.requests if "operation" not in form]


def test_end_to_end_handler_job_pass_and_report(client, db, bitrix, smstraffic, runner):
    install_with_chain(client, bitrix, SMSTRAFFIC_SETTINGS)
    assert smstraffic.requests == [{"operation": "account"}]  # the check on save; no sender list to ask

    answer = post_sms(client, bitrix)
    post_sms(client, bitrix, 2)

    assert (answer["state"], answer["provider"]) == (MessageState.ACCEPTED, "smstraffic")
    [first, second] = list(smstraffic.sent)
    assert sends(smstraffic)[0] == {"phones": "79161234567", "message": "Hello from CRM", "originator": "SHOP",
                                    "rus": "5", "want_sms_ids": "1", "max_parts": "255"}
    assert stored(db).provider_message_id == first
    smstraffic.statuses.update({first: "Delivered", second: "Buffered SMSC"})
    make_due(db)

    run_job(runner)

    assert bitrix.statuses == {message_id(1): "delivered", message_id(2): "sent"}
    [poll] = smstraffic.status_requests
    assert poll["sms_id"] == f"{first},{second}"  # both in one request


def test_no_receipt_url_is_handed_out_or_accepted(client, db, bitrix, smstraffic):
    install_with_chain(client, bitrix, SMSTRAFFIC_SETTINGS)
    post_sms(client, bitrix)
    with db.session() as session:
        assert session.query(Message).one().account.callback_secret is None
    response = client.post("/callbacks/smstraffic/" + "x" * 43, data={"sms_id": "1", "status": "Delivered"})
    assert response.status_code == 404 and stored(db).state == MessageState.ACCEPTED


def test_smstraffic_as_the_second_link_of_a_failover_chain(client, db, bitrix, prostor, smstraffic, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, SMSTRAFFIC_SETTINGS)
    prostor.fail_next.append(502)

    answer = post_sms(client, bitrix)

    assert (answer["state"], answer["provider"]) == (MessageState.ACCEPTED, "smstraffic")
    assert [t["provider"] for t in answer["tried"]] == ["prostor", "smstraffic"]
    [sms_id] = smstraffic.sent
    smstraffic.statuses[sms_id] = "Non Delivered"
    make_due(db)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "undelivered"}
    assert stored(db).error_code == "smstraffic:Non Delivered"


def test_a_recipient_refusal_at_smstraffic_fails_the_message(client, db, bitrix, prostor, smstraffic, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, SMSTRAFFIC_SETTINGS)
    prostor.fail_next.append(503)
    smstraffic.refuse_next.append((403, "bad phone number: 79161234567"))

    answer = post_sms(client, bitrix)

    assert answer["state"] == MessageState.FAILED and answer["provider"] == "smstraffic"
    assert answer["error"] == {"code": "invalid_recipient:403", "message": "bad phone number: 79161234567",
                               "words": "SMS Traffic refused the number: bad phone number: 79161234567"}


def test_a_lost_answer_is_never_sent_again_and_ends_outcome_unknown(client, db, bitrix, smstraffic, runner):
    install_with_chain(client, bitrix, SMSTRAFFIC_SETTINGS)
    smstraffic.lose_answers = 1

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    with db.session() as session:
        message = session.get(Message, stored(db).id)
        hour_ago = (utcnow() - timedelta(hours=1)).isoformat() + "Z"
        message.attempt_log = [{**entry, "at": hour_ago} for entry in message.attempt_log]
    make_due(db)
    run_job(runner)
    run_job(runner)

    message = stored(db)
    assert (message.state, message.error_code) == (MessageState.FAILED, "outcome_unknown")
    assert len(smstraffic.sent) == 1 and bitrix.statuses == {message_id(1): "failed"}
