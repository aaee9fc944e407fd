"""The log with the clients' replies in it (GET /api/messages, /api/messages.csv): replies and SMS sent merged newest
first, paged across both kinds without a skip or a repeat (ties in time too), the filters on both, one number's
conversation, the CSV's rows and columns, what a non-admin sees, and bad parameters."""
import csv
import io
import re
from datetime import datetime, timedelta

import pytest

from b24sms.store.models import Message, utcnow
from tests.helpers import bearer, open_page, run_job
from tests.helpers.rows import installed_portal_id, stored_message, stored_reply
from tests.helpers.two_way import OUR_NUMBER, answer_in_line, connect_twilio_line, push_reply

CLIENT, OTHER = "+79161234567", "+79035550000"


def log(client, token, query=""):
    answer = client.get(f"/api/messages?{query}", headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def csv_rows(client, token, query=""):
    answer = client.get(f"/api/messages.csv?{query}", headers=bearer(token))
    assert answer.status_code == 200
    return list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))


def test_a_reply_and_the_operators_answer_are_one_log_newest_first(client, db, bitrix, twilio, runner):
    token = connect_twilio_line(client, bitrix, lang="en")
    push_reply(client, twilio, CLIENT, "Is my order ready?")
    run_job(runner)  # the reply reaches Open Line 3
    answer_in_line(client, bitrix, CLIENT, "Yes, after 5 pm.", im_message_id=901)

    answer, reply = log(client, token)

    assert (answer["direction"], answer["to"], answer["line"], answer["text"]) == ("out", CLIENT, "3",
                                                                                   "Yes, after 5 pm.")
    assert re.fullmatch(r"in-\d+", reply["id"])  # never an outgoing message's id
    assert {key: reply[key] for key in ("direction", "to", "from", "number", "text", "state", "line", "provider",
                                        "stop_word")} == {
        "direction": "in", "to": OUR_NUMBER, "from": CLIENT, "number": CLIENT, "text": "Is my order ready?",
        "state": "delivered", "line": "3", "provider": "twilio", "stop_word": False}
    assert all(reply[key] is None for key in ("message_id", "segments", "cost", "status", "origin", "error"))
    assert reply["created_at"].endswith("Z") and reply["created_at"] <= answer["created_at"]
    assert set(reply) == set(answer)  # one shape for both kinds
    assert answer["number"] == CLIENT and answer["from"] is None


@pytest.fixture
def mixed(client, db, bitrix, prostor):
    """Sent SMS and replies of one portal, several at the very same moments; the admin's token (Russian page)."""
    portal_id = installed_portal_id(client, bitrix, db)
    moment = datetime(2026, 12, 1, 10, 0, 0)
    with db.session() as session:
        for seconds, kinds in ((0, "oio"), (1, "i"), (2, "ooii"), (3, "o"), (4, "iio")):
            for n, kind in enumerate(kinds):
                at = moment + timedelta(seconds=seconds)
                if kind == "o":
                    stored_message(session, portal_id, state="delivered", created_at=at).body = f"out {seconds}.{n}"
                else:
                    stored_reply(session, portal_id, created_at=at, text=f"in {seconds}.{n}")
    return open_page(client, bitrix, path="/")[1]


def expected_order(client, token):
    """The whole log in one page, checked against the order it promises: time, then a sent SMS before the reply of
    the same moment (newest first), then id."""
    entries = log(client, token, "limit=200")
    keys = [(e["created_at"], e["direction"] == "out", int(str(e["id"]).removeprefix("in-"))) for e in entries]
    assert keys == sorted(keys, reverse=True)
    return [e["id"] for e in entries]


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_paging_goes_through_both_kinds_once_each_ties_in_time_too(client, mixed, limit):
    everything = expected_order(client, mixed)
    assert len(everything) == 12 and len(set(map(str, everything))) == 12

    paged, before = [], None
    while True:
        page = log(client, mixed, f"limit={limit}" + (f"&before={before}" if before else ""))
        paged += [entry["id"] for entry in page]
        if len(page) < limit:
            break
        before = page[-1]["id"]

    assert paged == everything


