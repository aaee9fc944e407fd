"""The settings page in a real headless Chromium (Debian's `chromium`, driven by Playwright), as a portal admin
uses it: installed from the Bitrix24 stand-in (b24sms/demo) on a LANG=ru portal and on an English one, with a
loopback Prostor SMS behind it. Screenshots of every step go to test-artifacts/screenshots/<database>/.

Skipped where Chromium is not installed (`.ci/run` installs it)."""
from pathlib import Path

import pytest
from sqlalchemy import select

from b24sms import demo, providers
from b24sms.store.models import Portal, ProviderAccount
from tests.helpers.browser import LOG_REFRESH_MS, NEEDS_CHROMIUM, PROSTOR_LOGIN, PROSTOR_PASSWORD, Tab, job_pass
from tests.helpers.suite import services_of

pytestmark = NEEDS_CHROMIUM


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
    job_pass(app)
    job_pass(app)
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
