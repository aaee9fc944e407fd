"""Off the request path: the handler answers once the message is stored; this process's sender calls the provider,
in batches where the provider takes them, and the job sends whatever a crash left."""
import threading

from flask.testing import FlaskClient

from b24sms.flows import messaging
from b24sms.rules.lifecycle import MessageState
from tests.helpers import (
    handler_form,
    handler_path,
    handler_payload,
    install_with_prostor,
    make_due,
    message_id,
    run_job,
    stored,
    wait_for,
)
from tests.helpers.suite import services_of


def test_the_handler_answers_before_a_slow_provider_does(app, db, bitrix, prostor):
    client = FlaskClient(app)  # a plain client: it does not wait for the sender as the suite's does
    install_with_prostor(app.test_client(), bitrix)
    prostor.slow_answers = threading.Event()

    response = client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))

    assert response.status_code == 200 and response.get_json()["state"] == MessageState.RECEIVED
    wait_for(lambda: prostor.answers_waiting == 1)  # the provider has it and has not answered yet
    prostor.slow_answers.set()
    assert services_of(app).outbox.wait_idle(10)
    message = stored(db, 1)
    assert message.state == MessageState.ACCEPTED and message.attempts == 1
    assert [path for path, _ in prostor.requests] == ["balance.json", "senders.json", "send.json"]


def test_a_burst_goes_to_prostor_in_one_request_while_the_first_send_is_under_way(app, db, bitrix, prostor):
    client = FlaskClient(app)
    install_with_prostor(app.test_client(), bitrix)
    prostor.slow_answers = threading.Event()
    path = handler_path(db)

    client.post(path, data=handler_form(bitrix, message_id(1)))
    wait_for(lambda: prostor.answers_waiting == 1)
    for n in range(2, 8):  # a campaign: these arrive while the first request waits for its answer
        assert client.post(path, data=handler_form(bitrix, message_id(n))).status_code == 200
    prostor.slow_answers.set()
    assert services_of(app).outbox.wait_idle(10)

    sends = [body["messages"] for name, body in prostor.requests if name == "send.json"]
    assert [len(messages) for messages in sends] == [1, 6]
    assert {m["clientId"] for m in sends[1]} == {stored(db, n).provider_key for n in range(2, 8)}
    assert [stored(db, n).state for n in range(1, 8)] == [MessageState.ACCEPTED] * 7
    assert len({stored(db, n).provider_message_id for n in range(1, 8)}) == 7


def test_a_repeated_call_is_answered_and_not_sent_again(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    path = handler_path(db)
    client.post(path, data=handler_form(bitrix, message_id(1)))

    again = client.post(path, data=handler_form(bitrix, message_id(1)))

    assert again.get_json()["created"] is False and again.get_json()["state"] == MessageState.ACCEPTED
    assert [name for name, _ in prostor.requests].count("send.json") == 1


def test_what_a_process_stored_but_never_sent_is_sent_by_the_job(services, client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    # What the handler does before handing the message to its sender; then the process dies.
    with db.session() as session:
        message, created = messaging.store_handler_call(services, session, handler_payload(bitrix, message_id(1)),
                                                        None, handler_path(db).rsplit("/", 1)[1])
    assert created and message.state == MessageState.RECEIVED

    run_job(runner)
    assert stored(db, 1).state == MessageState.RECEIVED  # within the grace the web process would have sent it
    make_due(db)
    run_job(runner)

    assert stored(db, 1).state == MessageState.ACCEPTED
    assert [name for name, _ in prostor.requests].count("send.json") == 1


def test_past_its_bound_the_sender_leaves_messages_to_the_job(app, client, db, bitrix, prostor, runner, monkeypatch,
                                                              caplog):
    from b24sms.flows import outbox

    install_with_prostor(client, bitrix)
    monkeypatch.setattr(outbox, "MAX_WAITING", 0)  # as if 20,000 messages already waited in this process

    response = client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))

    assert response.status_code == 200 and stored(db, 1).state == MessageState.RECEIVED
    assert "left to the job" in caplog.text
    make_due(db)  # the grace period a running web process gets
    run_job(runner)
    assert stored(db, 1).state == MessageState.ACCEPTED
