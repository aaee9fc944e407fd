"""Every word a user sees, in English and in Russian: the CSV's worded columns (codes kept beside them), plural
forms wherever a number meets a noun, failures on the way to a provider in words, the demo panel's answers,
numbers formatted alike in notices and on the page, and the test form's number refused at its field."""
import csv
import io
import json
import re

import pytest

from b24sms.bitrix import notices
from b24sms.demo import crm
from b24sms.i18n import format_money, format_number, translate_to
from b24sms.providers import transport
from b24sms.rules import handler_call
from b24sms.rules.errors import BadRequest
from b24sms.web import message_words
from tests.helpers import bearer, install_with_prostor, open_page, post_sms

RAW_WORDS = {"queued", "failed", "accepted", "received", "invalid_recipient", "repeat", "retry_later"}


def export(client, token):
    text = client.get("/api/messages.csv", headers=bearer(token)).get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("lang, words", [
    ("ru", {"status": "Статус", "state": "Ошибка", "code": "Код статуса", "error": "Код ошибки",
            "refused": "Prostor SMS отклонил номер: invalid mobile phone", "told": "Статус в Битрикс24",
            "repeat": "Не отправлено: этот же текст", "tried": "Prostor SMS: номер отклонён"}),
    ("en", {"status": "Status", "state": "Failed", "code": "Status code", "error": "Error code",
            "refused": "Prostor SMS refused the number: invalid mobile phone", "told": "Bitrix24 status",
            "repeat": "Not sent: the same text", "tried": "Prostor SMS: number refused"}),
])
def test_the_csv_is_worded_in_the_admins_language_and_keeps_the_codes(client, bitrix, prostor, lang, words):
    install_with_prostor(client, bitrix)
    _, token = open_page(client, bitrix, path="/", lang=lang)
    prostor.next_send_status = ["invalid mobile phone"]
    post_sms(client, bitrix, 1, text="Same text")
    post_sms(client, bitrix, 2, phone="+7 916 765-43-21", text="Again")
    post_sms(client, bitrix, 3, phone="+7 916 765-43-21", text="Again")  # a repeat

    repeat, accepted, refused = export(client, token)

    assert refused[words["status"]] == words["state"] and refused[words["code"]] == "failed"
    assert refused[words["error"]] == "invalid_recipient"
    assert words["refused"] in refused.values() and words["tried"] in refused.values()
    assert accepted[words["code"]] == "accepted" and repeat[words["code"]] == "failed"
    assert any(value.startswith(words["repeat"]) for value in repeat.values())
    headings = list(refused)
    told = headings[headings.index(words["code"]) + 1]  # the status Bitrix24 was told, in words
    assert told == words["told"]
    if lang == "en":  # where the English word and the code are one ("failed"), there is nothing more to see
        return
    # The worded columns hold no code; the code columns hold nothing but codes.
    for row in (repeat, accepted, refused):
        worded = [value for heading, value in row.items() if "код" not in heading.lower()
                  and "code" not in heading.lower() and heading != "Id сообщения в Битрикс24"]
        assert not RAW_WORDS & set(worded), (RAW_WORDS & set(worded), row)
        # No English sentence either (the texts sent are the suite's; Prostor's own words are quoted).
        english = [value for value in worded if re.search(r"[A-Za-z]{3,} [a-z]{3,}", value)]
        assert set(english) <= {"Same text", words["refused"]}, english
        assert row[told] not in RAW_WORDS


def test_plural_forms_for_one_two_five_and_twenty_one_in_russian(client, bitrix):
    response, _ = open_page(client, bitrix, lang="ru")
    page = json.loads(re.search(r'id="page-data">(.*?)</script>', response.get_data(as_text=True), re.S).group(1))
    forms = page["strings"]["segments_count"]
    assert forms == {"one": "%(n)s SMS-часть", "few": "%(n)s SMS-части", "many": "%(n)s SMS-частей"}
    # The server side: an error with a count, in the form its number asks for.
    for limit, ending in ((1, "символа."), (2, "символов."), (5, "символов."), (21, "символа.")):
        with pytest.raises(BadRequest) as refused:
            handler_call._field("message_to", "x" * (limit + 1), limit)
        assert translate_to("ru", refused.value.template, refused.value.params).endswith(ending)
        assert refused.value.message.endswith("character." if limit == 1 else "characters.")
    assert [translate_to("ru", page_template(), {"n": n}) for n in (1, 2, 5, 21, 11, 22)] == [
        "1 SMS-часть", "2 SMS-части", "5 SMS-частей", "21 SMS-часть", "11 SMS-частей", "22 SMS-части"]


