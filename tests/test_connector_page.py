"""The Open Lines connector's page (POST /connector, Bitrix24's SETTING_CONNECTOR placement), GET /api/lines and
PUT /api/lines/<line>: verified like the settings page, for admins, its token good for its own line only; a line
connected and disconnected with the REST calls Bitrix24 documents, stored first, Bitrix24's refusal kept."""
import html
import json
import re

import pytest
from sqlalchemy import select

from b24sms.bitrix.open_lines import connector_id
from b24sms.store.reply_models import OpenLine
from tests.helpers import bearer, installed, open_page, receiving, save_providers
from tests.helpers.receiving import PASTED

receivers = receiving.receivers  # the fixture
NUMBERS = ["+79161234567", "+79167654321"]


def placement(line="3"):
    return {"PLACEMENT": "SETTING_CONNECTOR", "PLACEMENT_OPTIONS": json.dumps({
        "CONNECTOR": "b24sms", "LINE": line, "STATUS": 0, "ACTIVE_STATUS": 0, "CONNECTION_STATUS": 0,
        "REGISTER_STATUS": 0, "ERROR_STATUS": 0})}


def open_connector(client, bitrix, line="3", lang="ru", user_id="1"):
    return open_page(client, bitrix, path="/connector", user_id=user_id, lang=lang, **placement(line))


@pytest.fixture
def portal_with_numbers(client, bitrix, receivers):
    for line in ("3", "4", "7"):  # the portal's Open Lines, made by its admin
        bitrix.add_line(line)
    token = installed(client, bitrix, lang="en")
    saved = save_providers(client, token, [{**PASTED, "reply_numbers": NUMBERS}])
    assert saved.status_code == 200, saved.get_json()
    return token


def page_data(response):
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>',
                      response.get_data(as_text=True), re.S)
    return json.loads(found.group(1))


@pytest.mark.parametrize("lang, title", [("ru", "b24sms: SMS в открытой линии 3"),
                                         ("en", "b24sms: SMS in Open Line 3")])
def test_the_page_is_verified_like_the_settings_page_and_lists_the_portals_numbers(
        client, bitrix, portal_with_numbers, lang, title):
    response, token = open_connector(client, bitrix, lang=lang)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert title in response.get_data(as_text=True) and token
    assert [method for method, _ in bitrix.calls if method in ("user.admin",)] != []  # who is asking: checked
    data = page_data(response)
    assert data["numbers"] == NUMBERS and data["language"] == lang
    assert data["line"] == {"line": "3", "reply_numbers": [], "active": False,
                            "status": {"configured": False, "error": None}}
    # It opens in the Contact Center's slider: nothing forbids framing by the portal.
    assert "X-Frame-Options" not in response.headers
    assert f"https://{bitrix.domain}" in response.headers["Content-Security-Policy"].split("frame-ancestors")[1]


def test_without_valid_auth_the_page_is_refused(client, bitrix, portal_with_numbers):
    access, refresh = bitrix.issue("1")
    form = {"AUTH_ID": "not-a-token", "REFRESH_ID": refresh, "member_id": bitrix.member_id, **placement()}

    refused = client.post(f"/connector?DOMAIN={bitrix.domain}&LANG=en", data=form)
    nothing = client.post(f"/connector?DOMAIN={bitrix.domain}&LANG=en", data=placement())

    assert refused.status_code == 401 and 'name="b24sms-token"' not in refused.get_data(as_text=True)
    assert nothing.status_code == 401 and 'name="b24sms-token"' not in nothing.get_data(as_text=True)


def test_a_non_admin_is_refused(client, bitrix, portal_with_numbers):
    response, token = open_connector(client, bitrix, user_id="2", lang="en")

    assert response.status_code == 403 and token is None
    assert "Only the portal's administrators can connect Open Lines to b24sms." in html.unescape(
        response.get_data(as_text=True))


def test_a_page_without_a_line_is_refused(client, bitrix, portal_with_numbers):
    response, token = open_page(client, bitrix, path="/connector", lang="en", PLACEMENT="SETTING_CONNECTOR",
                                PLACEMENT_OPTIONS='{"LINE": "x"}')

    assert response.status_code == 400 and token is None


def test_the_pages_token_opens_its_own_line_only(client, bitrix, portal_with_numbers):
    _, token = open_connector(client, bitrix, line="3", lang="en")
    before = len(bitrix.calls)  # saving the numbers registered the connector itself

    other_line = client.put("/api/lines/4", json={"reply_numbers": NUMBERS[:1], "active": True}, headers=bearer(token))
    settings = client.get("/api/settings", headers=bearer(token))
    saving = client.put("/api/settings", json={"providers": []}, headers=bearer(token))

    assert other_line.status_code == 403 and other_line.get_json()["error"] == "line_only"
    assert settings.status_code == 403 and saving.status_code == 403
    assert not [method for method, _ in bitrix.calls[before:] if method.startswith("imconnector.")]


