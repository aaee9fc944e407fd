"""The guard rails end to end: handler calls and the job against the fake Bitrix24 and Prostor, on SQLite and
PostgreSQL (races are in test_guard_races.py)."""
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import GuardCounter, GuardRepeat, Message, Portal, utcnow
from tests.helpers import (
    bearer,
    handler_form,
    install_with_prostor,
    make_due,
    message_id,
    open_page,
    post_sms,
    run_job,
    stored,
)
from tests.helpers.metrics import scrape, value
from tests.helpers.rows import waiting_messages

MOSCOW = "+7 495 123-45-67"
VLADIVOSTOK = "+7 423 212-34-56"


def set_guards(client, token, **guards):
    response = client.put("/api/settings", json={"guards": guards}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["guards"]


def post(client, bitrix, n, **extra):
    return post_sms(client, bitrix, n, **extra)


def sent_texts(prostor):
    return [message["text"] for message in prostor.sent.values()]


# ---------------------------------------------------------------- settings
def test_guards_are_read_and_saved_with_the_settings_without_touching_the_providers(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    assert client.get("/api/settings", headers=bearer(token)).get_json()["guards"]["repeat_window_minutes"] == 10
    calls = len(prostor.requests)

    saved = set_guards(client, token, daily_messages=100, monthly_spend="2500", repeat_window_minutes=5,
                       quiet_hours={"from": "21:00", "to": "09:00"}, stop_words=["STOP"])

    assert saved == {"daily_messages": 100, "monthly_messages": None, "daily_spend": None,
                     "monthly_spend": "2500.00", "repeat_window_minutes": 5,
                     "quiet_hours": {"from": "21:00", "to": "09:00"}, "stop_words": ["stop"]}
    assert len(prostor.requests) == calls  # guards alone: no provider asked
    answer = client.get("/api/settings", headers=bearer(token)).get_json()
    assert answer["guards"] == saved and [p["kind"] for p in answer["providers"]] == ["prostor"]


def test_a_bad_guard_setting_is_refused_at_its_field_in_the_pages_language(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)  # a Russian portal
    calls = len(prostor.requests)

    response = client.put("/api/settings", headers=bearer(token), json={
        "providers": [{"kind": "prostor", "sender": "SHOP", "credentials": {"login": "u", "password": "p"}}],
        "guards": {"quiet_hours": {"from": "9 pm", "to": "09:00"}}})

    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_guards", "field": "guards.quiet_hours.from",
                                   "message": "Укажите время в виде ЧЧ:ММ, например 21:00."}
    assert len(prostor.requests) == calls  # refused before any provider was asked


def test_only_admins_change_guards(client, bitrix, prostor):
    install_with_prostor(client, bitrix)
    _, token = open_page(client, bitrix, path="/", user_id="7")
    response = client.put("/api/settings", json={"guards": {"daily_messages": 1}}, headers=bearer(token))
    assert response.status_code == 403 and response.get_json()["error"] == "admin_only"


# ---------------------------------------------------------------- the stop list
def test_the_stop_list_takes_numbers_as_typed_and_lists_them_newest_first(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)

    answer = client.put("/api/stop-list", json={"add": ["8 (916) 123-45-67", "+7 900 111 22 33", "89001112233"]},
                        headers=bearer(token))

    assert answer.status_code == 200 and answer.get_json() == {"added": 2, "removed": 0}
    listed = client.get("/api/stop-list", headers=bearer(token)).get_json()
    assert [(e["number"], e["reason"]) for e in listed] == [("+79001112233", "admin"), ("+79161234567", "admin")]
    assert listed[0]["created_at"].endswith("Z")
    found = client.get("/api/stop-list?q=916", headers=bearer(token)).get_json()
    assert [e["number"] for e in found] == ["+79161234567"]
    after = client.get(f"/api/stop-list?before={listed[0]['id']}", headers=bearer(token)).get_json()
    assert [e["number"] for e in after] == ["+79161234567"]

    client.put("/api/stop-list", json={"remove": ["+7 916 123 45 67"]}, headers=bearer(token))
    assert [e["number"] for e in client.get("/api/stop-list", headers=bearer(token)).get_json()] == ["+79001112233"]


def test_bad_numbers_are_named_and_nothing_is_changed(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)

    answer = client.put("/api/stop-list", json={"add": ["+79161234567", "hello", "123"]}, headers=bearer(token))

    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "invalid_numbers" and body["field"] == "add[1]"
    assert "hello" in body["message"] and "123" in body["message"] and "Ничего не изменено" in body["message"]
    assert client.get("/api/stop-list", headers=bearer(token)).get_json() == []
    assert client.put("/api/stop-list", json={"add": "+79161234567"}, headers=bearer(token)).status_code == 400
    assert client.get("/api/stop-list?before=x", headers=bearer(token)).status_code == 400


def test_only_admins_see_and_change_the_stop_list(client, bitrix, prostor):
    install_with_prostor(client, bitrix)
    _, token = open_page(client, bitrix, path="/", user_id="7")
    assert client.get("/api/stop-list", headers=bearer(token)).status_code == 403
    assert client.put("/api/stop-list", json={"add": ["+79161234567"]}, headers=bearer(token)).status_code == 403


def test_a_message_to_a_listed_number_fails_at_once_and_the_crm_card_is_told(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    client.put("/api/stop-list", json={"add": ["+79161234567"]}, headers=bearer(token))

    refused = post(client, bitrix, 1)
    other = post(client, bitrix, 2, phone="+7 916 765-43-21")

    assert (refused["state"], refused["status"], refused["reason"]) == ("failed", "failed", "stop_list")
    assert refused["error"]["code"] == "stop_list" and other["state"] == "accepted" and other["reason"] is None
    assert len(prostor.sent) == 1
    run_job(runner)
    assert bitrix.statuses[message_id(1)] == "failed"


# ---------------------------------------------------------------- repeats
def test_a_robot_loop_of_a_thousand_identical_messages_sends_one(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    for n in range(1, 21):  # the loop's first turns come through the handler and its web sender
        response = client.post("/handler", data=handler_form(bitrix, message_id(n), text="Your order is ready"))
        assert response.status_code == 200
    with db.session() as session:
        portal_id = session.scalars(select(Portal.id)).one()
    waiting_messages(db, portal_id, range(21, 1001), text="Your order is ready")  # the web sender was busy
    run_job(runner)

    assert sent_texts(prostor) == ["Your order is ready"]
    with db.session() as session:
        states = session.execute(select(Message.state, Message.reason)).all()
    assert sorted(set(states)) == [("accepted", None), ("failed", "repeat")]
    assert states.count(("failed", "repeat")) == 999
    run_job(runner)
    assert list(bitrix.statuses.values()).count("failed") == 999


def test_the_same_text_goes_again_after_the_window_or_with_the_window_off(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    assert post(client, bitrix, 1, text="Hi")["state"] == "accepted"
    assert post(client, bitrix, 2, text="Hi")["reason"] == "repeat"
    assert post(client, bitrix, 3, text="Hi!")["state"] == "accepted"  # another text
    assert post(client, bitrix, 4, text="Hi", phone="+7 916 000-00-01")["state"] == "accepted"  # another number

    with db.session() as session:  # the window (10 minutes) is over
        session.execute(update(GuardRepeat).values(sent_at=utcnow() - timedelta(minutes=11)))
    assert post(client, bitrix, 5, text="Hi")["state"] == "accepted"

    set_guards(client, token, repeat_window_minutes=0)
    assert post(client, bitrix, 6, text="Hi")["state"] == "accepted"
    assert sent_texts(prostor).count("Hi") == 4


def test_a_retried_message_is_not_a_repeat_of_itself_nor_counted_twice(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    set_guards(client, token, daily_messages=1)
    first = post(client, bitrix, 1, text="Hi")
    with db.session() as session:  # as if its provider had failed it for a while: back in the send queue
        session.execute(update(Message).values(state=MessageState.RETRY_WAIT, provider_message_id=None,
                                               due_at=utcnow() - timedelta(seconds=1)))
    run_job(runner)

    assert first["state"] == "accepted"
    assert stored(db, 1).state in ("accepted", "sent") and stored(db, 1).reason is None
    with db.session() as session:
        assert session.scalars(select(GuardCounter.messages).where(GuardCounter.period.like("d%"))).one() == 1


def test_the_test_sms_is_never_taken_for_a_repeat(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    for _ in range(2):
        answer = client.post("/api/test-sms", json={"to": "+79161234567", "text": "Test"}, headers=bearer(token))
        assert answer.get_json()["state"] == "accepted"


# ---------------------------------------------------------------- caps
def test_past_the_daily_cap_messages_fail_and_the_admins_hear_once(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    set_guards(client, token, daily_messages=3)

    answers = [post(client, bitrix, n) for n in range(1, 6)]

    assert [a["state"] for a in answers] == ["accepted"] * 3 + ["failed"] * 2
    assert [a["reason"] for a in answers[3:]] == ["daily_cap", "daily_cap"]
    assert len(prostor.sent) == 3
    run_job(runner)
    assert bitrix.statuses[message_id(4)] == bitrix.statuses[message_id(5)] == "failed"
    [notice] = bitrix.notifications
    assert "дневной лимит" in notice["MESSAGE"] and "3 SMS" in notice["MESSAGE"]
    assert notice["TAG"].startswith("b24sms|daily_cap|")

    assert post(client, bitrix, 6)["reason"] == "daily_cap"
    run_job(runner)
    assert len(bitrix.notifications) == 1  # one a day per cap


def test_the_monthly_cap_counts_across_days(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    set_guards(client, token, daily_messages=10, monthly_messages=4)
    with db.session() as session:  # three went earlier this month (UTC)
        portal_id = session.scalars(select(Portal.id)).one()
        session.add(GuardCounter(portal_id=portal_id, period="m" + utcnow().strftime("%Y-%m"), messages=3))

    answers = [post(client, bitrix, n) for n in range(1, 4)]

    assert [(a["state"], a["reason"]) for a in answers] == [("accepted", None), ("failed", "monthly_cap"),
                                                            ("failed", "monthly_cap")]
    with db.session() as session:  # the refused ones count against neither cap
        counts = dict(session.execute(select(GuardCounter.period, GuardCounter.messages)).all())
    assert counts == {"d" + utcnow().date().isoformat(): 1, "m" + utcnow().strftime("%Y-%m"): 4}


def test_a_spend_cap_compares_what_the_providers_said_messages_cost(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    set_guards(client, token, daily_spend="1.00")
    assert post(client, bitrix, 1)["state"] == "accepted"
    with db.session() as session:
        session.execute(update(Message).values(cost=Decimal("1.20"), currency="RUB"))

    answer = post(client, bitrix, 2)

    assert (answer["state"], answer["reason"]) == ("failed", "daily_cap")


# ---------------------------------------------------------------- quiet hours
def quiet_now_in_moscow():
    """Quiet hours around the present moment in Moscow (and not in Vladivostok, seven hours ahead)."""
    moscow = datetime.now(ZoneInfo("Europe/Moscow"))
    return {"from": (moscow - timedelta(hours=1)).strftime("%H:%M"),
            "to": (moscow + timedelta(hours=1)).strftime("%H:%M")}


def test_during_quiet_hours_a_message_waits_queued_and_goes_when_they_end(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    quiet = quiet_now_in_moscow()
    set_guards(client, token, quiet_hours=quiet)

    waiting = post(client, bitrix, 1, phone=MOSCOW)
    going = post(client, bitrix, 2, phone=VLADIVOSTOK)

    assert (waiting["state"], waiting["status"], waiting["reason"]) == ("retry_wait", "queued", "quiet_hours")
    assert going["state"] == "accepted" and len(prostor.sent) == 1
    resume = stored(db, 1).due_at
    assert timedelta(minutes=55) < resume - utcnow() <= timedelta(hours=1)
    run_job(runner)  # not yet: nothing more goes, and the CRM card hears nothing
    assert len(prostor.sent) == 1 and message_id(1) not in bitrix.statuses

    with db.session() as session:  # the hours are over
        session.execute(update(Message).where(Message.id == stored(db, 1).id)
                        .values(due_at=utcnow() - timedelta(seconds=1)))
    set_guards(client, token, quiet_hours=None)
    run_job(runner)

    message = stored(db, 1)
    assert message.state in ("accepted", "sent") and message.reason is None and len(prostor.sent) == 2


def test_held_messages_go_out_in_the_order_they_came(client, db, bitrix, prostor, runner):
    token = install_with_prostor(client, bitrix)
    set_guards(client, token, quiet_hours=quiet_now_in_moscow())
    for n in range(1, 6):
        post(client, bitrix, n, phone=MOSCOW)
    set_guards(client, token, quiet_hours=None)
    make_due(db)

    run_job(runner)

    assert sent_texts(prostor) == [handler_form(bitrix, message_id(n))["message_body"] for n in range(1, 6)]


# ---------------------------------------------------------------- reasons counted
def test_reasons_are_counted_in_the_stats_the_csv_and_the_metrics(client, db, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    before = scrape(client)
    client.put("/api/stop-list", json={"add": ["+79161234567"]}, headers=bearer(token))
    post(client, bitrix, 1)
    post(client, bitrix, 2, phone="+7 916 000-00-02", text="A")
    post(client, bitrix, 3, phone="+7 916 000-00-02", text="A")
    set_guards(client, token, quiet_hours=quiet_now_in_moscow())
    post(client, bitrix, 4, phone=MOSCOW)

    stats = client.get("/api/stats?days=7", headers=bearer(token)).get_json()
    assert stats["refused"] == {"stop_list": 1, "repeat": 1}
    csv = client.get("/api/messages.csv", headers=bearer(token)).get_data(as_text=True)
    assert "Не отправлено: номер в стоп-листе" in csv and "Ждёт: тихие часы" in csv
    after = scrape(client)
    for name, reason, more in (("b24sms_messages_refused_total", "stop_list", 1),
                               ("b24sms_messages_refused_total", "repeat", 1),
                               ("b24sms_messages_held_total", "quiet_hours", 1)):
        assert value(after, name, reason=reason) - value(before, name, reason=reason) == more
    log = client.get("/api/messages", headers=bearer(token)).get_json()
    assert {m["message_id"]: m["reason"] for m in log} == {message_id(1): "stop_list", message_id(2): None,
                                                          message_id(3): "repeat", message_id(4): "quiet_hours"}
