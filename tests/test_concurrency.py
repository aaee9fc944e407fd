"""Locking under real threads, on PostgreSQL (SQLite serialises writers, so there is nothing to race there)."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from b24sms.bitrix.portal_tokens import PortalTokens
from b24sms.store.models import Message, Portal, utcnow
from tests.helpers import handler_form, handler_path, install_with_prostor, message_id, without_auth
from tests.helpers.suite import on_postgres, services_of

pytestmark = pytest.mark.skipif(not on_postgres(), reason="row locks are tested on PostgreSQL")


def installed_with_an_expired_token(client, db, bitrix):
    """The portal's id, its stored access token expired: the next REST call refreshes it."""
    install_with_prostor(client, bitrix)
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        portal.token_expires_at = utcnow() - timedelta(minutes=1)
        return portal.id


def test_four_concurrent_refreshers_make_one_refresh_request(app, client, db, bitrix, prostor):
    portal_id = installed_with_an_expired_token(client, db, bitrix)

    def refresh(_):
        return PortalTokens(services_of(app), portal_id).access_token()

    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(refresh, range(4)))

    assert bitrix.refresh_count == 1
    assert len(set(tokens)) == 1 and tokens[0] in bitrix.tokens
    with db.session() as session:
        portal = session.get(Portal, portal_id)
        assert portal.state == "active" and portal.refresh_token in bitrix.refresh_tokens


def test_concurrent_duplicate_handler_posts_send_once(app, db, bitrix, prostor):
    install_with_prostor(app.test_client(), bitrix)
    forms = [handler_form(bitrix, message_id(1)) for _ in range(8)]

    def post(form):
        return app.test_client().post("/handler", data=form)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, forms))

    assert [r.status_code for r in responses] == [200] * 8
    assert sum(r.get_json()["created"] for r in responses) == 1
    assert len(prostor.sent) == 1 and [p for p, _ in prostor.requests].count("send.json") == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_two_job_runners_over_500_messages_poll_and_report_each_once(app, client, db, bitrix, prostor):
    from b24sms.flows import jobs

    install_with_prostor(client, bitrix)
    for n in range(1, 501):
        client.post("/handler", data=handler_form(bitrix, message_id(n)))
    for smsc_id in prostor.statuses:
        prostor.statuses[smsc_id] = "delivered"
    with db.session() as session:
        session.execute(update(Message).values(due_at=utcnow() - timedelta(seconds=1)))
    prostor.requests.clear()
    bitrix.calls.clear()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: jobs.run_once(services_of(app)), range(2)))

    assert sum(r.status_changes for r in results) == 500
    assert sum(r.reported for r in results) == 500
    polled = [m["smscId"] for path, body in prostor.requests if path == "status.json" for m in body["messages"]]
    assert len(polled) == len(set(polled)) == 500
    updates = [p["MESSAGE_ID"] for method, p in bitrix.calls if method == "messageservice.message.status.update"]
    assert len(updates) == len(set(updates)) == 500


def test_a_slow_token_refresh_does_not_hold_up_handler_calls(app, client, db, bitrix, prostor):
    portal_id = installed_with_an_expired_token(client, db, bitrix)
    refresh_started, handler_answered, waited = threading.Event(), threading.Event(), []

    def slow_oauth_server():  # the refresh is under way until the handler call has been answered
        refresh_started.set()
        waited.append(handler_answered.wait(15))

    bitrix.before_refresh = slow_oauth_server
    with ThreadPoolExecutor(1) as pool:
        refreshed = pool.submit(PortalTokens(services_of(app), portal_id).access_token)
        assert refresh_started.wait(15)
        response = app.test_client().post(handler_path(db), data=without_auth(handler_form(bitrix, message_id(1))))
        handler_answered.set()
        token = refreshed.result(timeout=30)

    assert response.status_code == 200 and response.get_json()["created"] is True
    assert waited == [True]  # the handler was answered while the OAuth call was still under way
    assert token in bitrix.tokens and bitrix.refresh_count == 1
