"""The settings page in a real headless Chromium (Debian's `chromium`, driven by Playwright), as a portal admin
uses it: installed from the Bitrix24 stand-in (b24sms/demo) on a LANG=ru portal and on an English one, with a
loopback Prostor SMS behind it. Screenshots of every step go to test-artifacts/screenshots/<database>/.

Skipped where Chromium is not installed (`.ci/run` installs it)."""
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from b24sms import create_app, demo, providers
from b24sms.flows import jobs
from b24sms.store.models import Message, Portal, ProviderAccount, utcnow
from tests.fakes.prostor import FakeProstor
from tests.fakes.serving import LoopbackServer, LoopbackSite, free_port
from tests.helpers.suite import ENCRYPTION_KEY, empty_tables, on_postgres, services_of

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# One folder per database: CI runs the SQLite and the PostgreSQL suites at once.
SHOTS = (Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
         / ("postgresql" if on_postgres() else "sqlite"))
BX24_STAND_IN = (Path(__file__).resolve().parent.parent / "b24sms" / "static" / "demo" / "bx24.js").read_text()
# Words a Russian page may show in Latin letters: brand and product names, units, formats.
LATIN_ALLOWED = {"b24sms", "prostor", "sms", "smsc", "aero", "twilio", "api", "csv", "email", "sid", "auth",
                 "token", "account", "bitrix24", "local", "demo", "shop", "shop2", "http", "https", "url", "crm",
                 "e.164", "rub", "mg", "ac", "lk", "ru", "cabinet", "console", "com", "smsaero", "www", "bench",
                 "id", "gsm", "ucs"}  # "id": the field name api_id; GSM-7 and UCS-2: the SMS encodings' names

PROSTOR_LOGIN, PROSTOR_PASSWORD = "bench", "bench-pass"
LOG_REFRESH_MS = 5000  # b24sms/static/log.js: how often the log reloads while a message moves

# CI sets B24SMS_REQUIRE_BROWSER=1: there a missing Chromium fails the run instead of skipping these tests.
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("B24SMS_REQUIRE_BROWSER") != "1",
                                reason="Debian's chromium is not installed")


@pytest.fixture
def prostor_server():
    """Prostor SMS on loopback: SHOP and SHOP2 approved, every message delivered as soon as it is taken."""
    site = LoopbackSite()
    url = f"{site.url}/messages/v2/"
    fake = site.add(FakeProstor(login=PROSTOR_LOGIN, password=PROSTOR_PASSWORD, base=url))
    fake.initial_status = "delivered"
    fake.senders = [{"name": name, "status": "active", "info": ""} for name in ("SHOP", "SHOP2")]
    yield fake, url
    site.close()


