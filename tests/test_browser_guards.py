"""The guard rails on the settings page in a real headless Chromium, in Russian and in English: caps, quiet
hours and the stop list set by an admin, and the reasons messages were held or refused shown in the log.
Served and driven as tests/test_browser.py does (the Bitrix24 stand-in, a loopback Prostor SMS); screenshots go
to test-artifacts/screenshots/<database>/ as guards-<language>-NN-<step>.png.

Skipped where Chromium is not installed (`.ci/run` installs it)."""
import os
import re
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from b24sms import create_app, demo, providers
from b24sms.flows import jobs
from b24sms.store.models import Message, Portal, utcnow
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
        self.page.screenshot(path=str(SHOTS / f"guards-{self.language}-{self.shots:02d}-{name}.png"),
                             full_page=True)

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
    "ru": {"saved": "Сохранено", "stop_list": "Не отправлено: номер в стоп-листе",
           "quiet": "Ждёт: тихие часы в часовом поясе получателя", "cap": "Не отправлено: дневной лимит исчерпан",
           "bad_number": "Это не номера телефонов: hello", "cap_error": "Лимит — целое число сообщений",
           "admin": "добавил администратор", "changed": "Стоп-лист: добавлено номеров — 2, убрано — 0.",
           "remove_yes": "Да, удалить", "refused": "Не отправлено защитой"},
    "en": {"saved": "Saved", "stop_list": "Not sent: the number is on the stop list",
           "quiet": "Waiting: quiet hours in the recipient's time zone", "cap": "Not sent: today's cap is reached",
           "bad_number": "Not phone numbers: hello", "cap_error": "The cap must be a whole number of messages",
           "admin": "added by an administrator", "changed": "Stop list: 2 added, 0 removed.",
           "remove_yes": "Yes, remove", "refused": "Not sent by the guard rails"},
}
VLADIVOSTOK = "+7 423 212-34-5"  # and a last digit: Asia/Vladivostok, seven hours ahead of Moscow
MOSCOW = "+7 495 123-45-67"


def install_with_prostor(page, app, base, language):
    page.goto(f"{base}/demo/bitrix/portal?LANG={language}&install=1")
    most_used = next(iter(providers.offered(services_of(app).settings)))
    page.wait_for_selector(f"#chain li[data-kind={most_used}]")
    if most_used != "prostor":
        page.click(f"#chain li[data-kind={most_used}] .remove button")
        page.click(f"#chain li[data-kind={most_used}] button:has-text('{WORDS[language]['remove_yes']}')")
        page.wait_for_selector(f"#chain li[data-kind={most_used}]", state="detached")
        page.select_option("#add-kind", "prostor")
        page.click("#add-provider")
        page.wait_for_selector("#chain li[data-kind=prostor]")
    page.fill("[data-field='providers[0].credentials.login']", PROSTOR_LOGIN)
    page.fill("[data-field='providers[0].credentials.password']", PROSTOR_PASSWORD)
    page.fill("[data-field='providers[0].sender']", "SHOP")
    page.click("#save")
    page.wait_for_selector("#settings-saved:visible")


def send_test_sms(page, to):
    before = len(page.query_selector_all("#messages tbody tr"))
    page.fill("#test-to", to)
    page.click("#test-form button[type=submit]")
    page.wait_for_selector(f"#messages tbody tr:nth-child({before + 1})")


@pytest.mark.parametrize("language", ["ru", "en"])
def test_an_admin_sets_caps_quiet_hours_and_a_stop_list_and_reads_the_reasons_in_the_log(
        live_app, browser, prostor_server, language):
    app, base = live_app
    words = WORDS[language]
    tab = Tab(browser, language)
    page = tab.page
    install_with_prostor(page, app, base, language)
    page.wait_for_selector("#guards-section")
    assert page.input_value("#guard-repeat") == "10" and not page.is_checked("#guard-quiet")
    tab.shot("guards-defaults")

    # A cap that is no number is shown at its field, in the page's language.
    page.fill("#guard-daily-messages", "-1")
    tab.expected_refusal = "/api/settings"
    page.click("#save-guards")
    page.wait_for_selector(f"#guards-form .field-error:has-text('{words['cap_error']}')")
    tab.expected_refusal = None
    assert page.get_attribute("#guard-daily-messages", "aria-invalid") == "true"
    tab.shot("cap-error")

    # Two messages a day; quiet hours around the present hour in Moscow (it is day in Vladivostok).
    moscow = datetime.now(ZoneInfo("Europe/Moscow"))
    page.fill("#guard-daily-messages", "2")
    page.check("#guard-quiet")
    page.fill("#guard-quiet-from", (moscow - timedelta(hours=1)).strftime("%H:%M"))
    page.fill("#guard-quiet-to", (moscow + timedelta(hours=1)).strftime("%H:%M"))
    page.click("#save-guards")
    page.wait_for_selector("#guards-saved:visible")
    with services_of(app).db.session() as session:
        guards = session.scalars(select(Portal.guards).where(Portal.member_id == demo.DEMO_MEMBER_ID)).one()
    assert guards["daily_messages"] == 2 and guards["quiet_hours"]["from"] == (
        moscow - timedelta(hours=1)).strftime("%H:%M")
    tab.shot("guards-saved")

    # The stop list: a pasted list with a bad entry is refused naming it; then two numbers go in.
    page.fill("#stop-numbers", "+7 900 555-00-01\n8 900 555 00 02, hello")
    tab.expected_refusal = "/api/stop-list"
    page.click("#stop-add")
    page.wait_for_selector(f"text={words['bad_number']}")
    tab.expected_refusal = None
    tab.shot("stop-list-bad-number")
    page.fill("#stop-numbers", "+7 900 555-00-01\n8 900 555 00 02")
    page.click("#stop-add")
    page.wait_for_selector(f"#stop-result:has-text('{words['changed']}')")
    page.wait_for_selector("#stop-list tr[data-number='+79005550002']")
    assert page.inner_text("#stop-list tr[data-number='+79005550001']").count(words["admin"]) == 1
    tab.shot("stop-list")
    page.click("#stop-list tr[data-number='+79005550001'] .remove button")
    page.click(f"#stop-list tr[data-number='+79005550001'] button:has-text('{words['remove_yes']}')")
    page.wait_for_selector("#stop-list tr[data-number='+79005550001']", state="detached")

    # Each guard rail at work, its reason in the log in the admin's words.
    send_test_sms(page, "+7 900 555-00-02")  # on the stop list
    send_test_sms(page, MOSCOW)  # quiet hours there
    for last_digit in "123":  # the third passes the daily cap
        send_test_sms(page, VLADIVOSTOK + last_digit)
    for reason in ("cap", "stop_list", "quiet"):
        page.wait_for_selector(f'#messages .reason:has-text("{words[reason]}")')
    page.wait_for_selector(f"#stats-totals:has-text('{words['refused']}')")
    assert len(prostor_server[0].sent) == 2
    tab.shot("reasons-in-the-log")
    if language == "ru":
        assert tab.latin_words() == []
    assert tab.errors == []
