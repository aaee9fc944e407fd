"""What the browser tests share: Chromium and its fixtures (the app served on loopback as `make run` serves it,
a loopback Prostor SMS), a tab that records console errors and takes numbered screenshots, and a job pass that
makes the first status checks due at once. tests/conftest.py loads the fixtures (`pytest_plugins`); a test module
marks itself `pytestmark = NEEDS_CHROMIUM`.

Screenshots go to test-artifacts/screenshots/<database>/<prefix><language>-NN-<step>.jpg (a part: .png)."""
import base64
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import update

from b24sms import create_app, demo, providers
from b24sms.flows import jobs
from b24sms.store.models import Message, utcnow
from tests.fakes.prostor import FakeProstor
from tests.fakes.serving import LoopbackServer, LoopbackSite, free_port
from tests.helpers.suite import ENCRYPTION_KEY, empty_tables, on_postgres, services_of

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# One folder per database: CI runs the SQLite and the PostgreSQL suites at once.
SHOTS = (Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"
         / ("postgresql" if on_postgres() else "sqlite"))
BX24_STAND_IN = (Path(__file__).resolve().parent.parent.parent / "b24sms" / "static" / "demo" / "bx24.js").read_text()
# Words a Russian page may show in Latin letters: brand and product names, units, formats.
LATIN_ALLOWED = {"b24sms", "prostor", "sms", "smsc", "aero", "twilio", "api", "csv", "email", "sid", "auth",
                 "token", "account", "bitrix24", "local", "demo", "shop", "shop2", "http", "https", "url", "crm",
                 "e.164", "rub", "mg", "ac", "lk", "ru", "cabinet", "console", "com", "smsaero", "www", "bench",
                 "id", "gsm", "ucs", "charset", "utf", "windows"}
# ("id": the field name api_id; GSM-7 and UCS-2: the SMS encodings' names; charset=utf-8 and windows-1251: what the
# SMSC reply URL asks for)
# The demo panel names commands to type, the Bitrix24 event it posts and its other language: names, too.
DEMO_PANEL_WORDS = {"make", "jobs", "flask", "app", "wsgi", "worker", "english", "onimconnectormessageadd"}

PROSTOR_LOGIN, PROSTOR_PASSWORD = "bench", "bench-pass"
LOG_REFRESH_MS = 5000  # b24sms/static/log.js: how often the log reloads while a message moves

# CI sets B24SMS_REQUIRE_BROWSER=1: there a missing Chromium fails the run instead of skipping these tests.
NEEDS_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("B24SMS_REQUIRE_BROWSER") != "1",
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
    yield from serve_app(database_url, tmp_path, PROSTOR_API_URL=prostor_server[1])


def serve_app(database_url, tmp_path, **provider_urls):
    """Serves the app on loopback until the generator is closed: (app, base URL). `provider_urls`: the
    `<KIND>_API_URL` settings pointing at loopback fakes."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({
        "APP_ENV": "development", "DATABASE_URL": database_url, "SECRET_KEY": "browser-test-secret",
        "ENCRYPTION_KEYS": ENCRYPTION_KEY, "PUBLIC_URL": base, "B24_OAUTH_URL": base + demo.STAND_IN_PATH + "/oauth",
        "B24_CLIENT_ID": demo.DEMO_CLIENT_ID, "B24_CLIENT_SECRET": demo.DEMO_CLIENT_SECRET,
        "ENABLE_LOG_PROVIDER": True, "SPOOL_DIR": str(tmp_path / "spool"), "HTTP_TIMEOUT": 5, **provider_urls,
    }, instance_path=tmp_path / "instance")  # development reads the `.env` beside it: not the developer's
    server = LoopbackServer("127.0.0.1", port, app)
    # shutdown() waits for the loop's next look at it: every 50 ms, not the default half second.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield app, base
    server.shutdown()
    server.server_close()
    services_of(app).outbox.wait_idle(30)
    empty_tables(app)


REMOVE_YES = {"ru": "Да, удалить", "en": "Yes, remove"}


def install_provider(page, app, base, language, kind, credentials, sender="SHOP"):
    """Installs the app from the stand-in with `kind` as the only provider (the first run offers the most used
    one: it is removed first) and saves."""
    page.goto(f"{base}/demo/bitrix/portal?LANG={language}&install=1")
    most_used = next(iter(providers.offered(services_of(app).settings)))
    page.wait_for_selector(f"#chain li[data-kind={most_used}]")
    if most_used != kind:
        page.click(f"#chain li[data-kind={most_used}] .remove button")
        page.click(f"#chain li[data-kind={most_used}] button:has-text('{REMOVE_YES[language]}')")
        page.wait_for_selector(f"#chain li[data-kind={most_used}]", state="detached")
        page.select_option("#add-kind", kind)
        page.click("#add-provider")
        page.wait_for_selector(f"#chain li[data-kind={kind}]")
    for name, value in credentials.items():
        page.fill(f"[data-field='providers[0].credentials.{name}']", value)
    page.fill("[data-field='providers[0].sender']", sender)
    page.click("#save")
    page.wait_for_selector("#settings-saved:visible")


def install_prostor_in_browser(page, app, base, language):
    install_provider(page, app, base, language, "prostor", {"login": PROSTOR_LOGIN, "password": PROSTOR_PASSWORD})


@pytest.fixture(scope="session")
def chromium_by_language():
    """Chromium, started once per process and language: its UI language (`--lang`) is fixed at launch, and every
    test gets a fresh context of its own (b24sms pages share nothing between contexts)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        started = {}

        def chromium(language):
            if language not in started:
                started[language] = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                    f"--lang={language}", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            return started[language]

        yield chromium
        for process in started.values():
            process.close()


