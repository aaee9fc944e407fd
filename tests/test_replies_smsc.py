"""SMSC.ru's side of incoming SMS: get_answers pulled after the last id, in UTF-8, and the push to the account URL."""
import json
from datetime import datetime
from urllib.parse import parse_qsl

import pytest
import requests

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.smsc import REPLY_PAGE, Smsc
from tests.fakes.smsc import SMSC
from tests.helpers import form_of

OURS = "79031234567"


def provider():
    return Smsc({"login": "smsc-user", "password": "smsc-pass"}, "SHOP", base_url=SMSC, timeout=3,
                http=http_client.build())


def pushed(fields):
    return base.Receipt(url="https://sms.example.com/callbacks/smsc/s3cret?charset=utf-8",
                        params=tuple(fields.items()), query=(("charset", "utf-8"),))


def test_the_first_fetch_takes_the_last_hour_in_utf8(smsc, rsps):
    first = smsc.receive("79161234567", OURS, "Да, подтверждаю", at=datetime(2026, 11, 23, 7, 0, 5))
    second = smsc.receive("79161234568", OURS, "СТОП")
    page = provider().fetch_replies(None)
    form = form_of(rsps.calls[0])
    assert (form["get_answers"], form["hour"], form["charset"], form["fmt"]) == ("1", "1", "utf-8", "3")
    assert "after_id" not in form
    assert [(r.provider_id, r.sender, r.receiver, r.text) for r in page.replies] == [
        (second, "79161234568", OURS, "СТОП")]  # the first came days ago: outside the hour
    assert page.cursor == second and not page.more
    assert first != second


def test_the_next_fetch_goes_on_after_the_last_id(smsc, rsps):
    one = smsc.receive("79161234567", OURS, "раз")
    page = provider().fetch_replies(None)
    two = smsc.receive("79161234567", OURS, "два")
    three = smsc.receive("79161234568", OURS, "три")
    page = provider().fetch_replies(page.cursor)
    assert form_of(rsps.calls[1])["after_id"] == one and "hour" not in form_of(rsps.calls[1])
    assert [r.provider_id for r in page.replies] == [two, three] and page.cursor == three
    empty = provider().fetch_replies(page.cursor)
    assert empty.replies == [] and empty.cursor == three  # nothing new: the same cursor


def test_moscow_time_becomes_naive_utc(smsc):
    smsc.receive("79161234567", OURS, "hi", at=datetime(2026, 11, 23, 21, 30, 0))
    [reply] = provider().fetch_replies("0").replies
    assert reply.raw["sent"] == "24.11.2026 00:30:00"  # SMSC's own clock
    assert reply.received_at == datetime(2026, 11, 23, 21, 30, 0)


def test_smsc_answers_windows_1251_unless_utf8_is_asked(smsc):
    smsc.receive("79161234567", OURS, "Привет")
    form = {"login": "smsc-user", "psw": "smsc-pass", "fmt": "3", "get_answers": "1", "after_id": "0"}
    default = requests.post(SMSC + "get.php", data=form, timeout=3)
    assert json.loads(default.content.decode("cp1251"))[0]["message"] == "Привет"
    assert "Привет" not in default.text  # read as UTF-8 it is garbled: hence charset=utf-8 on every call
    asked = requests.post(SMSC + "get.php", data={**form, "charset": "utf-8"}, timeout=3)
    assert asked.json()[0]["message"] == "Привет"
    assert provider().fetch_replies("0").replies[0].text == "Привет"


def test_a_full_page_says_more(smsc, rsps):
    for n in range(REPLY_PAGE + 1):
        smsc.receive("79161234567", OURS, f"#{n}")
    page = provider().fetch_replies("0")
    assert form_of(rsps.calls[0])["cnt"] == str(REPLY_PAGE)
    assert len(page.replies) == REPLY_PAGE and page.more
    rest = provider().fetch_replies(page.cursor)
    assert [r.text for r in rest.replies] == [f"#{REPLY_PAGE}"] and not rest.more


def test_malformed_rows_are_skipped_and_unknown_fields_kept(rsps, caplog):
    rsps.post(SMSC + "get.php", json=[
        {"id": 7, "phone": "79161234567", "message": "ok", "to_phone": OURS, "sent": "23.11.2026 10:00:00",
         "new_field": {"x": 1}},
        {"id": 8, "message": "no phone\n"},
        "not an object",
        {"id": 9, "phone": "79161234569", "message": "bad time", "to_phone": OURS, "sent": "yesterday"},
    ])
    page = provider().fetch_replies("5")
    assert [(r.provider_id, r.received_at) for r in page.replies] == [
        ("7", datetime(2026, 11, 23, 7, 0, 0)), ("9", None)]
    assert page.replies[0].raw["new_field"] == {"x": 1}
    assert page.cursor == "9"  # past the unreadable row too: it would only come back
    assert "skipped" in caplog.text


def test_an_error_answer_is_the_providers_error(rsps):
    rsps.post(SMSC + "get.php", json={"error": "authorise error", "error_code": 2})
    with pytest.raises(base.InvalidCredentials):
        provider().fetch_replies(None)


def test_a_cursor_that_is_not_an_id_starts_from_the_last_hour(smsc, rsps):
    provider().fetch_replies("garbage")
    assert form_of(rsps.calls[0])["hour"] == "1"


@pytest.mark.parametrize("charset", [None, "utf-8"])
def test_a_pushed_reply_is_read(smsc, charset):
    answer_id = smsc.receive("79161234567", OURS, "Перезвоните")
    fields, body = smsc.pushed_reply(answer_id, charset)
    # The body as the web layer decodes it (windows-1251 by default): the fields come back the same.
    assert dict(parse_qsl(body.decode("ascii"), encoding=charset or "cp1251")) == fields
    [reply] = provider().read_replies(pushed(fields))
    assert (reply.provider_id, reply.sender, reply.receiver, reply.text) == (answer_id, "79161234567", OURS,
                                                                             "Перезвоните")
    assert reply.received_at is not None


@pytest.mark.parametrize("fields", [
    {"sms_id": "41", "from": "79161234567", "to": OURS, "text": "other names"},
    {"id": "41", "phone": "+79161234567", "message": "other names", "to_phone": OURS, "extra": "kept"},
])
def test_the_plausible_field_names_are_read(fields):
    [reply] = provider().read_replies(pushed(fields))
    assert (reply.provider_id, reply.text) == ("41", "other names")
    assert reply.raw == {"charset": "utf-8", **fields}  # the query of the URL too


def test_a_status_on_the_shared_url_is_no_reply():
    assert provider().read_replies(pushed({"id": "5", "status": "1", "err": "0", "phone": "79161234567"})) == []


def test_a_push_naming_no_phone_is_refused():
    with pytest.raises(base.ProviderError) as refused:
        provider().read_replies(pushed({"id": "5", "mes": "who?"}))
    assert refused.value.code == "bad_reply"


def test_smsc_replies_are_pasted_and_pulled_and_the_help_names_the_charset():
    assert Smsc.reply_ways == {base.REPLIES_PASTED, base.REPLIES_PULLED}
    assert "charset=utf-8" in Smsc.replies_help
