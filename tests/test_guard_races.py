"""The guard rails under real concurrency, on PostgreSQL: runners sending at once (job runners, the web sender:
all go through sending.send_held) never pass a cap together, and of copies racing each other one goes."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from b24sms.flows import provider_health, sending
from b24sms.store.models import GuardCounter, Message, Portal, utcnow
from tests.helpers import bearer, install_with_prostor
from tests.helpers.rows import waiting_messages
from tests.helpers.suite import on_postgres, services_of

pytestmark = pytest.mark.skipif(not on_postgres(), reason="row locks are tested on PostgreSQL")


def send_at_once(app, id_groups):
    """Each group claimed by a runner of its own; then all send together (a barrier lines them up)."""
    services = services_of(app)
    barrier = threading.Barrier(len(id_groups))

    def runner(ids):
        with services.db.session() as session:
            claim = sending.claim_named(session, ids, utcnow())
            assert set(claim.ids) == set(ids)
            barrier.wait()
            sending.send_held(services, session, claim, provider_health.PassGate())

    with ThreadPoolExecutor(len(id_groups)) as pool:
        list(pool.map(runner, id_groups))


def portal_and_message_ids(db):
    with db.session() as session:
        return (session.scalars(select(Portal.id)).one(),
                session.scalars(select(Message.id).order_by(Message.id)).all())


def outcome(db):
    with db.session() as session:
        return dict(session.execute(select(Message.reason, func.count()).group_by(Message.reason)).all())


def test_eight_runners_at_once_never_pass_the_daily_cap(app, client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    client.put("/api/settings", json={"guards": {"daily_messages": 50, "monthly_messages": 60}},
               headers=bearer(token))
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id)).one()
    waiting_messages(db, portal_id, range(1, 201), text="Order {n} is ready")
    _, ids = portal_and_message_ids(db)

    send_at_once(app, [ids[start::8] for start in range(8)])

    assert len(prostor.sent) == 50
    assert outcome(db) == {None: 50, "daily_cap": 150}
    with db.session() as session:
        counts = dict(session.execute(select(GuardCounter.period, GuardCounter.messages)).all())
    assert sorted(counts.values()) == [50, 50]


def test_the_monthly_cap_holds_against_runners_at_once_too(app, client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    client.put("/api/settings", json={"guards": {"monthly_messages": 30}}, headers=bearer(token))
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id)).one()
    waiting_messages(db, portal_id, range(1, 121), text="Order {n} is ready")
    _, ids = portal_and_message_ids(db)

    send_at_once(app, [ids[start::6] for start in range(6)])

    assert len(prostor.sent) == 30 and outcome(db) == {None: 30, "monthly_cap": 90}


def test_of_eight_copies_sent_at_once_one_goes(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id)).one()
    waiting_messages(db, portal_id, range(1, 9), text="Your code is 1234")
    _, ids = portal_and_message_ids(db)

    send_at_once(app, [[message_id] for message_id in ids])

    assert [message["text"] for message in prostor.sent.values()] == ["Your code is 1234"]
    assert outcome(db) == {None: 1, "repeat": 7}
