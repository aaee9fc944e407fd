"""Devino's side of incoming SMS: the push to the number's external handler URL (GET or POST), and, with the
older platform's login and password, the list of incoming SMS fetched by time window (integrationapi.net)."""
from datetime import UTC, datetime, timedelta

import pytest

from b24sms import http_client
from b24sms.providers import base, devino_legacy
from b24sms.providers.devino import Devino
from b24sms.providers.devino_legacy import Cursor, fingerprint
from tests.fakes.devino import API_KEY, DEVINO, EPOCH, LOGIN, PASSWORD, FakeDevino
from tests.fakes.mocking import mocked

URL = "https://sms.example.com/replies/devino/s3cret"
OLDER = {"legacy_login": LOGIN, "legacy_password": PASSWORD}
CLIENT, NUMBER = "79089876534", "79031234567"


def provider(**credentials):
    return Devino({"api_key": API_KEY, **credentials}, "SHOP", base_url=DEVINO, timeout=3, http=http_client.build())


def pulling():
    return provider(**OLDER)


def window(query):
    return tuple(datetime.strptime(query[name], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
                 for name in ("minDateUTC", "maxDateUTC"))


def ms(moment):
    return (moment - EPOCH) // timedelta(milliseconds=1)


# ---------------------------------------------------------------- pushed
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_pushed_reply_is_read_from_the_query_or_the_form(devino, method):
    message_id = devino.receive("79089876534", "2435", "Играйте с нами", prefix="loto")
    fields = tuple(devino.pushed_reply(message_id).items())
    pushed = base.Receipt(url=URL, query=fields) if method == "GET" else base.Receipt(url=URL, params=fields)
    [reply] = provider().read_replies(pushed)
    assert (reply.provider_id, reply.sender, reply.receiver, reply.text) == (message_id, "79089876534", "2435",
                                                                             "Играйте с нами")
    assert reply.raw["prefix"] == "loto" and reply.received_at is None


def test_unknown_fields_are_kept_and_a_missing_number_is_empty():
    pushed = base.Receipt(url=URL, params=(("sourcePhone", "79089876534"), ("messageId", "9"), ("text", "hi"),
                                           ("newField", "x")))
    [reply] = provider().read_replies(pushed)
    assert (reply.receiver, reply.raw["newField"]) == ("", "x")


@pytest.mark.parametrize("missing", ["messageId", "sourcePhone"])
def test_a_push_naming_no_id_or_sender_is_refused(devino, missing):
    fields = devino.pushed_reply(devino.receive("79089876534", "2435", "hi"))
    del fields[missing]
    with pytest.raises(base.ProviderError) as refused:
        provider().read_replies(base.Receipt(url=URL, params=tuple(fields.items())))
    assert refused.value.code == "bad_reply"


def test_the_answer_sends_nothing_back():
    # Devino turns an answer `{sms=<text>}` into an SMS to the client: ours says nothing.
    body, content_type = Devino.reply_answer
    assert "sms=" not in body and content_type.startswith("text/plain")


# ---------------------------------------------------------------- which ways
def test_replies_are_fetched_only_where_the_older_login_and_password_are_set(devino):
    assert Devino.reply_ways == {base.REPLIES_PASTED, base.REPLIES_PULLED} and Devino.receives_replies()
    assert pulling().pulls_replies()
    for credentials in ({}, {"legacy_login": LOGIN}, {"legacy_password": PASSWORD}, {"legacy_login": " ",
                                                                                      "legacy_password": "x"}):
        assert not provider(**credentials).pulls_replies()
    with pytest.raises(base.ProviderError) as refused:
        provider().fetch_replies(None)
    assert refused.value.code == "no_replies" and devino.legacy_requests == []


def test_the_older_settings_are_optional_go_together_and_the_password_is_secret():
    settings = {s.name: s for s in Devino.credential_settings}
    login, password = settings["legacy_login"], settings["legacy_password"]
    assert not login.required and not password.required and login.together == password.together != ""
    assert password.secret and password.input == "password" and not login.secret
    assert "integrationapi.net" in login.help
    assert PASSWORD not in repr(pulling())


# ---------------------------------------------------------------- pulled
def test_the_first_fetch_takes_a_session_and_asks_the_last_hour(devino):
    old = devino.receive(CLIENT, NUMBER, "давно", at=datetime.now(UTC) - timedelta(hours=2))
    new = devino.receive(CLIENT, NUMBER, "Да, жду", at=datetime.now(UTC) - timedelta(seconds=30))
    page = pulling().fetch_replies(None)

    [session_query] = devino.session_requests
    assert session_query == {"login": LOGIN, "password": PASSWORD}
    [listing] = devino.listings
    assert listing["sessionId"] in devino.sessions
    since, until = window(listing)
    assert timedelta(minutes=59) < datetime.now(UTC) - since < timedelta(minutes=61)
    assert abs(datetime.now(UTC) - until) < timedelta(minutes=1)
    [reply] = page.replies
    assert (reply.provider_id, reply.sender, reply.receiver, reply.text) == (new, CLIENT, NUMBER, "Да, жду")
    assert reply.received_at == devino.received_at[new].replace(tzinfo=None)
    assert reply.raw["CreatedDateUtc"] == f"/Date({ms(devino.received_at[new])})/" and not page.more
    assert page.cursor == f"{ms(devino.received_at[new])}:{fingerprint(new)}" and old != new


def test_two_polls_with_replies_at_the_same_instant_neither_repeat_nor_skip(devino):
    instant = datetime.now(UTC).replace(microsecond=250_000) - timedelta(minutes=2)
    first = [devino.receive(CLIENT, NUMBER, f"#{n}", at=instant) for n in range(2)]
    page = pulling().fetch_replies(None)
    assert [r.provider_id for r in page.replies] == first
    assert Cursor.read(page.cursor) == Cursor(ms(instant), frozenset(fingerprint(i) for i in first))

    late = devino.receive(CLIENT, NUMBER, "same instant, listed later", at=instant)
    after = devino.receive(CLIENT, NUMBER, "a second and a half on", at=instant + timedelta(seconds=1.5))
    again = pulling().fetch_replies(page.cursor)

    assert [r.provider_id for r in again.replies] == [late, after]
    since, _ = window(devino.listings[1])
    assert since == instant.replace(microsecond=0) - timedelta(seconds=1)  # a second before, in whole seconds
    assert again.cursor == f"{ms(instant) + 1500}:{fingerprint(after)}"
    quiet = pulling().fetch_replies(again.cursor)
    assert quiet.replies == [] and quiet.cursor == again.cursor and not quiet.more
    assert len(devino.session_requests) == 3  # a session for each fetch


def test_more_ids_at_one_moment_than_the_cursor_holds_move_it_on_a_millisecond(devino):
    instant = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    ids = [devino.receive(CLIENT, NUMBER, f"#{n}", at=instant) for n in range(devino_legacy.SAME_MOMENT_IDS + 1)]
    page = pulling().fetch_replies(None)
    assert [r.provider_id for r in page.replies] == ids and page.cursor == str(ms(instant) + 1)
    fullest = Cursor(ms(datetime(2999, 1, 1, tzinfo=UTC)), frozenset(fingerprint(i) for i in ids[:-1]))
    assert len(str(fullest)) <= 64 and Cursor.read(str(fullest)) == fullest  # what replies_cursor holds


def test_a_quiet_stretch_is_passed_over_once_it_is_settled(devino):
    since = datetime.now(UTC) - timedelta(hours=3)
    page = pulling().fetch_replies(str(ms(since)))
    moved = datetime.fromtimestamp(int(page.cursor) / 1000, UTC)
    assert page.replies == [] and not page.more
    assert timedelta(minutes=4) < datetime.now(UTC) - moved < timedelta(minutes=6)


def test_a_long_gap_is_walked_a_day_at_a_time(devino):
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2, hours=12)
    reply_id = devino.receive(CLIENT, NUMBER, "from the weekend", at=since + timedelta(days=1, hours=5))
    first = pulling().fetch_replies(str(ms(since)))
    assert first.replies == [] and first.more and first.cursor == str(ms(since + timedelta(days=1)))
    second = pulling().fetch_replies(first.cursor)
    assert [r.provider_id for r in second.replies] == [reply_id] and second.more
    assert [window(q)[1] - window(q)[0] for q in devino.listings] == [timedelta(days=1, seconds=1)] * 2
    third = pulling().fetch_replies(second.cursor)
    assert third.replies == [] and not third.more