def test_connect_then_disconnect_calls_bitrix24_and_keeps_the_line(client, db, bitrix, services,
                                                                   portal_with_numbers):
    connector = connector_id(services.settings)
    _, token = open_connector(client, bitrix, line="3", lang="en")
    before = len(bitrix.calls)  # saving the numbers registered the connector itself

    connected = client.put("/api/lines/3", json={"reply_numbers": ["8 916 765-43-21"], "active": True},
                           headers=bearer(token))

    assert connected.status_code == 200, connected.get_json()
    assert connected.get_json() == {"line": "3", "name": "SMS +79167654321", "reply_numbers": ["+79167654321"],
                                    "active": True, "status": {"configured": True, "error": None}}
    calls = [(method, params) for method, params in bitrix.calls[before:] if method.startswith("imconnector.")]
    assert calls == [
        ("imconnector.activate", {"CONNECTOR": connector, "LINE": 3, "ACTIVE": "1"}),
        ("imconnector.connector.data.set", {"CONNECTOR": connector, "LINE": 3, "DATA": {
            "ID": f"{connector}_3", "URL": "https://sms.example.com/", "URL_IM": "https://sms.example.com/",
            "NAME": "SMS +79167654321"}}),
        ("imconnector.status", {"CONNECTOR": connector, "LINE": 3}),
    ]
    # A settings page's admin token sees it and may change any line.
    settings_token = installed(client, bitrix, lang="en")
    assert client.get("/api/lines", headers=bearer(settings_token)).get_json() == [connected.get_json()]

    disconnected = client.put("/api/lines/3", json={"reply_numbers": ["+79167654321"], "active": False},
                              headers=bearer(settings_token))

    assert disconnected.status_code == 200 and disconnected.get_json()["active"] is False
    assert bitrix.calls[-1] == ("imconnector.activate", {"CONNECTOR": connector, "LINE": 3, "ACTIVE": "0"})
    with db.session() as session:
        row = session.scalars(select(OpenLine)).one()
        assert (row.line, row.reply_numbers, row.active) == ("3", ["+79167654321"], False)


@pytest.mark.parametrize("numbers, field", [(["+79990000000"], "reply_numbers[0]"), ([], "reply_numbers")])
def test_numbers_not_the_portals_are_refused_at_the_field(client, bitrix, portal_with_numbers, numbers, field):
    _, token = open_connector(client, bitrix, line="3", lang="en")
    before = len(bitrix.calls)  # saving the numbers registered the connector itself

    response = client.put("/api/lines/3", json={"reply_numbers": numbers, "active": True}, headers=bearer(token))

    assert response.status_code == 400 and response.get_json()["field"] == field
    assert not [method for method, _ in bitrix.calls[before:] if method.startswith("imconnector.")]


@pytest.mark.parametrize("lang, words", [
    ("en", "Bitrix24 refused: IMCONNECTOR_NOT_ACTIVE: Connector is not active"),
    ("ru", "Битрикс24 отказал: IMCONNECTOR_NOT_ACTIVE: Connector is not active"),
])
def test_bitrix24s_refusal_is_a_json_502_and_the_line_is_kept_with_it(client, db, bitrix, portal_with_numbers,
                                                                      lang, words):
    _, token = open_connector(client, bitrix, line="7", lang=lang)
    bitrix.connector_refusal = ("IMCONNECTOR_NOT_ACTIVE", "Connector is not active")

    response = client.put("/api/lines/7", json={"reply_numbers": NUMBERS, "active": True}, headers=bearer(token))

    assert response.status_code == 502
    assert response.get_json() == {"error": "bitrix_error", "message": words}
    with db.session() as session:
        row = session.scalars(select(OpenLine)).one()
        assert (row.line, row.reply_numbers, row.active) == ("7", NUMBERS, False)
        assert row.error == "IMCONNECTOR_NOT_ACTIVE: Connector is not active"
    assert client.get("/api/lines", headers=bearer(token)).get_json()[0]["status"]["error"] == row.error


def test_a_non_admins_settings_token_cannot_change_lines(client, bitrix, portal_with_numbers):
    token = installed(client, bitrix, user_id="2", lang="en")

    response = client.put("/api/lines/3", json={"reply_numbers": NUMBERS, "active": True}, headers=bearer(token))

    assert response.status_code == 403

