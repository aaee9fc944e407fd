"""Length and cost on the settings page in a real headless Chromium, in Russian and in English (issue 20, item 1):
the test SMS's characters, encoding and segments counted as the text is typed, by the server's own rule; the
log's price of a message SMSC billed; the spend per provider, per day and month to date, and "unknown" where a
provider stated no price. Served and driven with tests/helpers/browser.py (the Bitrix24 stand-in), against a
loopback SMSC; screenshots go to test-artifacts/screenshots/<database>/ as costs-<language>-NN-<step>.png.

Skipped where Chromium is not installed (`.ci/run` installs it)."""

import pytest
from sqlalchemy import select

from b24sms import demo
from b24sms.rules.segments import measure
from b24sms.store.models import Portal, utcnow
from tests.fakes.serving import LoopbackSite
from tests.fakes.smsc import FakeSmsc
from tests.helpers.browser import NEEDS_CHROMIUM, Tab, install_provider, serve_app
from tests.helpers.rows import stored_message
from tests.helpers.segments import SEGMENT_TABLE
from tests.helpers.suite import services_of

pytestmark = NEEDS_CHROMIUM

SMSC_LOGIN, SMSC_PASSWORD = "shop-login", "shop-pass"

EXPECTED = {
    "ru": {"hello": "22 символа · GSM-7 · 1 SMS-часть", "cyrillic": "71 символ · UCS-2 · 2 SMS-части",
           "emoji": "5 символов · UCS-2 · 1 SMS-часть", "price": "1,40\xa0₽", "month": "С начала месяца: 1,40\xa0₽",
           "unpriced": "1 сообщение без известной цены", "unknown": "неизвестно"},
    "en": {"hello": "22 characters · GSM-7 · 1 segment", "cyrillic": "71 characters · UCS-2 · 2 segments",
           "emoji": "5 characters · UCS-2 · 1 segment", "price": "RUB\xa01.40", "month": "Month to date: RUB\xa01.40",
           "unpriced": "1 message with no known price", "unknown": "unknown"},
}


class CostsTab(Tab):
    def __init__(self, browser, language):
        super().__init__(browser, language, prefix="costs-")


@pytest.fixture
def smsc_server():
    site = LoopbackSite()
    url = f"{site.url}/sys/"
    fake = site.add(FakeSmsc(login=SMSC_LOGIN, password=SMSC_PASSWORD, base=url))
    yield fake, url
    site.close()


@pytest.fixture
def smsc_app(database_url, tmp_path, smsc_server):
    """The app served on loopback as `make run` serves it, SMSC on loopback."""
    yield from serve_app(database_url, tmp_path, SMSC_API_URL=smsc_server[1])


def install_with_smsc(page, app, base, language):
    install_provider(page, app, base, language, "smsc", {"login": SMSC_LOGIN, "password": SMSC_PASSWORD})


@pytest.mark.parametrize("language", ["ru", "en"])
def test_length_as_typed_the_price_in_the_log_and_the_spend(smsc_app, browser, smsc_server, language):
    app, base = smsc_app
    expected = EXPECTED[language]
    tab = CostsTab(browser, language)
    page = tab.page
    install_with_smsc(page, app, base, language)

    # The counter follows the text as it is typed, in the page's language and plural forms.
    page.fill("#test-text", "")
    page.type("#test-text", "Hello from the counter")
    page.wait_for_selector(f"#test-length:has-text('{expected['hello']}')")
    tab.shot("counter-latin")
    page.fill("#test-text", "ж" * 71)
    page.wait_for_selector(f"#test-length:has-text('{expected['cyrillic']}')")
    tab.shot("counter-cyrillic")
    tab.shot_of("#tools", "counter-close-up")
    page.fill("#test-text", "Hi 😀!")
    page.wait_for_selector(f"#test-length:has-text('{expected['emoji']}')")

    # The page's count is the server's, text for text.
    texts = [text for text, *_ in SEGMENT_TABLE]
    assert page.evaluate("texts => texts.map(t => window.b24sms.measure(t))", texts) == \
        [measure(text).as_json() for text in texts]

    # A test SMS that SMSC billed 1.40 roubles: its price in the log, and the month's spend.
    page.fill("#test-text", "Привет" if language == "ru" else "Hello")  # one segment: 1.40
    page.fill("#test-to", "+7 900 555-00-01")
    page.click("#test-form button[type=submit]")
    page.wait_for_selector(f"#messages tbody tr .cost:has-text('{expected['price']}')")
    page.wait_for_selector(f"#spend-month:has-text('{expected['month']}')")
    assert len(smsc_server[0].sent) == 1
    tab.shot("price-and-spend")

    # A message a provider took without a price: counted as such, never as 0.
    with services_of(app).db.session() as session:
        portal_id = session.scalars(select(Portal.id).where(Portal.member_id == demo.DEMO_MEMBER_ID)).one()
        unpriced = stored_message(session, portal_id, state="delivered", created_at=utcnow(), provider="prostor")
        unpriced.body = "Привет" if language == "ru" else "Hello"
        session.commit()
    page.click("#log-filters button[type=submit]")
    page.wait_for_selector(f"#spend-unpriced:has-text('{expected['unpriced']}')")
    page.wait_for_selector(f"#spend-by-provider:has-text('{expected['unknown']}')")
    assert page.inner_text("#spend-by-provider").count(expected["price"]) == 1
    tab.shot("spend-unknown")
    tab.shot_of("#stats-section", "spend-section")
    tab.shot_of("#log-section", "log-prices")

    if language == "ru":
        assert tab.latin_words() == []
    assert tab.errors == []