def test_an_unreadable_cursor_starts_from_the_last_hour(devino):
    pulling().fetch_replies("not a cursor:xyz")
    since, _ = window(devino.listings[0])
    assert timedelta(minutes=59) < datetime.now(UTC) - since < timedelta(minutes=61)


def test_rows_that_cannot_be_read_are_skipped_and_unknown_ones_kept_raw(devino, caplog):
    now = datetime.now(UTC).replace(microsecond=0)
    devino.listed_answer = (200, [
        {"ID": "11", "SourceAddress": CLIENT, "DestinationAddress": NUMBER, "Data": "offset",
         "CreatedDateUtc": f"/Date({ms(now - timedelta(minutes=3))}+0300)/", "NewField": [1, 2]},
        {"ID": "12", "DestinationAddress": NUMBER, "Data": "no sender", "CreatedDateUtc": f"/Date({ms(now)})/"},
        "not an object",
        {"ID": "13", "SourceAddress": CLIENT, "DestinationAddress": NUMBER, "Data": None, "CreatedDateUtc": "вчера"},
        {"ID": "14", "SourceAddress": CLIENT, "Data": "ISO",
         "CreatedDateUtc": (now - timedelta(minutes=2)).isoformat()},
    ])
    page = pulling().fetch_replies(None)
    assert [(r.provider_id, r.text, r.received_at) for r in page.replies] == [
        ("13", "", None), ("11", "offset", (now - timedelta(minutes=3)).replace(tzinfo=None)),
        ("14", "ISO", (now - timedelta(minutes=2)).replace(tzinfo=None))]
    assert page.replies[1].raw["NewField"] == [1, 2] and page.replies[2].receiver == ""
    # The row naming no sender was listed at the latest moment: the cursor is past it, not stuck before it.
    assert page.cursor == f"{ms(now)}:{fingerprint('12')}"
    assert "skipped" in caplog.text and "вчера" in caplog.text


