"""The local demo (GET /demo) and its built-in Bitrix24 stand-in (b24sms/demo/); its two-way loop:
tests/test_demo_two_way.py.

The demo's calls to itself (REST to the stand-in, the stand-in's handler calls, the job's status reports) go over
HTTP to PUBLIC_URL, as on the development server; here `responses` hands them to the same app (`loopback`).
"""
import html
import re
import time
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from b24sms import create_app, demo
from b24sms.bitrix import open_lines
from b24sms.bitrix.client import FixedToken, RestClient
from b24sms.config import load_settings
from b24sms.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_DOMAIN, DEMO_MEMBER_ID, tokens
from b24sms.demo.state import state_of
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, Portal
from b24sms.web import session_tokens
from tests.helpers import bearer, make_due, run_job, save_providers
from tests.helpers.demo import STAND_IN, demo_with_log_provider, open_demo, page_token, serve_from
from tests.helpers.suite import ENCRYPTION_KEY, PUBLIC_URL, empty_tables, services_of, settled


# ---------------------------------------------------------------- GET /demo
@pytest.mark.parametrize("query, headers, language", [
    ("lang=ru", {}, "ru"), ("lang=en", {}, "en"), ("", {"Accept-Language": "ru-RU,ru;q=0.9"}, "ru"),
    ("", {"Accept-Language": "de-DE"}, "en"),
])
def test_demo_shows_the_settings_page_of_the_demo_portal_with_its_panel(client, db, loopback, app, query, headers,
                                                                         language):
    response, token = open_demo(client, query, headers=headers)
    page = response.get_data(as_text=True)

    assert f'<html lang="{language}">' in page
    assert 'id="demo-panel"' in page and 'id="demo-send-form"' in page
    assert "/static/demo/demo.js" in page and "/static/demo/bx24.js" in page
    assert "api.bitrix24.com" not in page  # the local stand-in of BX24 instead: nothing leaves the machine
    assert "make jobs" in page
    # A first run opens with the provider that works without an account anywhere.
    assert '"first_choice": "log"' in page
    session = session_tokens.read(services_of(app).settings.secret_key, f"Bearer {token}")
    assert (session.user_id, session.is_admin, session.language) == ("1", True, language)
    with db.session() as db_session:
        portal = db_session.get(Portal, session.portal_id)
        assert (portal.member_id, portal.domain) == (DEMO_MEMBER_ID, DEMO_DOMAIN)
        assert portal.client_endpoint == STAND_IN + "/rest/"
    assert client.get("/api/settings", headers=bearer(token)).status_code == 200


def test_the_panel_speaks_the_pages_language(client, loopback):
    russian = open_demo(client, "lang=ru")[0].get_data(as_text=True)
    english = open_demo(client, "lang=en")[0].get_data(as_text=True)

    assert "Simulate a CRM send" in english and "What the Bitrix24 stand-in was told" in english
    assert "Имитировать отправку из CRM" in russian and "Что получил имитатор Битрикс24" in russian
    assert "Simulate a CRM send" not in russian
    # The two-way section too.
    assert "Simulate a client's reply" in english and "Simulate an operator's answer" in english
    assert "Имитировать ответ клиента" in russian and "Имитировать ответ оператора" in russian
    assert "Simulate a client" not in russian


def test_demo_is_idempotent_and_its_token_needs_no_refresh(client, db, loopback, app):
    open_demo(client)
    open_demo(client)
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        claims = tokens.read(services_of(app).settings, portal.access_token)
        assert claims.admin and claims.expires > time.time() + 5 * 365 * 24 * 3600
        assert portal.application_token == tokens.application_token(services_of(app).settings)


def test_admin_0_shows_an_employees_view(client, app, loopback):
    response, token = open_demo(client, "lang=en&admin=0")
    session = session_tokens.read(services_of(app).settings.secret_key, f"Bearer {token}")
    assert (session.user_id, session.is_admin) == ("2", False)
    assert save_providers(client, token, [{"kind": "log"}]).status_code == 403


