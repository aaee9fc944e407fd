"""Statuses go to Bitrix24 under the CODE of the sender each message came through: Bitrix24 finds a message under
no other (ERROR_MESSAGE_NOT_FOUND), and the CRM card would stay at "sent" for ever."""
from sqlalchemy import select, update

from b24sms.bitrix.client import FixedToken, RestClient
from b24sms.store.models import Message
from tests.helpers import bearer, handler_form, handler_path, make_due, message_id, run_job, stored, suffix
from tests.helpers.suite import services_of

PROMO_CODE = f"b24sms_{suffix('PROMO')}"


def delivered_and_reported(db, prostor, runner):
    for smsc_id in prostor.statuses:
        prostor.statuses[smsc_id] = "delivered"
    make_due(db)
    run_job(runner)


def reported_codes(bitrix):
    """MESSAGE_ID -> the CODE of every status update the portal got, and how many batch requests carried them."""
    updates = [params for method, params in bitrix.calls if method == "messageservice.message.status.update"]
    batches = [params for params in bitrix.rest_requests("batch")
               if any("messageservice.message.status.update" in command for command in params["cmd"].values())]
    return {params["MESSAGE_ID"]: params["CODE"] for params in updates}, len(batches)


def test_each_status_goes_under_the_code_its_handler_call_came_with(client, db, bitrix, prostor, runner, two_names):
    path = handler_path(db)
    for n, code in ((1, PROMO_CODE), (2, "b24sms"), (3, PROMO_CODE.upper())):
        assert client.post(path, data=handler_form(bitrix, message_id(n), code=code)).status_code == 200

    delivered_and_reported(db, prostor, runner)

    assert [stored(db, n).sender_code for n in (1, 2, 3)] == [PROMO_CODE, "b24sms", PROMO_CODE.upper()]
    assert bitrix.statuses == {message_id(n): "delivered" for n in (1, 2, 3)}
    codes, batches = reported_codes(bitrix)
    assert codes == {message_id(1): PROMO_CODE, message_id(2): "b24sms", message_id(3): PROMO_CODE.upper()}
    assert batches == 1  # one batch mixes the codes
    assert not any(stored(db, n).report_pending for n in (1, 2, 3))


def test_a_message_stored_before_its_code_was_kept_goes_under_its_sender_names_code(client, db, bitrix, prostor,
                                                                                  runner, two_names):
    path = handler_path(db)
    for n, code in ((1, PROMO_CODE), (2, "b24sms"), (3, "b24sms"), (4, "b24sms")):
        assert client.post(path, data=handler_form(bitrix, message_id(n), code=code)).status_code == 200
    with db.session() as session:  # as rows stored before the change: only the sender name tells the CODE
        session.execute(update(Message).values(sender_code=None))
        session.execute(update(Message).where(Message.bitrix_message_id == message_id(1)).values(sender="promo"))
        session.execute(update(Message).where(Message.bitrix_message_id == message_id(3)).values(sender="GONE"))
        session.execute(update(Message).where(Message.bitrix_message_id == message_id(4)).values(sender=None))

    delivered_and_reported(db, prostor, runner)

    assert bitrix.statuses == {message_id(n): "delivered" for n in (1, 2, 3, 4)}
    codes, _ = reported_codes(bitrix)
    # PROMO (any case) -> its own CODE; the default name, a name removed since, no name -> SENDER_CODE.
    assert codes == {message_id(1): PROMO_CODE, message_id(2): "b24sms", message_id(3): "b24sms",
                     message_id(4): "b24sms"}


def test_a_test_sms_keeps_no_code_and_is_not_reported(client, db, bitrix, prostor, runner, two_names):
    answer = client.post("/api/test-sms", json={"to": "+79161234567", "sender": "PROMO"}, headers=bearer(two_names))
    assert answer.status_code == 200, answer.get_json()

    delivered_and_reported(db, prostor, runner)

    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert (message.sender, message.sender_code, message.report_to_bitrix) == ("PROMO", None, False)
    assert reported_codes(bitrix) == ({}, 0)


def test_a_code_that_cannot_be_kept_is_a_400(client, db, bitrix, prostor, two_names):
    path = handler_path(db)
    for n, code in ((1, "b24sms_" + "a" * 60), (2, "b24sms\n")):
        answer = client.post(path, data=handler_form(bitrix, message_id(n), code=code))
        assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_field", answer.get_json()
        assert "code" in answer.get_json()["message"]
    with db.session() as session:
        assert session.scalars(select(Message)).all() == []


def test_the_fake_portal_refuses_a_status_under_another_senders_code(app, bitrix):
    access, _ = bitrix.issue("1")
    rest = RestClient.of(services_of(app), bitrix.endpoint, FixedToken(access))
    bitrix.hand(message_id(1), PROMO_CODE)

    outcome = rest.batch({
        "wrong": ("messageservice.message.status.update",
                  {"CODE": "b24sms", "MESSAGE_ID": message_id(1), "STATUS": "delivered"}),
        "right": ("messageservice.message.status.update",
                  {"CODE": PROMO_CODE.upper(), "MESSAGE_ID": message_id(1), "STATUS": "sent"})})

    assert outcome.errors["wrong"].code == "ERROR_MESSAGE_NOT_FOUND"
    assert outcome.results == {"right": True} and bitrix.statuses == {message_id(1): "sent"}
