"""The demo's two-way loop through HTTP: the demo number of the provider "Log only" connected to the stand-in's
Open Line 1, a client's reply pushed to the account's inbound URL as a provider pushes it, stored, handed to the
line by the job; the operator's answer posted as Bitrix24 posts ONIMCONNECTORMESSAGEADD, stored, sent through the
log provider and confirmed to the stand-in by the job. The demo's calls to itself are served by the app
(`loopback`, tests/helpers/demo.py)."""
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from b24sms.demo import DEMO_MEMBER_ID
from b24sms.demo.state import state_of
from b24sms.demo.two_way import DEMO_LINE, DEMO_REPLY_NUMBER
from b24sms.rules.lifecycle import MessageState
from b24sms.store import callback_urls
from b24sms.store.models import Message, ProviderAccount
from b24sms.store.reply_models import IncomingMessage, IncomingState, OpenLine, ReplyNumber
from tests.helpers import bearer, run_job, save_providers
from tests.helpers.demo import demo_with_log_provider, open_demo
from tests.helpers.suite import PUBLIC_URL, services_of, use_settings

CLIENT = "+79001234567"


@pytest.fixture
def connected(client, loopback):
    """The demo portal on "Log only", its demo number connected to Open Line 1 from the panel; the page's token."""
    token = demo_with_log_provider(client)
    answer = client.post("/demo/connect-line", headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    return token


def reply(client, token, text, sender="+7 900 123-45-67"):
    answer = client.post("/demo/simulate-reply", headers=bearer(token), json={"from": sender, "text": text})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def answer(client, token, text, chat=CLIENT):
    return client.post("/demo/simulate-answer", headers=bearer(token), json={"chat": chat, "text": text})


def line_of(client, token):
    lines = client.get("/demo/bitrix-state", headers=bearer(token)).get_json()["lines"]
    return next(line for line in lines if line["line"] == DEMO_LINE)


def posted(loopback, path):
    """The forms the demo posted to one of the app's paths, parsed as the app reads them."""
    return [(call.request.url, call.request.headers.get("Content-Type"), dict(parse_qsl(call.request.body)))
            for call in loopback.calls if call.request.url.startswith(PUBLIC_URL + path)]


def test_connecting_gives_the_log_provider_the_demo_number_and_connects_line_1(client, db, app, connected):
    with db.session() as session:
        [number] = session.scalars(select(ReplyNumber)).all()
        account = session.get(ProviderAccount, number.account_id)
        assert (number.number, account.kind, number.hooked) == (DEMO_REPLY_NUMBER, "log", True)
        line = session.scalars(select(OpenLine)).one()
        assert (line.line, line.reply_numbers, line.active, line.configured) == (DEMO_LINE, [DEMO_REPLY_NUMBER],
                                                                                 True, True)
    stand_in = line_of(client, connected)
    assert stand_in["active"] and stand_in["chat"] == [] and stand_in["chats"] == []
    # The settings page shows the number, as for any provider that receives replies.
    settings = client.get("/api/settings", headers=bearer(connected)).get_json()
    assert settings["providers"][0]["reply_numbers"] == [DEMO_REPLY_NUMBER]
    # Again: nothing doubles.
    assert client.post("/demo/connect-line", headers=bearer(connected)).status_code == 200
    with db.session() as session:
        assert session.scalars(select(ReplyNumber.number)).all() == [DEMO_REPLY_NUMBER]


def test_the_whole_loop_a_reply_reaches_the_line_and_the_answer_goes_out_and_is_confirmed(
        client, db, app, loopback, runner, connected):
    pushed = reply(client, connected, "Hello! Is my order ready?")

    # Pushed as a provider pushes it: a form to the log account's inbound URL.
    assert (pushed["status"], pushed["answer"]) == (200, {"received": 1, "stored": 1})
    [(url, content_type, form)] = posted(loopback, "/inbound/")
    with db.session() as session:
        account = session.scalars(select(ProviderAccount)).one()
        assert url == callback_urls.inbound_url_for(PUBLIC_URL, account)
    assert content_type == "application/x-www-form-urlencoded"
    assert form == {"id": pushed["id"], "from": "+7 900 123-45-67", "to": DEMO_REPLY_NUMBER,
                    "text": "Hello! Is my order ready?"}
    with db.session() as session:
        stored = session.scalars(select(IncomingMessage)).one()
        assert (stored.sender, stored.receiver, stored.provider, stored.state) == (
            CLIENT, DEMO_REPLY_NUMBER, "log", IncomingState.PENDING)
    assert line_of(client, connected)["chat"] == []  # the job hands it over

    run_job(runner)

    line = line_of(client, connected)
    assert line["chats"] == [CLIENT]
    assert [(said["by"], said["client"], said["text"]) for said in line["chat"]] == [
        ("client", CLIENT, "Hello! Is my order ready?")]
    with db.session() as session:
        stored = session.scalars(select(IncomingMessage)).one()
        assert (stored.state, stored.line) == (IncomingState.DELIVERED, DEMO_LINE)

    # The operator answers in that chat: Bitrix24's event, form-encoded, to /events.
    answered = answer(client, connected, "Yes, it is ready: come after 5 pm.")
    assert answered.status_code == 200, answered.get_json()
    record = answered.get_json()
    assert (record["status"], record["answer"]) == (200, {"stored": 1, "skipped": 0})
    [(url, content_type, event)] = posted(loopback, "/events")
    assert url == PUBLIC_URL + "/events" and content_type == "application/x-www-form-urlencoded"
    assert event["event"] == "ONIMCONNECTORMESSAGEADD" and event["data[LINE]"] == DEMO_LINE
    assert event["data[CONNECTOR]"] == "b24sms_sms"
    assert event["data[MESSAGES][0][chat][id]"] == CLIENT
    assert event["data[MESSAGES][0][im][message_id]"] == record["im_message_id"]
    assert event["data[MESSAGES][0][im][chat_id]"].isdigit()
    assert event["data[MESSAGES][0][message][text]"] == "Yes, it is ready: come after 5 pm."  # no signature asked
    assert event["auth[member_id]"] == DEMO_MEMBER_ID and event["auth[application_token]"]

    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert (message.recipient, message.body, message.provider, message.line, message.state) == (
            CLIENT, "Yes, it is ready: come after 5 pm.", "log", DEMO_LINE, MessageState.ACCEPTED)
        assert message.origin["im"]["message_id"] == record["im_message_id"]
    [operator] = [said for said in line_of(client, connected)["chat"] if said["by"] == "operator"]
    assert operator["delivered_at"] is None  # sent; the line is told by the job

    run_job(runner)

    [operator] = [said for said in line_of(client, connected)["chat"] if said["by"] == "operator"]
    assert operator["delivered_at"] and operator["client"] == CLIENT
    log = client.get("/api/messages", headers=bearer(connected)).get_json()
    assert [(entry["to"], entry["line"]) for entry in log if entry.get("direction") == "out"] == [(CLIENT, DEMO_LINE)]
    # The same event again (Bitrix24 never retries, but a proxy might): nothing is sent twice.
    again = client.post("/events", data=event)
    assert again.status_code == 200 and again.get_json()["stored"] == 0


def test_a_stop_word_from_the_client_stops_the_operators_answer(client, db, runner, connected):
    reply(client, connected, "СТОП")
    run_job(runner)

    answered = answer(client, connected, "Sorry to see you go")

    assert answered.status_code == 200 and answered.get_json()["answer"]["stored"] == 1
    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert (message.state, message.reason) == (MessageState.FAILED, "stop_list")
    run_job(runner)
    [operator] = [said for said in line_of(client, connected)["chat"] if said["by"] == "operator"]
    assert operator["delivered_at"] is None  # nothing went out: never marked delivered


def test_an_answer_needs_a_chat_the_client_started(client, db, connected):
    refused = answer(client, connected, "Hello?", chat="+79161112233")

    assert refused.status_code == 400 and refused.get_json()["error"] == "no_chat"
    assert refused.get_json()["field"] == "chat"
    with db.session() as session:
        assert session.scalars(select(Message)).all() == []


def test_a_reply_before_the_line_is_connected_is_refused_and_connecting_needs_the_log_provider(client, loopback):
    _, token = open_demo(client)
    assert client.post("/demo/connect-line", headers=bearer(token)).get_json()["error"] == "no_log_provider"
    assert save_providers(client, token, [{"kind": "log"}]).status_code == 200

    refused = client.post("/demo/simulate-reply", headers=bearer(token), json={"from": CLIENT, "text": "hi"})

    assert refused.status_code == 400 and refused.get_json()["error"] == "no_reply_number"
    missing = client.post("/demo/simulate-reply", headers=bearer(token), json={"from": " ", "text": "hi"})
    assert missing.status_code == 400 and missing.get_json()["field"] == "from"


def test_the_two_way_controls_are_an_administrators(client, loopback):
    page, _ = open_demo(client, "lang=en")
    employee_page, employee = open_demo(client, "lang=en&admin=0")

    assert 'id="demo-two-way"' in page.get_data(as_text=True) and "/static/demo/two_way.js" in page.get_data(
        as_text=True)
    assert 'id="demo-two-way"' not in employee_page.get_data(as_text=True)
    for path, body in (("/demo/connect-line", None), ("/demo/simulate-reply", {"from": CLIENT, "text": "x"}),
                       ("/demo/simulate-answer", {"chat": CLIENT, "text": "x"})):
        refused = client.post(path, headers=bearer(employee), json=body)
        assert refused.status_code == 403 and refused.get_json()["error"] == "admin_only", path
        assert client.post(path, json=body).status_code == 401, path


def test_the_stand_in_forgets_its_lines_on_restart_and_the_demo_connects_them_again(client, app, loopback,
                                                                                     connected):
    state = state_of(app)
    with state.lock:  # as after a restart of the development server
        state.lines.clear()
        state.connectors.clear()
        state.events.clear()
        state.chats.clear()

    open_demo(client)

    assert line_of(client, connected)["active"]
    assert "ONIMCONNECTORMESSAGEADD" in state.snapshot()["events"]


def test_the_log_providers_inbound_url_reads_a_pushed_form_and_is_closed_where_log_is_not_offered(
        client, db, app, connected):
    with db.session() as session:
        account = session.scalars(select(ProviderAccount)).one()
        path = callback_urls.inbound_url_for(PUBLIC_URL, account).removeprefix(PUBLIC_URL)

    nameless = client.post(path, data={"to": DEMO_REPLY_NUMBER, "text": "no id, no sender"})
    assert nameless.status_code == 400 and nameless.get_json()["error"] == "bad_reply"
    taken = client.post(path, data={"id": "r-1", "from": CLIENT, "to": DEMO_REPLY_NUMBER, "text": "hi"})
    assert taken.status_code == 200 and taken.get_json()["stored"] == 1

    use_settings(app, enable_log_provider=False)  # production's default
    closed = client.post(path, data={"id": "r-2", "from": CLIENT, "to": DEMO_REPLY_NUMBER, "text": "hi"})

    assert closed.status_code == 404 and closed.get_json()["error"] == "unknown_inbound"
    with db.session() as session:
        assert session.scalars(select(IncomingMessage.provider_message_id)).all() == ["r-1"]
    assert services_of(app).settings.enable_log_provider is False


def test_a_connector_that_asks_for_signatures_gets_them_and_the_sms_goes_without(client, db, app, loopback, runner,
                                                                                 connected):
    reply(client, connected, "Hello?")
    run_job(runner)
    state = state_of(app)
    with state.lock:  # as Bitrix24's default for a connector registered without NEED_SIGNATURE
        for connector in state.connectors.values():
            connector["NEED_SIGNATURE"] = None

    assert answer(client, connected, "Tomorrow at noon.").status_code == 200

    [(_, _, event)] = posted(loopback, "/events")
    assert event["data[MESSAGES][0][message][text]"] == "[b]Demo Operator:[/b] [br]Tomorrow at noon."
    with db.session() as session:
        assert session.scalars(select(Message.body)).one() == "Tomorrow at noon."
    [operator] = [said for said in line_of(client, connected)["chat"] if said["by"] == "operator"]
    assert operator["text"] == "Tomorrow at noon."  # the chat shows what the operator typed
