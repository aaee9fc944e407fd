"""A provider that takes calls and never answers must not defeat the failover chain (issue 9, item 6).

- after a lost answer, a provider that still cannot be asked RECONCILE_FAILOVER_AFTER seconds later is given
  up for that message, which moves on along the chain as a possible duplicate;
- an account that keeps timing out is skipped for new messages until a probe call finds it answering again;
- within one job pass, a provider that timed out is not called again, so other portals' work goes on.
"""
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from b24sms.flows import provider_health
from b24sms.providers.base import AnswerLost
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, Portal, ProviderAccount, utcnow
from tests.helpers import (
    PROSTOR_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    answered_in_between,
    bearer,
    install_with_chain,
    make_due,
    message_id,
    post_sms,
    run_job,
    stored,
)
from tests.helpers.suite import use_settings


def calls_ago(db, minutes, n=1):
    """Date message n's provider calls (the lost one included) `minutes` back, and make everything due."""
    with db.session() as session:
        message = session.get(Message, stored(db, n).id)
        then = (utcnow() - timedelta(minutes=minutes)).isoformat() + "Z"
        message.attempt_log = [{**entry, "at": then} for entry in message.attempt_log]
    make_due(db)


def tried(message):
    return [(entry["provider"], entry["result"]) for entry in message.attempt_log]


def health(db, kind):
    with db.session() as session:
        account = session.scalars(select(ProviderAccount).where(ProviderAccount.kind == kind)).one()
        return account.timeouts_in_row, account.skip_until


def skip_over(db):
    """The skip's time is up: the next call to the account is a probe."""
    with db.session() as session:
        session.execute(update(ProviderAccount).where(ProviderAccount.skip_until.is_not(None))
                        .values(skip_until=utcnow() - timedelta(seconds=1)))


def receipt_from_twilio(client, twilio, status):
    [(sid, resource)] = twilio.messages.items()
    form, headers = twilio.status_callback(sid, status)
    path = resource["status_callback"].removeprefix("https://sms.example.com")
    response = client.post(path, data=form, headers=headers)
    assert response.status_code == 200
    return sid, response.get_json()


# ---------------------------------------------------------------- giving a provider up after a lost answer
def test_a_hung_provider_is_given_up_after_reconcile_failover_after_and_the_next_one_sends(
        app, client, db, bitrix, prostor, smsc, runner):
    use_settings(app, reconcile_failover_after=600)
    token = install_with_chain(client, bitrix, PROSTOR_SETTINGS, SMSC_SETTINGS)
    prostor.lose_answers = 1  # Prostor takes the message, its answer is lost, then it hangs
    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    prostor.hangs = True

    calls_ago(db, 9)
    run_job(runner)
    assert stored(db).state == MessageState.RECONCILING and smsc.sent == []  # asked, no answer: wait

    calls_ago(db, 11)
    run_job(runner)

    message = stored(db)
    assert (message.state, message.provider, message.possible_duplicate) == (MessageState.ACCEPTED, "smsc", True)
    assert tried(message) == [("prostor", "answer_lost"), ("prostor", "given_up"), ("smsc", "accepted")]
    assert len(prostor.sent) == len(smsc.sent) == 1  # the duplicate the flag warns of
    assert len(prostor.calls_while_hanging) == 2  # asked at 9 and at 11 minutes
    [row] = client.get("/api/messages", headers=bearer(token)).get_json()
    assert {"provider": "prostor", "result": "given_up", "code": "no_answer"}.items() <= row["tried"][1].items()
    assert row["possible_duplicate"] is True


def test_a_provider_that_answers_by_the_deadline_keeps_the_message(client, db, bitrix, prostor, smsc, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, SMSC_SETTINGS)
    prostor.lose_answers = 1
    post_sms(client, bitrix)
    prostor.hangs = True
    calls_ago(db, 5)
    run_job(runner)

    prostor.hangs = False  # back, after the deadline: it is asked before anything is given up
    calls_ago(db, 20)
    run_job(runner)

    message = stored(db)
    assert (message.state, message.provider, message.provider_message_id) == (MessageState.ACCEPTED, "prostor",
                                                                               "1001")
    assert message.possible_duplicate is False and smsc.sent == [] and len(prostor.sent) == 1


def test_a_provider_that_cannot_be_asked_is_given_up_after_reconcile_failover_after(client, db, bitrix, twilio,
                                                                                    smsc, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS, SMSC_SETTINGS)
    twilio.lose_answers = 1
    post_sms(client, bitrix)

    calls_ago(db, 14)
    run_job(runner)
    assert stored(db).state == MessageState.RECONCILING and smsc.sent == []  # a receipt may still come

    calls_ago(db, 16)
    run_job(runner)

    message = stored(db)
    assert (message.state, message.provider, message.possible_duplicate) == (MessageState.ACCEPTED, "smsc", True)
    assert tried(message) == [("twilio", "answer_lost"), ("twilio", "given_up"), ("smsc", "accepted")]
    assert message.attempt_log[1]["code"] == "cannot_ask"
    assert len(twilio.messages) == 1 and len(smsc.sent) == 1