@pytest.fixture
def live_app(database_url, tmp_path, prostor_server):
    """The app served on loopback as `make run` serves it (development, the stand-in verifying visits)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({
        "APP_ENV": "development", "DATABASE_URL": database_url, "SECRET_KEY": "browser-test-secret",
        "ENCRYPTION_KEYS": ENCRYPTION_KEY, "PUBLIC_URL": base, "B24_OAUTH_URL": base + demo.STAND_IN_PATH + "/oauth",
        "B24_CLIENT_ID": demo.DEMO_CLIENT_ID, "B24_CLIENT_SECRET": demo.DEMO_CLIENT_SECRET,
        "PROSTOR_API_URL": prostor_server[1], "ENABLE_LOG_PROVIDER": True, "SPOOL_DIR": str(tmp_path / "spool"),
        "HTTP_TIMEOUT": 5,
    }, instance_path=tmp_path / "instance")  # development reads the `.env` beside it: not the developer's
    server = LoopbackServer("127.0.0.1", port, app)
    # shutdown() waits for the loop's next look at it: every 50 ms, not the default half second.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield app, base
    server.shutdown()
    server.server_close()
    services_of(app).outbox.wait_idle(30)
    empty_tables(app)


@pytest.fixture
def browser(language):
    """Chromium in the language of the test (its own controls, a date field's format, follow it)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            f"--lang={language}", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


class Tab:
    """One browser page that records console errors and takes numbered screenshots."""

    def __init__(self, browser, language):
        self.context = browser.new_context(locale="ru-RU" if language == "ru" else "en-US",
                                           timezone_id="Europe/Moscow", viewport={"width": 1000, "height": 900})
        self.context.clock.install()  # the page's timers run in real time, until the test moves them on
        self.page = self.context.new_page()
        self.language, self.shots, self.errors = language, 0, []
        self.expected_refusal = None  # a URL part whose 4xx answer the test asked for (the browser logs it)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # Bitrix24's own library is what the real iframe loads; here its local stand-in answers for it.
        self.page.route("https://api.bitrix24.com/**", lambda route: route.fulfill(
            status=200, content_type="application/javascript", body=BX24_STAND_IN))
        self.page.on("dialog", lambda dialog: dialog.accept())

    def _console(self, message):
        url = message.location.get("url") or ""
        if message.type != "error":
            return
        if self.expected_refusal and self.expected_refusal in url and "status of 400" in message.text:
            return
        self.errors.append(f"{message.text} ({url})")

    def shot(self, name):
        self.shots += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.language}-{self.shots:02d}-{name}.png"), full_page=True)

    def latin_words(self):
        """Words of the visible page in Latin letters that are not names: English left on a Russian page."""
        text = self.page.inner_text("body")
        words = {word.lower().strip(".") for word in re.findall(r"[A-Za-z][A-Za-z0-9.]*", text)}
        # Domains (demo.bitrix24.local, smsc.ru) are names too.
        brands = {word.lower() for cls in providers.PROVIDERS.values()
                  for word in re.findall(r"[A-Za-z0-9]+", cls.title)}
        return sorted(word for word in words if word not in LATIN_ALLOWED | brands and "." not in word
                      and not re.fullmatch(r"[a-z]?\d+", word))


def _job_pass(app):
    """One job pass, first polls made due at once (the first status check waits 30 s otherwise)."""
    database = services_of(app).db
    with database.session() as session:
        session.execute(update(Message).where(Message.due_at.is_not(None)).values(due_at=utcnow()))
        session.commit()
    return jobs.run_once(services_of(app))


WORDS = {
    "ru": {"save_install": "Сохранить и завершить установку", "saved": "Сохранено", "test": "Тест с этой страницы",
           "delivered": "Доставлено", "not_admin": "Менять эти настройки могут только администраторы портала",
           "save": "Сохранить", "remove_yes": "Да, удалить", "unsaved": "Есть несохранённые изменения",
           "paused": "отправка приостановлена"},
    "en": {"save_install": "Save and finish installation", "saved": "Saved", "test": "Test from this page",
           "delivered": "Delivered", "not_admin": "Only the portal's administrators can change these settings",
           "save": "Save", "remove_yes": "Yes, remove", "unsaved": "Unsaved changes", "paused": "sending is paused"},
}


