"""Issue 11: the pause switch. A paused portal's messages are stored and wait; resumed, they go out. Polling,
receipts and reports go on meanwhile."""
import requests
from sqlalchemy import select

from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, Portal
from tests.helpers import (
    bearer,
    handler_form,
    handler_path,
    install_with_prostor,
    make_due,
    message_id,
    open_page,
    run_job,
    stored,
)


def pause(client, token, paused):
    return client.put("/api/pause", json={"paused": paused}, headers=bearer(token))


def sends(prostor):
    return [body for path, body in prostor.requests if path == "send.json"]


def test_a_paused_portal_keeps_messages_and_the_web_sender_sends_them_on_resume(client, db, bitrix, prostor,
                                                                                 runner):
    token = install_with_prostor(client, bitrix)

    paused = pause(client, token, True)
    answer = client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))
    make_due(db)
    run_job(runner)

    assert paused.status_code == 200 and paused.get_json()["portal"]["paused"] is True
    assert answer.status_code == 200 and answer.get_json()["created"] is True  # Bitrix24 is answered as ever
    assert stored(db, 1).state == MessageState.RECEIVED and sends(prostor) == []
    assert client.get("/api/settings", headers=bearer(token)).get_json()["portal"]["paused"] is True

    resumed = pause(client, token, False)  # the test client waits for the web sender to settle

    assert resumed.status_code == 200 and resumed.get_json()["portal"]["paused"] is False
    assert stored(db, 1).state == MessageState.ACCEPTED
    assert [[m["clientId"] for m in body["messages"]] for body in sends(prostor)] == [[stored(db, 1).provider_key]]


def test_a_retry_waits_while_paused_and_the_job_sends_it_after_resume(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    prostor.fail_next.append(503)
    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))
    assert stored(db, 1).state == MessageState.RETRY_WAIT
    pause(client, token, True)

    make_due(db)
    run_job(runner)

    assert stored(db, 1).state == MessageState.RETRY_WAIT and len(sends(prostor)) == 1  # only the failed try

    pause(client, token, False)
    make_due(db)
    output = run_job(runner)

    assert "sent=1" in output
    assert stored(db, 1).state == MessageState.ACCEPTED and len(sends(prostor)) == 2


def test_polling_and_reporting_go_on_while_paused(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))
    pause(client, token, True)
    prostor.statuses[stored(db, 1).provider_message_id] = "delivered"

    make_due(db)
    run_job(runner)

    assert stored(db, 1).state == MessageState.DELIVERED
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_a_test_sms_while_paused_is_refused_with_409_and_nothing_is_stored(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    pause(client, token, True)

    response = client.post("/api/test-sms", json={"to": "+79161234567", "text": "hi"}, headers=bearer(token))

    assert response.status_code == 409 and response.get_json()["error"] == "paused"
    assert "resume" in response.get_json()["message"].lower() or "возобнов" in response.get_json()["message"]
    with db.session() as session:
        assert session.scalars(select(Message)).all() == []
    assert sends(prostor) == []


def test_only_admins_pause_and_the_body_must_say_true_or_false(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    _, user_token = open_page(client, bitrix, path="/", user_id="7")  # not an admin

    refused = pause(client, user_token, True)
    bad = client.put("/api/pause", json={"paused": "yes"}, headers=bearer(token))
    unsigned = client.put("/api/pause", json={"paused": True})

    assert refused.status_code == 403 and refused.get_json()["error"] == "admin_only"
    assert bad.status_code == 400 and bad.get_json()["field"] == "paused"
    assert unsigned.status_code == 401
    with db.session() as session:
        assert session.scalars(select(Portal.paused)).one() is False


def test_a_lost_answer_is_not_reconciled_while_paused_and_is_after_resume(client, db, bitrix, prostor, runner):
    """Asking Prostor is sending again under the same clientId: it waits for the resume, as any send does."""
    token = install_with_prostor(client, bitrix)
    prostor.fail_next.append(requests.ReadTimeout())  # the send never reached Prostor; its answer is lost
    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))
    assert stored(db, 1).state == MessageState.RECONCILING
    pause(client, token, True)

    make_due(db)
    run_job(runner)

    assert stored(db, 1).state == MessageState.RECONCILING
    assert len(sends(prostor)) == 1 and prostor.sent == {}  # only the lost try: nothing reached Prostor

    pause(client, token, False)
    make_due(db)
    run_job(runner)

    assert stored(db, 1).state == MessageState.ACCEPTED and len(prostor.sent) == 1
