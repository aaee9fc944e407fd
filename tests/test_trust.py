"""Who may trust what (issue 9): no takeover through events or visits, keyed handler URLs that accept messages
with no author, and what a non-admin's page may see."""
import logging
from datetime import timedelta

from sqlalchemy import func, select, update

from b24sms.store.models import Message, Portal, utcnow
from tests.helpers import (
    APPLICATION_TOKEN,
    PROSTOR_SETTINGS,
    SMSC_SETTINGS,
    as_sent,
    bearer,
    handler_form,
    handler_path,
    install_event,
    install_with_chain,
    install_with_prostor,
    make_due,
    message_id,
    open_page,
    run_job,
    without_auth,
)
from tests.helpers.suite import PUBLIC_URL


def portal_row(db):
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        session.expunge(portal)
        return portal


def message_count(db):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Message))


# ---------------------------------------------------------------- 1. takeover through ONAPPINSTALL
def test_an_employee_cannot_take_the_portal_over_with_onappinstall(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    before = portal_row(db)
    access, refresh = bitrix.issue("7")  # an employee, not an admin: read from the iframe's AUTH_ID

    forged = client.post("/events", data=install_event(bitrix, access, refresh, "e" * 32))

    assert forged.status_code == 403 and forged.get_json()["error"] == "not_admin"
    after = portal_row(db)
    assert after.application_token == APPLICATION_TOKEN
    assert (after.access_token, after.refresh_token) == (before.access_token, before.refresh_token)
    # Genuine calls still go through, and the attacker's token cannot purge the portal.
    assert client.post("/handler", data=handler_form(bitrix, message_id(1))).status_code == 200
    purge = client.post("/events", data={"event": "ONAPPUNINSTALL", "data[CLEAN]": "1",
                                         "auth[member_id]": bitrix.member_id, "auth[application_token]": "e" * 32})
    assert purge.status_code == 403 and message_count(db) == 1


def test_an_admins_onappinstall_pins_and_stores_tokens(client, db, bitrix):
    access, refresh = bitrix.issue("1")

    response = client.post("/events", data=install_event(bitrix, access, refresh, "9" * 32))

    assert response.status_code == 200
    portal = portal_row(db)
    assert portal.application_token == "9" * 32 and portal.refresh_token == refresh and portal.handler_key


def test_a_non_admin_visit_never_pins_an_application_token(client, db, bitrix, prostor):
    open_page(client, bitrix)  # the admin installed on a portal that sends no APPLICATION_TOKEN
    open_page(client, bitrix, path="/", user_id="7", APPLICATION_TOKEN="7" * 32)
    assert portal_row(db).application_token is None

    open_page(client, bitrix, path="/", APPLICATION_TOKEN=APPLICATION_TOKEN)  # an admin's visit pins
    open_page(client, bitrix, path="/", user_id="7", APPLICATION_TOKEN="7" * 32)
    assert portal_row(db).application_token == APPLICATION_TOKEN


def test_a_non_admin_visit_stores_no_tokens(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    before = portal_row(db)
    open_page(client, bitrix, path="/", user_id="7")
    after = portal_row(db)
    assert (after.access_token, after.refresh_token) == (before.access_token, before.refresh_token)


# ---------------------------------------------------------------- 2. messages with no author: keyed URLs
def test_a_message_with_no_author_is_taken_on_the_keyed_url(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    form = without_auth(handler_form(bitrix, message_id(1), module="bizproc"))

    response = client.post(handler_path(db), data=form)

    assert as_sent(client, response)["state"] == "accepted"
    assert len(prostor.sent) == 1
    prostor.statuses = dict.fromkeys(prostor.statuses, "delivered")
    make_due(db)
    run_job(runner)
    assert bitrix.statuses[message_id(1)] == "delivered"


def test_the_sender_is_registered_with_the_keyed_url(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    portal = portal_row(db)
    assert len(portal.handler_key) >= 32  # 192 random bits, URL-safe
    assert bitrix.senders["b24sms"]["HANDLER"] == f"{PUBLIC_URL}/handler/{portal.handler_key}"
    assert portal.sender_keyed is True


def test_a_wrong_key_stores_nothing_and_is_not_logged(client, db, bitrix, prostor, caplog):
    caplog.set_level(logging.DEBUG)
    install_with_prostor(client, bitrix)
    key = portal_row(db).handler_key
    wrong = ("y" if key[0] == "x" else "x") + key[1:]  # one character off, never the key itself

    response = client.post(f"/handler/{wrong}", data=without_auth(handler_form(bitrix, message_id(1))))

    assert response.status_code == 404 and response.get_json()["error"] == "unknown_handler"
    assert message_count(db) == 0 and not prostor.sent
    assert wrong not in caplog.text and "/handler/***" in caplog.text


def test_a_keyed_call_with_auth_must_match_the_pinned_token_and_portal(client, db, add_portal, bitrix, prostor):
    install_with_prostor(client, bitrix)
    other = add_portal("other.bitrix24.ru", "b" * 32)
    path = handler_path(db)

    wrong_token = client.post(path, data=handler_form(bitrix, message_id(1), application_token="f" * 32))
    other_portal = client.post(path, data=handler_form(other, message_id(2)))
    right = client.post(path, data=handler_form(bitrix, message_id(3)))

    assert (wrong_token.status_code, wrong_token.get_json()["error"]) == (403, "bad_token")
    assert (other_portal.status_code, other_portal.get_json()["error"]) == (403, "wrong_portal")
    assert right.status_code == 200 and message_count(db) == 1


def test_a_keyed_call_on_a_portal_with_nothing_pinned_is_taken_and_pins_nothing(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    with db.session() as session:
        session.execute(update(Portal).values(application_token=None))

    response = client.post(handler_path(db), data=handler_form(bitrix, message_id(1), application_token="1" * 32))

    assert response.status_code == 200
    assert portal_row(db).application_token is None


def test_the_keyless_url_still_needs_auth(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    response = client.post("/handler", data=without_auth(handler_form(bitrix, message_id(1))))
    assert (response.status_code, response.get_json()["error"]) == (401, "no_auth")
    assert message_count(db) == 0


def legacy_portal(db, bitrix):
    """A portal as an earlier version left it: no handler key, its sender on the keyless URL."""
    with db.session() as session:
        session.execute(update(Portal).values(handler_key=None, handler_key_hash=None, sender_keyed=False))
    bitrix.senders["b24sms"]["HANDLER"] = f"{PUBLIC_URL}/handler"


def test_an_existing_portal_moves_to_the_keyed_url_on_the_next_sender_check(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    legacy_portal(db, bitrix)
    assert client.post("/handler", data=handler_form(bitrix, message_id(1))).status_code == 200  # meanwhile
    make_sender_check_due(db, minutes=6)  # the last check was minutes ago, not an hour

    run_job(runner)

    portal = portal_row(db)
    assert portal.sender_keyed is True and portal.handler_key
    assert bitrix.senders["b24sms"]["HANDLER"] == f"{PUBLIC_URL}/handler/{portal.handler_key}"
    assert "messageservice.sender.update" in [method for method, _ in bitrix.calls]


def test_a_portal_without_sender_update_moves_by_delete_and_add(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    legacy_portal(db, bitrix)
    bitrix.missing_methods.add("messageservice.sender.update")
    make_sender_check_due(db, minutes=6)

    run_job(runner)

    portal = portal_row(db)
    assert bitrix.senders["b24sms"]["HANDLER"] == f"{PUBLIC_URL}/handler/{portal.handler_key}"
    calls = [method for method, _ in bitrix.calls if method.startswith("messageservice.sender.")]
    assert calls[-2:] == ["messageservice.sender.delete", "messageservice.sender.add"]


def make_sender_check_due(db, minutes):
    with db.session() as session:
        session.execute(update(Portal).values(sender_checked_at=utcnow() - timedelta(minutes=minutes)))


# ---------------------------------------------------------------- 7. what a non-admin sees
def test_a_non_admin_sees_kinds_and_sender_names_only(client, db, bitrix, prostor, smsc):
    install_with_chain(client, bitrix, SMSC_SETTINGS, PROSTOR_SETTINGS)
    _, employee = open_page(client, bitrix, path="/", user_id="7")

    seen = client.get("/api/settings", headers=bearer(employee)).get_json()
    balance = client.get("/api/balance", headers=bearer(employee))

    assert seen["providers"] == [{"kind": "smsc", "sender": "SHOP"}, {"kind": "prostor", "sender": "SHOP"}]
    assert seen["portal"]["language"] == "ru"  # from the iframe's LANG
    assert "/callbacks/" not in str(seen) and "smsc-user" not in str(seen)
    assert (balance.status_code, balance.get_json()["error"]) == (403, "admin_only")
    page, _ = open_page(client, bitrix, path="/", user_id="7")
    assert "/callbacks/" not in page.get_data(as_text=True) and "smsc-user" not in page.get_data(as_text=True)


def test_a_non_admin_reads_only_the_messages_they_authored(client, db, bitrix, prostor):
    admin_token = install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(1), **{"auth[user_id]": "7"}))
    client.post("/handler", data=handler_form(bitrix, message_id(2), **{"auth[user_id]": "8"}))
    client.post(handler_path(db), data=without_auth(handler_form(bitrix, message_id(3))))  # no author
    _, employee = open_page(client, bitrix, path="/", user_id="7")

    own = client.get("/api/messages", headers=bearer(employee)).get_json()
    everything = client.get("/api/messages", headers=bearer(admin_token)).get_json()

    assert [m["message_id"] for m in own] == [message_id(1)]
    assert sorted(m["message_id"] for m in everything) == [message_id(n) for n in (1, 2, 3)]
