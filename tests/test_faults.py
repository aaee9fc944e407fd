"""Faults: lost answers, dead runners, long outages. A stored message is sent once or reported failed with a reason."""
import fcntl
from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, ProviderAccount, utcnow
from tests.helpers import (
    PROSTOR_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    bearer,
    install_with_chain,
    make_due,
    message_id,
    post_sms,
    run_job,
    stored,
)


def lost_an_hour_ago(db):
    """Move the lost call (and everything due) an hour into the past."""
    with db.session() as session:
        message = session.get(Message, stored(db).id)
        hour_ago = (utcnow() - timedelta(hours=1)).isoformat() + "Z"
        message.attempt_log = [{**entry, "at": hour_ago} for entry in message.attempt_log]
    make_due(db)


def test_prostor_lost_answer_is_settled_by_its_client_id(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    prostor.lose_answers = 1  # Prostor takes the message; its answer never arrives

    answer = post_sms(client, bitrix)

    assert answer["state"] == MessageState.RECONCILING and answer["error"]["code"] == "answer_lost"
    make_due(db)
    assert "reconciled=1" in run_job(runner)
    message = stored(db)
    assert message.state == MessageState.ACCEPTED and message.provider_message_id == "1001"
    assert len(prostor.sent) == 1  # the repeat carried the same clientId and was dropped


def test_smsc_lost_answer_is_asked_about_and_not_sent_again(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    smsc.lose_answers = 1

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    run_job(runner)  # not yet: SMSC is given a minute to file the message
    assert stored(db).state == MessageState.RECONCILING and len(smsc.status_requests) == 0
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert message.state == MessageState.ACCEPTED and message.provider_message_id == message.provider_key
    assert len(smsc.sent) == 1
    [ask] = smsc.status_requests
    assert (ask["id"], ask["phone"]) == (message.provider_key, "79161234567")  # one message: not a bulk request


def test_smsc_that_never_got_it_is_sent_again_once(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    smsc.fail_next.append(requests.ReadTimeout())  # the request itself was lost: SMSC never saw it

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert message.state == MessageState.ACCEPTED and len(smsc.sent) == 1
    assert [e["result"] for e in message.attempt_log] == ["answer_lost", "accepted"]


def test_a_lost_answer_does_not_fail_over(client, db, bitrix, prostor, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS, PROSTOR_SETTINGS)
    smsc.lose_answers = 1

    post_sms(client, bitrix)
    make_due(db)
    run_job(runner)

    assert len(smsc.sent) == 1 and prostor.sent == {}
    assert stored(db).provider == "smsc"


def test_twilio_cannot_be_asked_so_a_receipt_naming_the_message_settles_it(client, db, bitrix, twilio, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS)
    twilio.lose_answers = 1

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)
    assert stored(db).state == MessageState.RECONCILING  # within the window: wait, never resend

    [(sid, resource)] = twilio.messages.items()
    assert resource["status_callback"].endswith(f"?m={stored(db).provider_key}")
    form, headers = twilio.status_callback(sid, "delivered")
    response = client.post(resource["status_callback"].removeprefix("https://sms.example.com"), data=form,
                           headers=headers)

    assert response.get_json()["changed"] == 1
    message = stored(db)
    assert (message.state, message.provider_message_id) == (MessageState.DELIVERED, sid)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"} and len(twilio.messages) == 1


def test_twilio_outcome_unknown_is_reported_failed_after_the_window(client, db, bitrix, twilio, runner):
    token = install_with_chain(client, bitrix, TWILIO_SETTINGS)
    twilio.lose_answers = 1
    post_sms(client, bitrix)

    lost_an_hour_ago(db)
    run_job(runner)
    run_job(runner)

    message = stored(db)
    assert (message.state, message.error_code) == (MessageState.FAILED, "outcome_unknown")
    assert bitrix.statuses == {message_id(1): "failed"}
    assert len(twilio.messages) == 1  # never sent twice
    [row] = client.get("/api/messages", headers=bearer(token)).get_json()
    assert row["error"]["code"] == "outcome_unknown" and "not sent again" in row["error"]["message"]


def test_a_runner_that_died_mid_call_is_reconciled(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    post_sms(client, bitrix)
    # As if the runner died after SMSC took the message but before our commit.
    with db.session() as session:
        message = session.get(Message, stored(db).id)
        entry = {**message.attempt_log[-1], "result": "pending"}
        message.attempt_log = [entry]
        message.state, message.provider_message_id = MessageState.SENDING, None
        message.due_at = utcnow() - timedelta(seconds=1)  # the lease ran out

    output = run_job(runner)

    assert "recovered=1" in output and "reconciled=1" in output
    message = stored(db)
    assert message.state == MessageState.ACCEPTED and message.provider_message_id == message.provider_key
    assert len(smsc.sent) == 1


def test_a_runner_that_died_before_calling_anyone_is_simply_retried(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    smsc.fail_next.append(503)
    post_sms(client, bitrix)
    with db.session() as session:
        session.execute(update(Message).values(state=MessageState.SENDING, attempt_log=[],
                                               due_at=utcnow() - timedelta(seconds=1)))

    assert "recovered=1" in run_job(runner)

    assert stored(db).state == MessageState.ACCEPTED and len(smsc.sent) == 1


def test_on_sqlite_a_second_job_runner_exits_quietly(client, db, bitrix, smsc, runner):
    if not db.is_sqlite:
        pytest.skip("PostgreSQL runners share the work through row locks")
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    smsc.fail_next.append(503)
    post_sms(client, bitrix)
    make_due(db)

    with open(f"{db.engine.url.database}.jobs-lock", "a") as held:  # another runner is at work
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = runner.invoke(args=["jobs", "run-once"])
        assert result.exit_code == 0 and "another job runner" in result.output
        assert stored(db).state == MessageState.RETRY_WAIT and smsc.sent == []
        fcntl.flock(held, fcntl.LOCK_UN)

    assert "sent=1" in run_job(runner)
    assert len(smsc.sent) == 1


def test_a_provider_outage_of_hours_loses_nothing(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    post_sms(client, bitrix, 1)  # sent before the outage
    smsc.fail_next.extend([503] * 1000)  # SMSC is down: sends and status polls fail
    post_sms(client, bitrix, 2)
    for _ in range(8):  # hours of backoff, compressed
        next_minute(db)
        run_job(runner)
        assert stored(db, 2).state == MessageState.RETRY_WAIT
    assert len(smsc.sent) == 1 and bitrix.statuses == {}

    smsc.fail_next.clear()  # back: message 2 goes out, then both statuses come in
    next_minute(db)
    run_job(runner)
    smsc.statuses = dict.fromkeys(smsc.statuses, (1, 0))
    next_minute(db)
    run_job(runner)

    assert [m["id"] for m in smsc.sent] == [stored(db, 1).provider_key, stored(db, 2).provider_key]
    assert bitrix.statuses == {message_id(1): "delivered", message_id(2): "delivered"}
    assert stored(db, 2).attempts == 10


def next_minute(db):
    """Everything due, SMSC's one-a-minute status slot free again."""
    make_due(db)
    with db.session() as session:
        session.execute(update(ProviderAccount).values(poll_not_before=None))


def test_a_nul_in_a_providers_words_is_stored_without_it(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    prostor.next_send_status.append("sender\x00 address invalid")  # odd words: a provider-side refusal
    post_sms(client, bitrix, 1)
    post_sms(client, bitrix, 2)
    prostor.statuses["1001"] = "smsc\x00 submit"
    make_due(db)

    run_job(runner)  # PostgreSQL text cannot hold NUL: nothing of it may reach a column

    assert stored(db, 1).error_text == "sender address invalid"
    assert stored(db, 2).provider_status == "smsc submit"