def page_template():
    from b24sms.web.page_strings import STRINGS
    return STRINGS["segments_count"]


def test_the_english_page_has_two_forms(client, bitrix):
    response, _ = open_page(client, bitrix, lang="en")
    page = json.loads(re.search(r'id="page-data">(.*?)</script>', response.get_data(as_text=True), re.S).group(1))
    assert page["strings"]["segments_count"] == {"one": "%(n)s SMS segment", "other": "%(n)s SMS segments"}


@pytest.mark.parametrize("code, ru, en", [
    ("retry_later:network", "Не удалось связаться с SMS.RU: соединение не установлено.",
     "SMS.RU could not be reached: no connection could be made."),
    ("answer_lost:timeout", "SMS.RU не ответил вовремя или оборвал соединение.",
     "SMS.RU did not answer in time or dropped the connection."),
    ("retry_later:tls", "Не удалось установить защищённое соединение (TLS) с SMS.RU.",
     "The secure connection (TLS) to SMS.RU could not be set up."),
    ("retry_later:http_503", "SMS.RU ответил ошибкой сервера 503.", "SMS.RU answered with server error 503."),
    ("answer_lost:answer_too_large", "SMS.RU прислал ответ намного длиннее", "SMS.RU answered with far more data"),
])
def test_failures_on_the_way_to_a_provider_are_worded(app, code, ru, en):
    for language, expected in (("ru", ru), ("en", en)):
        with app.test_request_context(headers={"Accept-Language": language}):
            words = message_words.error_words("smsru", code, "SMS.RU could not be reached (ConnectionError)")
        assert words.startswith(expected) and "ConnectionError" not in words
    assert transport.failure("invalid_recipient:7") is None and transport.failure("retry_later:http_400") is None


def test_a_provider_down_while_the_admin_asks_is_told_in_words(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)  # a Russian portal
    prostor.fail_next.append(503)
    down = client.get("/api/sender-names?kind=prostor", headers=bearer(token))
    assert down.status_code == 502
    assert down.get_json()["message"] == "Prostor SMS ответил ошибкой сервера 503. Попробуем ещё раз позже."


def test_the_demo_panel_speaks_the_pages_language(client):
    page = client.get("/demo?lang=ru").get_data(as_text=True)
    assert 'data-word-answer-stored="Сохранено: %(state)s"' in page
    assert 'data-word-state-received="Ждёт отправки"' in page
    assert 'data-word-answer-refused="Отклонено с ошибкой %(status)s: %(message)s"' in page
    assert translate_to("ru", crm.UNREACHABLE["network"]).startswith("Не удалось связаться с адресом")


@pytest.mark.parametrize("language, balance, cap", [("ru", "1\xa0234,50 RUB", "1\xa0000 SMS"),
                                                    ("en", "1,234.50 RUB", "1,000 SMS")])
def test_numbers_in_notices_are_formatted_as_on_the_page(language, balance, cap):
    low = notices.compose(notices.LOW_BALANCE, language, "prostor",
                          {"balance": "1234.5", "threshold": "2000", "currency": "RUB"})
    capped = notices.compose(notices.DAILY_CAP, language, None, {"cap": "1000 SMS"})
    assert balance in low and cap in capped
    # One helper per language, the same the page's Intl.NumberFormat gives (tests/test_browser_languages.py).
    assert format_money(language, 1234.5, "RUB") == balance
    assert format_number(language, 1000) + " SMS" == cap


def test_the_test_form_refuses_a_bad_number_at_its_field_in_the_pages_language(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)

    refused = client.post("/api/test-sms", json={"to": "12"}, headers=bearer(token))
    sent = client.post("/api/test-sms", json={"to": "+79161234567"}, headers=bearer(token))

    assert refused.status_code == 400
    assert refused.get_json() == {"error": "invalid_phone", "message": "На этот номер нельзя отправить SMS.",
                                  "field": "to"}
    assert sent.get_json()["text"] == "Тестовое сообщение b24sms"  # the default text, in the admin's language