def test_paging_from_a_message_deleted_meanwhile_skips_nothing(client, db, mixed):
    everything = expected_order(client, mixed)
    sent = [entry for entry in everything if isinstance(entry, int)]
    for anchor in (sent[1], sent[0]):  # one with a newer SMS left, then the newest
        with db.session() as session:
            session.delete(session.get(Message, anchor))
        rest = [entry["id"] for entry in log(client, mixed, f"before={anchor}&limit=200")]

        after = everything[everything.index(anchor) + 1:]
        assert anchor not in rest and len(rest) == len(set(rest))
        assert set(after) - {sent[1]} <= set(rest)  # every entry after it (but the one deleted before)
        assert set(rest) - set(after) <= set(everything[:everything.index(anchor)])  # at most a few again


@pytest.fixture
def conversations(client, db, bitrix, prostor):
    """Two clients, each with SMS sent and replies, in several states and providers; the admin's token."""
    portal_id = installed_portal_id(client, bitrix, db)
    now = utcnow()
    with db.session() as session:
        for minutes, kind, number, text, state in (
                (50, "out", CLIENT, "Ваш заказ готов", "delivered"),
                (40, "in", CLIENT, "Можно забрать завтра?", "delivered"),
                (30, "in", OTHER, "STOP", "no_line"),
                (20, "out", OTHER, "Скидка 10%", "failed"),
                (10, "in", CLIENT, "Спасибо", "pending")):
            at = now - timedelta(minutes=minutes)
            if kind == "out":
                message = stored_message(session, portal_id, state=state, created_at=at)
                message.body, message.recipient, message.recipient_raw, message.author_id = text, number, number, "1"
            else:
                reply = stored_reply(session, portal_id, created_at=at, sender=number, text=text, state=state,
                                     line=None if state == "no_line" else "3", provider="twilio")
                reply.stop_word = text == "STOP"
    return open_page(client, bitrix, path="/")[1]


def texts(client, token, query=""):
    return [entry["text"] for entry in log(client, token, query)]


@pytest.mark.parametrize("query, expected", [
    ("", ["Спасибо", "Скидка 10%", "STOP", "Можно забрать завтра?", "Ваш заказ готов"]),
    ("direction=in", ["Спасибо", "STOP", "Можно забрать завтра?"]),
    ("direction=out", ["Скидка 10%", "Ваш заказ готов"]),
    ("status=delivered", ["Ваш заказ готов"]),  # an outgoing state: the replies stay out
    ("direction=in&status=delivered", ["Можно забрать завтра?"]),
    ("direction=in&status=no_line,pending", ["Спасибо", "STOP"]),
    ("q=9035550000", ["Скидка 10%", "STOP"]),  # the client's number, with or without its +
    ("q=%2B7916", ["Спасибо", "Можно забрать завтра?", "Ваш заказ готов"]),
    ("q=завтра", ["Можно забрать завтра?"]),
    ("provider=twilio", ["Спасибо", "STOP", "Можно забрать завтра?"]),
    ("number=%2B79161234567", ["Спасибо", "Можно забрать завтра?", "Ваш заказ готов"]),
    ("number=8%20(916)%20123-45-67", ["Спасибо", "Можно забрать завтра?", "Ваш заказ готов"]),  # as typed
    ("number=%2B79035550000&direction=in", ["STOP"]),
    ("number=%2B79990001122", []),
])
def test_filters_and_conversations_take_both_kinds(client, conversations, query, expected):
    assert texts(client, conversations, query) == expected


def test_dates_take_replies_in_too(client, conversations):
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    today = utcnow().date().isoformat()
    assert texts(client, conversations, f"from={tomorrow}") == []
    assert len(texts(client, conversations, f"to={tomorrow}")) == 5
    assert texts(client, conversations, f"from={today}&to={today}&direction=in&number=%2B79035550000") == ["STOP"]


def test_a_reply_says_why_the_line_has_not_taken_it_and_that_it_was_a_stop_word(client, db, conversations):
    from b24sms.store.reply_models import IncomingMessage
    with db.session() as session:
        pending = session.query(IncomingMessage).filter_by(body="Спасибо").one()
        pending.error = "ERROR_NO_CHAT"
    entries = {entry["text"]: entry for entry in log(client, conversations, "direction=in")}

    assert entries["Спасибо"]["error"] == {"code": None, "message": "ERROR_NO_CHAT",
                                          "words": "Битрикс24 сообщает: ERROR_NO_CHAT"}
    assert entries["STOP"]["stop_word"] is True and entries["STOP"]["line"] is None


