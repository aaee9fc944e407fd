"""The claim primitive and its fencing: a runner whose lease was taken over writes nothing.

Leases are taken over when they end by the database's record, whatever the first runner's clock says (two
runners with clocks five minutes apart look, to each other, exactly like a lease that ran out)."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from b24sms.flows import messaging, sending
from b24sms.flows.provider_health import PassGate
from b24sms.flows.workers import Workers
from b24sms.rules.lifecycle import MessageState
from b24sms.store import claims
from b24sms.store.models import Message, Portal, utcnow
from tests.helpers import (
    handler_path,
    handler_payload,
    install_with_prostor,
    make_due,
    message_id,
    run_job,
    stored,
    wait_for,
)
from tests.helpers.suite import on_postgres, services_of


def store(app, db, bitrix, n):
    with db.session() as session:
        message, _ = messaging.store_handler_call(services_of(app), session, handler_payload(bitrix, message_id(n)),
                                                  None, handler_path(db).rsplit("/", 1)[1])
        return message.id


def lease_runs_out(db):
    """Every lease now ends in the past, by the database's record (a runner clocked five minutes ahead)."""
    with db.session() as session:
        session.execute(update(Message).where(Message.due_at.is_not(None))
                        .values(due_at=utcnow() - timedelta(minutes=5)))


def test_a_claim_takes_only_due_rows_and_a_second_claim_gets_none_of_them(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    ids = [store(app, db, bitrix, n) for n in range(1, 4)]
    make_due(db)
    with db.session() as first, db.session() as second:
        portal_id = first.get(Message, ids[0]).portal_id
        mine = sending.claim_due(first, portal_id, utcnow())
        theirs = sending.claim_due(second, portal_id, utcnow())

        assert mine.ids == tuple(ids) and theirs.ids == ()
        assert [m.state for m in claims.held(first, claims.MESSAGES, mine)] == [MessageState.SENDING] * 3


def test_a_runner_whose_lease_was_taken_over_mid_call_writes_nothing(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    message_row = store(app, db, bitrix, 1)
    prostor.slow_answers = threading.Event()
    services = services_of(app)

    def first_runner():
        with db.session() as session:
            claim = sending.claim_named(session, [message_row], utcnow())
            return sending.send_held(services, session, claim, PassGate())

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(first_runner)
        wait_for(lambda: prostor.answers_waiting == 1)  # Prostor took it; its answer is slow
        lease_runs_out(db)
        workers = Workers(services)  # the second runner: it finds the message stuck in `sending`
        assert sending.recover_stuck(workers) == 1
        workers.close()
        assert stored(db, 1).state == MessageState.RECONCILING
        prostor.slow_answers.set()
        assert first.result(timeout=30) == []  # its lease is gone: it wrote nothing

    message = stored(db, 1)
    assert message.state == MessageState.RECONCILING and message.provider_message_id is None
    assert message.attempt_log[-1]["result"] == "answer_lost"  # the second runner's trail, not the first's


def test_after_a_takeover_the_message_is_settled_once_and_sent_once(app, client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    message_row = store(app, db, bitrix, 1)
    prostor.slow_answers = threading.Event()

    def first_runner():
        with db.session() as session:
            return sending.send(services_of(app), session, message_row)

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(first_runner)
        wait_for(lambda: prostor.answers_waiting == 1)
        lease_runs_out(db)
        prostor.slow_answers.set()  # the second runner's calls are answered at once
        prostor.slow_answers = None
        run_job(runner)  # recovers it, then asks Prostor by its clientId: Prostor has it
        first.result(timeout=30)
    make_due(db)
    run_job(runner)

    message = stored(db, 1)
    assert message.state == MessageState.ACCEPTED and message.provider_message_id in prostor.sent
    assert len(prostor.sent) == 1  # one SMS, though Prostor was asked twice


def test_a_portal_report_lease_taken_over_is_not_ended_by_its_first_holder(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)

    def claim(now):
        with db.session() as session:
            portal_id = session.query(Portal.id).scalar()
            return claims.claim(session, claims.PORTAL_REPORTS, (Portal.id == portal_id,), now=now,
                                lease=timedelta(minutes=5), limit=1)

    def settle(claim_):
        with db.session() as session:
            return claims.settle(session, claims.PORTAL_REPORTS, claim_.ids[0], claim_, report_not_before=None)

    mine = claim(utcnow())
    assert claim(utcnow()).ids == ()  # held
    theirs = claim(utcnow() + timedelta(minutes=6))  # the second runner, after the lease (or clocked ahead)

    assert mine.ids == theirs.ids
    assert not settle(mine) and settle(theirs)


@pytest.mark.skipif(not on_postgres(), reason="row locks are tested on PostgreSQL")
def test_concurrent_claims_never_share_a_row(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    ids = [store(app, db, bitrix, n) for n in range(1, 201)]
    make_due(db)
    with db.session() as session:
        portal_id = session.get(Message, ids[0]).portal_id

    def claim(_):
        with db.session() as session:
            return sending.claim_due(session, portal_id, utcnow(), limit=30).ids

    with ThreadPoolExecutor(8) as pool:
        taken = [row for ids_ in pool.map(claim, range(8)) for row in ids_]

    assert len(taken) == len(set(taken)) == 200


def test_a_claim_takes_no_more_than_its_limit_whatever_plan_the_database_picks(app, client, db, bitrix, prostor):
    """The choice and the stamp are two statements: however PostgreSQL runs the choice (here forced through nested
    loops, as it picks with stale statistics), the stamp takes the rows chosen and no more."""
    install_with_prostor(client, bitrix)
    ids = [store(app, db, bitrix, n) for n in range(1, 61)]
    make_due(db)
    taken = []
    with db.session() as session:
        portal_id = session.get(Message, ids[0]).portal_id
        for _ in range(3):
            if on_postgres():  # for this transaction only: the claim's own commit ends it
                for plan in ("enable_hashjoin", "enable_mergejoin", "enable_bitmapscan"):
                    session.execute(text(f"SET LOCAL {plan} = off"))
            claim = claims.claim(session, claims.MESSAGES, (Message.portal_id == portal_id,), now=utcnow(),
                                 lease=timedelta(minutes=5), limit=25,
                                 among=((Portal, Portal.id == Message.portal_id, Portal.id == portal_id),))
            taken.append(claim.ids)

    assert [len(ids_) for ids_ in taken] == [25, 25, 10]
    assert sorted(row for ids_ in taken for row in ids_) == sorted(ids)
