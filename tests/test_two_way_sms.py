"""Two-way SMS end to end, against the fakes: a client's reply taken in (pushed by Twilio, fetched from Exolve),
stored once, handed to the Open Line its number feeds; a stop word; a line that is gone; the operator's answer in
the line sent as an SMS and confirmed to the line."""
import threading

import pytest
from sqlalchemy import select

from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, ProviderAccount, StopListEntry
from b24sms.store.reply_models import IncomingMessage, IncomingState, OpenLine
from tests.fakes.exolve import API_KEY as EXOLVE_API_KEY
from tests.fakes.exolve import OWN_NUMBER as EXOLVE_NUMBER
from tests.helpers import (
    APPLICATION_TOKEN,
    TWILIO_SETTINGS,
    bearer,
    installed,
    open_page,
    run_job,
    save_providers,
)
from tests.helpers.metrics import scrape, value
from tests.helpers.suite import PUBLIC_URL, on_postgres, passes_at_once

OUR_NUMBER = "+15017122661"  # FakeTwilio's number (TWILIO_SETTINGS sends from it)
CLIENT = "+79161234567"


@pytest.fixture
def twilio_line(client, bitrix, twilio):
    """A portal on Twilio whose number feeds Open Line 3; returns the settings page's admin token."""
    bitrix.add_line("3")
    token = installed(client, bitrix, lang="en")
    saved = save_providers(client, token, [{**TWILIO_SETTINGS, "reply_numbers": [OUR_NUMBER]}])
    assert saved.status_code == 200, saved.get_json()
    connected = client.put("/api/lines/3", json={"reply_numbers": [OUR_NUMBER], "active": True},
                           headers=bearer(token))
    assert connected.status_code == 200, connected.get_json()
    return token


def push(client, twilio, text, sender=CLIENT, **extra):
    """The client's SMS as Twilio posts it to the number's SmsUrl (the app set it on save)."""
    sid = twilio.receive(sender, OUR_NUMBER, text)
    form, headers = twilio.pushed_reply(sid, **extra)
    path = twilio.numbers[OUR_NUMBER]["sms_url"].removeprefix(PUBLIC_URL)
    return client.post(path, data=form, headers=headers), sid


def replies(db):
    with db.session() as session:
        return session.scalars(select(IncomingMessage).order_by(IncomingMessage.id)).all()


def test_a_reply_pushed_twice_is_stored_once_and_reaches_the_line_once(client, db, bitrix, twilio, runner,
                                                                       twilio_line):
    assert twilio.numbers[OUR_NUMBER]["sms_url"].startswith(f"{PUBLIC_URL}/inbound/twilio/")  # hooked on save

    first, sid = push(client, twilio, "Is my order ready?")
    form, headers = twilio.pushed_reply(sid)  # Twilio tries again
    again = client.post(twilio.numbers[OUR_NUMBER]["sms_url"].removeprefix(PUBLIC_URL), data=form, headers=headers)

    assert first.status_code == again.status_code == 200
    assert first.mimetype == "text/xml" and first.get_data(as_text=True) == "<Response/>"
    [reply] = replies(db)
    assert (reply.provider_message_id, reply.sender, reply.receiver, reply.body, reply.state) == \
        (sid, CLIENT, OUR_NUMBER, "Is my order ready?", IncomingState.PENDING)

    run_job(runner)
    run_job(runner)

    [taken] = bitrix.line_messages["3"]
    assert taken["user"]["id"] == taken["chat"]["id"] == CLIENT and taken["user"]["phone"] == CLIENT
    assert taken["message"]["text"] == "Is my order ready?" and "disable_crm" not in taken["message"]
    [reply] = replies(db)
    assert (reply.state, reply.line) == (IncomingState.DELIVERED, "3")
    assert reply.bitrix_session_id and reply.bitrix_chat_id


def test_metrics_count_each_reply_once_and_show_those_waiting_for_their_line(client, twilio, runner, twilio_line):
    before = scrape(client)
    _, sid = push(client, twilio, "hello?")
    client.post(twilio.numbers[OUR_NUMBER]["sms_url"].removeprefix(PUBLIC_URL),  # the same reply again
                data=twilio.pushed_reply(sid)[0], headers=twilio.pushed_reply(sid)[1])
    push(client, twilio, "STOP")

    waiting = scrape(client)
    run_job(runner)
    after = scrape(client)

    def stored(samples, stop_word):
        return value(samples, "b24sms_incoming_messages_total", provider="twilio", stop_word=stop_word)

    assert (stored(waiting, "no") - stored(before, "no"), stored(waiting, "yes") - stored(before, "yes")) == (1, 1)
    assert value(waiting, "b24sms_queue_depth", queue="line") == 2
    assert value(after, "b24sms_queue_depth", queue="line") == 0


