"""The demo's two-way loop in a real headless Chromium, as a developer tries it after `make run`: on /demo the
provider "Log only" saved, the demo number connected to the stand-in's Open Line 1 from the panel, a client's
reply simulated and handed to the line by a job pass, the operator's answer simulated, sent, and marked delivered
in the line's chat after the next pass. In Russian and in English; screenshots go to
test-artifacts/screenshots/<database>/ as demo-two-way-<language>-NN-<step>.png.

Skipped where Chromium is not installed (`.ci/run` installs it)."""
import re

import pytest

from b24sms.demo.two_way import DEMO_REPLY_NUMBER
from tests.helpers.browser import DEMO_PANEL_WORDS, LATIN_ALLOWED, NEEDS_CHROMIUM, Tab, job_pass, serve_app

pytestmark = NEEDS_CHROMIUM

STATE_REFRESH_MS = 4000  # b24sms/static/demo/demo.js: how often the panel asks the stand-in what it holds
WORDS = {
    "ru": {"connected": "подключена к b24sms", "stored": "сохранил его", "taken": "принят линией",
           "answer": "Да, готов: приходите после 17:00.", "sent": "отправляет его по SMS",
           "waiting": "ждёт подтверждения доставки", "delivered": "доставлен по SMS"},
    "en": {"connected": "is connected to b24sms", "stored": "which stored it", "taken": "taken by the line",
           "answer": "Yes, it is ready: come after 5 pm.", "sent": "which sends it as an SMS",
           "waiting": "waiting for b24sms to confirm delivery", "delivered": "delivered as SMS"},
}


@pytest.fixture
def demo_app(database_url, tmp_path):
    """The app served on loopback as `make run` serves it: the demo and its stand-in on PUBLIC_URL."""
    yield from serve_app(database_url, tmp_path)


def english_left(page):
    """Latin words of the demo panel that are no name (the rest of the page: tests/test_browser_languages.py)."""
    text = page.inner_text("#demo-panel")
    words = {word.lower().strip(".") for word in re.findall(r"[A-Za-z][A-Za-z0-9.]*", text)}
    return sorted(word for word in words - DEMO_PANEL_WORDS - LATIN_ALLOWED
                  if "." not in word and not re.fullmatch(r"[a-z]?\d+", word))


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_demo_shows_a_reply_reaching_the_line_and_the_operators_answer_going_out(demo_app, browser, language):
    app, base = demo_app
    words = WORDS[language]
    tab = Tab(browser, language, prefix="demo-two-way-")
    page = tab.page

    # The first run offers "Log only" on the demo portal; saving it registers the sender and the connector.
    page.goto(f"{base}/demo?lang={language}")
    page.wait_for_selector("#chain li[data-kind=log]")
    assert page.is_visible("#demo-no-log")
    page.click("#save")
    page.wait_for_selector("#settings-saved:visible")

    # One click: the demo number on the provider, Open Line 1 connected; the page reloads to show the number.
    with page.expect_navigation():
        page.click("#demo-connect-line")
    page.wait_for_selector(f"#demo-line-state.ok:has-text('{words['connected']}')")
    assert page.input_value("[data-field='providers[0].reply_numbers[0]']") == DEMO_REPLY_NUMBER
    assert not page.is_visible("#demo-no-log") and not page.is_visible("#demo-answer-chat")
    assert not page.is_visible("#demo-connect-line")  # done: the stand-in's restarts reconnect it by themselves
    tab.shot("connected")

    # A client's reply: pushed to b24sms as a provider pushes it, then handed to the line by a job pass.
    page.click("#demo-reply-send")
    page.wait_for_selector(f"#demo-two-way-result.ok:has-text('{words['stored']}')")
    assert "make jobs" in page.inner_text("#demo-two-way-result")
    tab.shot("reply-stored")
    job_pass(app)
    page.clock.fast_forward(STATE_REFRESH_MS)
    page.wait_for_selector(f"#demo-chat tr.demo-chat-client:has-text('{words['taken']}')")
    assert page.input_value("#demo-answer-chat") == "+79001234567"
    tab.shot_of("#demo-two-way", "reply-in-the-line")

    # The operator's answer: posted as Bitrix24's event, sent as an SMS, in the page's log at once.
    page.click("#demo-answer-send")
    page.wait_for_selector(f"#demo-two-way-result.ok:has-text('{words['sent']}')")
    page.wait_for_selector(f"#demo-chat tr.demo-chat-operator:has-text('{words['waiting']}')")
    page.wait_for_selector(f"#messages td:has-text('{words['answer']}')")
    tab.shot("answer-sent")

    # The next pass confirms it to the line: the chat marks it delivered.
    job_pass(app)
    page.clock.fast_forward(STATE_REFRESH_MS)
    page.wait_for_selector(f"#demo-chat tr.demo-chat-operator td.ok:has-text('{words['delivered']}')")
    rows = page.eval_on_selector_all("#demo-chat tbody tr", "rows => rows.map(function (r) { return r.className; })")
    assert rows == ["demo-chat-client", "demo-chat-operator"]
    tab.shot("answer-delivered")
    tab.shot_of("#demo-two-way", "two-way-panel")
    if language == "ru":
        assert english_left(page) == []

    page.set_viewport_size({"width": 420, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0
    tab.shot_of("#demo-two-way", "two-way-panel-420px")
    assert tab.errors == []


@pytest.mark.parametrize("language", ["en"])
def test_the_panel_shows_no_two_way_controls_to_an_employee(demo_app, browser, language):
    _, base = demo_app
    tab = Tab(browser, language, prefix="demo-two-way-employee-")
    tab.page.goto(f"{base}/demo?lang={language}&admin=0")
    tab.page.wait_for_selector("#demo-panel")
    assert tab.page.query_selector("#demo-two-way") is None
    assert not re.search(r"two_way\.js", tab.page.content())
    assert tab.errors == []