def test_demo_and_its_stand_in_are_404_in_production(database_url, tmp_path):
    app = create_app({
        "APP_ENV": "production", "DATABASE_URL": database_url, "SECRET_KEY": "production-secret",
        "ENCRYPTION_KEYS": ENCRYPTION_KEY, "B24_CLIENT_ID": "app.x", "B24_CLIENT_SECRET": "secret",
        "PUBLIC_URL": PUBLIC_URL, "SPOOL_DIR": str(tmp_path / "spool"), "TESTING": True,
    })
    client = app.test_client()
    for path in ("/demo", "/demo/bitrix/portal?install=1", "/demo/bitrix/oauth/rest/app.info?auth=x"):
        assert client.get(path).status_code == 404, path
    for path in ("/demo/simulate-send", "/demo/bitrix/rest/user.admin", "/demo/connect-line", "/demo/simulate-reply",
                 "/demo/simulate-answer"):
        assert client.post(path, json={}).status_code == 404, path
    services_of(app).db.engine.dispose()  # its start-up's connection (the suite's app closes its own)


def test_development_keeps_the_real_oauth_defaults_the_stand_in_is_asked_for(tmp_path, monkeypatch):
    """The settings' defaults are the contract's: visits are verified by the stand-in only when it is named."""
    for name in ("APP_ENV", "B24_CLIENT_ID", "B24_CLIENT_SECRET", "B24_OAUTH_URL", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(str(tmp_path))
    assert (settings.b24_client_id, settings.b24_oauth_url) == ("", "https://oauth.bitrix.info")
    assert not demo.verifies_visits(settings)

    monkeypatch.setenv("B24_OAUTH_URL", "http://localhost:8000/demo/bitrix/oauth")
    monkeypatch.setenv("B24_CLIENT_ID", DEMO_CLIENT_ID)
    assert demo.verifies_visits(load_settings(str(tmp_path)))


# ---------------------------------------------------------------- the stand-in answers like Bitrix24
def test_the_oauth_part_answers_app_info_and_rotates_refresh_tokens(client, app):
    access, refresh, _ = tokens.issue_pair(services_of(app).settings, "1", True)
    info = client.get(f"/demo/bitrix/oauth/rest/app.info?auth={access}").get_json()["result"]
    assert info["client_id"] == DEMO_CLIENT_ID and info["user_id"] == 1
    assert info["install"]["member_id"] == DEMO_MEMBER_ID and info["install"]["domain"] == DEMO_DOMAIN
    assert info["install"]["client_endpoint"] == STAND_IN + "/rest/"
    refused = client.get("/demo/bitrix/oauth/rest/app.info?auth=forged")
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_token"

    query = f"grant_type=refresh_token&client_id={DEMO_CLIENT_ID}&client_secret={DEMO_CLIENT_SECRET}"
    pair = client.get(f"/demo/bitrix/oauth/oauth/token/?{query}&refresh_token={refresh}").get_json()
    assert pair["access_token"] and pair["refresh_token"] != refresh and pair["expires_in"] == 3600
    assert pair["member_id"] == DEMO_MEMBER_ID and pair["client_endpoint"] == STAND_IN + "/rest/"
    again = client.get(f"/demo/bitrix/oauth/oauth/token/?{query}&refresh_token={refresh}")
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    wrong = client.get(f"/demo/bitrix/oauth/oauth/token/?grant_type=refresh_token&client_id=x&client_secret=y"
                       f"&refresh_token={pair['refresh_token']}")
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"


def test_rest_answers_user_admin_sender_methods_and_refusals_in_bitrix_shapes(client, app):
    admin, _ = tokens.issue(services_of(app).settings, "1", True)
    employee, _ = tokens.issue(services_of(app).settings, "2", False)

    def rest(method, token, **params):
        response = client.post(f"/demo/bitrix/rest/{method}", json={**params, "auth": token})
        return response.status_code, response.get_json()

    assert rest("user.admin", admin)[1]["result"] is True and "time" in rest("user.admin", admin)[1]
    assert rest("user.admin", employee)[1]["result"] is False
    sender = {"CODE": "b24sms", "TYPE": "SMS", "HANDLER": "https://sms.example.com/handler/k",
              "NAME": {"ru": "СМС", "en": "SMS"}}
    assert rest("messageservice.sender.add", employee, **sender) == (403, {"error": "ACCESS_DENIED",
                                                                           "error_description": "Access denied!"})
    assert rest("messageservice.sender.add", admin, **sender)[1]["result"] is True
    assert rest("messageservice.sender.add", admin, **sender)[1]["error"] == "ERROR_SENDER_ALREADY_INSTALLED"
    assert rest("messageservice.sender.add", admin, **{**sender, "CODE": "b24 sms"})[1]["error"] == \
        "ERROR_SENDER_VALIDATION_FAILURE"
    assert rest("messageservice.sender.add", admin, **{**sender, "CODE": "x", "HANDLER": "ftp://h.example/"})[1][
        "error"] == "ERROR_UNSUPPORTED_PROTOCOL"
    assert rest("messageservice.sender.list", admin)[1]["result"] == ["b24sms"]
    assert rest("messageservice.sender.update", admin, CODE="B24SMS", HANDLER="https://sms.example.com/h2")[1][
        "result"] is True
    assert rest("event.bind", admin, event="ONAPPUNINSTALL", handler="https://sms.example.com/events")[1]["result"]
    assert rest("event.bind", admin, event="ONAPPUNINSTALL", handler="https://sms.example.com/events")[1] == {
        "error": "", "error_description": "Handler already binded"}
    assert isinstance(rest("im.notify.system.add", admin, USER_ID=1, MESSAGE="Balance low")[1]["result"], int)
    assert rest("no.such.method", admin)[1]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert rest("user.admin", "forged")[0] == 401
    assert rest("messageservice.sender.delete", admin, CODE="b24sms")[1]["result"] is True
    assert rest("messageservice.sender.list", admin)[1]["result"] == []
    assert state_of(app).snapshot()["notifications"][0]["message"] == "Balance low"


def test_batch_takes_php_style_commands_and_answers_result_and_result_error(client, app):
    admin, _ = tokens.issue(services_of(app).settings, "1", True)
    form = {"auth": admin, "halt": "0",
            "cmd[m1]": "messageservice.message.status.update?CODE=b24sms&MESSAGE_ID=" + "a" * 32 + "&STATUS=delivered",
            "cmd[m2]": "messageservice.message.status.update?CODE=b24sms&MESSAGE_ID=" + "b" * 32 + "&STATUS=lost",
            "cmd[m3]": "user.admin"}
    answer = client.post("/demo/bitrix/rest/batch", data=form).get_json()["result"]

    assert answer["result"] == {"m1": True, "m3": True}
    assert answer["result_error"] == {"m2": {"error": "ERROR_MESSAGE_STATUS_INCORRECT",
                                             "error_description": "Message status incorrect!"}}
    assert state_of(app).snapshot()["messages"][0]["statuses"][0]["status"] == "delivered"
    # As PHP encodes arrays: nothing failed -> `[]`; keys 0..n-1 -> a list.
    listed = client.post("/demo/bitrix/rest/batch", data={"auth": admin, "cmd[0]": "user.admin"}).get_json()
    assert listed["result"]["result"] == [True] and listed["result"]["result_error"] == []
    too_many = {"auth": admin, **{f"cmd[c{n}]": "user.admin" for n in range(51)}}
    assert client.post("/demo/bitrix/rest/batch", data=too_many).get_json()["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"


def test_our_rest_client_reads_the_stand_ins_answers(app, loopback):
    token, _ = tokens.issue(services_of(app).settings, "1", True)
    client = RestClient.of(services_of(app), STAND_IN + "/rest/", FixedToken(token))
    assert client.call("user.admin") is True
    outcome = client.batch({"a": ("messageservice.message.status.update",
                                  {"CODE": "b24sms", "MESSAGE_ID": "c" * 32, "STATUS": "sent"}),
                            "b": ("messageservice.message.status.update",
                                  {"CODE": "b24sms", "MESSAGE_ID": "d" * 32, "STATUS": "nonsense"})})
    assert outcome.results == {"a": True}
    assert outcome.errors["b"].code == "ERROR_MESSAGE_STATUS_INCORRECT"


# ---------------------------------------------------------------- a simulated CRM send, end to end
def test_a_simulated_crm_send_is_stored_sent_and_its_status_reaches_the_stand_in(client, db, app, loopback, runner):
    token = demo_with_log_provider(client)
    assert [sender["code"] for sender in state_of(app).snapshot()["senders"]] == ["b24sms"]

    posted = client.post("/demo/simulate-send", headers=bearer(token),
                         json={"to": "+7 900 123-45-67", "text": "Hello from CRM", "code": "b24sms"})
    assert posted.status_code == 200, posted.get_json()
    record = posted.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", record["message_id"]) and record["handler_status"] == 200
    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert message.bitrix_message_id == record["message_id"]
        assert message.origin == {"module_id": "crm", "bindings": [{"OWNER_TYPE_ID": "3", "OWNER_ID": "1"}],
                                  "user_id": "1"}
        assert (message.provider, message.recipient, message.state) == ("log", "+79001234567", MessageState.ACCEPTED)

    make_due(db)  # the first status check is due 30 s after sending
    run_job(runner)
    told = client.get("/demo/bitrix-state", headers=bearer(token)).get_json()
    assert told["messages"][0]["message_id"] == record["message_id"]
    assert [entry["status"] for entry in told["messages"][0]["statuses"]] == ["delivered"]
    # "Log only" receives replies in development: saving registered the Open Lines connector and its events too.
    assert told["events"] == ["ONAPPUNINSTALL", "ONIMCONNECTORLINEDELETE", "ONIMCONNECTORMESSAGEADD",
                              "ONIMCONNECTORSTATUSDELETE"]


def test_a_send_through_a_second_sender_is_reported_under_its_code_which_the_stand_in_holds_to(client, db, app,
                                                                                               loopback, runner):
    token = demo_with_log_provider(client)
    saved = client.put("/api/settings", headers=bearer(token), json={
        "providers": [{"kind": "log"}], "senders": [{"name": "SHOP", "default": True}, {"name": "PROMO"}]})
    assert saved.status_code == 200, saved.get_json()
    promo_code = next(entry["code"] for entry in saved.get_json()["senders"] if entry["name"] == "PROMO")
    assert promo_code != "b24sms" and promo_code in [sender["code"] for sender in state_of(app).snapshot()["senders"]]

    posted = client.post("/demo/simulate-send", headers=bearer(token),
                         json={"to": "+7 900 123-45-67", "text": "A promotion", "code": promo_code})
    assert posted.status_code == 200, posted.get_json()
    sent_id = posted.get_json()["message_id"]
    admin, _ = tokens.issue(services_of(app).settings, "1", True)
    rest = RestClient.of(services_of(app), STAND_IN + "/rest/", FixedToken(admin))
    refused = rest.batch({"m": ("messageservice.message.status.update",
                                {"CODE": "b24sms", "MESSAGE_ID": sent_id, "STATUS": "failed"})})
    assert refused.errors["m"].code == "ERROR_MESSAGE_NOT_FOUND"  # not the sender it went through

    make_due(db)
    run_job(runner)

    told = client.get("/demo/bitrix-state", headers=bearer(token)).get_json()
    assert told["messages"][0]["message_id"] == sent_id and told["messages"][0]["code"] == promo_code
    assert [entry["status"] for entry in told["messages"][0]["statuses"]] == ["delivered"]


def test_a_robots_send_carries_no_auth_block_and_still_goes_out(client, db, loopback):
    token = demo_with_log_provider(client)
    posted = client.post("/demo/simulate-send", headers=bearer(token),
                         json={"to": "+7 900 123-45-67", "text": "From a robot", "code": "b24sms", "origin": "robot"})
    assert posted.status_code == 200 and posted.get_json()["user_id"] is None
    with db.session() as session:
        message = session.scalars(select(Message)).one()
        assert message.origin["module_id"] == "bizproc" and "user_id" not in message.origin
        assert message.author_id is None and message.provider == "log"


def test_the_stand_in_forgets_its_senders_on_restart_and_the_demo_registers_them_again(client, app, loopback):
    token = demo_with_log_provider(client)
    with state_of(app).lock:
        state_of(app).senders.clear()  # as after a restart of the development server
    refused = client.post("/demo/simulate-send", headers=bearer(token), json={"to": "+79001234567", "text": "x",
                                                                              "code": "b24sms"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "unknown_sender"

    open_demo(client)
    assert [sender["code"] for sender in state_of(app).snapshot()["senders"]] == ["b24sms"]


def test_a_simulated_send_goes_to_this_apps_handler_only(client, app, loopback):
    _, token = open_demo(client)
    admin, _ = tokens.issue(services_of(app).settings, "1", True)
    client.post("/demo/bitrix/rest/messageservice.sender.add", json={
        "auth": admin, "CODE": "elsewhere", "TYPE": "SMS", "HANDLER": "https://internal.example/admin", "NAME": "x"})
    refused = client.post("/demo/simulate-send", headers=bearer(token),
                          json={"to": "+79001234567", "text": "x", "code": "elsewhere"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "foreign_handler"
    assert not [call for call in loopback.calls if "internal.example" in call.request.url]


def test_the_panels_calls_need_the_pages_token_of_the_demo_portal(client, loopback):
    _, token = open_demo(client)
    assert client.post("/demo/simulate-send", json={"to": "1", "text": "x", "code": "b24sms"}).status_code == 401
    assert client.get("/demo/bitrix-state").status_code == 401
    missing = client.post("/demo/simulate-send", headers=bearer(token), json={"text": "x", "code": "b24sms"})
    assert missing.status_code == 400 and missing.get_json()["error"] == "missing_field"


# ---------------------------------------------------------------- the stand-in opening the app (real install)
@pytest.fixture
def stand_in_app(database_url, tmp_path):
    """The app as `make run` starts it without an OAuth pair: visits verified by the stand-in."""
    app = create_app({
        "SPOOL_DIR": str(tmp_path / "spool"), "TESTING": True, "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key", "ENCRYPTION_KEYS": ENCRYPTION_KEY, "PUBLIC_URL": PUBLIC_URL,
        "B24_CLIENT_ID": DEMO_CLIENT_ID, "B24_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "B24_OAUTH_URL": STAND_IN + "/oauth", "HTTP_TIMEOUT": 5,
    })
    yield settled(app)
    services_of(app).outbox.wait_idle(30)
    empty_tables(app)


def auto_post_form(response):
    page = response.get_data(as_text=True)
    form = re.search(r'<form id="open-app" method="post" action="([^"]+)">(.*?)</form>', page, re.S)
    assert form, page
    fields = {name: html.unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))}
    assert '<script src="/static/demo/open_app.js"></script>' in page  # posts it: no inline script
    return html.unescape(form.group(1)), fields


def test_the_stand_ins_portal_page_installs_the_app_through_the_real_verify_path(stand_in_app, rsps, db):
    serve_from(rsps, stand_in_app)
    client = stand_in_app.test_client()
    response = client.get("/demo/bitrix/portal?LANG=ru&install=1")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    action, fields = auto_post_form(response)

    path, _, query = action.partition("?")
    query = dict(parse_qsl(query))
    assert path == "/install" and query["DOMAIN"] == DEMO_DOMAIN and query["LANG"] == "ru"
    assert query["PROTOCOL"] == "1" and re.fullmatch(r"[0-9a-f]{32}", query["APP_SID"])
    assert set(fields) == {"AUTH_ID", "AUTH_EXPIRES", "REFRESH_ID", "member_id", "status", "PLACEMENT",
                           "PLACEMENT_OPTIONS", "SERVER_ENDPOINT", "APPLICATION_TOKEN", "APPLICATION_SCOPE"}
    assert fields["member_id"] == DEMO_MEMBER_ID and fields["PLACEMENT"] == "DEFAULT"
    assert fields["AUTH_EXPIRES"] == "3600" and fields["status"] == "L"

    installed = client.post(action, data=fields)  # what open_app.js makes the browser do
    assert installed.status_code == 200, installed.get_data(as_text=True)[:500]
    session = session_tokens.read(stand_in_app.config["SECRET_KEY"], f"Bearer {page_token(installed)}")
    assert session.is_admin and session.user_id == "1" and session.language == "ru"
    with db.session() as db_session:
        portal = db_session.scalars(select(Portal)).one()
        assert portal.member_id == DEMO_MEMBER_ID and portal.client_endpoint == STAND_IN + "/rest/"
        assert portal.application_token == fields["APPLICATION_TOKEN"]
        assert portal.access_token == fields["AUTH_ID"]


def test_the_stand_ins_portal_page_opens_the_settings_page_for_an_employee(stand_in_app, rsps, db):
    serve_from(rsps, stand_in_app)
    client = stand_in_app.test_client()
    action, fields = auto_post_form(client.get("/demo/bitrix/portal?LANG=en&user=7&admin=0"))
    assert action.startswith("/?DOMAIN=")

    opened = client.post(action, data=fields)
    assert opened.status_code == 200
    session = session_tokens.read(stand_in_app.config["SECRET_KEY"], f"Bearer {page_token(opened)}")
    assert (session.user_id, session.is_admin, session.language) == ("7", False, "en")
    with db.session() as db_session:
        assert db_session.scalars(select(Portal)).one().application_token is None  # an employee pins nothing


def test_the_portal_page_posts_nothing_while_the_app_verifies_elsewhere(client):
    response = client.get("/demo/bitrix/portal?install=1")  # the test app verifies with oauth.bitrix.info
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="open-app"' not in page and "AUTH_ID" not in page
    assert f"B24_OAUTH_URL={STAND_IN}/oauth" in page and f"B24_CLIENT_ID={DEMO_CLIENT_ID}" in page


def test_the_bx24_stand_in_script_is_served_locally(client):
    with client.get("/static/demo/bx24.js") as response:  # a file: closed when read
        script = response.get_data(as_text=True)
    for name in ("init:", "fitWindow:", "installFinish:", "getAuth:", "resizeWindow:", "callMethod:", "calls:"):
        assert name in script
    assert "http" not in script.replace("https://api.bitrix24.com/api/v1/", "")  # no network


def test_the_stand_in_takes_our_open_lines_connector_and_keeps_what_each_line_took(app, loopback):
    settings = services_of(app).settings
    token, _ = tokens.issue(settings, "1", True)
    client = RestClient.of(services_of(app), STAND_IN + "/rest/", FixedToken(token))
    sms = open_lines.ClientMessage(id="7", phone="+79161234567", text="Yes, Tuesday", date=1763860000, name="Maria")

    open_lines.ensure_connector(client, settings)
    open_lines.ensure_connector(client, settings)  # again: event.get says they are bound
    with pytest.raises(open_lines.LineGone):
        open_lines.send_messages(client, settings, 1, [sms])  # no line is on yet
    open_lines.activate(client, settings, 1, True)
    open_lines.set_connector_data(client, settings, 1, {"ID": "1", "URL": PUBLIC_URL, "URL_IM": PUBLIC_URL,
                                                        "NAME": "SMS"})
    taken = open_lines.send_messages(client, settings, 1, [sms])
    open_lines.confirm_delivery(client, settings, 1, [open_lines.Delivered("9800", "55", "+79161234567", ["a-1"])])

    assert taken[0].success and taken[0].chat_id == "9800"
    assert open_lines.line_status(client, settings, 1) == open_lines.LineStatus(True, True, None)
    snapshot = state_of(app).snapshot()
    assert {"ONIMCONNECTORMESSAGEADD", "ONIMCONNECTORLINEDELETE", "ONIMCONNECTORSTATUSDELETE"} <= set(
        snapshot["events"])
    (line,) = snapshot["lines"]
    assert (line["line"], line["active"], line["name"], line["delivered"]) == ("1", True, "SMS", 1)
    assert [(sent["from"], sent["name"], sent["text"]) for sent in line["messages"]] == [
        ("+79161234567", "Maria", "Yes, Tuesday")]