@pytest.mark.parametrize("language", ["ru", "en"])
def test_an_admin_installs_configures_two_providers_and_two_senders_and_reads_the_log(
        live_app, browser, prostor_server, language):
    app, base = live_app
    words = WORDS[language]
    tab = Tab(browser, language)
    page = tab.page

    # First run: Bitrix24 opens the install page; the most used provider's form is ready, the intro is shown.
    page.goto(f"{base}/demo/bitrix/portal?LANG={language}&install=1")
    most_used = next(iter(providers.offered(services_of(app).settings)))
    page.wait_for_selector(f"#chain li[data-kind={most_used}]")
    assert page.is_visible("#intro") and page.is_visible("#cabinets a")
    assert page.is_visible(f"text={words['unsaved']}")
    tab.shot("first-run")
    if language == "ru":
        assert tab.latin_words() == []

    # This admin's provider is Prostor SMS: the ready form goes (removing asks first), Prostor's comes.
    if most_used != "prostor":
        page.click(f"#chain li[data-kind={most_used}] .remove button")
        page.click(f"#chain li[data-kind={most_used}] button:has-text('{words['remove_yes']}')")
        page.wait_for_selector(f"#chain li[data-kind={most_used}]", state="detached")
        page.select_option("#add-kind", "prostor")
        page.click("#add-provider")
        page.wait_for_selector("#chain li[data-kind=prostor]")

    # A mistake is shown at its field, in the page's language.
    page.fill("[data-field='providers[0].credentials.login']", PROSTOR_LOGIN)
    tab.expected_refusal = "/api/settings"
    page.click("#save")
    page.wait_for_selector(".field-error")
    tab.expected_refusal = None
    assert page.get_attribute("[data-field='providers[0].credentials.password']", "aria-invalid") == "true"
    tab.shot("field-error")

    page.fill("[data-field='providers[0].credentials.password']", PROSTOR_PASSWORD)
    page.fill("[data-field='providers[0].sender']", "SHOP")
    page.click("#add-sender")
    page.fill("[data-field='senders[0].name']", "SHOP")
    page.click("#save")
    page.wait_for_selector("#settings-saved:visible")
    assert page.evaluate("BX24.calls.some(function (c) { return c.name === 'installFinish'; })")
    assert not page.is_visible("#unsaved")
    page.wait_for_selector(".balance")  # shown without a click
    tab.shot("installed")

    # A test SMS, then the log after a job pass: delivered, in words, from this page.
    page.fill("#test-to", "+7 900 123-45-67")
    page.click("#test-form button[type=submit]")
    page.wait_for_selector(f"#messages td:has-text('{words['test']}')")
    _job_pass(app)
    _job_pass(app)
    page.clock.fast_forward(LOG_REFRESH_MS)  # the log's next refresh comes now, not seconds later
    page.wait_for_selector(f"#messages td.status-delivered:has-text('{words['delivered']}')", timeout=15000)
    tab.shot("log-after-job")
    # The frame is resized to the page whenever its height changed (Bitrix24 does not do it by itself).
    assert page.evaluate("BX24.calls.filter(function (c) { return c.name === 'fitWindow'; }).length") >= 2

    # The log as a spreadsheet: UTF-8 with a BOM, this page's words, the message in it.
    with page.expect_download() as download:
        page.click("#export-csv")
    exported = Path(download.value.path()).read_bytes()
    assert exported.startswith(b"\xef\xbb\xbf") and "+79001234567" in exported.decode("utf-8-sig")

    # A second sender name and a second provider, then the chain reordered.
    page.click("#add-sender")
    page.fill("[data-field='senders[1].name']", "SHOP2")
    page.select_option("#add-kind", "log")
    page.click("#add-provider")
    page.wait_for_selector("#chain li[data-kind=log]")
    page.click("#chain li[data-kind=log] button[aria-label]:first-of-type")  # move up
    tab.shot("reordered-unsaved")
    page.click("#save")
    page.wait_for_selector("#settings-saved:visible")
    kinds = page.eval_on_selector_all("#chain li", "items => items.map(function (li) { return li.dataset.kind; })")
    assert kinds == ["log", "prostor"]
    with services_of(app).db.session() as session:
        portal = session.scalars(select(Portal).where(Portal.member_id == demo.DEMO_MEMBER_ID)).one()
        chain = session.scalars(select(ProviderAccount.kind).where(ProviderAccount.portal_id == portal.id,
                                                                   ProviderAccount.position.is_not(None))
                                .order_by(ProviderAccount.position)).all()
        assert chain == ["log", "prostor"]
    tab.shot("two-providers-two-senders")

    # The pause switch: the portal says so at once, and a second click resumes.
    page.check("#paused")
    page.wait_for_selector(f"#portal-status:has-text('{words['paused']}')")
    with services_of(app).db.session() as session:
        assert session.scalars(select(Portal.paused).where(Portal.member_id == demo.DEMO_MEMBER_ID)).one() is True
    tab.shot("paused")
    page.uncheck("#paused")
    page.wait_for_selector(f"#portal-status:not(:has-text('{words['paused']}'))")
    if language == "ru":
        assert tab.latin_words() == []
    assert tab.errors == []

    # An employee's view: no credentials, no balance, only their own (no) messages.
    employee = Tab(browser, language)
    employee.page.goto(f"{base}/demo/bitrix/portal?LANG={language}&user=2&admin=0")
    employee.page.wait_for_selector(f"text={words['not_admin']}")
    employee.page.wait_for_selector("#chain li")
    assert employee.page.query_selector_all("input[type=password]") == []
    assert employee.page.query_selector("#save") is None
    employee.page.wait_for_selector("#log-empty:visible")
    employee.shots = 10
    employee.shot("employee-view")
    if language == "ru":
        assert employee.latin_words() == []
    assert employee.errors == []