def test_a_non_admin_sees_only_their_own_sms_and_no_replies(client, db, bitrix, conversations):
    bitrix.admins.discard("2")
    with db.session() as session:
        session.query(Message).filter_by(body="Скидка 10%").one().author_id = "2"
    _, employee = open_page(client, bitrix, path="/", user_id="2")

    assert texts(client, employee) == ["Скидка 10%"]
    assert texts(client, employee, "direction=in") == []
    assert texts(client, employee, "number=%2B79035550000") == ["Скидка 10%"]
    exported = csv_rows(client, employee)
    assert [row[3] for row in exported[1:]] == ["Скидка 10%"]


def test_the_csv_has_the_replies_with_their_direction_sender_and_line(client, conversations):
    rows = csv_rows(client, conversations)

    heading = rows[0]
    assert heading[-4:] == ["Направление", "Код направления", "Номер отправителя", "Открытая линия"]
    by_text = {row[3]: dict(zip(heading, row, strict=True)) for row in rows[1:]}
    assert len(by_text) == 5
    reply = by_text["Можно забрать завтра?"]
    assert (reply["Получатель"], reply["Номер отправителя"], reply["Направление"], reply["Код направления"],
            reply["Открытая линия"], reply["Статус"], reply["Код статуса"]) == (
        "+79990000001", CLIENT, "Входящее", "in", "3", "В открытой линии", "delivered")
    assert by_text["STOP"]["Статус"] == "Ни одна открытая линия не принимает ответы на этот номер"
    assert by_text["Спасибо"]["Статус"] == "Ждёт передачи в открытую линию"
    sent = by_text["Ваш заказ готов"]
    assert (sent["Направление"], sent["Код направления"], sent["Номер отправителя"], sent["Статус"]) == (
        "Исходящее", "out", "", "Доставлено")
    only_replies = csv_rows(client, conversations, "direction=in&number=%2B79161234567")
    assert [row[3] for row in only_replies[1:]] == ["Спасибо", "Можно забрать завтра?"]


def test_an_export_pages_through_both_kinds_once_each(client, mixed, monkeypatch):
    from b24sms.store import message_log

    monkeypatch.setattr(message_log, "EXPORT_PAGE", 2)
    rows = csv_rows(client, mixed)[1:]

    assert sorted(row[3] for row in rows) == sorted(
        [f"out {s}.{n}" for s, kinds in ((0, "oio"), (1, "i"), (2, "ooii"), (3, "o"), (4, "iio"))
         for n, kind in enumerate(kinds) if kind == "o"]
        + [f"in {s}.{n}" for s, kinds in ((0, "oio"), (1, "i"), (2, "ooii"), (3, "o"), (4, "iio"))
           for n, kind in enumerate(kinds) if kind == "i"])


@pytest.mark.parametrize("query, field, words", [
    ("direction=sideways", "direction", "`direction` должно быть out или in."),
    ("direction=in&status=accepted", "status", "`status` должен быть одним из"),
    ("status=no_line", "status", "`status` должен быть одним из"),
    ("number=abc", "number", "`number` должен быть номером телефона"),
    ("number=" + "1" * 40, "number", "`number` должен быть номером телефона"),
    ("before=in-abc", "before", "`before` должен быть id сообщения"),
    ("before=in-" + "9" * 30, "before", "`before` вне допустимого диапазона."),
    ("before=in-", "before", "`before` должен быть id сообщения"),
    ("limit=0", "limit", "`limit` должен быть от 1 до 200."),
    ("from=yesterday", "from", "`from` должен быть датой"),
])
def test_bad_parameters_are_400_naming_the_field_in_the_pages_language(client, conversations, query, field, words):
    for path in ("/api/messages", "/api/messages.csv"):
        if path.endswith(".csv") and field in ("limit", "before"):
            continue  # the export has no pages
        answer = client.get(f"{path}?{query}", headers=bearer(conversations))
        assert answer.status_code == 400, (path, answer.get_data(as_text=True))
        body = answer.get_json()
        assert (body["error"], body["field"]) == ("invalid_parameter", field)
        assert body["message"].startswith(words)