def test_a_push_with_a_wrong_signature_or_secret_stores_nothing(client, db, twilio, twilio_line):
    sid = twilio.receive(CLIENT, OUR_NUMBER, "hello")
    form, headers = twilio.pushed_reply(sid)
    path = twilio.numbers[OUR_NUMBER]["sms_url"].removeprefix(PUBLIC_URL)

    forged = client.post(path, data={**form, "Body": "forged"}, headers=headers)
    unknown = client.post("/inbound/twilio/not-a-secret", data=form, headers=headers)

    assert forged.status_code == 403 and forged.get_json()["error"] == "bad_signature"
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_inbound"
    assert replies(db) == []


def test_a_stop_word_lists_the_number_and_still_reaches_the_line(client, db, bitrix, twilio, runner, twilio_line):
    push(client, twilio, " СТОП! ")
    run_job(runner)

    with db.session() as session:
        entry = session.scalars(select(StopListEntry)).one()
        assert (entry.number, entry.reason) == (CLIENT, "reply")
    [reply] = replies(db)
    assert reply.stop_word and reply.state == IncomingState.DELIVERED
    assert [m["message"]["text"] for m in bitrix.line_messages["3"]] == [" СТОП! "]


def test_a_reply_to_a_number_no_line_is_fed_by_is_kept(client, db, bitrix, twilio, runner, twilio_line):
    client.put("/api/lines/3", json={"reply_numbers": [OUR_NUMBER], "active": False}, headers=bearer(twilio_line))
    push(client, twilio, "anyone there?")

    run_job(runner)

    [reply] = replies(db)
    assert (reply.state, reply.body) == (IncomingState.NO_LINE, "anyone there?")
    assert bitrix.line_messages["3"] == []


def test_a_reply_the_line_refuses_without_words_is_retried_and_the_log_says_so_in_the_pages_language(
        client, db, bitrix, twilio, runner, twilio_line):
    push(client, twilio, "hello?")
    bitrix.refused_without_words.add(str(replies(db)[0].id))

    run_job(runner)

    [reply] = replies(db)
    assert (reply.state, reply.attempts) == (IncomingState.PENDING, 1)  # tried again later
    for lang, words in (("ru", "Битрикс24 не принял этот ответ и не сказал почему."),
                        ("en", "Bitrix24 did not take this reply and gave no reason.")):
        _, token = open_page(client, bitrix, path="/", lang=lang)
        [entry] = client.get("/api/messages?direction=in", headers=bearer(token)).get_json()
        assert entry["error"]["words"] == words


def test_a_line_deleted_in_bitrix24_is_recorded_not_retried(client, db, bitrix, twilio, runner, twilio_line):
    bitrix.line_deleted_form("3")  # deleted on the portal; the event did not reach us
    push(client, twilio, "hello?")

    run_job(runner)
    run_job(runner)

    [reply] = replies(db)
    assert reply.state == IncomingState.LINE_GONE and "NOT_ACTIVE_LINE" in reply.error
    with db.session() as session:
        assert session.scalars(select(OpenLine.active)).one() is False
    sends = [call for call in bitrix.calls if call[0] == "imconnector.send.messages"]
    assert len(sends) == 1


def test_the_line_deleted_event_stops_the_line(client, db, bitrix, twilio_line):
    refused = client.post("/events", data=bitrix.line_deleted_form("3", application_token="wrong"))
    taken = client.post("/events", data=bitrix.line_deleted_form("3", application_token=APPLICATION_TOKEN))

    assert refused.status_code == 403
    assert taken.status_code == 200 and taken.get_json()["known"] is True
    with db.session() as session:
        assert session.scalars(select(OpenLine.active)).one() is False


