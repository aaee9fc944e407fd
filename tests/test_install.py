"""Step 1 and 3: the install page and the settings page, verified with the OAuth server."""
import json

import requests
from sqlalchemy import select, text

from b24sms.store.models import Portal, PortalState
from tests.helpers import APPLICATION_TOKEN, iframe_form, open_page


def test_install_verifies_auth_and_stores_the_portal(client, db, bitrix):
    response, token = open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)

    assert response.status_code == 200
    assert token
    page = response.get_data(as_text=True)
    assert 'id="settings-form"' in page and "Сохранить и завершить установку" in page
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert portal.member_id == bitrix.member_id
        assert portal.domain == "example.bitrix24.ru"
        assert portal.client_endpoint == "https://example.bitrix24.ru/rest/"
        assert portal.access_token.startswith("at-") and portal.refresh_token.startswith("rt-")
        assert portal.application_token == APPLICATION_TOKEN
        assert portal.region == "RU" and portal.state == PortalState.ACTIVE
    # Tokens are encrypted at rest.
    with db.engine.connect() as connection:
        raw = connection.execute(text("SELECT access_token, refresh_token, application_token FROM portals")).one()
    assert all(value.startswith("gAAAA") for value in raw)
    assert APPLICATION_TOKEN not in "".join(raw)


def test_client_endpoint_comes_from_the_verified_answer_not_the_form(client, db, bitrix):
    response, _ = open_page(client, bitrix, SERVER_ENDPOINT="https://evil.example/rest/",
                            client_endpoint="https://evil.example/rest/")
    assert response.status_code == 200
    with db.session() as session:
        assert session.scalars(select(Portal.client_endpoint)).one() == bitrix.endpoint


def test_forged_install_gets_a_4xx_page_and_stores_nothing(client, db, bitrix):
    form = iframe_form(bitrix, "forged-token", "forged-refresh")
    response = client.post("/install?DOMAIN=example.bitrix24.ru", data=form)

    assert response.status_code == 401
    assert "could not be verified" in response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    with db.session() as session:
        assert session.scalars(select(Portal)).all() == []


def test_install_for_another_portal_member_id_is_refused(client, db, bitrix):
    access, refresh = bitrix.issue("1")
    form = iframe_form(bitrix, access, refresh, member_id="0" * 32)
    response = client.post("/install", data=form)
    assert response.status_code == 401
    assert "another portal" in response.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(Portal)).all() == []


def test_token_of_another_application_is_refused(client, db, bitrix, rsps):

    access, refresh = bitrix.issue("1")
    answer = {"result": {"client_id": "app.someone.else", "install": {"member_id": bitrix.member_id}}}
    rsps.replace("GET", "https://oauth.bitrix.info/rest/app.info", status=200, content_type="application/json",
                 body=json.dumps(answer))
    response = client.post("/install", data=iframe_form(bitrix, access, refresh))
    assert response.status_code == 401
    with db.session() as session:
        assert session.scalars(select(Portal)).all() == []


def test_oauth_server_down_is_a_502_page(client, db, bitrix, rsps):

    rsps.replace("GET", "https://oauth.bitrix.info/rest/app.info", body=requests.ConnectionError("down"))
    access, refresh = bitrix.issue("1")
    response = client.post("/install", data=iframe_form(bitrix, access, refresh))
    assert response.status_code == 502
    with db.session() as session:
        assert session.scalars(select(Portal)).all() == []


def test_page_outside_bitrix_says_so(client):
    response = client.get("/")
    assert response.status_code == 401
    assert "inside" in response.get_data(as_text=True)


def test_non_admin_visit_does_not_replace_the_stored_admin_tokens(client, db, bitrix):
    open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)
    with db.session() as session:
        admin_token = session.scalars(select(Portal.access_token)).one()

    response, token = open_page(client, bitrix, path="/", user_id="7")

    assert response.status_code == 200 and token
    assert "Менять эти настройки могут только администраторы портала" in response.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(Portal.access_token)).one() == admin_token


def test_pages_may_be_framed_by_bitrix24_only(client, bitrix):
    response, _ = open_page(client, bitrix)
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors" in policy and "https://*.bitrix24.ru" in policy
    assert "https://example.bitrix24.ru" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers
