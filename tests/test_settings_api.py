"""Step 2: saving settings through the page's JSON API, and the sender registered server-side."""
import json
import re

import pytest
from sqlalchemy import select, text

from b24sms.store.models import Portal, ProviderAccount
from tests.helpers import (
    APPLICATION_TOKEN,
    PROSTOR_SETTINGS,
    SMSAERO_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    bearer,
    handler_path,
    installed,
    open_page,
    save_providers,
)
from tests.helpers.suite import PUBLIC_URL, use_settings


def test_save_checks_credentials_stores_them_encrypted_and_registers_the_sender(client, db, bitrix, prostor):
    token = installed(client, bitrix, lang="en")

    response = save_providers(client, token, [PROSTOR_SETTINGS])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["portal"]["sender_registered"] is True
    assert body["providers"] == [{"kind": "prostor", "sender": "SHOP",
                                  "credentials": {"login": "user", "password": "********"},
                                  "balance_threshold": None}]
    assert prostor.requests[0][0] == "balance.json"  # credentials checked with the provider first
    sender = bitrix.senders["b24sms"]
    assert sender["TYPE"] == "SMS" and sender["HANDLER"] == PUBLIC_URL + handler_path(db)
    assert set(sender["NAME"]) == {"ru", "en"} and set(sender["DESCRIPTION"]) == {"ru", "en"}
    assert bitrix.events == {"ONAPPUNINSTALL": f"{PUBLIC_URL}/events"}
    with db.session() as session:
        account = session.scalars(select(ProviderAccount)).one()
        assert account.credentials == {"login": "user", "password": "secret"} and account.position == 0
    with db.engine.connect() as connection:
        raw = connection.execute(text("SELECT credentials FROM provider_accounts")).scalar_one()
    assert "secret" not in raw and raw.startswith("gAAAA")


def test_get_settings_masks_secrets(client, bitrix, prostor):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [PROSTOR_SETTINGS])

    body = client.get("/api/settings", headers=bearer(token)).get_json()

    assert body["portal"] == {"domain": bitrix.domain, "state": "active", "sender_registered": True,
                              "state_reason": None, "language": "en", "paused": False}
    assert body["providers"][0]["credentials"]["password"] == "********"
    assert "secret" not in client.get("/api/settings", headers=bearer(token)).get_data(as_text=True)


def test_a_masked_secret_keeps_the_stored_one(client, db, bitrix, prostor):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [PROSTOR_SETTINGS])
    changed = {"kind": "prostor", "sender": "NEWNAME", "credentials": {"login": "user", "password": "********"}}
    prostor.senders.append({"name": "NEWNAME", "status": "active", "info": ""})  # approved at Prostor meanwhile

    response = save_providers(client, token, [changed])

    assert response.status_code == 200
    with db.session() as session:
        account = session.scalars(select(ProviderAccount)).one()
        assert account.credentials["password"] == "secret" and account.sender == "NEWNAME"


@pytest.mark.parametrize("settings, words", [
    (PROSTOR_SETTINGS, "error authorization"),
    (SMSC_SETTINGS, "authorise error"),
    (SMSAERO_SETTINGS, "invalid credentials"),
    (TWILIO_SETTINGS, "Authenticate"),
])
def test_wrong_credentials_give_400_with_the_providers_words(client, db, bitrix, prostor, smsc, smsaero, twilio,
                                                             settings, words):
    token = installed(client, bitrix, lang="en")
    secret_name = {"prostor": "password", "smsc": "password", "smsaero": "api_key", "twilio": "auth_token"}
    wrong = {**settings, "credentials": {**settings["credentials"], secret_name[settings["kind"]]: "nope"}}

    response = save_providers(client, token, [wrong])

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_credentials"
    assert words in response.get_json()["message"]
    assert bitrix.senders == {}
    with db.session() as session:
        assert session.scalars(select(ProviderAccount)).all() == []


def test_a_suspended_twilio_account_is_refused(client, bitrix, twilio):
    token = installed(client, bitrix, lang="en")
    twilio.account_status = "suspended"
    response = save_providers(client, token, [TWILIO_SETTINGS])
    assert response.status_code == 400 and "suspended" in response.get_json()["message"]


def page_data(response):
    return json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>',
                                response.get_data(as_text=True), re.S).group(1))


def test_the_page_offers_every_provider_with_its_declared_fields(client, bitrix):
    response, _ = open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)
    page = page_data(response)
    catalog = {entry["kind"]: entry for entry in page["catalog"]}
    # The most used first, `log` last.
    assert list(catalog) == ["smsru", "prostor", "smsc", "smsaero", "exolve", "devino", "p1sms", "smstraffic",
                             "twilio", "log"]
    fields = {kind: [(f["name"], f["secret"]) for f in entry["credentials"]] for kind, entry in catalog.items()}
    assert fields == {
        "smsru": [("api_id", True)],
        "prostor": [("login", False), ("password", True)], "smsc": [("login", False), ("password", True)],
        "smsaero": [("email", False), ("api_key", True)], "exolve": [("api_key", True)],
        "devino": [("api_key", True), ("legacy_login", False), ("legacy_password", True)],
        "p1sms": [("api_key", True)],
        "smstraffic": [("login", False), ("password", True)],
        "twilio": [("account_sid", False), ("auth_token", True)], "log": []}
    assert {kind: entry["receipts"] for kind, entry in catalog.items()} == {
        "smsru": "registered", "prostor": None, "smsc": "account", "smsaero": "per_message", "exolve": "account",
        "devino": "per_message", "p1sms": "per_message", "smstraffic": None, "twilio": "per_message", "log": None}
    assert all(entry["cabinet_url"].startswith("https://") for kind, entry in catalog.items() if kind != "log")
    assert catalog["twilio"]["sender"]["required"] is True


def test_non_admin_cannot_save(client, db, bitrix, prostor):
    installed(client, bitrix, lang="en")
    _, token = open_page(client, bitrix, path="/", user_id="7")

    response = save_providers(client, token, [PROSTOR_SETTINGS])

    assert response.status_code == 403 and response.get_json()["error"] == "admin_only"
    assert prostor.requests == []
    assert client.get("/api/settings", headers=bearer(token)).status_code == 200  # reading is fine


def test_api_needs_a_valid_session_token(client, bitrix):
    token = installed(client, bitrix, lang="en")
    assert client.get("/api/settings").status_code == 401
    assert client.get("/api/settings", headers=bearer(token[:-2] + "xx")).get_json()["error"] == "bad_session"
    assert client.get("/api/settings", headers={"Authorization": "Basic abc"}).status_code == 401


def test_bad_settings_bodies_are_400_naming_the_problem(client, bitrix, prostor):
    token = installed(client, bitrix, lang="en")
    cases = [  # (body, words of the message, the field the page marks)
        ({"providers": []}, "at least one", None),
        ({"providers": [{"kind": "nosuch"}]}, "unknown provider", None),
        ({"providers": [{"kind": "prostor", "credentials": {"login": "u"}}]}, "Fill in Password",
         "providers[0].credentials.password"),
        ({"providers": [{"kind": "prostor", "credentials": {"login": 5, "password": "x"}}]}, "must be text",
         "providers[0].credentials.login"),
        ({"providers": [PROSTOR_SETTINGS, PROSTOR_SETTINGS]}, "once", None),
        ({"providers": "prostor"}, "at least one", None),
    ]
    for body, words, field in cases:
        response = client.put("/api/settings", json=body, headers=bearer(token))
        assert response.status_code == 400, body
        assert words in response.get_json()["message"], (body, response.get_json())
        assert response.get_json().get("field") == field, (body, response.get_json())
    response = client.put("/api/settings", data="not json", headers=bearer(token))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_json"


def test_an_installed_sender_is_updated(client, db, bitrix, prostor):
    bitrix.senders["b24sms"] = {"CODE": "b24sms", "HANDLER": "https://old.example/handler"}
    token = installed(client, bitrix, lang="en")

    assert save_providers(client, token, [PROSTOR_SETTINGS]).status_code == 200

    assert bitrix.senders["b24sms"]["HANDLER"] == PUBLIC_URL + handler_path(db)
    assert [method for method, _ in bitrix.calls if method.startswith("messageservice.sender")] == [
        "messageservice.sender.add", "messageservice.sender.update"]


def test_opening_the_app_registers_a_lost_sender_again(client, db, bitrix, prostor):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [PROSTOR_SETTINGS])
    bitrix.senders.clear()  # an app update deletes senders

    response, _ = open_page(client, bitrix, path="/")

    assert response.status_code == 200
    assert "b24sms" in bitrix.senders
    with db.session() as session:
        assert session.scalars(select(Portal.sender_registered)).one() is True


def test_balance_per_configured_provider(client, bitrix, prostor, smsc, smsaero, twilio):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [PROSTOR_SETTINGS, SMSC_SETTINGS, SMSAERO_SETTINGS, TWILIO_SETTINGS])

    response = client.get("/api/balance", headers=bearer(token))

    assert response.get_json() == [
        {"provider": "prostor", "balance": 120.5, "currency": "RUB", "threshold": None, "low": False},
        {"provider": "smsc", "balance": 98.6, "currency": "RUB", "threshold": None, "low": False},
        {"provider": "smsaero", "balance": 337.03, "currency": "RUB", "threshold": None, "low": False},
        {"provider": "twilio", "balance": 12.34, "currency": "USD", "threshold": None, "low": False},
    ]


def test_log_provider_needs_no_credentials(client, bitrix):
    token = installed(client, bitrix, lang="en")
    response = save_providers(client, token, [{"kind": "log"}])
    assert response.status_code == 200
    # It receives replies too (the demo's), on numbers an admin gives it: none yet.
    assert response.get_json()["providers"] == [{"kind": "log", "sender": "", "credentials": {},
                                                 "balance_threshold": None, "reply_numbers": [],
                                                 "reply_hooks": []}]


def test_the_log_provider_is_offered_only_where_enabled(app, client, bitrix):
    use_settings(app, enable_log_provider=False)  # production's default
    response, token = open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)
    page = page_data(response)

    assert "log" not in [entry["kind"] for entry in page["catalog"]]
    refused = save_providers(client, token, [{"kind": "log"}])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_settings"
    # The page was opened with LANG=ru: the refusal is in Russian.
    assert "неизвестный провайдер 'log'" in refused.get_json()["message"]


@pytest.mark.parametrize("app_env, given, offered", [
    ("development", None, True), ("production", None, False), ("production", "1", True),
    ("development", "0", False),
])
def test_enable_log_provider_defaults_by_environment(tmp_path, monkeypatch, app_env, given, offered):
    from b24sms.config import load_settings

    monkeypatch.delenv("ENABLE_LOG_PROVIDER", raising=False)
    if given is not None:
        monkeypatch.setenv("ENABLE_LOG_PROVIDER", given)
    required = {name: "x" for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "B24_CLIENT_ID", "B24_CLIENT_SECRET",
                                       "PUBLIC_URL")}
    settings = load_settings(str(tmp_path / "instance"), {"APP_ENV": app_env, **required})
    assert settings.enable_log_provider is offered