def test_the_operators_answer_goes_out_as_plain_text_once_and_is_confirmed(client, db, bitrix, twilio, runner,
                                                                          twilio_line):
    form = bitrix.operator_answer_form("3", CLIENT, "Yes, [b]today[/b] after 5 pm.", im_chat_id=77,
                                       im_message_id=901, application_token=APPLICATION_TOKEN)

    first = client.post("/events", data=form)
    again = client.post("/events", data=form)

    assert first.get_json()["stored"] == 1 and again.get_json()["stored"] == 0
    sent = [m for m in twilio.messages.values() if m["direction"] != "inbound"]
    assert [(m["to"], m["body"]) for m in sent] == [(CLIENT, "Yes, today after 5 pm.")]
    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert (message.line, message.state, message.report_to_bitrix) == ("3", MessageState.ACCEPTED, False)
        assert message.origin["im"] == {"chat_id": "77", "message_id": "901"}

    run_job(runner)
    run_job(runner)

    [delivery] = bitrix.deliveries
    [entry] = delivery["MESSAGES"]
    assert entry["im"] == {"chat_id": "77", "message_id": "901"} and entry["chat"]["id"] == CLIENT
    log = client.get("/api/messages", headers=bearer(twilio_line)).get_json()
    assert [(m["direction"], m["to"], m["state"], m["line"]) for m in log] == [("out", CLIENT, "accepted", "3")]


def test_an_answer_with_a_wrong_token_or_to_a_stopped_number_sends_nothing(client, db, bitrix, twilio, runner,
                                                                           twilio_line):
    forged = client.post("/events", data=bitrix.operator_answer_form(
        "3", CLIENT, "hi", im_chat_id=77, im_message_id=1, application_token="wrong"))
    push(client, twilio, "stop")
    answered = client.post("/events", data=bitrix.operator_answer_form(
        "3", CLIENT, "Sorry to see you go", im_chat_id=77, im_message_id=2, application_token=APPLICATION_TOKEN))

    assert forged.status_code == 403
    assert answered.status_code == 200
    assert [m for m in twilio.messages.values() if m["direction"] != "inbound"] == []
    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert (message.state, message.reason) == (MessageState.FAILED, "stop_list")


EXOLVE = {"kind": "exolve", "sender": "SHOP", "credentials": {"api_key": EXOLVE_API_KEY},
          "reply_numbers": ["+" + EXOLVE_NUMBER]}


def test_replies_fetched_from_exolve_are_stored_once_and_reach_the_line(client, db, bitrix, exolve, runner):
    bitrix.add_line("5")
    token = installed(client, bitrix, lang="en")
    assert save_providers(client, token, [EXOLVE]).status_code == 200
    assert client.put("/api/lines/5", json={"reply_numbers": ["+" + EXOLVE_NUMBER], "active": True},
                      headers=bearer(token)).status_code == 200
    exolve.receive("79161234567", EXOLVE_NUMBER, "Where is my parcel?")

    run_job(runner)
    run_job(runner)  # fetched again from the cursor: nothing new

    [reply] = replies(db)
    assert (reply.sender, reply.receiver, reply.state) == (CLIENT, "+" + EXOLVE_NUMBER, IncomingState.DELIVERED)
    assert [m["message"]["text"] for m in bitrix.line_messages["5"]] == ["Where is my parcel?"]
    with db.session() as session:
        assert session.scalars(select(ProviderAccount.replies_cursor)).one()


@pytest.mark.skipif(not on_postgres(), reason="row locks: PostgreSQL")
def test_two_runners_fetching_the_same_account_store_each_reply_once(app, client, db, bitrix, exolve):
    token = installed(client, bitrix, lang="en")
    assert save_providers(client, token, [EXOLVE]).status_code == 200
    for n in range(20):
        exolve.receive(f"7916123{n:04d}", EXOLVE_NUMBER, f"reply {n}")
    reports = passes_at_once(app)

    assert sum(report.replies_pulled for report in reports) == 20
    assert sorted(reply.body for reply in replies(db)) == sorted(f"reply {n}" for n in range(20))


@pytest.mark.skipif(not on_postgres(), reason="concurrent inserts: PostgreSQL")
def test_the_same_reply_pushed_twice_at_once_is_stored_once(app, db, twilio, twilio_line):
    sid = twilio.receive(CLIENT, OUR_NUMBER, "twice")
    form, headers = twilio.pushed_reply(sid)
    path = twilio.numbers[OUR_NUMBER]["sms_url"].removeprefix(PUBLIC_URL)
    start, answers = threading.Barrier(4), []

    def post():
        start.wait()
        answers.append(app.test_client().post(path, data=form, headers=headers).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert answers == [200] * 4
    assert [reply.provider_message_id for reply in replies(db)] == [sid]