def test_with_no_other_provider_it_waits_the_window_then_fails_unsent(client, db, bitrix, twilio, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS)
    twilio.lose_answers = 1
    post_sms(client, bitrix)

    calls_ago(db, 16)  # past RECONCILE_FAILOVER_AFTER, but there is nowhere to move on to
    run_job(runner)
    message = stored(db)
    assert message.state == MessageState.RECONCILING and message.possible_duplicate is False

    calls_ago(db, 31)  # past RECONCILE_WINDOW
    run_job(runner)
    message = stored(db)
    assert (message.state, message.error_code) == (MessageState.FAILED, "outcome_unknown")
    assert len(twilio.messages) == 1  # never sent twice to the same provider


def test_a_late_receipt_settles_it_with_the_given_up_provider_before_the_next_one_sends(
        client, db, bitrix, twilio, smsc, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS, SMSC_SETTINGS)
    twilio.lose_answers = 1
    post_sms(client, bitrix)
    smsc.fail_next.append(503)  # the next provider cannot take it at once
    calls_ago(db, 16)
    run_job(runner)
    message = stored(db)
    assert (message.state, message.possible_duplicate) == (MessageState.RETRY_WAIT, True)

    sid, answer = receipt_from_twilio(client, twilio, "delivered")  # Twilio had it after all

    assert answer["changed"] == 1
    message = stored(db)
    assert (message.state, message.provider, message.provider_message_id) == (MessageState.DELIVERED, "twilio",
                                                                               sid)
    assert message.possible_duplicate is False  # nobody else was sent it
    make_due(db)
    run_job(runner)
    assert smsc.sent == [] and bitrix.statuses == {message_id(1): "delivered"}


def test_a_late_receipt_after_the_next_provider_took_it_changes_nothing(client, db, bitrix, twilio, smsc, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS, SMSC_SETTINGS)
    twilio.lose_answers = 1
    post_sms(client, bitrix)
    calls_ago(db, 16)
    run_job(runner)

    _, answer = receipt_from_twilio(client, twilio, "undelivered")

    assert answer["matched"] == 0
    message = stored(db)
    assert (message.state, message.provider, message.possible_duplicate) == (MessageState.ACCEPTED, "smsc", True)
    smsc.statuses[message.provider_key] = (1, 0)
    make_due(db)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}  # SMSC's word, not Twilio's


# ---------------------------------------------------------------- skipping an account that keeps timing out
@pytest.fixture
def hung_primary(client, db, bitrix, prostor, smsc):
    """Prostor first, SMSC second; Prostor has timed out three times in a row (three messages await it)."""
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, SMSC_SETTINGS)
    prostor.hangs = True
    answers = [post_sms(client, bitrix, n) for n in (1, 2, 3)]
    assert [answer["state"] for answer in answers] == [MessageState.RECONCILING] * 3  # each may have got there
    return prostor


def test_after_timeouts_in_a_row_new_messages_skip_the_account(client, db, bitrix, smsc, hung_primary):
    answer = post_sms(client, bitrix, 4)

    assert (answer["state"], answer["provider"]) == (MessageState.ACCEPTED, "smsc")
    assert [(t["provider"], t["result"]) for t in answer["tried"]] == [("prostor", "skipped"), ("smsc", "accepted")]
    assert len(hung_primary.calls_while_hanging) == 3  # not asked a fourth time
    message = stored(db, 4)
    assert message.attempts == 1 and message.possible_duplicate is False  # a skip is not a failure
    timeouts, skip_until = health(db, "prostor")
    assert timeouts == 3 and skip_until > utcnow()


def test_once_the_skip_is_over_one_probe_that_is_answered_ends_it(client, db, bitrix, smsc, hung_primary):
    hung_primary.hangs = False
    skip_over(db)

    answers = [post_sms(client, bitrix, n) for n in (4, 5)]

    assert [(a["state"], a["provider"]) for a in answers] == [(MessageState.ACCEPTED, "prostor")] * 2
    assert health(db, "prostor") == (0, None)
    assert smsc.sent == []


def test_a_probe_that_times_out_extends_the_skip(client, db, bitrix, smsc, hung_primary):
    skip_over(db)

    probe = post_sms(client, bitrix, 4)
    after = post_sms(client, bitrix, 5)

    assert probe["state"] == MessageState.RECONCILING and len(hung_primary.calls_while_hanging) == 4
    assert (after["state"], after["provider"]) == (MessageState.ACCEPTED, "smsc")
    timeouts, skip_until = health(db, "prostor")
    assert timeouts == 4 and skip_until > utcnow()


