"""The Open Lines connector's page in a real headless Chromium, in Russian and in English: opened as Bitrix24's
Contact Center opens it (a form POSTed into the slider), a reply number ticked, the line connected, its status
shown. Bitrix24 is the suite's fake portal served on loopback; screenshots go to
test-artifacts/screenshots/<database>/ as connector-<language>-NN-<step>.png."""
import json

import pytest

from b24sms import create_app
from tests.fakes.bitrix import CLIENT_ID, CLIENT_SECRET, FakeOAuthServer
from tests.fakes.serving import LoopbackServer, LoopbackSite, free_port
from tests.helpers import bearer, iframe_form, open_page, receiving, save_providers
from tests.helpers.browser import NEEDS_CHROMIUM, Tab
from tests.helpers.receiving import PASTED
from tests.helpers.suite import ENCRYPTION_KEY, empty_tables, services_of

pytestmark = NEEDS_CHROMIUM
receivers = receiving.receivers  # the fixture
WORDS = {"ru": {"connected": "Подключено: ответы на отмеченные номера приходят в эту открытую линию."},
         "en": {"connected": "Connected: replies to the ticked numbers come into this Open Line."}}


@pytest.fixture
def served(database_url, tmp_path, receivers):
    """The app on loopback with Bitrix24 (OAuth and one portal) as the suite's fakes on loopback too."""
    import threading
    site = LoopbackSite()
    oauth = site.add(FakeOAuthServer(site.url + "/oauth"))
    portal = site.add(oauth.portal("example.bitrix24.ru", "c" * 32, endpoint=site.url + "/rest/"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({
        "APP_ENV": "development", "DATABASE_URL": database_url, "SECRET_KEY": "browser-test-secret",
        "ENCRYPTION_KEYS": ENCRYPTION_KEY, "PUBLIC_URL": base, "B24_OAUTH_URL": oauth.url,
        "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET, "SPOOL_DIR": str(tmp_path / "spool"),
        "HTTP_TIMEOUT": 5}, instance_path=tmp_path / "instance")
    server = LoopbackServer("127.0.0.1", port, app)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield app, base, portal
    server.shutdown()
    server.server_close()
    site.close()
    services_of(app).outbox.wait_idle(30)
    empty_tables(app)


@pytest.mark.parametrize("language", ["ru", "en"])
def test_an_admin_ticks_a_number_and_connects_the_line(served, browser, language):
    app, base, portal = served
    portal.add_line("5")  # the Open Line the portal's admin made
    client = app.test_client()
    _, token = open_page(client, portal, path="/", lang=language)
    saved = save_providers(client, token, [{**PASTED, "reply_numbers": ["+79161234567", "+79167654321"]}])
    assert saved.status_code == 200, saved.get_json()
    before = len(portal.calls)  # saving the numbers registered the connector itself

    tab = Tab(browser, language, prefix="connector-")
    page = tab.page
    access, refresh = portal.issue("1")
    form = iframe_form(portal, access, refresh, PLACEMENT="SETTING_CONNECTOR",
                       PLACEMENT_OPTIONS=json.dumps({"CONNECTOR": "b24sms_sms", "LINE": "5", "STATUS": 0}))
    fields = "".join(f'<input type="hidden" name="{name}" value=\'{value}\'>' for name, value in form.items())
    page.set_content(f'<form id="f" method="post" action="{base}/connector?DOMAIN={portal.domain}&PROTOCOL=1'
                     f'&LANG={language}&APP_SID=abc">{fields}</form>')
    page.evaluate("document.getElementById('f').submit()")
    page.wait_for_selector("#line-numbers input[value='+79167654321']")
    tab.shot("opened")

    page.check("#line-numbers input[value='+79167654321']")
    page.click("#connect")
    page.wait_for_selector(f"#line-status:has-text('{WORDS[language]['connected']}')")
    tab.shot("connected")

    lines = client.get("/api/lines", headers=bearer(token)).get_json()
    assert lines == [{"line": "5", "name": "SMS +79167654321", "reply_numbers": ["+79167654321"], "active": True,
                      "status": {"configured": True, "error": None}}]
    assert [method for method, _ in portal.calls[before:] if method.startswith("imconnector.")] == [
        "imconnector.activate", "imconnector.connector.data.set", "imconnector.status"]
    assert tab.errors == []
    if language == "ru":
        assert tab.latin_words() == []
