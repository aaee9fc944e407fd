"""The guard rails on the settings page in a real headless Chromium, in Russian and in English: caps, quiet
hours and the stop list set by an admin, and the reasons messages were held or refused shown in the log.
Served and driven as tests/test_browser.py does (the Bitrix24 stand-in, a loopback Prostor SMS); screenshots go
to test-artifacts/screenshots/<database>/ as guards-<language>-NN-<step>.png.

Skipped where Chromium is not installed (`.ci/run` installs it)."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from b24sms import demo
from b24sms.store.models import Portal
from tests.helpers.browser import NEEDS_CHROMIUM, Tab, install_prostor_in_browser
from tests.helpers.suite import services_of

pytestmark = NEEDS_CHROMIUM


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
    tab = Tab(browser, language, prefix="guards-")
    page = tab.page
    install_prostor_in_browser(page, app, base, language)
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
