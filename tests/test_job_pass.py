"""A job pass drains what is due (issue 10): no fixed per-pass cap leaves due work for the next minute; it stops
when nothing is left or JOB_PASS_SECONDS is spent."""
from sqlalchemy import func, select

from b24sms.flows import polling, reconciling
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message
from tests.helpers import (
    SMSAERO_SETTINGS,
    SMSC_SETTINGS,
    answered_in_between,
    handler_form,
    install_with_chain,
    install_with_prostor,
    make_due,
    message_id,
    run_job,
    stored,
)
from tests.helpers.rows import accepted_backlog
from tests.helpers.suite import use_settings

BACKLOG = 1050  # more than one poll claim (1,000) and more than one portal's report batches per call (20 x 50)


def test_one_pass_polls_and_reports_a_backlog_larger_than_any_single_claim(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    accepted_backlog(db, prostor, BACKLOG)

    output = run_job(runner)

    assert f"status_changes={BACKLOG}" in output and f"reported={BACKLOG}" in output
    with db.session() as session:
        assert session.scalar(select(func.count()).where(Message.state == MessageState.DELIVERED)) == BACKLOG
        assert session.scalar(select(func.count()).where(Message.report_pending.is_(True))) == 0
    assert len(bitrix.statuses) == BACKLOG
    # Within the floors: Prostor 200 ids a status request, Bitrix24 50 commands a batch.
    status_requests = [body for path, body in prostor.requests if path == "status.json"]
    assert len(status_requests) == -(-BACKLOG // 200)
    assert len(bitrix.rest_requests("batch")) == -(-BACKLOG // 50)


def test_a_pass_stops_when_its_time_is_spent(app, client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    accepted_backlog(db, prostor, BACKLOG)
    use_settings(app, job_pass_seconds=0)  # spent before it starts: not one duty runs

    output = run_job(runner)

    assert "status_changes=0" in output and "reported=0" in output
    with db.session() as session:
        assert session.scalar(select(func.count()).where(Message.state == MessageState.ACCEPTED)) == BACKLOG


def test_portals_are_polled_and_reported_in_parallel_each_within_its_floors(add_portal, client, db, bitrix, prostor,
                                                                            runner):
    portals = [bitrix] + [add_portal(f"shop{n}.bitrix24.ru", f"{n:032x}") for n in (2, 3)]
    for number, portal in enumerate(portals):
        install_with_prostor(client, portal)
        accepted_backlog(db, prostor, 450, domain=portal.domain, first=number * 1000)
    prostor.latency = 0.05  # a round trip, so that parallel requests overlap
    prostor.requests.clear()

    output = run_job(runner)

    assert "status_changes=1350" in output and "reported=1350" in output
    assert all(len(portal.statuses) == 450 for portal in portals)
    # Per portal: ceil(450 / 200) status requests of one account, ceil(450 / 50) batches.
    assert len([path for path, _ in prostor.requests if path == "status.json"]) == 3 * 3
    assert [len(portal.rest_requests("batch")) for portal in portals] == [9, 9, 9]
    assert prostor.max_in_flight >= 2  # accounts were polled side by side


def test_a_provider_asked_one_message_a_request_gets_a_few_requests_at_once_never_more(client, db, bitrix,
                                                                                         smsaero, runner):
    install_with_chain(client, bitrix, SMSAERO_SETTINGS)
    for n in range(1, 13):
        client.post("/handler", data=handler_form(bitrix, message_id(n)))
    for id_ in smsaero.statuses:
        smsaero.statuses[id_] = 1  # delivered
    make_due(db)
    smsaero.latency = 0.05  # a round trip, so that requests under way at once overlap
    smsaero.max_in_flight = 0

    output = run_job(runner)

    assert "status_changes=12" in output
    assert [path for path, _ in smsaero.requests].count("sms/status") == 12
    assert 2 <= smsaero.max_in_flight <= polling.CALLS_PER_ACCOUNT


def test_lost_answers_are_asked_about_a_few_at_once_per_account(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    for n in range(1, 9):
        smsc.lose_answers = 1  # SMSC took it; its answer never came back
        client.post("/handler", data=handler_form(bitrix, message_id(n)))
        answered_in_between(db)  # lost answers, not a hung provider
    assert {stored(db, n).state for n in range(1, 9)} == {"reconciling"}
    make_due(db)
    smsc.latency = 0.05
    smsc.max_in_flight = 0

    output = run_job(runner)

    assert "reconciled=8" in output and len(smsc.sent) == 8  # each found by our id: none sent twice
    assert 2 <= smsc.max_in_flight <= reconciling.CALLS_PER_ACCOUNT
