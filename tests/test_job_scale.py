"""Many small portals (issue 19): a pass costs per message, not per portal. Its database statements do not grow with
the portals that have work, a portal with nothing due costs no statement at all, two runners split the work
without doing any of it twice, and a pass that runs out of time still reports what it polled."""
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from b24sms.flows import jobs, polling
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message
from tests.helpers import SMSAERO_SETTINGS, install_with_chain, install_with_prostor
from tests.helpers.rows import accepted_backlog, due_for_polling
from tests.helpers.suite import on_postgres, services_of, use_settings

PER_PORTAL = 3


@contextmanager
def counted_statements(app):
    """Counts the statements the app's database runs inside the block (`counter["statements"]`; their SQL in
    `counter["sql"]`)."""
    engine, counter = services_of(app).db.engine, {"statements": 0, "sql": []}

    def count(_connection, _cursor, statement, *_):
        counter["statements"] += 1
        counter["sql"].append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def portals_with_backlog(client, db, bitrix, add_portal, prostor, count, per_portal=PER_PORTAL):
    """`count` portals with Prostor, each with `per_portal` messages Prostor reports delivered, due for polling."""
    portals = [bitrix] + [add_portal(f"shop{n}.bitrix24.ru", f"{n:032x}") for n in range(2, count + 1)]
    for number, portal in enumerate(portals):
        install_with_prostor(client, portal)
        if per_portal:
            accepted_backlog(db, prostor, per_portal, domain=portal.domain, first=number * 1000)
    return portals


def statements_of_a_pass(app):
    with app.app_context(), counted_statements(app) as counter:
        report = jobs.run_once(services_of(app))
    return report, counter["statements"]


def test_a_pass_over_portals_with_nothing_due_runs_no_statement_per_portal(app, client, db, bitrix, add_portal,
                                                                           prostor):
    portals_with_backlog(client, db, bitrix, add_portal, prostor, 1, per_portal=0)
    statements_of_a_pass(app)  # the first pass checks what install left to check
    _, for_one = statements_of_a_pass(app)
    portals_with_backlog(client, db, bitrix, add_portal, prostor, 40, per_portal=0)
    statements_of_a_pass(app)

    _, for_forty = statements_of_a_pass(app)

    assert for_forty == for_one


def test_statements_do_not_grow_with_the_portals_that_have_work(app, client, db, bitrix, add_portal, prostor):
    """Polling, writing statuses and reporting are done in bulk: forty portals with work take no more statements
    than five (their REST and provider calls are still one per portal)."""
    portals = portals_with_backlog(client, db, bitrix, add_portal, prostor, 40, per_portal=0)
    statements_of_a_pass(app)  # what install left to check
    for number, portal in enumerate(portals[:5]):
        accepted_backlog(db, prostor, PER_PORTAL, domain=portal.domain, first=number * 1000)
    five, for_five = statements_of_a_pass(app)
    for number, portal in enumerate(portals):
        accepted_backlog(db, prostor, PER_PORTAL, domain=portal.domain, first=100_000 + number * 1000)

    forty, for_forty = statements_of_a_pass(app)

    assert (five.status_changes, five.reported) == (5 * PER_PORTAL, 5 * PER_PORTAL)
    assert (forty.status_changes, forty.reported) == (40 * PER_PORTAL, 40 * PER_PORTAL)
    assert all(len(portal.statuses) == 2 * PER_PORTAL if n < 5 else PER_PORTAL
               for n, portal in enumerate(portals))
    assert for_forty <= for_five + 5, (for_five, for_forty)