@pytest.fixture
def browser(language, chromium_by_language):
    """Chromium in the language of the test (its own controls, a date field's format, follow it)."""
    chromium = chromium_by_language(language)
    yield chromium
    for context in chromium.contexts:  # a test's tabs end with it
        context.close()


class Tab:
    """One browser page that records console errors and takes numbered screenshots."""

    def __init__(self, browser, language, prefix=""):
        self.context = browser.new_context(locale="ru-RU" if language == "ru" else "en-US",
                                           timezone_id="Europe/Moscow", viewport={"width": 1000, "height": 900})
        self.context.clock.install()  # the page's timers run in real time, until the test moves them on
        self.page = self.context.new_page()
        self.language, self.prefix, self.shots, self.errors = language, prefix, 0, []
        self._cdp = None  # Chromium's own protocol, for the whole-page screenshots
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

    def _next_path(self, name, extension="png"):
        self.shots += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        return SHOTS / f"{self.prefix}{self.language}-{self.shots:02d}-{name}.{extension}"

    def shot(self, name):
        """The whole page, as a JPEG asked of Chromium directly: the suite takes dozens of these, and a tall page's
        PNG costs Chromium about twice the time (Playwright's full-page PNG, three times); the parts looked at
        closely (shot_of) stay PNG."""
        path = self._next_path(name, "jpg")
        if self._cdp is None:
            self._cdp = self.context.new_cdp_session(self.page)
        size = self._cdp.send("Page.getLayoutMetrics")["cssContentSize"]
        answer = self._cdp.send("Page.captureScreenshot", {
            "format": "jpeg", "quality": 85, "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        path.write_bytes(base64.b64decode(answer["data"]))

    def shot_of(self, selector, name):
        """A screenshot of one part of the page (the log, a section), at full size, to look at closely."""
        path = self._next_path(name)
        from playwright.sync_api import Error as PlaywrightError  # imported where used, as the launch's is

        try:
            self.page.locator(selector).screenshot(path=str(path))
        except PlaywrightError:  # redrawn as it was taken (an answer that came in redraws the part): once more
            self.page.wait_for_load_state("networkidle")
            self.page.locator(selector).screenshot(path=str(path))

    def latin_words(self):
        """Words of the visible page in Latin letters that are not names: English left on a Russian page."""
        text = self.page.inner_text("body")
        words = {word.lower().strip(".") for word in re.findall(r"[A-Za-z][A-Za-z0-9.]*", text)}
        # Domains (demo.bitrix24.local, smsc.ru) are names too.
        brands = {word.lower() for cls in providers.PROVIDERS.values()
                  for word in re.findall(r"[A-Za-z0-9]+", cls.title)}
        return sorted(word for word in words if word not in LATIN_ALLOWED | brands and "." not in word
                      and not re.fullmatch(r"[a-z]?\d+", word))


def job_pass(app):
    """One job pass, first polls made due at once (the first status check waits 30 s otherwise)."""
    database = services_of(app).db
    with database.session() as session:
        session.execute(update(Message).where(Message.due_at.is_not(None)).values(due_at=utcnow()))
        session.commit()
    return jobs.run_once(services_of(app))