@pytest.mark.parametrize("answer", [{"Messages": []}, "OK", None])
def test_an_unknown_answer_shape_is_refused_and_logged_not_a_crash(devino, caplog, answer):
    devino.listed_answer = (200, answer)
    with pytest.raises(base.ProviderError) as refused:
        pulling().fetch_replies("1700000000000")
    assert type(refused.value) is base.ProviderError and refused.value.code == "bad_answer"
    assert "shape we cannot read" in caplog.text


def test_a_refused_login_is_bad_credentials_and_lists_nothing(devino):
    devino.password = "changed in the cabinet"
    with pytest.raises(base.InvalidCredentials) as refused:
        pulling().fetch_replies(None)
    assert refused.value.code == "4" and not refused.value.retryable
    assert "Unauthorized access" in refused.value.text and PASSWORD not in refused.value.text
    assert devino.listings == []


def test_a_session_refused_by_sms_in_is_tried_again_later(devino):
    devino.listed_answer = (401, {"Code": 3, "Desc": "Invalid session ID"})
    with pytest.raises(base.RetryLater) as refused:
        pulling().fetch_replies("1700000000000")
    assert refused.value.code == "session_3" and refused.value.retryable
    reply_id = devino.receive(CLIENT, NUMBER, "still here", at=datetime.now(UTC) - timedelta(seconds=5))
    assert [r.provider_id for r in pulling().fetch_replies(None).replies] == [reply_id]


@pytest.mark.parametrize("status, body, error, code", [
    (400, {"Code": 2, "Desc": "Invalid argument"}, base.ProviderError, "2"),
    (400, {"Code": 9, "Desc": "Internal server error"}, base.RetryLater, "9"),
    (403, {"Code": 7, "Desc": "Forbidden"}, base.InvalidCredentials, "7"),
    (403, "<html>Forbidden</html>", base.InvalidCredentials, "http_403"),
    (503, "<html>Service Unavailable</html>", base.RetryLater, "http_503"),
])
def test_sms_in_refusals_say_whether_to_try_again(devino, status, body, error, code):
    devino.listed_answer = (status, body)
    with pytest.raises(base.ProviderError) as refused:
        pulling().fetch_replies("1700000000000")
    assert type(refused.value) is error and refused.value.code.endswith(code)


def test_a_session_answer_that_is_no_session_id_is_refused(rsps):
    rsps.get(devino_legacy.LEGACY_BASE_URL + "user/sessionId", body="<html>maintenance page</html>",
             content_type="text/html")
    with pytest.raises(base.ProviderError) as refused:
        pulling().fetch_replies(None)
    assert refused.value.code == "bad_session" and "maintenance" in refused.value.text


@pytest.mark.parametrize("cursor", [str(10 ** 14), "1"])
def test_a_cursor_far_off_is_not_followed(devino, cursor):
    pulling().fetch_replies(cursor)
    since, until = window(devino.listings[0])
    assert timedelta(minutes=59) < datetime.now(UTC) - since < timedelta(days=7, seconds=2)
    assert until - since <= timedelta(days=1, seconds=1)


def test_the_older_api_follows_a_base_url_override(rsps):
    local = mocked(rsps, FakeDevino(base="http://127.0.0.1:5099/"))
    reply_id = local.receive(CLIENT, NUMBER, "local", at=datetime.now(UTC) - timedelta(seconds=5))
    overridden = Devino({"api_key": API_KEY, **OLDER}, "SHOP", base_url="http://127.0.0.1:5099/", timeout=3,
                        http=http_client.build())
    assert [r.provider_id for r in overridden.fetch_replies(None).replies] == [reply_id]
    assert local.legacy_base == "http://127.0.0.1:5099/rest/"


def test_the_check_on_save_asks_for_a_session_only_with_the_older_login(devino):
    provider().check_credentials()
    assert devino.session_requests == []
    pulling().check_credentials()
    assert len(devino.session_requests) == 1
    devino.login = "someone else"
    with pytest.raises(base.InvalidCredentials):
        pulling().check_credentials()


@pytest.mark.parametrize("status, body, error, code", [
    (400, {"Code": 1, "Desc": "Argument can not be null or empty"}, base.InvalidCredentials, "1"),
    (403, None, base.InvalidCredentials, "http_403"),
    (400, {"Code": 9, "Desc": "Internal server error"}, base.RetryLater, "9"),
    (404, None, base.ProviderError, "http_404"),
    (502, None, base.RetryLater, "http_502"),
])
def test_session_refusals_say_whether_the_login_is_wrong(rsps, status, body, error, code):
    rsps.get(devino_legacy.LEGACY_BASE_URL + "user/sessionId", status=status, json=body)
    with pytest.raises(base.ProviderError) as refused:
        pulling().fetch_replies(None)
    assert type(refused.value) is error and refused.value.code.endswith(code)
