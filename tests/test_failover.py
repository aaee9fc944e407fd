"""The failover chain: provider-side trouble moves a message down the chain, recipient-side trouble fails it."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from b24sms.providers.base import AnswerLost, NoMoney, RetryLater
from b24sms.rules import failover
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import ProviderAccount
from tests.helpers import (
    PROSTOR_SETTINGS,
    SMSC_SETTINGS,
    bearer,
    install_with_chain,
    make_due,
    message_id,
    post_sms,
    run_job,
    save_providers,
    stored,
)
from tests.helpers.suite import use_settings


@pytest.fixture
def chain(client, bitrix, prostor, smsc):
    """Prostor first, SMSC second."""
    return install_with_chain(client, bitrix, PROSTOR_SETTINGS, SMSC_SETTINGS)


@pytest.mark.parametrize("trouble", ["http_502", "connect_timeout", "not enough balance", "sender address invalid",
                                     "error authorization"])
def test_provider_side_trouble_fails_over_at_once(client, db, bitrix, prostor, smsc, chain, trouble):
    import requests

    if trouble == "http_502":
        prostor.fail_next.append(502)
    elif trouble == "connect_timeout":  # no connection was made: nothing can have been sent
        prostor.fail_next.append(requests.ConnectTimeout())
    elif trouble == "error authorization":
        prostor.password = "changed-since"
    else:
        prostor.next_send_status.append(trouble)

    answer = post_sms(client, bitrix)

    assert answer["state"] == MessageState.ACCEPTED and answer["provider"] == "smsc"
    assert [t["provider"] for t in answer["tried"]] == ["prostor", "smsc"]
    assert answer["tried"][-1]["result"] == "accepted"
    assert len(smsc.sent) == 1 and smsc.sent[0]["phones"] == "79161234567"
    message = stored(db)
    assert message.provider_message_id == smsc.sent[0]["id"] and message.attempts == 2


def test_recipient_side_refusal_fails_without_trying_others(client, db, bitrix, prostor, smsc, chain, runner):
    prostor.next_send_status.append("invalid mobile phone")

    answer = post_sms(client, bitrix)

    assert answer["state"] == MessageState.FAILED
    assert answer["error"] == {"code": "invalid_recipient", "message": "invalid mobile phone",
                               "words": "Prostor SMS refused the number: invalid mobile phone"}
    # The settings check (credentials, then the approved sender names); no send.
    assert [script for script, _ in smsc.requests] == ["balance.php", "senders.php"]
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "failed"}


def test_a_recipient_error_at_the_fallback_fails_it_there(client, db, bitrix, prostor, smsc, chain):
    prostor.fail_next.append(503)
    smsc.send_errors.append(7)

    answer = post_sms(client, bitrix)

    assert answer["state"] == MessageState.FAILED and answer["provider"] == "smsc"
    assert answer["error"]["code"] == "invalid_recipient:7"


def test_when_the_whole_chain_is_down_it_waits_then_starts_from_the_primary(client, db, bitrix, prostor, smsc,
                                                                            chain, runner):
    prostor.fail_next.append(502)
    smsc.fail_next.append(503)

    answer = post_sms(client, bitrix)

    assert answer["state"] == MessageState.RETRY_WAIT
    message = stored(db)
    with db.session() as session:
        kinds = dict(session.execute(select(ProviderAccount.id, ProviderAccount.kind)).all())
    assert kinds[message.account_id] == "prostor"  # the next round starts at the top

    make_due(db)
    run_job(runner)

    message = stored(db)
    assert message.state == MessageState.ACCEPTED and message.provider == "prostor"
    assert [e["provider"] for e in message.attempt_log] == ["prostor", "smsc", "prostor"]
    assert len(smsc.sent) == 0 and len(prostor.sent) == 1


def test_a_refusing_provider_is_skipped_in_later_rounds(client, db, bitrix, prostor, smsc, chain, runner):
    prostor.next_send_status.append("not enough balance")
    smsc.fail_next.append(502)

    assert post_sms(client, bitrix)["state"] == MessageState.RETRY_WAIT
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert message.state == MessageState.ACCEPTED and message.provider == "smsc"
    assert [(e["provider"], e["result"]) for e in message.attempt_log] == [
        ("prostor", "no_money"), ("smsc", "retry_later"), ("smsc", "accepted")]
    assert [path for path, _ in prostor.requests].count("send.json") == 1  # Prostor was not asked again


def test_attempts_are_bounded_then_the_last_error_fails_it(app, client, db, bitrix, prostor, smsc, chain, runner):
    use_settings(app, send_max_attempts=2)
    prostor.fail_next.extend([502, 502])
    smsc.fail_next.extend([503, 503])

    post_sms(client, bitrix)
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert message.state == MessageState.FAILED
    assert (message.error_code, message.status) == ("retry_later:http_503", "failed")
    assert [e["provider"] for e in message.attempt_log] == ["prostor", "smsc", "prostor", "smsc"]
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "failed"}


def test_statuses_are_polled_from_the_provider_that_sent(client, db, bitrix, prostor, smsc, chain, runner):
    prostor.fail_next.append(502)
    post_sms(client, bitrix, 1)  # goes out through SMSC
    post_sms(client, bitrix, 2)  # through Prostor
    [smsc_id] = [m["id"] for m in smsc.sent]
    smsc.statuses[smsc_id] = (1, 0)
    prostor.statuses["1001"] = "smsc submit"
    make_due(db)

    run_job(runner)

    assert bitrix.statuses == {message_id(1): "delivered", message_id(2): "sent"}
    assert [form["id"] for form in smsc.status_requests] == [f"{smsc_id},"]
    assert [path for path, _ in prostor.requests].count("status.json") == 1


def test_the_chain_is_saved_in_order_and_reordered(client, bitrix, prostor, smsc):
    token = install_with_chain(client, bitrix, SMSC_SETTINGS, PROSTOR_SETTINGS)
    assert [p["kind"] for p in client.get("/api/settings", headers=bearer(token)).get_json()["providers"]] == [
        "smsc", "prostor"]

    masked = client.get("/api/settings", headers=bearer(token)).get_json()["providers"]
    saved = save_providers(client, token, list(reversed(masked)))

    assert saved.status_code == 200
    assert [p["kind"] for p in saved.get_json()["providers"]] == ["prostor", "smsc"]
    # Saving again re-registers the sender; "Handler already binded" (an error with an empty code) is fine.
    assert saved.get_json()["portal"]["sender_registered"] is True
    answer = post_sms(client, bitrix)
    assert answer["provider"] == "prostor"


def test_a_removed_provider_still_polls_what_it_sent(client, db, bitrix, prostor, smsc, chain, runner):
    post_sms(client, bitrix)  # through Prostor
    token = install_with_chain(client, bitrix, SMSC_SETTINGS)
    prostor.statuses["1001"] = "delivered"
    make_due(db)

    run_job(runner)

    assert bitrix.statuses == {message_id(1): "delivered"}
    assert post_sms(client, bitrix, 2)["provider"] == "smsc"
    assert [p["kind"] for p in client.get("/api/settings", headers=bearer(token)).get_json()["providers"]] == [
        "smsc"]


# ---------------------------------------------------------------- the pure rule (b24sms.failover)
class Account:
    def __init__(self, id_, kind):
        self.id, self.kind = id_, kind


A, B, C = Account(1, "prostor"), Account(2, "smsc"), Account(3, "twilio")
AT = datetime(2026, 11, 23, 10, 0)


def routed(route):
    return (route.account and route.account.kind, route.wait, [a.kind for a in route.passed_over])


def test_a_skipped_account_is_passed_over_at_the_start():
    assert routed(failover.first_route([A, B, C], [], 10, None, skipped={A.id})) == ("smsc", False, ["prostor"])
    # The account chosen before is passed over too when it is skipped now.
    assert routed(failover.first_route([A, B, C], [], 10, B.id, skipped={B.id})) == ("prostor", False, ["smsc"])


def test_when_every_usable_account_is_skipped_the_message_is_held_not_failed():
    refused_by_b = failover.settled(failover.started([], B, AT), AT, NoMoney("no money"))

    route = failover.first_route([A, B], refused_by_b, 10, None, skipped={A.id})

    assert route.held and routed(route) == (None, True, ["prostor"])
    assert not failover.first_route([A, B], refused_by_b, 10, None, skipped={}).held


def test_after_a_failure_a_skipped_later_account_is_passed_over_and_the_round_wraps():
    failed_at_a = failover.settled(failover.started([], A, AT), AT, RetryLater("503", "http_503"))

    assert routed(failover.next_route([A, B, C], failed_at_a, 10, A.id, skipped={B.id})) == ("twilio", False,
                                                                                             ["smsc"])
    assert routed(failover.next_route([A, B, C], failed_at_a, 10, A.id, skipped={B.id, C.id})) == (
        "prostor", True, ["smsc", "twilio"])
    assert failover.next_route([A, B, C], failed_at_a, 10, A.id, skipped={A.id, B.id, C.id}).held


def test_a_given_up_account_is_refused_and_skips_are_not_failures():
    log = failover.settled(failover.started([], A, AT), AT, AnswerLost("no answer", "timeout"))
    log = failover.given_up(log, A, AT, "no_answer")
    log = failover.passed_over(log, [B], AT)

    assert failover.refused(log, A.id) and not failover.refused(log, B.id)
    assert failover.transient_failures(log, B.id) == 0
    assert routed(failover.first_route([A, B], log, 10, A.id)) == ("smsc", False, [])
    assert failover.was_given_up(log, A.id) and not failover.was_given_up(log, B.id)
    assert failover.last_call_at(log) == AT


def test_a_skip_is_logged_once_while_it_lasts():
    log = failover.passed_over([], [A, B], AT)
    log = failover.passed_over(log, [A, B], AT + timedelta(minutes=2))

    assert [(entry["provider"], entry["result"]) for entry in log] == [("prostor", "skipped"), ("smsc", "skipped")]
    log = failover.settled(failover.started(log, A, AT), AT)
    assert len(failover.passed_over(log, [A], AT)) == 4  # skipped again after a call
