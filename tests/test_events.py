"""Step 6: ONAPPINSTALL and ONAPPUNINSTALL, authenticated by the pinned application_token."""
from sqlalchemy import select

from b24sms.store.models import Message, Portal, PortalState, ProviderAccount
from tests.helpers import handler_form, install_with_prostor, message_id, uninstall
from tests.helpers.rows import count


def test_uninstall_with_clean_deletes_the_portal_and_everything_of_it(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))

    response = uninstall(client, bitrix, "1")

    assert response.status_code == 200 and response.get_json()["purged"] is True
    assert count(db, Portal) == count(db, ProviderAccount) == count(db, Message) == 0


def test_uninstall_without_clean_disables_the_portal(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))

    response = uninstall(client, bitrix, "0")

    assert response.status_code == 200
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert portal.state == PortalState.UNINSTALLED
        assert portal.access_token is None and portal.refresh_token is None
    assert count(db, Message) == 1
    polls = len(prostor.requests)
    runner.invoke(args=["jobs", "run-once"])
    assert len(prostor.requests) == polls  # nothing sent or polled for an uninstalled portal


def test_forged_uninstall_changes_nothing(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)

    response = uninstall(client, bitrix, "1", token="0" * 32)

    assert response.status_code == 403
    with db.session() as session:
        assert session.scalars(select(Portal.state)).one() == PortalState.ACTIVE


def test_uninstall_of_an_unknown_portal_is_404(client, bitrix):
    assert uninstall(client, bitrix, "1").status_code == 404


def test_onappinstall_pins_the_application_token_and_stores_tokens(client, db, bitrix):
    access, refresh = bitrix.issue("1")
    response = client.post("/events", data={
        "event": "ONAPPINSTALL", "data[VERSION]": "1", "data[LANGUAGE_ID]": "ru", "ts": "1763860000",
        "auth[access_token]": access, "auth[expires]": "1763863600", "auth[expires_in]": "3600",
        "auth[scope]": "crm,messageservice", "auth[domain]": bitrix.domain,
        "auth[server_endpoint]": "https://oauth.bitrix.info/rest/", "auth[status]": "L",
        "auth[client_endpoint]": bitrix.endpoint, "auth[member_id]": bitrix.member_id, "auth[user_id]": "1",
        "auth[refresh_token]": refresh, "auth[application_token]": "9" * 32,
    })

    assert response.status_code == 200
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert portal.application_token == "9" * 32
        assert portal.access_token == access and portal.refresh_token == refresh


def test_forged_onappinstall_is_refused(client, db, bitrix):
    response = client.post("/events", data={
        "event": "ONAPPINSTALL", "auth[access_token]": "forged", "auth[member_id]": bitrix.member_id,
        "auth[application_token]": "9" * 32,
    })
    assert response.status_code == 403
    assert count(db, Portal) == 0


def test_unknown_event_is_400(client):
    response = client.post("/events", data={"event": "ONCRMDEALADD"})
    assert response.status_code == 400 and response.get_json()["error"] == "unknown_event"
