"""Token refresh (issue 9): a refresh whose answer was lost leaves a trace, and the refresh call has a longer
timeout of its own."""
import logging
from urllib.parse import urlsplit

from sqlalchemy import select, update

from b24sms.bitrix.portal_tokens import REFRESH_TIMEOUT
from b24sms.store.models import Message, Portal, PortalState, utcnow
from tests.helpers import bearer, handler_form, install_with_prostor, make_due, message_id, run_job


def deliver_and_expire(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))
    prostor.statuses = dict.fromkeys(prostor.statuses, "delivered")
    with db.session() as session:
        bitrix.expire(session.scalars(select(Portal.access_token)).one())
    make_due(db)
    return token


def allow_reports(db):
    with db.session() as session:
        session.execute(update(Portal).values(report_not_before=None))


def test_a_refresh_whose_answer_was_lost_is_traced_and_named_when_the_portal_needs_reauth(
        client, db, bitrix, prostor, runner, caplog):
    caplog.set_level(logging.WARNING)
    token = deliver_and_expire(client, db, bitrix, prostor)
    bitrix.lose_refresh_answers = 1  # the OAuth server rotates the token, and its answer never arrives

    run_job(runner)

    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert portal.state == PortalState.ACTIVE and portal.refresh_interrupted_at is not None
        assert portal.refresh_lease is None
        assert session.scalars(select(Message.report_pending)).one() is True  # nothing lost
    assert "got no answer" in caplog.text

    allow_reports(db)
    run_job(runner)  # the old refresh token is dead now: the portal needs its admin

    settings = client.get("/api/settings", headers=bearer(token)).get_json()["portal"]
    assert settings["state"] == "needs_reauth"
    assert "invalid_grant" in settings["state_reason"] and "got no answer" in settings["state_reason"]
    assert "needs re-authorisation" in caplog.text


def test_an_admin_visit_clears_the_trace_and_reports_resume(client, db, bitrix, prostor, runner):
    from tests.helpers import open_page

    deliver_and_expire(client, db, bitrix, prostor)
    bitrix.lose_refresh_answers = 1
    run_job(runner)
    allow_reports(db)
    run_job(runner)

    open_page(client, bitrix, path="/")
    allow_reports(db)
    run_job(runner)

    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert portal.state == PortalState.ACTIVE and portal.refresh_interrupted_at is None
    assert bitrix.statuses[message_id(1)] == "delivered"


def test_the_refresh_call_has_a_longer_timeout_of_its_own(client, db, rsps, bitrix, prostor, runner):
    deliver_and_expire(client, db, bitrix, prostor)

    run_job(runner)

    refreshes = [call for call in rsps.calls if urlsplit(call.request.url).path == "/oauth/token/"]
    assert len(refreshes) == 1 and refreshes[0].request.req_kwargs["timeout"] == REFRESH_TIMEOUT
    assert REFRESH_TIMEOUT > 10  # longer than HTTP_TIMEOUT's default
    assert bitrix.statuses[message_id(1)] == "delivered"
    with db.session() as session:
        assert session.scalars(select(Portal.refresh_lease_until)).one() is None


def test_a_lapsed_lease_of_a_dead_refresher_is_taken_over_and_traced(app, client, db, bitrix, prostor, runner):
    deliver_and_expire(client, db, bitrix, prostor)
    with db.session() as session:  # a runner took the lease and died before the OAuth server answered
        session.execute(update(Portal).values(refresh_lease="dead", refresh_lease_until=utcnow()))

    run_job(runner)

    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        # The dead runner never called the OAuth server here, so our refresh works; the trace is cleared with it.
        assert portal.state == PortalState.ACTIVE and portal.refresh_lease is None
    assert bitrix.statuses[message_id(1)] == "delivered" and bitrix.refresh_count == 1
