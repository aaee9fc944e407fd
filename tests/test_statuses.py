"""Step 5: the job polls providers and reports every status change to Bitrix24 in batches."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from b24sms.rules import lifecycle
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, Portal, PortalState, utcnow
from tests.helpers import (
    as_sent,
    handler_form,
    install_with_log,
    install_with_prostor,
    make_due,
    message_id,
    open_page,
    run_job,
    send_messages,
)


def test_polled_statuses_are_mapped_and_reported(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 5)
    for smsc_id, word in zip(["1001", "1002", "1003", "1004", "1005"],
                             ["smsc submit", "delivered", "delivery error", "smsc reject", "queued"], strict=True):
        prostor.statuses[smsc_id] = word
    make_due(db)

    output = run_job(runner)

    assert "status_changes=4" in output and "reported=4" in output
    assert bitrix.statuses == {message_id(1): "sent", message_id(2): "delivered", message_id(3): "undelivered",
                               message_id(4): "failed"}
    # One status.json request for all five.
    assert [path for path, _ in prostor.requests].count("status.json") == 1
    with db.session() as session:
        states = dict(session.execute(select(Message.bitrix_message_id, Message.state)).all())
        raw = dict(session.execute(select(Message.bitrix_message_id, Message.provider_status)).all())
    assert states[message_id(5)] == MessageState.ACCEPTED and raw[message_id(3)] == "delivery error"


def test_unknown_status_is_kept_raw_and_polled_again(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 1)
    prostor.statuses["1001"] = "some new word"
    make_due(db)

    run_job(runner)

    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert message.provider_status == "some new word" and message.state == MessageState.ACCEPTED
        assert message.due_at > utcnow()
    assert bitrix.statuses == {}


@pytest.mark.parametrize("state, status, moves", [
    (MessageState.ACCEPTED, "sent", True),
    (MessageState.ACCEPTED, "delivered", True),
    (MessageState.SENT, "queued", False),
    (MessageState.DELIVERED, "sent", False),  # a late "sent" after "delivered" changes nothing
    (MessageState.DELIVERED, "failed", False),  # final is final
    (MessageState.UNDELIVERED, "delivered", False),
    (MessageState.SENT, "unknown", False),
])
def test_statuses_never_move_backwards(state, status, moves):
    message = Message(state=state, report_pending=False, report_to_bitrix=True)
    assert lifecycle.apply_status(message, status, "raw word") is moves
    assert message.provider_status == "raw word"
    assert (message.state != state) is moves and message.report_pending is moves


def test_120_statuses_are_reported_in_at_most_3_requests(client, db, bitrix, runner):
    install_with_log(client, bitrix)
    send_messages(client, bitrix, 120)
    make_due(db)
    bitrix.http_requests.clear()

    output = run_job(runner)

    assert "reported=120" in output
    assert len(bitrix.statuses) == 120 and set(bitrix.statuses.values()) == {"delivered"}
    assert len(bitrix.http_requests) <= 3
    assert all(method == "batch" for method, _ in bitrix.http_requests)
    with db.session() as session:
        pending = session.scalars(select(Message).where(Message.report_pending.is_(True))).all()
        assert pending == []
    bitrix.http_requests.clear()
    run_job(runner)
    assert bitrix.http_requests == []  # nothing reported twice


def test_expired_token_is_refreshed_once_and_the_new_refresh_token_stored(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 2)
    prostor.statuses.update({"1001": "delivered", "1002": "delivered"})
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        old_access, old_refresh = portal.access_token, portal.refresh_token
    bitrix.expire(old_access)
    make_due(db)

    output = run_job(runner)

    assert "reported=2" in output
    assert bitrix.refresh_count == 1
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert portal.access_token != old_access and portal.refresh_token != old_refresh
        assert portal.refresh_token in bitrix.refresh_tokens  # the rotated one, which still works
        assert portal.state == PortalState.ACTIVE


def test_invalid_grant_marks_the_portal_and_other_portals_carry_on(client, db, add_portal, bitrix, prostor, runner):
    other = add_portal("other.bitrix24.ru", "b" * 32)
    install_with_prostor(client, bitrix)
    install_with_prostor(client, other)
    send_messages(client, bitrix, 1, start=1)
    send_messages(client, other, 1, start=2)
    prostor.statuses.update({"1001": "delivered", "1002": "delivered"})
    with db.session() as session:
        dead = session.scalars(select(Portal).where(Portal.member_id == bitrix.member_id)).one()
        bitrix.expire(dead.access_token)
    bitrix.revoke_refresh_tokens()
    make_due(db)

    run_job(runner)

    assert other.statuses == {message_id(2): "delivered"}
    assert bitrix.statuses == {}
    with db.session() as session:
        dead = session.scalars(select(Portal).where(Portal.member_id == bitrix.member_id)).one()
        assert dead.state == PortalState.NEEDS_REAUTH
        message = session.scalars(select(Message).where(Message.portal_id == dead.id)).one()
        assert message.report_pending is True and message.state == MessageState.DELIVERED

    # The settings page says so; an admin opening the app restores the portal and the report goes out.
    response, _ = open_page(client, bitrix, path="/")
    assert response.status_code == 200
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_query_limit_exceeded_backs_off_and_continues_later(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 1)
    prostor.statuses["1001"] = "delivered"
    make_due(db)
    bitrix.rate_limited = 1

    run_job(runner)

    assert bitrix.statuses == {}
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert portal.report_not_before > utcnow()
        portal.report_not_before = utcnow() - timedelta(seconds=1)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_a_message_bitrix_does_not_know_is_given_up(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 2)
    prostor.statuses.update({"1001": "delivered", "1002": "delivered"})
    bitrix.unknown_messages.add(message_id(1))
    make_due(db)

    output = run_job(runner)

    assert "reported=2" in output
    assert bitrix.statuses == {message_id(2): "delivered"}
    with db.session() as session:
        assert session.scalars(select(Message).where(Message.report_pending.is_(True))).all() == []


def test_log_provider_reports_delivered_on_the_next_pass(client, db, bitrix, runner):
    install_with_log(client, bitrix)
    send_messages(client, bitrix, 1)
    make_due(db)
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_the_job_registers_a_lost_sender_at_most_hourly(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    with db.session() as session:
        session.execute(update(Portal).values(sender_checked_at=utcnow() - timedelta(hours=2)))
    bitrix.senders.clear()

    run_job(runner)
    assert "b24sms" in bitrix.senders
    bitrix.senders.clear()
    run_job(runner)
    assert bitrix.senders == {}  # checked within the hour: left alone


def test_settings_are_shown_with_needs_reauth(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    with db.session() as session:
        session.execute(update(Portal).values(state=PortalState.NEEDS_REAUTH))
    body = client.get("/api/settings", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["portal"]["state"] == "needs_reauth"


def test_messages_log_newest_first_with_paging(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 3)
    headers = {"Authorization": f"Bearer {token}"}

    rows = client.get("/api/messages?limit=2", headers=headers).get_json()
    assert [row["message_id"] for row in rows] == [message_id(3), message_id(2)]
    assert set(rows[0]) >= {"message_id", "to", "text", "segments", "provider", "state", "status", "error",
                            "created_at", "updated_at"}
    rest = client.get(f"/api/messages?before={rows[-1]['id']}", headers=headers).get_json()
    assert [row["message_id"] for row in rest] == [message_id(1)]
    assert client.get("/api/messages?limit=abc", headers=headers).status_code == 400
    assert client.get("/api/messages?before=yesterday", headers=headers).status_code == 400


def test_paging_by_id_follows_the_logs_order_when_times_tie_or_ids_disagree(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 3)
    with db.session() as session:  # message 1 (lowest id) is the newest; 2 and 3 were created at the same time
        moments = {1: utcnow(), 2: utcnow() - timedelta(minutes=5), 3: utcnow() - timedelta(minutes=5)}
        for n, moment in moments.items():
            session.execute(update(Message).where(Message.bitrix_message_id == message_id(n)).values(created_at=moment))
    headers = {"Authorization": f"Bearer {token}"}

    pages, before = [], ""
    while True:
        rows = client.get(f"/api/messages?limit=1{before}", headers=headers).get_json()
        if not rows:
            break
        pages.append(rows[0]["message_id"])
        before = f"&before={rows[0]['id']}"

    assert pages == [message_id(1), message_id(3), message_id(2)]  # each once, in the log's order


def test_test_sms_is_sent_and_never_reported(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    response = client.post("/api/test-sms", json={"to": "+79161234567", "text": "ping"},
                           headers={"Authorization": f"Bearer {token}"})
    assert as_sent(client, response)["state"] == "accepted"
    prostor.statuses["1001"] = "delivered"
    make_due(db)
    run_job(runner)
    assert bitrix.statuses == {}
    with db.session() as session:
        assert session.scalars(select(Message.state)).one() == MessageState.DELIVERED


def test_a_garbled_provider_answer_does_not_stop_the_pass(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 1)
    client.post("/handler", data=handler_form(bitrix, message_id(2), phone="12"))  # fails: invalid number
    make_due(db)
    prostor.canned["status.json"] = {"status": "ok", "messages": ["not an object", 5]}

    output = run_job(runner)

    assert "reported=1" in output  # the report duty still ran
    assert bitrix.statuses == {message_id(2): "failed"}
    with db.session() as session:
        polled = session.scalars(select(Message).where(Message.bitrix_message_id == message_id(1))).one()
        assert polled.state == MessageState.ACCEPTED and polled.due_at > utcnow()