def test_when_every_provider_is_skipped_the_message_waits_for_one(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    prostor.hangs = True
    for n in (1, 2, 3):
        post_sms(client, bitrix, n)

    answer = post_sms(client, bitrix, 4)

    assert answer["state"] == MessageState.RETRY_WAIT and answer["error"] is None
    assert [(t["provider"], t["result"]) for t in answer["tried"]] == [("prostor", "skipped")]
    assert stored(db, 4).due_at >= health(db, "prostor")[1]  # not before the probe may be made
    run_job(runner)
    assert len(prostor.calls_while_hanging) == 3

    prostor.hangs = False
    skip_over(db)
    make_due(db)
    run_job(runner)

    message = stored(db, 4)
    assert (message.state, message.provider) == (MessageState.ACCEPTED, "prostor")
    assert tried(message) == [("prostor", "skipped"), ("prostor", "accepted")]
    assert [stored(db, n).state for n in (1, 2, 3)] == [MessageState.ACCEPTED] * 3  # asked, then sent once each
    assert len(prostor.sent) == 4


def test_health_counts_every_timeout_of_concurrent_callers_and_gives_the_probe_to_one(client, db, bitrix, prostor):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    with db.session() as session:
        account_id = session.scalars(select(ProviderAccount.id)).one()

    def time_out(_):
        with db.session() as session:
            provider_health.record(session, account_id, utcnow(), AnswerLost("no answer", "timeout"))

    def try_probe(_):
        with db.session() as session:
            return provider_health.take_call(session, account_id, utcnow())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(time_out, range(40)))
    assert health(db, "prostor")[0] == 40
    skip_over(db)
    with ThreadPoolExecutor(8) as pool:
        probes = list(pool.map(try_probe, range(8)))

    assert probes.count(True) == 1


# ---------------------------------------------------------------- one job pass, one hung provider, two portals
@pytest.fixture
def other(client, add_portal, bitrix, prostor, smsc):
    """Two portals: this one sends through Prostor alone, the other one through SMSC alone."""
    other = add_portal("other.bitrix24.ru", "b" * 32)
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    install_with_chain(client, other, SMSC_SETTINGS)
    return other


def hung_portal_first(db, bitrix):
    """Everything due, the hung portal's messages first in line."""
    make_due(db)
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id).where(Portal.member_id == bitrix.member_id)).one()
        session.execute(update(Message).where(Message.portal_id == portal_id, Message.due_at.is_not(None))
                        .values(due_at=utcnow() - timedelta(minutes=5)))


def test_one_hung_provider_does_not_hold_up_other_portals_sends(client, db, bitrix, prostor, smsc, other, runner):
    prostor.fail_next.extend([503] * 5)
    smsc.fail_next.extend([503] * 5)
    for n in range(1, 6):
        assert post_sms(client, bitrix, n)["state"] == MessageState.RETRY_WAIT
        assert post_sms(client, other, 100 + n)["state"] == MessageState.RETRY_WAIT
    prostor.hangs = True
    hung_portal_first(db, bitrix)

    run_job(runner)

    # Prostor takes the five in one request: that one timed out, so each of them may have got there.
    assert len(prostor.calls_while_hanging) == 1
    assert [stored(db, 100 + n).state for n in range(1, 6)] == [MessageState.ACCEPTED] * 5
    assert [stored(db, n).state for n in range(1, 6)] == [MessageState.RECONCILING] * 5


def test_one_hung_provider_does_not_hold_up_other_portals_reconciliation(client, db, bitrix, prostor, smsc, other,
                                                                         runner):
    for n in range(1, 6):  # each answer lost; each provider answered something in between
        prostor.lose_answers = smsc.lose_answers = 1
        assert post_sms(client, bitrix, n)["state"] == MessageState.RECONCILING
        assert post_sms(client, other, 100 + n)["state"] == MessageState.RECONCILING
        answered_in_between(db)
    prostor.hangs = True
    hung_portal_first(db, bitrix)

    output = run_job(runner)

    assert "reconciled=5" in output and len(prostor.calls_while_hanging) == 1
    assert [stored(db, 100 + n).state for n in range(1, 6)] == [MessageState.ACCEPTED] * 5
    assert [stored(db, n).state for n in range(1, 6)] == [MessageState.RECONCILING] * 5
    assert len(smsc.sent) == 5 and len(prostor.sent) == 5  # asked, never sent again


def test_a_skipped_account_is_not_polled_while_other_accounts_are(client, db, bitrix, prostor, smsc, other, runner):
    post_sms(client, bitrix, 1)
    post_sms(client, other, 101)
    prostor.statuses["1001"] = "delivered"
    smsc.statuses[stored(db, 101).provider_key] = (1, 0)
    with db.session() as session:  # Prostor has been timing out
        session.execute(update(ProviderAccount).where(ProviderAccount.kind == "prostor")
                        .values(timeouts_in_row=3, skip_until=utcnow() + timedelta(minutes=1)))
    make_due(db)
    polls = [path for path, _ in prostor.requests].count("status.json")

    run_job(runner)

    assert [path for path, _ in prostor.requests].count("status.json") == polls
    assert stored(db, 1).state == MessageState.ACCEPTED and stored(db, 1).due_at > utcnow()
    assert other.statuses == {message_id(101): "delivered"}
