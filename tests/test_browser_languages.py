"""The settings page finished in both languages, in a real headless Chromium: no English left on the Russian page
(demo panel included), numbers and plural forms as the language has them, the test number checked at its field,
long texts clipped with a way to open them, a failed message's trail opened and the message sent again, and the
page at 1000 px and at 420 px (no sideways scroll). Served and driven as tests/test_browser_guards.py does (the
fixtures of tests/helpers/browser.py); screenshots go to test-artifacts/screenshots/<database>/ as
languages-<language>-NN-<step>.png.

Skipped where Chromium is not installed (`.ci/run` installs it)."""
import re

import pytest

from b24sms.i18n import format_money, format_number
from tests.helpers.browser import DEMO_PANEL_WORDS, NEEDS_CHROMIUM, Tab, install_prostor_in_browser

pytestmark = NEEDS_CHROMIUM

# Prostor's own words for a refused number: quoted as the provider said them, in every language.
PROVIDER_WORDS = {"invalid", "mobile", "phone"}
LONG_TEXT = {"ru": "Длинный текст сообщения для проверки переноса строк. " * 23,
             "en": "A long message text to see how the lines wrap. " * 26}
PAGE = {
    "ru": {"invalid_phone": "На этот номер нельзя отправить SMS.", "show_all": "Показать целиком",
           "hide": "Свернуть", "details": "Подробнее", "resend": "Отправить ещё раз",
           "resent": "Отправлено повторно", "refused": "Prostor SMS отклонил номер",
           "stored": "Сохранено: ждёт отправки",
           "plurals": {1: "1 SMS-часть", 2: "2 SMS-части", 5: "5 SMS-частей", 21: "21 SMS-часть"}},
    "en": {"invalid_phone": "This is not a phone number that can receive SMS.", "show_all": "Show all",
           "hide": "Hide", "details": "Details", "resend": "Send again", "resent": "Sent again",
           "refused": "Prostor SMS refused the number", "stored": "Stored: waiting to be sent",
           "plurals": {1: "1 SMS segment", 2: "2 SMS segments", 5: "5 SMS segments", 21: "21 SMS segments"}},
}


class LanguageTab(Tab):
    def __init__(self, browser, language):
        super().__init__(browser, language, prefix="languages-")

    def english_left(self):
        """Latin words that are no name, no provider's quoted words and no Bitrix24 message id (32 hex digits)."""
        return [word for word in self.latin_words()
                if word not in PROVIDER_WORDS | DEMO_PANEL_WORDS and not _hex_id(word)]

    def sideways(self):
        """How far the page scrolls sideways (0: not at all)."""
        return self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def send_test(page, to, text=None):
    before = len(page.query_selector_all("#messages tbody tr:not(.details)"))
    page.fill("#test-to", to)
    if text is not None:
        page.fill("#test-text", text)
    page.click("#test-form button[type=submit]")
    page.wait_for_selector(f"#messages tbody tr:not(.details):nth-child({before + 1})")


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_page_in_both_languages_at_1000_and_420_px(live_app, browser, prostor_server, language):
    app, base = live_app
    words = PAGE[language]
    tab = LanguageTab(browser, language)
    page = tab.page
    install_prostor_in_browser(page, app, base, language)
    page.wait_for_selector("#tools")
    # The default test text is in the page's language.
    default_text = "Тестовое сообщение b24sms" if language == "ru" else "b24sms test message"
    assert page.input_value("#test-text") == default_text

    # Numbers and plural forms: the page formats as the server does in notices.
    assert page.evaluate("b24sms.money(1234.5)") == format_money(language, 1234.5)
    assert page.evaluate("b24sms.number(1234567)") == format_number(language, 1234567)
    for n, expected in words["plurals"].items():
        assert page.evaluate(f"b24sms.tn('segments_count', {n})") == expected

    # A number that is obviously none is refused at its field before anything is sent; one the server refuses too.
    page.fill("#test-to", "call me")
    page.click("#test-form button[type=submit]")
    page.wait_for_selector(f"#tools .field-error:has-text('{words['invalid_phone']}')")
    assert page.get_attribute("#test-to", "aria-invalid") == "true"
    tab.expected_refusal = "/api/test-sms"
    page.fill("#test-to", "+7 900 12")
    page.click("#test-form button[type=submit]")
    page.wait_for_selector(f"#tools .field-error:has-text('{words['invalid_phone']}')")
    tab.expected_refusal = None
    tab.shot("invalid-number")
    tab.shot_of("#tools", "invalid-number-at-the-field")

    # A long text is clipped to a few lines and opens in place.
    send_test(page, "+7 916 123-45-67", LONG_TEXT[language])
    row = page.locator("#messages tbody tr:not(.details)").first
    clipped = row.locator("td.text .clip").bounding_box()["height"]
    assert clipped < 80
    row.locator(f"td.text button:has-text('{words['show_all']}')").click()
    assert row.locator("td.text .clip").bounding_box()["height"] > 3 * clipped
    row.locator(f"td.text button:has-text('{words['hide']}')").click()
    assert row.locator("td.text .clip").bounding_box()["height"] == clipped

    # A failed message: its whole trail opens, and the admin sends it again.
    prostor_server[0].next_send_status = ["invalid mobile phone"]
    send_test(page, "+7 916 765-43-21", "Проверка" if language == "ru" else "Check")
    failed = page.locator("#messages tbody tr:not(.details)").first
    failed.locator(f"button:has-text('{words['details']}')").click()
    page.wait_for_selector(f"#messages tr.details li:has-text('{words['refused']}')")
    tab.shot("trail-1000px")
    page.click(f"#messages tr.details button:has-text('{words['resend']}')")
    page.wait_for_selector(f"#messages tr.details :has-text('{words['resent']}')")
    page.wait_for_selector("#messages tbody tr:not(.details):nth-child(4)")  # the new message, above the others
    assert len(prostor_server[0].sent) == 2
    assert tab.sideways() == 0
    tab.shot("log-1000px")
    tab.shot_of("#log-section", "log-section-1000px")
    if language == "ru":
        assert tab.english_left() == []

    # 420 px: a card per message, nothing scrolls sideways.
    page.set_viewport_size({"width": 420, "height": 900})
    assert tab.sideways() == 0
    assert page.locator("#messages thead").is_hidden()
    tab.shot("log-420px")
    tab.shot_of("#log-section", "log-section-420px")

    # The demo panel: a simulated CRM send and the handler's answer in words.
    page.set_viewport_size({"width": 1000, "height": 900})
    page.goto(f"{base}/demo?lang={language}")
    page.wait_for_selector("#demo-send:not([disabled])")
    page.click("#demo-send")
    page.wait_for_selector(f"#demo-told td:has-text('{words['stored']}')")
    tab.shot("demo-1000px")
    tab.shot_of("#demo-panel", "demo-panel-1000px")
    if language == "ru":
        assert tab.english_left() == []
    page.set_viewport_size({"width": 420, "height": 900})
    assert tab.sideways() == 0
    tab.shot("demo-420px")
    assert tab.errors == []


def _hex_id(word):
    """A Bitrix24 message id (32 hex digits), or the part of one that starts with a letter."""
    return len(word) >= 8 and re.fullmatch(r"[0-9a-f]+", word) is not None and any(c.isdigit() for c in word)
