"""The id we hand a provider for a message is unique for ever: a reinstall, a restore or a move to another
database must never make a provider take a new message for a repeat of an old one (issue 9, item 3)."""
import re

from sqlalchemy import func, select, text

from b24sms.flows import intake
from b24sms.rules import handler_call
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, Portal
from tests.helpers import (
    APPLICATION_TOKEN,
    SMSC_SETTINGS,
    crm_text,
    install_with_chain,
    install_with_prostor,
    make_due,
    message_id,
    post_sms,
    run_job,
    stored,
)

# SMSC's `id`: a number 1..2147483647, or up to 40 Latin letters, digits and `.-_` (providers.md).
SMSC_ID = re.compile(r"[A-Za-z0-9.\-_]{1,40}")


def uninstall_clean(client, bitrix):
    """ONAPPUNINSTALL with data[CLEAN]=1: the portal and everything of it is purged."""
    response = client.post("/events", data={
        "event": "ONAPPUNINSTALL", "data[CLEAN]": "1", "ts": "1763860000",
        "auth[domain]": bitrix.domain, "auth[member_id]": bitrix.member_id,
        "auth[client_endpoint]": bitrix.endpoint, "auth[application_token]": APPLICATION_TOKEN,
    })
    assert response.status_code == 200 and response.get_json()["purged"] is True


def restart_row_ids(db):
    """A fresh database hands out message ids from 1 again. (SQLite does so by itself for an empty table;
    a PostgreSQL sequence has to be told.)"""
    if not db.is_sqlite:
        with db.engine.begin() as connection:
            connection.execute(text("SELECT setval(pg_get_serial_sequence('messages', 'id'), 1, false)"))


def test_after_a_clean_reinstall_prostor_really_sends_the_new_message(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    first = post_sms(client, bitrix, 1)
    uninstall_clean(client, bitrix)
    restart_row_ids(db)  # on SQLite the purge alone makes the next message reuse the first one's row id

    install_with_prostor(client, bitrix)
    second = post_sms(client, bitrix, 2)

    assert first["state"] == second["state"] == MessageState.ACCEPTED
    assert len(prostor.sent) == 2  # Prostor drops a repeated clientId: two entries means two SMS went out
    first_sent, second_sent = prostor.sent.values()
    assert first_sent["clientId"] != second_sent["clientId"]
    assert stored(db, 2).provider_message_id == "1002"  # a new smscId, not the first message's 1001


def test_a_fresh_database_meeting_an_account_that_saw_its_row_ids_really_sends(client, db, bitrix, prostor):
    earlier = [str(n) for n in range(1, 51)]
    prostor.sent_before(earlier)  # what an earlier database (restored, moved, staging) left at Prostor
    restart_row_ids(db)
    install_with_prostor(client, bitrix)

    answers = [post_sms(client, bitrix, n) for n in (1, 2, 3)]

    assert [answer["state"] for answer in answers] == [MessageState.ACCEPTED] * 3
    new = [message for message in prostor.sent.values() if message["clientId"] not in earlier]
    assert [message["text"] for message in new] == [crm_text(message_id(n)) for n in (1, 2, 3)]
    assert {message["clientId"] for message in new} == {stored(db, n).provider_key for n in (1, 2, 3)}
    assert {stored(db, n).provider_message_id for n in (1, 2, 3)} == {"1051", "1052", "1053"}


def test_smsc_gets_a_key_it_accepts_and_is_asked_by_it_and_the_phone(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    smsc.lose_answers = 1  # SMSC takes the message; its answer is lost

    assert post_sms(client, bitrix, 1)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)

    message = stored(db)
    [sent] = smsc.sent
    assert SMSC_ID.fullmatch(sent["id"]) and not sent["id"].isdigit()  # a text id: never a row id
    assert sent["id"] == message.provider_key != str(message.id)
    [ask] = smsc.status_requests
    assert (ask["id"], ask["phone"]) == (message.provider_key, "79161234567")
    assert message.state == MessageState.ACCEPTED and message.provider_message_id == message.provider_key


def test_a_thousand_stored_messages_have_a_thousand_keys(client, db, bitrix, smsc):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        for n in range(1000):
            incoming = handler_call.HandlerCall(message_id=f"bulk-{n}", phone="+79161234567", text="hi", origin={})
            intake.receive(session, portal, incoming)

    with db.session() as session:
        keys = session.execute(select(Message.id, Message.provider_key)).all()
        assert session.scalar(select(func.count(func.distinct(Message.provider_key)))) == 1000
    assert len(keys) == 1000
    assert all(SMSC_ID.fullmatch(key) and key != str(row_id) for row_id, key in keys)
