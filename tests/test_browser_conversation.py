"""The log with the clients' replies, and one client's conversation, in a real headless Chromium, in Russian and in
English: replies marked incoming with the Open Line they went to and where they stand, an operator's answer with
its line, the replies' filter, a number's conversation oldest first like a chat (a narrow frame too), and back.
Served as tests/test_browser.py serves the app (the Bitrix24 stand-in, a loopback Prostor SMS); the messages are
rows as the flows leave them. Screenshots go to test-artifacts/screenshots/<database>/ as
conversation-<language>-NN-<step>.png."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from b24sms import demo
from b24sms.store.models import Portal, utcnow
from tests.helpers.browser import NEEDS_CHROMIUM, Tab, install_prostor_in_browser
from tests.helpers.rows import stored_message, stored_reply
from tests.helpers.suite import services_of

pytestmark = NEEDS_CHROMIUM

CLIENT, OTHER, OUR_NUMBER = "+79161234567", "+79035550000", "+79990000001"
TEXTS = {
    "ru": ["Ваш заказ готов, забрать можно в пункте выдачи на Тверской, 7.", "Можно забрать завтра после работы?",
           "Да, пункт работает до 21:00.", "Спасибо!", "СТОП"],
    "en": ["Your order is ready at the pick-up point on Main Street 7.", "Can I collect it tomorrow after work?",
           "Yes, the point is open until 9 pm.", "Thank you!", "STOP"],
}
WORDS = {
    "ru": {"incoming": "Входящее", "outgoing": "Исходящее", "in_line": "В открытой линии", "line": "Открытая линия 3",
           "operator": "Ответ оператора", "no_line": "Ни одна открытая линия не принимает ответы на этот номер",
           "waiting": "Ждёт передачи в открытую линию", "stop": "Стоп-слово: номер теперь в стоп-листе.",
           "every_reply": "Все ответы", "to": f"на {OUR_NUMBER}", "title": f"Переписка с {CLIENT}",
           "delivered": "Доставлено"},
    "en": {"incoming": "Incoming", "outgoing": "Outgoing", "in_line": "In the Open Line", "line": "Open Line 3",
           "operator": "Operator's answer", "no_line": "No Open Line takes replies to this number",
           "waiting": "Waiting for the Open Line", "stop": "A stop word: the number is on the stop list now.",
           "every_reply": "Every reply", "to": f"to {OUR_NUMBER}", "title": f"Conversation with {CLIENT}",
           "delivered": "Delivered"},
}


def seed(app, language):
    """A client's conversation (an SMS from a CRM card, their reply in Open Line 3, the operator's answer, a reply
    still on its way to the line) and another client's STOP to a number no line takes."""
    sent, reply, answer, thanks, stop = TEXTS[language]
    now = utcnow()
    with services_of(app).db.session() as session:
        portal_id = session.scalars(select(Portal.id).where(Portal.member_id == demo.DEMO_MEMBER_ID)).one()
        crm = stored_message(session, portal_id, state="delivered", created_at=now - timedelta(minutes=50))
        crm.body, crm.origin, crm.sender = sent, {"module_id": "crm", "bindings": []}, "SHOP"
        stored_reply(session, portal_id, created_at=now - timedelta(minutes=40), sender=CLIENT, text=reply,
                     receiver=OUR_NUMBER, provider="prostor")
        operator = stored_message(session, portal_id, state="delivered", created_at=now - timedelta(minutes=30))
        operator.body, operator.line = answer, "3"
        operator.origin = {"module_id": "imopenlines", "line": "3", "chat": {"id": CLIENT}}
        stored_reply(session, portal_id, created_at=now - timedelta(minutes=20), sender=OTHER, text=stop,
                     receiver=OUR_NUMBER, state="no_line", line=None, provider="prostor").stop_word = True
        stored_reply(session, portal_id, created_at=now - timedelta(minutes=10), sender=CLIENT, text=thanks,
                     receiver=OUR_NUMBER, state="pending", line=None, provider="prostor")
        session.commit()


