"""Devino's settings in a real headless Chromium, in Russian and in English: the optional login and password of its
older platform (only for fetching replies) beside the API key, the password masked once saved, the URL to paste
still shown under the reply numbers; then a job pass fetches a client's reply from a loopback Devino. Screenshots
go to test-artifacts/screenshots/<database>/ as devino-<language>-NN-<step>.png.

Skipped where Chromium is not installed (`.ci/run` installs it)."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from b24sms.flows import jobs
from b24sms.flows.provider_settings import MASK
from b24sms.store.reply_models import IncomingMessage
from tests.fakes.devino import API_KEY, LOGIN, PASSWORD, FakeDevino
from tests.fakes.serving import LoopbackSite
from tests.helpers.browser import NEEDS_CHROMIUM, Tab, install_provider, serve_app
from tests.helpers.suite import services_of

pytestmark = NEEDS_CHROMIUM

NUMBER = "+79031234567"
LOGIN_LABEL = {"ru": "Логин для получения ответов", "en": "Login for fetching replies"}


@pytest.fixture
def devino_server():
    site = LoopbackSite()
    url = f"{site.url}/devino/"
    fake = site.add(FakeDevino(base=url))
    yield fake, url
    site.close()


@pytest.fixture
def devino_app(database_url, tmp_path, devino_server):
    yield from serve_app(database_url, tmp_path, DEVINO_API_URL=devino_server[1])


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_older_login_is_offered_saved_masked_and_replies_are_fetched(devino_app, devino_server, browser,
                                                                        language):
    app, base = devino_app
    devino, _ = devino_server
    tab = Tab(browser, language, prefix="devino-")
    page = tab.page
    entry = "#chain li[data-kind=devino]"

    install_provider(page, app, base, language, "devino",
                     {"api_key": API_KEY, "legacy_login": LOGIN, "legacy_password": PASSWORD})
    page.click(f"{entry} .add-reply-number")
    page.fill("[data-field='providers[0].reply_numbers[0]']", NUMBER)
    page.click("#save")
    page.wait_for_selector(f"{entry} .inbound-url")
    page.wait_for_selector(f"{entry} p.balance")  # the balance, loaded after saving, redraws the chain...
    page.wait_for_load_state("networkidle")  # ... as the approved names do
    tab.shot("saved")
    tab.shot_of(entry, "devino-entry")

    login = page.locator("[data-field='providers[0].credentials.legacy_login']")
    password = page.locator("[data-field='providers[0].credentials.legacy_password']")
    assert login.input_value() == LOGIN and password.input_value() == MASK
    assert password.get_attribute("type") == "password" and login.get_attribute("required") is None
    text = page.inner_text(entry)
    assert LOGIN_LABEL[language] in text and "integrationapi.net" in text
    assert page.locator(f"{entry} .inbound-url").input_value().startswith(f"{base}/inbound/devino/")
    assert devino.session_requests  # the login was checked on save
    if language == "ru":
        assert tab.latin_words() == []

    reply_id = devino.receive(NUMBER.removeprefix("+"), NUMBER.removeprefix("+"), "Когда доставка?",
                              at=datetime.now(UTC) - timedelta(seconds=30))
    report = jobs.run_once(services_of(app))
    assert report.replies_pulled == 1
    with services_of(app).db.session() as session:
        assert session.scalars(select(IncomingMessage.provider_message_id)).all() == [reply_id]
    assert tab.errors == []
