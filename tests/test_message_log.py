"""The message log's filters and its CSV export (GET /api/messages, GET /api/messages.csv)."""
import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import text

from b24sms.store.models import utcnow
from tests.helpers import bearer, open_page
from tests.helpers.rows import installed_portal_id, stored_message
from tests.helpers.suite import on_postgres


@pytest.fixture
def log(client, db, bitrix, prostor):
    """Four messages of one portal; the page token of its admin."""
    portal_id = installed_portal_id(client, bitrix, db)
    now = utcnow()
    with db.session() as session:
        for body, state, phone, days_ago, author in (
                ("Ваш заказ готов", "delivered", "+79161234567", 0, "1"),
                ("Order 100% shipped", "failed", "+79035550000", 1, "1"),
                ("=HYPERLINK(\"x\")", "accepted", "+79161112233", 3, "2"),
                ("snake_case text", "delivered", "+79169998877", 10, "1")):
            provider = "smsc" if state == "failed" else "prostor"
            message = stored_message(session, portal_id, state=state, created_at=now - timedelta(days=days_ago),
                                     provider=provider)
            message.body, message.recipient, message.recipient_raw, message.author_id = body, phone, phone, author
    return open_page(client, bitrix, path="/")[1]


def texts(client, token, query):
    answer = client.get(f"/api/messages?{query}", headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    return [message["text"] for message in answer.get_json()]


@pytest.mark.parametrize("query, expected", [
    ("status=delivered", ["Ваш заказ готов", "snake_case text"]),
    ("status=failed,accepted", ["Order 100% shipped", "=HYPERLINK(\"x\")"]),
    ("q=100%25", ["Order 100% shipped"]),  # a LIKE wildcard is matched as itself
    ("q=e_c", ["snake_case text"]),
    ("q=9035550000", ["Order 100% shipped"]),  # the number, with or without its +
    ("q=%2B7916111", ["=HYPERLINK(\"x\")"]),
    ("q=заказ", ["Ваш заказ готов"]),
    ("provider=smsc", ["Order 100% shipped"]),
    ("provider=smsc&status=delivered", []),
])
def test_filters(client, log, query, expected):
    assert texts(client, log, query) == expected


def test_each_entry_says_where_the_message_came_from(client, db, bitrix, prostor):
    from tests.helpers import handler_form, install_with_prostor, message_id

    token = install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))

    [entry] = client.get("/api/messages", headers=bearer(token)).get_json()
    assert entry["origin"]["module_id"] == "crm"
    assert entry["origin"]["bindings"] == [{"OWNER_TYPE_ID": "3", "OWNER_ID": "42"}]


def test_each_entry_says_which_way_it_went(client, db, bitrix, prostor):
    """The contract's `direction`: a message a CRM card sent is `out` (a client's reply, `in`, comes with Open
    Lines)."""
    from tests.helpers import handler_form, install_with_prostor, message_id

    token = install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))

    [entry] = client.get("/api/messages", headers=bearer(token)).get_json()
    assert entry["direction"] == "out"


def test_dates_are_whole_days_and_combine_with_the_rest(client, log):
    today = utcnow().date()
    week_ago = (today - timedelta(days=7)).isoformat()
    assert texts(client, log, f"from={week_ago}") == ["Ваш заказ готов", "Order 100% shipped", "=HYPERLINK(\"x\")"]
    assert texts(client, log, f"to={(today - timedelta(days=1)).isoformat()}") == [
        "Order 100% shipped", "=HYPERLINK(\"x\")", "snake_case text"]
    assert texts(client, log, f"from={week_ago}&status=delivered") == ["Ваш заказ готов"]


@pytest.mark.parametrize("query", ["status=lost", "from=yesterday", "to=2026-13-01", "q=" + "x" * 101,
                                   "provider=no such"])
def test_bad_filters_are_400_naming_the_parameter(client, log, query):
    answer = client.get(f"/api/messages?{query}", headers=bearer(log))
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_parameter"
    assert f"`{query.split('=')[0]}`" in answer.get_json()["message"]


def test_csv_export_has_a_bom_cyrillic_every_row_and_no_formulas(client, log):
    answer = client.get("/api/messages.csv", headers=bearer(log))

    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    raw = answer.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    # The page was opened with LANG=ru: headings and states in Russian, the provider by its name.
    assert rows[0][:4] == ["Id сообщения в Битрикс24", "Создано (UTC)", "Получатель", "Текст"]
    assert (rows[1][5], rows[1][7]) == ("Prostor SMS", "Доставлено")
    assert [row[3] for row in rows[1:]] == ["Ваш заказ готов", "Order 100% shipped", "'=HYPERLINK(\"x\")",
                                            "snake_case text"]
    assert rows[1][2] == "+79161234567"  # a number stays a number, not a formula


def test_csv_export_takes_the_filters_and_a_non_admin_gets_only_their_own(client, log, bitrix):
    filtered = client.get("/api/messages.csv?status=delivered", headers=bearer(log)).get_data().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(filtered)))) == 3
    bitrix.admins.discard("2")
    _, employee = open_page(client, bitrix, path="/", user_id="2")
    own = client.get("/api/messages.csv", headers=bearer(employee)).get_data().decode("utf-8-sig")
    assert [row[3] for row in list(csv.reader(io.StringIO(own)))[1:]] == ["'=HYPERLINK(\"x\")"]


def test_an_export_pages_through_more_than_one_read(app, client, db, bitrix, log, monkeypatch):
    from b24sms.store import message_log

    monkeypatch.setattr(message_log, "EXPORT_PAGE", 3)
    rows = client.get("/api/messages.csv", headers=bearer(log)).get_data().decode("utf-8-sig").splitlines()
    assert len(rows) == 5


def test_csv_cells_starting_with_a_tab_or_a_carriage_return_are_kept_as_text(client, db, bitrix, prostor):
    portal_id = installed_portal_id(client, bitrix, db)
    with db.session() as session:
        for body in ("\t=1+1", "\r=1+1", "\t@SUM(A1)", "\t42"):
            stored_message(session, portal_id, state="delivered", created_at=utcnow()).body = body
    token = open_page(client, bitrix, path="/")[1]

    raw = client.get("/api/messages.csv", headers=bearer(token)).get_data().decode("utf-8-sig")

    cells = sorted(row[3] for row in list(csv.reader(io.StringIO(raw, newline="")))[1:])
    assert cells == sorted(["'\t=1+1", "'\r=1+1", "'\t@SUM(A1)", "\t42"])  # a number stays a number


@pytest.mark.skipif(not on_postgres(), reason="pg_stat_activity is PostgreSQL's")
def test_a_stalled_download_holds_no_transaction_open(client, db, log, monkeypatch):
    from b24sms.store import message_log

    monkeypatch.setattr(message_log, "EXPORT_PAGE", 2)  # the rest is read when the client asks for it
    answer = client.get("/api/messages.csv", headers=bearer(log), buffered=False)
    chunks = iter(answer.response)
    try:
        head, first_row = next(chunks), next(chunks)  # the client reads this much, then stalls
        with db.engine.connect() as connection:
            stalled = connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).scalar()
        rest = list(chunks)
    finally:
        answer.close()

    assert head.startswith("\ufeff".encode()) and b"+79161234567" in first_row
    assert stalled == 0
    assert len(rest) == 3  # the other three messages, read once the client went on
