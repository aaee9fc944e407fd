"""MTS Exolve's side of incoming SMS: GetList pulled from a moment on, paged by offset."""
import json
from datetime import UTC, datetime, timedelta

import pytest

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.exolve import INCOMING, Exolve
from tests.fakes.exolve import API_KEY, EXOLVE, OWN_NUMBER

GETLIST = EXOLVE + "messaging/v1/GetList"


def provider(page_size=None, pages=None):
    exolve = Exolve({"api_key": API_KEY}, "SHOP", base_url=EXOLVE, timeout=3, http=http_client.build())
    exolve.reply_page_size = page_size or exolve.reply_page_size
    exolve.reply_pages = pages or exolve.reply_pages
    return exolve


def test_the_first_fetch_asks_incoming_sms_of_the_last_hour(exolve):
    old = exolve.receive("79161234567", text="давно", at=datetime.now(UTC) - timedelta(hours=2))
    new = exolve.receive("79161234568", text="Да")
    exolve.messages["1"] = {**exolve.messages[new], "message_id": "1", "direction": 2, "text": "ours, sent"}
    page = provider().fetch_replies(None)
    [body] = exolve.calls_of("GetList")
    assert body["direction"] == [INCOMING] and body["offset"] == 0 and body["limit"] <= 2000
    since = datetime.fromisoformat(body["date_gte"])
    assert timedelta(minutes=59) < datetime.now(UTC) - since < timedelta(minutes=61)
    assert [(r.provider_id, r.sender, r.receiver, r.text) for r in page.replies] == [
        (new, "79161234568", OWN_NUMBER, "Да")]
    assert page.cursor == exolve.messages[new]["date"] and not page.more and old != new


def test_the_cursor_is_the_latest_moment_and_nanoseconds_are_read(exolve):
    at = datetime(2026, 11, 23, 10, 0, 0, 250000, tzinfo=UTC)
    first = exolve.receive("79161234567", text="раз", at=at)
    page = provider().fetch_replies("2026-11-23T09:00:00Z")
    [reply] = page.replies
    assert reply.provider_id == first and reply.received_at == datetime(2026, 11, 23, 10, 0, 0, 250000)
    assert page.cursor == "2026-11-23T10:00:00.250000123Z"
    second = exolve.receive("79161234567", text="два", at=at + timedelta(seconds=5))
    again = provider().fetch_replies(page.cursor)
    # date_gte takes the cursor's moment itself: the first comes again (the store takes a provider_id once).
    assert [r.provider_id for r in again.replies] == [first, second]
    assert exolve.calls_of("GetList")[-1]["date_gte"] == page.cursor


def test_pages_are_walked_by_offset_and_a_bound_says_more(exolve):
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    ids = [exolve.receive("79161234567", text=f"#{n}", at=at + timedelta(seconds=n)) for n in range(7)]
    page = provider(page_size=2, pages=2).fetch_replies("2026-11-23T10:00:00Z")
    assert [body["offset"] for body in exolve.calls_of("GetList")] == [0, 2]
    assert [r.provider_id for r in page.replies] == ids[:4] and page.more
    assert page.cursor == "2026-11-23T10:00:00Z#4"  # the same query, on from where it stopped
    rest = provider(page_size=2, pages=5).fetch_replies(page.cursor)
    assert [body["offset"] for body in exolve.calls_of("GetList")[2:]] == [4, 6]
    assert [r.provider_id for r in rest.replies] == ids[4:] and not rest.more
    assert rest.cursor == exolve.messages[ids[-1]]["date"]


def test_nothing_new_keeps_the_cursor(exolve):
    page = provider().fetch_replies("2026-11-23T10:00:00Z")
    assert page.replies == [] and page.cursor == "2026-11-23T10:00:00Z" and not page.more


def test_malformed_rows_are_skipped_and_unknown_fields_kept(rsps, caplog):
    rsps.post(GETLIST, json={"messages": [
        {"message_id": "11", "date": "2026-11-23T13:00:00+03:00", "sender": "79161234567", "receiver": OWN_NUMBER,
         "text": "ok", "direction": "DIRECTION_INCOMING", "new_field": [1, 2]},
        {"message_id": "12", "date": "2026-11-23T10:00:01Z", "text": "no sender"},
        "not an object",
        {"message_id": "13", "date": "garbled", "sender": "79161234569", "receiver": OWN_NUMBER, "text": "no date"},
        {"message_id": "14", "date": "2026-11-23T10:00:02Z", "sender": "SHOP", "receiver": "79161234567",
         "text": "went out", "direction": "OUTGOING"},
    ]})
    page = provider().fetch_replies("2026-11-23T09:00:00Z")
    assert [(r.provider_id, r.received_at) for r in page.replies] == [
        ("13", None), ("11", datetime(2026, 11, 23, 10, 0, 0))]
    assert page.replies[1].raw["new_field"] == [1, 2]
    assert page.cursor == "2026-11-23T13:00:00+03:00"
    assert "skipped" in caplog.text


def test_an_unreadable_cursor_starts_from_the_last_hour(exolve):
    provider().fetch_replies("not a moment#x")
    since = datetime.fromisoformat(exolve.calls_of("GetList")[0]["date_gte"])
    assert timedelta(minutes=59) < datetime.now(UTC) - since < timedelta(minutes=61)


def test_a_refused_key_is_bad_credentials(rsps):
    rsps.post(GETLIST, status=401, json={"error": {"code": 16, "message": "unauthenticated"}})
    with pytest.raises(base.InvalidCredentials):
        provider().fetch_replies(None)


def test_exolve_replies_are_pulled_only(exolve, rsps):
    assert Exolve.reply_ways == {base.REPLIES_PULLED}
    provider().fetch_replies(None)
    assert json.loads(rsps.calls[0].request.body)["limit"] == Exolve.reply_page_size <= 2000