@pytest.mark.skipif(not on_postgres(), reason="row locks: two runners at once need PostgreSQL")
def test_two_runners_at_once_split_the_work_and_do_none_of_it_twice(app, client, db, bitrix, add_portal, prostor):
    portals = portals_with_backlog(client, db, bitrix, add_portal, prostor, 30)
    for fake in (prostor, *portals):
        fake.latency = 0.02  # a round trip, so that the two passes overlap
    start = threading.Barrier(2)
    reports = []

    def runner():
        with app.app_context():
            start.wait()
            reports.append(jobs.run_once(services_of(app)))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sum(r.status_changes for r in reports) == sum(r.reported for r in reports) == 30 * PER_PORTAL
    assert all(r.failed_duties == [] for r in reports)
    for portal in portals:  # each status told once
        assert all(len(updates) == 1 for updates in portal.status_updates.values()), portal.domain
    asked = [entry["smscId"] for path, body in prostor.requests if path == "status.json" for entry in body["messages"]]
    assert len(asked) == len(set(asked)) == 30 * PER_PORTAL  # each message polled once


def test_a_pass_that_runs_out_of_time_still_reports_what_it_polled(app, client, db, bitrix, add_portal, prostor):
    portals = portals_with_backlog(client, db, bitrix, add_portal, prostor, 30)
    prostor.latency = 0.2  # each status request: polling all thirty, two at a time, would take longer than the pass
    use_settings(app, job_pass_seconds=2, job_concurrency=2)

    with app.app_context():
        report = jobs.run_once(services_of(app))

    assert 0 < report.status_changes < 30 * PER_PORTAL
    assert report.reported == report.status_changes  # what was polled was told in the same pass
    assert sum(len(portal.statuses) for portal in portals) == report.reported
    with db.session() as session:
        assert session.scalar(select(func.count()).where(Message.state == MessageState.ACCEPTED)) > 0


def test_two_providers_answering_for_the_same_id_each_settle_only_their_own_account_s_message(
        app, client, db, bitrix, add_portal, prostor, smsaero):
    """One bulk poll asks many accounts at once; the ids in their answers are each provider's own, so a message at
    Prostor and one at SMS Aero, both under id 777, each take the status their own provider gave."""
    install_with_prostor(client, bitrix)
    aero_portal = add_portal("aero.bitrix24.ru", f"{2:032x}")
    install_with_chain(client, aero_portal, SMSAERO_SETTINGS)
    at_prostor = due_for_polling(db, bitrix.domain, "prostor", "777")
    at_aero = due_for_polling(db, aero_portal.domain, "smsaero", "777")
    prostor.statuses["777"] = "delivered"
    smsaero.sent[777], smsaero.statuses[777] = {"sign": "SHOP", "number": 79161234567, "text": "hi"}, 2  # not delivered

    with app.app_context():
        report = jobs.run_once(services_of(app))

    assert report.status_changes == 2
    with db.session() as session:
        states = dict(session.execute(select(Message.id, Message.state)
                                      .where(Message.id.in_([at_prostor, at_aero]))).all())
    assert states == {at_prostor: MessageState.DELIVERED, at_aero: MessageState.UNDELIVERED}


def test_duties_that_follow_the_clock_are_asked_once_in_a_busy_pass_not_in_every_round(app, client, db, bitrix,
                                                                                    add_portal, prostor, monkeypatch):
    """A pass goes in rounds while polling and reporting have work; the hourly balance check, the fetch of replies
    and retention found nothing the first time and are not asked again in each later round."""
    portals_with_backlog(client, db, bitrix, add_portal, prostor, 4)
    monkeypatch.setattr(polling, "POLL_SLICE", PER_PORTAL)  # a portal's messages a round: several rounds

    with app.app_context(), counted_statements(app) as counter:
        report = jobs.run_once(services_of(app))

    assert (report.status_changes, report.reported) == (4 * PER_PORTAL, 4 * PER_PORTAL)

    def statements(*markers):
        return sum(all(marker in sql for marker in markers) for sql in counter["sql"])

    assert statements("SELECT messages.id", "JOIN provider_accounts", "skip_until IS NULL") >= 4  # polled in rounds
    assert statements("balance_threshold IS NOT NULL") == 1  # the hourly balance check
    assert statements("SELECT provider_accounts.id \nFROM", "replies_due_at <=") == 1  # replies to fetch
    assert statements("DELETE FROM guard_repeats") == 1  # retention