def show_log(page):
    page.click("#log-filters button[type=submit]")


@pytest.mark.parametrize("language", ["ru", "en"])
def test_an_admin_reads_replies_in_the_log_and_a_clients_conversation(live_app, browser, language):
    app, base = live_app
    words, (sent, reply, answer, thanks, stop) = WORDS[language], TEXTS[language]
    tab = Tab(browser, language, prefix="conversation-")
    page = tab.page
    install_prostor_in_browser(page, app, base, language)
    seed(app, language)
    show_log(page)

    # The log: replies marked incoming, with their line and state; the operator's answer with its line.
    page.wait_for_selector(f"#messages tbody tr[data-direction=in]:has-text('{reply}')")
    rows = page.locator("#messages tbody tr:not(.details)")
    assert [row.get_attribute("data-direction") for row in rows.all()][:5] == ["in", "in", "out", "in", "out"]
    reply_row = page.locator(f"#messages tbody tr[data-direction=in]:has-text('{reply}')")
    assert words["incoming"] in reply_row.inner_text() and words["in_line"] in reply_row.inner_text()
    assert words["line"] in reply_row.inner_text() and words["to"] in reply_row.inner_text()
    stop_row = page.locator(f"#messages tbody tr[data-direction=in]:has-text('{stop}')")
    assert words["no_line"] in stop_row.inner_text() and words["stop"] in stop_row.inner_text()
    answer_row = page.locator(f"#messages tbody tr[data-direction=out]:has-text('{answer}')")
    assert words["operator"] in answer_row.inner_text() and words["line"] in answer_row.inner_text()
    tab.shot_of("#log-section", "log-with-replies")

    # Only the replies.
    page.select_option("#filter-status", label=words["every_reply"])
    show_log(page)
    page.wait_for_selector(f"#messages tbody tr[data-direction=out]:has-text('{sent}')", state="detached")
    assert page.locator("#messages tbody tr:not(.details)").count() == 3
    page.select_option("#filter-status", index=0)
    show_log(page)
    page.wait_for_selector(f"#messages tbody tr[data-direction=out]:has-text('{sent}')")

    # A client's number opens the conversation: every SMS and reply, oldest first, each with its way and state.
    page.locator(f"#messages tbody tr:has-text('{sent}') button.number").click()
    page.wait_for_selector(f"#conversation-title:has-text('{words['title']}')")
    page.wait_for_selector(f"#conversation-thread li:has-text('{thanks}')")
    bubbles = page.locator("#conversation-thread li")
    assert [bubble.locator(".body").inner_text() for bubble in bubbles.all()] == [sent, reply, answer, thanks]
    assert [bubble.get_attribute("data-direction") for bubble in bubbles.all()] == ["out", "in", "out", "in"]
    assert words["line"] in bubbles.nth(1).inner_text() and words["in_line"] in bubbles.nth(1).inner_text()
    assert words["incoming"] in bubbles.nth(1).inner_text() and words["outgoing"] in bubbles.nth(2).inner_text()
    assert words["line"] in bubbles.nth(2).inner_text() and words["delivered"] in bubbles.nth(2).inner_text()
    assert words["waiting"] in bubbles.nth(3).inner_text()
    assert page.locator("#messages").is_hidden() and stop not in page.inner_text("#conversation")
    tab.shot_of("#log-section", "conversation")
    if language == "ru":
        assert tab.latin_words() == []

    # In a narrow frame the bubbles fit: nothing scrolls sideways.
    page.set_viewport_size({"width": 380, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.shot_of("#log-section", "conversation-narrow")
    page.set_viewport_size({"width": 1000, "height": 900})

    page.click("#conversation-close")
    page.wait_for_selector("#messages", state="visible")
    assert page.locator("#conversation").is_hidden()
    page.set_viewport_size({"width": 380, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.shot_of("#log-section", "log-narrow")
    assert tab.errors == []
