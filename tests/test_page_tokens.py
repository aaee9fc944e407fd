"""A page's session token opens only the install of the app it was minted for: not after an uninstall (CLEAN or
not, a reinstall being another install), never the portal that comes to have its portal id."""
import pytest
from sqlalchemy import select, update

from b24sms.store.models import Message, Portal, PortalState, ProviderAccount
from tests.helpers import (
    PROSTOR_SETTINGS,
    bearer,
    handler_form,
    install_with_chain,
    message_id,
    open_page,
    save_providers,
    uninstall,
)

NO_INSTALL = "На этом портале приложение не установлено"  # the refusal, in the Russian of the tokens' page


def ids_of(db, member_id):
    """(portal id, its provider accounts' ids, its messages' ids) of the portal `member_id`."""
    with db.session() as session:
        portal = session.scalars(select(Portal).where(Portal.member_id == member_id)).one()
        accounts = session.scalars(select(ProviderAccount.id).where(ProviderAccount.portal_id == portal.id)).all()
        messages = session.scalars(select(Message.id).where(Message.portal_id == portal.id)).all()
        return portal.id, set(accounts), set(messages)


def assert_refused(client, token):
    """Neither reading nor changing anything: 401, said in the language of the token's page."""
    for response in (client.get("/api/settings", headers=bearer(token)),
                     client.get("/api/messages", headers=bearer(token)),
                     save_providers(client, token, [{"kind": "log"}])):
        body = response.get_json()
        assert (response.status_code, body.get("error")) == (401, "no_portal"), body
        assert body["message"].startswith(NO_INSTALL)


def test_portal_ids_are_never_reused_after_a_clean_uninstall(client, db, add_portal, bitrix, prostor):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    assert client.post("/handler", data=handler_form(bitrix, message_id(1))).status_code == 200
    first = ids_of(db, bitrix.member_id)
    assert uninstall(client, bitrix, "1").get_json()["purged"] is True

    other = add_portal("other.bitrix24.ru", "b" * 32)
    install_with_chain(client, other, PROSTOR_SETTINGS)
    assert client.post("/handler", data=handler_form(other, message_id(1))).status_code == 200
    second = ids_of(db, other.member_id)

    assert second[0] != first[0]  # the highest id was deleted: SQLite without AUTOINCREMENT hands it out again
    assert not second[1] & first[1] and not second[2] & first[2]


def test_a_token_from_before_a_clean_uninstall_opens_nothing_of_the_portal_that_gets_its_id(client, db, add_portal,
                                                                                            bitrix, prostor):
    admin_token = install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    _, employee_token = open_page(client, bitrix, path="/", user_id="7")
    with db.session() as session:
        old_id = session.scalars(select(Portal.id)).one()
    uninstall(client, bitrix, "1")
    other = add_portal("other.bitrix24.ru", "b" * 32)
    assert open_page(client, other, APPLICATION_TOKEN="c" * 32)[0].status_code == 200
    # The next portal gets the old id, as SQLite gave it before ids were never reused (or a restored backup does).
    with db.engine.begin() as connection:
        connection.execute(update(Portal.__table__).where(Portal.member_id == other.member_id).values(id=old_id))

    for token in (admin_token, employee_token):
        assert_refused(client, token)
    with db.session() as session:
        assert session.scalars(select(ProviderAccount)).all() == []  # the other portal's settings: untouched


@pytest.mark.parametrize("reinstall", ["install page", "ONAPPINSTALL"])
def test_a_token_from_before_an_uninstall_opens_nothing_after_the_reinstall(client, db, bitrix, prostor, reinstall):
    admin_token = install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    _, employee_token = open_page(client, bitrix, path="/", user_id="7")
    uninstall(client, bitrix, "0")  # the portal's row stays, uninstalled

    if reinstall == "install page":
        response, new_token = open_page(client, bitrix, APPLICATION_TOKEN="d" * 32)
    else:
        access, refresh = bitrix.issue("1")
        response = client.post("/events", data={
            "event": "ONAPPINSTALL", "auth[access_token]": access, "auth[refresh_token]": refresh,
            "auth[expires_in]": "3600", "auth[domain]": bitrix.domain, "auth[client_endpoint]": bitrix.endpoint,
            "auth[member_id]": bitrix.member_id, "auth[application_token]": "d" * 32})
        new_token = open_page(client, bitrix, path="/")[1]
    assert response.status_code == 200

    for token in (admin_token, employee_token):
        assert_refused(client, token)
    settings = client.get("/api/settings", headers=bearer(new_token))
    assert settings.status_code == 200 and settings.get_json()["portal"]["state"] == "active"


def test_an_admins_visit_that_reactivates_the_portal_keeps_the_install_and_its_tokens(client, db, bitrix, prostor):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    _, employee_token = open_page(client, bitrix, path="/", user_id="7")
    with db.engine.begin() as connection:  # the refresh token died: an admin must open the app again
        connection.execute(update(Portal.__table__).values(state=PortalState.NEEDS_REAUTH))

    open_page(client, bitrix, path="/")

    settings = client.get("/api/settings", headers=bearer(employee_token))
    assert settings.status_code == 200 and settings.get_json()["portal"]["state"] == PortalState.ACTIVE
