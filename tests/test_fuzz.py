"""Property-based fuzzing of every HTTP entry point (hypothesis).

Whatever a caller sends, the app answers 2xx or a 4xx error in the documented shape (`{"error", "message"}` JSON,
or the HTML error page for the iframe pages), never a 5xx, and a refused call stores or changes nothing.
Random input alone rarely gets past the first check, so most tests start from a VALID request and break it in a
few places. Every outgoing call goes to the HTTP fakes; one to a host no fake serves raises ConnectionError
inside `responses`, which the app must also answer with something other than a 5xx.
"""
import base64
import hashlib
import hmac
import itertools
import json
import re
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from b24sms.store.models import Message, Portal, ProviderAccount
from tests.helpers import (
    APPLICATION_TOKEN,
    PROSTOR_SETTINGS,
    SMSAERO_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    as_sent,
    bearer,
    handler_form,
    iframe_form,
    install_with_chain,
    install_with_prostor,
    message_id,
    open_page,
    save_providers,
    send_messages,
)
from tests.helpers.rows import count
from tests.helpers.suite import PUBLIC_URL


def fuzz_settings(max_examples):
    # Fixtures are set up once per test, not per example: that is intended (state accumulates, as in production).
    # derandomize + no example database: CI runs the same examples every time and nothing is written to the repo.
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# ---------------------------------------------------------------- what callers may send
NASTY_STRINGS = [
    "", " ", "0", "-1", "1e309", "NaN", "null", "true", "[]", "{}", "²", "٣", "９", "1" * 40,
    "'; DROP TABLE messages; --", "\" OR 1=1 --", "\x00", "a\x00b", "\x1b[31m", "\r\n\t", "\x7f\x08",
    "\u202eevil\u202c", "مرحبا بالعالم", "שָׁלוֹם", "😀👍🏽‍👩‍👩‍👧", "𝕳𝖊𝖑𝖑𝖔", "\ufeff", "\u200b",
    "../../etc/passwd", "%00", "%ZZ", "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://x/a}",
    "+7 (916) 123-45-67", "+79161234567", "00000000000000000000000000000001", "Y", "N", "1",
]
SPIKES = ["\x00", "\x01", "\x1f", "\u202e", "\u200f", "😀", "'", '"', "\\", "%", "[", "]", "\r\n", "𐀀"]
# Values far longer than any field allows, made by repetition so that generating them stays cheap.
long_text = st.builds(lambda chunk, times: chunk * times,
                      st.sampled_from(["x", "é", "😀", "9", "\x00", "[a]", "%"]), st.integers(65, 3000))
# Ordinary-looking text with one bad character in it: gets past "is it empty / too long" checks.
spiked_text = st.builds(lambda head, spike, tail: head + spike + tail,
                        st.text(max_size=8), st.sampled_from(SPIKES), st.text(max_size=8))
scalar_text = st.one_of(st.sampled_from(NASTY_STRINGS), spiked_text, st.text(max_size=30), long_text)

# PHP-style form keys: the ones Bitrix24 uses, broken ones, and generated nestings.
FIELD_NAMES = ["type", "code", "message_id", "message_to", "message_body", "ts", "module_id", "properties", "auth",
               "bindings", "document_id", "document_type", "workflow_id", "event", "data", "0", "1"]
SUB_NAMES = ["member_id", "application_token", "access_token", "refresh_token", "expires_in", "domain", "user_id",
             "phone_number", "message_text", "OWNER_ID", "CLEAN", "0", "1", "7", ""]
MALFORMED_KEYS = [
    "a[", "a]]", "a[b][", "[x]", "[]", "[", "]", "a[b]c", "a[[b]]", "a][", "auth[", "auth]]", "auth[member_id",
    "auth[member_id][", "auth]member_id[", "properties[phone_number]]", "message_id[]", "message_id[0]",
    "bindings[0][OWNER_ID][x]", "auth[member_id][x]", "auth[]", "x" + "[a]" * 6, "auth" + "[a]" * 50,
    "data[CLEAN][]", "event[]", "\x00[a]", "😀[😀]", "0", "0[0]",
]
key_segment = st.one_of(st.sampled_from(SUB_NAMES), st.text(alphabet="ab0[]\x00 é", max_size=5))
php_key = st.one_of(
    st.sampled_from(MALFORMED_KEYS),
    st.builds(lambda head, segments: head + "".join(f"[{segment}]" for segment in segments),
              st.sampled_from(FIELD_NAMES) | st.text(max_size=8), st.lists(key_segment, max_size=8)),
)
form_pairs = st.lists(st.tuples(php_key, scalar_text), max_size=10)


def form_edits(important_fields, min_size=1, max_size=4):
    """Edits to a valid form. A target is a field name (mostly the ones the code reads) or an index."""
    target = st.one_of(st.sampled_from(important_fields), st.integers(0, 63))
    edit = st.one_of(
        st.tuples(st.just("drop"), target),
        st.tuples(st.just("replace"), target, scalar_text),
        st.tuples(st.just("nest"), target, key_segment, scalar_text),  # `k` -> `k[segment]`: an array now
        st.tuples(st.just("repeat"), target, scalar_text),
        st.tuples(st.just("add"), php_key, scalar_text),
    )
    return st.lists(edit, min_size=min_size, max_size=max_size)


def apply_edits(pairs, edits):
    """The form `pairs` after `edits`. A name not in the form is added; an index is taken modulo the length."""
    pairs = list(pairs)
    for action, target, *values in edits:
        if action == "add":
            pairs.append((target, values[0]))
            continue
        names = [name for name, _ in pairs]
        if isinstance(target, int):
            if not pairs:
                continue
            index = target % len(pairs)
        elif target in names:
            index = names.index(target)
        else:
            index = None
        key = target if index is None else pairs[index][0]
        if action == "drop":
            if index is not None:
                del pairs[index]
        elif action == "repeat" or index is None:
            pairs.append((f"{key}[{values[0]}]", values[1]) if action == "nest" else (key, values[-1]))
        elif action == "replace":
            pairs[index] = (key, values[0])
        elif action == "nest":
            pairs[index] = (f"{key}[{values[0]}]", values[1])
    return pairs


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), scalar_text)
json_values = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)), max_leaves=12)

# Bodies that are not what the endpoint reads: wrong content types, broken encodings, too deep, nameless parts.
CONTENT_TYPES = ["application/json", "application/json; charset=utf-16", "text/plain", "application/xml",
                 "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=zz",
                 "application/octet-stream", "", "application/json; charset=no-such-charset"]
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"{", b"[1,", b"\xff\xfe\x00", b'{"a": NaN}', b"a=%ZZ&b=%FF%FE", b"a=%00&a[b]=1&a=2",
                     b"[" * 5000, b'{"a":' * 5000, b'"\\u0000"', b"0=a&1=b",
                     b"--zz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--zz--",
                     b'--zz\r\nContent-Disposition: form-data; name="auth[member_id]"\r\n\r\n\x00\r\n--zz--']),
)
raw_request = st.tuples(raw_bodies, st.sampled_from(CONTENT_TYPES))


def body_kwargs(body):
    """Keyword arguments for the test client: ("form", pairs), ("json", value) or ("raw", (bytes, content type))."""
    kind, value = body
    if kind == "form":
        return {"data": MultiDict(value)}
    if kind == "json":
        return {"json": value}
    return {"data": value[0], "content_type": value[1]}


# ---------------------------------------------------------------- what the app must answer, and keep
def assert_json_error(response):
    body_text = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, body_text[:500])
    assert response.mimetype == "application/json", (response.status_code, response.mimetype, body_text[:500])
    body = response.get_json()
    assert isinstance(body, dict) and set(body) >= {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["message"], str) and body["message"], body
    assert "Traceback" not in body_text


def assert_html_error(response):
    body_text = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, body_text[:500])
    assert response.mimetype == "text/html", (response.status_code, response.mimetype)
    assert 'class="error"' in body_text and "Traceback" not in body_text


def assert_json_answer(response):
    """200 JSON, or a JSON 4xx error; never a 5xx. Returns whether the call was accepted."""
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:500])
    if response.status_code >= 400:
        assert_json_error(response)
        return False
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() is not None
    return True


def portal_rows(db):
    with db.session() as session:
        return [(p.member_id, p.domain, p.state, p.access_token, p.refresh_token, p.application_token, p.language)
                for p in session.scalars(select(Portal).order_by(Portal.id))]


def account_rows(db):
    with db.session() as session:
        return [(a.portal_id, a.kind, a.position, a.sender, json.dumps(a.credentials, sort_keys=True),
                 a.callback_secret_hash)
                for a in session.scalars(select(ProviderAccount).order_by(ProviderAccount.id))]


def message_rows(db):
    with db.session() as session:
        return [(m.id, m.state, m.provider_status, m.error_code, m.status, m.report_pending)
                for m in session.scalars(select(Message).order_by(Message.id))]


def unpin_application_token(db):
    """As before the first handler call of a portal installed without APPLICATION_TOKEN: that call pins it."""
    with db.session() as session:
        for portal in session.scalars(select(Portal)):
            portal.application_token = None


# ---------------------------------------------------------------- POST /handler
HANDLER_FIELDS = ["message_id", "message_to", "message_body", "properties[phone_number]", "properties[message_text]",
                  "type", "auth[member_id]", "auth[application_token]", "auth[access_token]", "auth[user_id]",
                  "module_id", "bindings[0][OWNER_ID]", "document_id[0]", "properties", "auth"]


@pytest.fixture
def fresh_message_ids():
    """Bitrix24 message ids never used before in the test, so that each example reaches store-and-send."""
    return itertools.count(1000)


@fuzz_settings(max_examples=60)
@given(pairs=form_pairs)
# Inputs that once answered 500 stay pinned: a form whose keys are all digits parsed into a list.
@example(pairs=[("0", "x")])
@example(pairs=[("0", "x"), ("1", "y"), ("auth[member_id]", "a1b2c3d4e5f60718293a4b5c6d7e8f90")])
def test_handler_answers_garbage_forms_with_a_json_4xx(client, db, bitrix, prostor, smsc, smsaero, twilio, pairs):
    if count(db, Portal) == 0:
        install_with_prostor(client, bitrix)
    messages_before = count(db, Message)

    response = client.post("/handler", data=MultiDict(pairs))

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    if not assert_json_answer(response):
        assert count(db, Message) == messages_before


@fuzz_settings(max_examples=30)
@given(request=raw_request)
@example(request=(b"--zz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--zz--", "multipart/form-data; boundary=zz"))
def test_handler_answers_raw_bodies_with_a_json_4xx(client, db, bitrix, prostor, request):
    if count(db, Portal) == 0:
        install_with_prostor(client, bitrix)
    messages_before = count(db, Message)

    response = client.post("/handler", data=request[0], content_type=request[1])

    assert_json_error(response)  # none of these carries a valid auth block
    assert count(db, Message) == messages_before


@fuzz_settings(max_examples=120)
@given(edits=form_edits(HANDLER_FIELDS), module=st.sampled_from(["crm", "bizproc"]), pinned=st.booleans())
@example(edits=[("replace", "message_body", "a\x00b")], module="crm", pinned=True)  # NUL: PostgreSQL refuses
@example(edits=[("replace", "auth[member_id]", "a\x00")], module="crm", pinned=True)
@example(edits=[("nest", "auth[application_token]", "x", "y")], module="crm", pinned=False)  # pinned a dict
def test_handler_with_a_valid_form_mutated(client, db, bitrix, prostor, smsc, smsaero, twilio, fresh_message_ids,
                                           edits, module, pinned):
    if count(db, Portal) == 0:
        install_with_prostor(client, bitrix)
    if not pinned:
        unpin_application_token(db)
    valid = handler_form(bitrix, message_id(next(fresh_message_ids)), module=module)
    pairs = apply_edits(valid.items(), edits)
    note(f"form: {pairs!r}")
    messages_before = count(db, Message)

    response = client.post("/handler", data=MultiDict(pairs))

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    if assert_json_answer(response):
        answer = response.get_json()
        assert isinstance(answer["message_id"], str) and answer["state"]
        assert count(db, Message) in (messages_before, messages_before + 1)
    else:
        assert count(db, Message) == messages_before


def test_the_unmutated_handler_form_is_accepted(client, db, bitrix, prostor):
    # The mutation test above proves little if its starting point were refused anyway.
    install_with_prostor(client, bitrix)
    unpin_application_token(db)

    response = client.post("/handler", data=handler_form(bitrix, message_id(1)))

    assert as_sent(client, response)["state"] == "accepted"
    assert count(db, Message) == 1


# ---------------------------------------------------------------- POST /events
EVENT_NAMES = ["ONAPPINSTALL", "ONAPPUNINSTALL", "onAppUninstall", "ONAPPUPDATE", "ONCRMDEALADD", ""]
EVENT_FIELDS = ["event", "data[CLEAN]", "auth[access_token]", "auth[refresh_token]", "auth[expires_in]",
                "auth[member_id]", "auth[application_token]", "auth", "data"]


@fuzz_settings(max_examples=100)
@given(event=st.one_of(st.sampled_from(EVENT_NAMES), st.sampled_from(EVENT_NAMES), scalar_text),
       clean=st.sampled_from(["0", "1", "", "Y", "[]"]),
       edits=form_edits(EVENT_FIELDS, min_size=0))
@example(event="ONAPPINSTALL", clean="0", edits=[("nest", "auth[application_token]", "x", "1")])
@example(event="ONAPPINSTALL", clean="0", edits=[("nest", "auth[refresh_token]", "0", "r")])
@example(event="ONAPPUNINSTALL", clean="1", edits=[("replace", "auth[member_id]", "x\x00")])
@example(event="ONAPPINSTALL", clean="0", edits=[("nest", "event", "00", "")])  # "00" taken for index 0
@example(event="ONAPPINSTALL", clean="0", edits=[("nest", "event", "²", "")])  # "²".isdigit(), int("²") fails
def test_events_with_random_and_mutated_auth_blocks(client, db, bitrix, prostor, event, clean, edits):
    # Each example starts from an installed, active portal with its application_token pinned, so that a valid
    # uninstall or install in an earlier example does not make the later ones shallow.
    response, _ = open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)
    assert response.status_code == 200
    access, refresh = bitrix.issue("1")
    valid = {"event": event, "data[CLEAN]": clean, "auth[access_token]": access, "auth[refresh_token]": refresh,
             "auth[expires_in]": "3600", "auth[domain]": bitrix.domain, "auth[member_id]": bitrix.member_id,
             "auth[application_token]": APPLICATION_TOKEN}
    pairs = apply_edits(valid.items(), edits)
    note(f"form: {pairs!r}")
    portals_before = portal_rows(db)

    response = client.post("/events", data=MultiDict(pairs))

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    if assert_json_answer(response):
        assert response.get_json()["ok"] is True
    else:
        assert portal_rows(db) == portals_before


@fuzz_settings(max_examples=40)
@given(body=st.one_of(st.tuples(st.just("form"), form_pairs), st.tuples(st.just("raw"), raw_request)))
def test_events_answer_garbage_with_a_json_4xx(client, db, bitrix, prostor, body):
    if count(db, Portal) == 0:
        install_with_prostor(client, bitrix)
    portals_before = portal_rows(db)

    response = client.post("/events", **body_kwargs(body))

    if not assert_json_answer(response):
        assert portal_rows(db) == portals_before


# ---------------------------------------------------------------- POST /callbacks/<kind>/<secret>
def twilio_signature(auth_token, url, pairs):
    """X-Twilio-Signature as Twilio documents it: HMAC-SHA1 over the URL and the sorted name+value pairs."""
    signed = url + "".join(name + value for name, value in sorted(pairs))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


path_part = st.one_of(st.sampled_from(["prostor", "smsc", "smsaero", "twilio", "log", "..", ".", "%2e%2e", "a/b",
                                       "😀", "\x00", " ", "a" * 200]), st.text(min_size=1, max_size=20))
header_values = st.one_of(st.sampled_from(["", "abc", "=" * 28, "AAAA"]), st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
callback_bodies = st.one_of(st.tuples(st.just("form"), form_pairs), st.tuples(st.just("json"), json_values),
                            st.tuples(st.just("raw"), raw_request))


@fuzz_settings(max_examples=50)
@given(kind=path_part, secret=path_part, body=callback_bodies, signature=header_values)
def test_callbacks_to_unknown_addresses_are_json_4xx(client, db, bitrix, prostor, smsc, twilio, kind, secret, body,
                                                    signature):
    if count(db, Portal) == 0:
        install_with_chain(client, bitrix, TWILIO_SETTINGS, SMSC_SETTINGS)
    messages_before = message_rows(db)

    response = client.post(f"/callbacks/{quote(kind, safe='')}/{quote(secret, safe='')}",
                           headers={"X-Twilio-Signature": signature}, **body_kwargs(body))

    assert_json_error(response)
    assert message_rows(db) == messages_before


@pytest.fixture
def receipt_addresses(client, db, bitrix, prostor, smsc, twilio):
    """Real receipt URLs: a Twilio message's StatusCallback, and the SMSC account URL with a message sent by SMSC."""
    token = install_with_chain(client, bitrix, TWILIO_SETTINGS, SMSC_SETTINGS)
    send_messages(client, bitrix, 1, start=1)
    [(sid, resource)] = twilio.messages.items()
    assert save_providers(client, token, [SMSC_SETTINGS, TWILIO_SETTINGS]).status_code == 200
    send_messages(client, bitrix, 1, start=2)
    smsc_url = client.get("/api/settings", headers=bearer(token)).get_json()["providers"][0]["callback_url"]
    return {"twilio": (resource["status_callback"], sid), "smsc": (smsc_url, smsc.sent[0]["id"])}


REAL_ID = "<the real id>"
twilio_receipt = st.tuples(st.just("twilio"), st.fixed_dictionaries({}, optional={
    "MessageSid": st.sampled_from([REAL_ID, REAL_ID, "", "SM0"]) | scalar_text,
    "MessageStatus": st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed", "read", ""])
    | scalar_text,
    "ErrorCode": st.sampled_from(["", "0", "30007", "-1"]) | scalar_text,
    "SmsSid": scalar_text,
}))
smsc_receipt = st.tuples(st.just("smsc"), st.fixed_dictionaries({}, optional={
    "id": st.sampled_from([REAL_ID, REAL_ID, "", "0", "-1", "99999999999999999999"]) | scalar_text,
    "status": st.sampled_from(["-1", "0", "1", "3", "20", "22", "77", ""]) | scalar_text,
    "err": st.sampled_from(["0", "1", ""]) | scalar_text,
    "phone": scalar_text,
}))


@fuzz_settings(max_examples=100)
@given(receipt=st.one_of(twilio_receipt, smsc_receipt), extra=st.lists(st.tuples(php_key, scalar_text), max_size=2),
       as_json=st.sampled_from([False, False, True]), signing=st.sampled_from(["valid", "valid", "none", "garbage"]),
       garbage=header_values, query=st.none() | st.lists(st.tuples(st.text(max_size=5), scalar_text), max_size=2),
       wrong_kind=st.sampled_from([False, False, False, True]))
@example(receipt=("smsc", {"id": "a\x00", "status": "1"}), extra=[], as_json=False, signing="none", garbage="",
         query=None, wrong_kind=False)
@example(receipt=("smsc", {"id": REAL_ID, "status": "1\x00"}), extra=[], as_json=True, signing="none", garbage="",
         query=None, wrong_kind=False)
def test_receipts_at_real_addresses_are_200_or_json_4xx(client, db, receipt_addresses, receipt, extra, as_json,
                                                        signing, garbage, query, wrong_kind):
    provider, fields = receipt
    url, real_id = receipt_addresses[provider]
    pairs = [(name, real_id if value == REAL_ID else value) for name, value in fields.items()] + extra
    if query:
        url += "?" + urlencode(query)
    headers = {}
    if signing == "valid":
        headers["X-Twilio-Signature"] = twilio_signature(TWILIO_SETTINGS["credentials"]["auth_token"], url, pairs)
    elif signing == "garbage":
        headers["X-Twilio-Signature"] = garbage
    path = url.removeprefix(PUBLIC_URL)
    if wrong_kind:  # the right secret under the other provider's name
        path = re.sub(r"^/callbacks/\w+/", f"/callbacks/{'smsc' if provider == 'twilio' else 'twilio'}/", path)
    note(f"POST {path} {pairs!r} {headers}")
    messages_before = message_rows(db)

    if as_json:
        response = client.post(path, json=dict(pairs), headers=headers)
    else:
        response = client.post(path, data=MultiDict(pairs), headers=headers)

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    if assert_json_answer(response):
        assert response.get_json()["ok"] is True
    else:
        assert message_rows(db) == messages_before


# ---------------------------------------------------------------- POST /install and POST / (iframe pages)
IFRAME_FIELDS = ["AUTH_ID", "REFRESH_ID", "member_id", "AUTH_EXPIRES", "PLACEMENT", "PLACEMENT_OPTIONS",
                 "APPLICATION_TOKEN", "status"]
IFRAME_QUERY = ["DOMAIN", "PROTOCOL", "LANG", "APP_SID"]


@fuzz_settings(max_examples=100)
@given(path=st.sampled_from(["/install", "/"]), user_id=st.sampled_from(["1", "1", "2"]),
       form_changes=form_edits(IFRAME_FIELDS, min_size=0, max_size=3),
       query_changes=form_edits(IFRAME_QUERY, min_size=0, max_size=2),
       method=st.sampled_from(["POST", "POST", "POST", "GET"]))
@example(path="/", user_id="1", form_changes=[], query_changes=[("replace", "LANG", "r\x00u")], method="POST")
@example(path="/install", user_id="1", form_changes=[], query_changes=[], method="POST")  # accepted as it is
def test_iframe_pages_answer_html_and_store_nothing_when_refused(client, db, bitrix, prostor, path, user_id,
                                                                 form_changes, query_changes, method):
    access, refresh = bitrix.issue(user_id)
    form = apply_edits(iframe_form(bitrix, access, refresh, APPLICATION_TOKEN=APPLICATION_TOKEN).items(),
                       form_changes)
    query = apply_edits({"DOMAIN": bitrix.domain, "PROTOCOL": "1", "LANG": "ru", "APP_SID": "abc"}.items(),
                        query_changes)
    note(f"{method} {path} query={query!r} form={form!r}")
    portals_before = portal_rows(db)

    if method == "GET":  # a GET carries no form: everything goes into the query string
        response = client.get(path, query_string=MultiDict(query + form))
    else:
        response = client.post(path, query_string=MultiDict(query), data=MultiDict(form))

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code == 200:
        assert response.mimetype == "text/html"
        assert '<meta name="b24sms-token"' in response.get_data(as_text=True)
    else:
        assert_html_error(response)
        assert portal_rows(db) == portals_before


@fuzz_settings(max_examples=30)
@given(path=st.sampled_from(["/install", "/"]), request=raw_request)
def test_iframe_pages_answer_raw_bodies_with_the_html_error_page(client, db, bitrix, path, request):
    portals_before = portal_rows(db)

    response = client.post(path, data=request[0], content_type=request[1])

    assert_html_error(response)  # no raw body carries an AUTH_ID
    assert portal_rows(db) == portals_before


# ---------------------------------------------------------------- /api/...
@pytest.fixture
def api_tokens(client, bitrix, prostor):
    """Session tokens a page could hold: the admin's, a non-admin's, and broken ones."""
    admin = install_with_prostor(client, bitrix)
    send_messages(client, bitrix, 3)  # something in the message log to page through
    _, user = open_page(client, bitrix, path="/", user_id="2")
    assert admin and user
    return {"admin": admin, "user": user, "tampered": admin[:-3] + ("AAA" if not admin.endswith("AAA") else "BBB"),
            "other key": "eyJwIjoxLCJ1IjoiMSIsImEiOnRydWV9.aaaa.bbbb"}


valid_authorization = st.sampled_from(["<admin>", "<admin>", "<user>"])
broken_authorization = st.one_of(
    st.sampled_from(["<tampered>", "<other key>", None, "Bearer", "Bearer ", "Basic abc", "bearer  x",
                     "Token <admin>", "Bearer <admin> extra"]),
    header_values.map(lambda value: "Bearer " + value),
)
# Two thirds valid: a refused token stops every call at the door, before the code worth fuzzing.
authorization = st.one_of(valid_authorization, valid_authorization, broken_authorization)


def authorization_header(choice, tokens):
    if choice is None:
        return {}
    for name, token in tokens.items():
        choice = choice.replace(f"<{name}>", token)
    if choice in tokens.values():
        choice = "Bearer " + choice
    return {"Authorization": choice}


VALID_ENTRIES = [PROSTOR_SETTINGS, SMSC_SETTINGS, SMSAERO_SETTINGS, TWILIO_SETTINGS, {"kind": "log"}]
CREDENTIAL_NAMES = ["login", "password", "email", "api_key", "account_sid", "auth_token"]
provider_entry = st.one_of(
    st.sampled_from(VALID_ENTRIES),
    # A valid entry with one field broken: passes the shape checks far more often than random objects.
    st.builds(lambda entry, field, value: {**entry, field: value},
              st.sampled_from(VALID_ENTRIES), st.sampled_from(["kind", "sender", "credentials", "extra"]),
              st.sampled_from(["", "********", "x" * 65]) | scalar_text | json_values),
    st.builds(lambda entry, name, value: {**entry, "credentials": {**entry.get("credentials", {}), name: value}},
              st.sampled_from(VALID_ENTRIES), st.sampled_from(CREDENTIAL_NAMES),
              st.sampled_from(["", "********", "wrong"]) | scalar_text | json_values),
    json_values,
)
settings_body = st.one_of(
    st.fixed_dictionaries({"providers": st.lists(provider_entry, max_size=3)}),
    st.fixed_dictionaries({"providers": json_values}),
    json_values,
)
test_sms_body = st.one_of(
    st.fixed_dictionaries({"to": st.sampled_from(["+79161234567", "8 916 123-45-67"]) | scalar_text},
                          optional={"text": scalar_text | json_values}),
    st.fixed_dictionaries({}, optional={"to": json_values, "text": json_values}),
    json_values,
)
api_calls = st.one_of(
    st.tuples(st.just("GET"), st.just("/api/settings"), st.none()),
    st.tuples(st.just("PUT"), st.just("/api/settings"), st.tuples(st.just("json"), settings_body)),
    st.tuples(st.just("PUT"), st.just("/api/settings"), st.tuples(st.just("raw"), raw_request)),
    st.tuples(st.just("POST"), st.just("/api/test-sms"), st.tuples(st.just("json"), test_sms_body)),
    st.tuples(st.just("POST"), st.just("/api/test-sms"), st.tuples(st.just("raw"), raw_request)),
    st.tuples(st.just("POST"), st.just("/api/test-sms"), st.tuples(st.just("form"), form_pairs)),
    st.tuples(st.just("GET"), st.just("/api/balance"), st.none()),
    st.tuples(st.sampled_from(["DELETE", "POST", "PATCH"]), st.sampled_from(["/api/settings", "/api/balance"]),
              st.none()),
)


@fuzz_settings(max_examples=120)
@given(call=api_calls, auth=authorization, query=st.lists(st.tuples(st.text(max_size=6), scalar_text), max_size=2))
@example(call=("PUT", "/api/settings", ("json", {"providers": [{**PROSTOR_SETTINGS, "sender": "S\x00"}]})),
         auth="<admin>", query=[])
@example(call=("PUT", "/api/settings", ("raw", (b"[" * 5000, "application/json"))), auth="<admin>", query=[])
@example(call=("POST", "/api/test-sms", ("json", {"to": "+7" + "9" * 300})), auth="<admin>", query=[])
@example(call=("POST", "/api/test-sms", ("json", {"to": "+79161234567", "text": "a\x00"})), auth="<admin>",
         query=[])
def test_api_answers_json_and_a_refused_call_changes_nothing(client, db, api_tokens, smsc, smsaero, twilio, call,
                                                             auth, query):
    method, path, body = call
    headers = authorization_header(auth, api_tokens)
    kwargs = body_kwargs(body) if body else {}
    note(f"{method} {path} {headers} {kwargs!r}")
    accounts_before, messages_before = account_rows(db), count(db, Message)

    response = client.open(path, method=method, headers=headers, query_string=MultiDict(query), **kwargs)

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    if assert_json_answer(response):
        assert method != "PUT" or response.get_json()["providers"]
    else:
        assert account_rows(db) == accounts_before
        assert count(db, Message) == messages_before


query_value = st.one_of(st.sampled_from(["", "0", "1", "50", "200", "201", "-5", "1.5", "²", "٣", "9" * 30,
                                         "9" * 5000, "2026-01-01", "2026-01-01T00:00:00Z", "0001-01-01T00:00+01:00",
                                         "9999-12-31T23:00-05:00", "yesterday"]), scalar_text)


@fuzz_settings(max_examples=80)
@given(limit=st.none() | query_value, before=st.none() | query_value, auth=authorization)
@example(limit=None, before="²", auth="<admin>")  # str.isdigit() says yes, int() says no
@example(limit=None, before="9" * 5000, auth="<admin>")  # over int()'s 4300 digits
@example(limit=None, before="9" * 30, auth="<admin>")  # over any database integer
@example(limit=None, before="0001-01-01T00:00+01:00", auth="<admin>")  # before year 1 in UTC
@example(limit=None, before="9999-12-31T23:00-05:00", auth="<admin>")  # after year 9999 in UTC
@example(limit=None, before="in-²", auth="<admin>")  # a reply's id, the same traps after its prefix
@example(limit=None, before="in-" + "9" * 5000, auth="<admin>")
def test_message_log_paging_params(client, db, api_tokens, limit, before, auth):
    query = {name: value for name, value in (("limit", limit), ("before", before)) if value is not None}

    response = client.get("/api/messages", query_string=query, headers=authorization_header(auth, api_tokens))

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    if assert_json_answer(response):
        assert isinstance(response.get_json(), list)


@fuzz_settings(max_examples=80)
@given(status=st.none() | st.sampled_from(["delivered", "failed,sent", "lost", ","]) | scalar_text,
       q=st.none() | st.sampled_from(["%", "_", "\\", "+7916", "заказ"]) | scalar_text,
       since=st.none() | query_value, until=st.none() | query_value, export=st.booleans(),
       direction=st.none() | st.sampled_from(["in", "out", "both"]) | scalar_text,
       number=st.none() | st.sampled_from(["+79161234567", "8 916 123-45-67", "+", "1" * 40]) | scalar_text)
@example(status=None, q="\x00", since=None, until=None, export=False, direction=None, number=None)
@example(status=None, q=None, since="0001-01-01", until="9999-12-31", export=True, direction=None, number=None)
@example(status="no_line", q=None, since=None, until=None, export=False, direction="in", number="\x00")
def test_message_log_filters(client, db, api_tokens, status, q, since, until, export, direction, number):
    query = {name: value for name, value in (("status", status), ("q", q), ("from", since), ("to", until),
                                             ("direction", direction), ("number", number)) if value is not None}

    response = client.get("/api/messages.csv" if export else "/api/messages", query_string=query,
                          headers=authorization_header("<admin>", api_tokens))

    note(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    if export and response.status_code == 200:
        assert response.get_data().startswith(b"\xef\xbb\xbf")
    elif assert_json_answer(response):
        assert isinstance(response.get_json(), list)


# ---------------------------------------------------------------- bodies over MAX_CONTENT_LENGTH
@pytest.mark.parametrize("method, path, page", [
    ("POST", "/handler", False), ("POST", "/events", False), ("POST", "/callbacks/smsc/<secret>", False),
    ("POST", "/callbacks/twilio/not-a-secret", False), ("POST", "/install", True), ("POST", "/", True),
    ("POST", "/api/test-sms", False), ("PUT", "/api/settings", False),
])
@pytest.mark.parametrize("encoding", ["form", "json", "text"])
def test_a_body_over_the_configured_limit_is_413(app, client, db, bitrix, prostor, smsc, method, path, page,
                                                 encoding):
    token = install_with_chain(client, bitrix, SMSC_SETTINGS)
    smsc_url = client.get("/api/settings", headers=bearer(token)).get_json()["providers"][0]["callback_url"]
    path = path.replace("/callbacks/smsc/<secret>", smsc_url.removeprefix(PUBLIC_URL))
    padding = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)  # the default: 256 KiB
    body = {"form": {"data": {"message_body": padding}}, "json": {"json": {"text": padding}},
            "text": {"data": padding, "content_type": "text/plain"}}[encoding]
    stored_before = (portal_rows(db), account_rows(db), count(db, Message))

    response = client.open(path, method=method, headers=bearer(token), **body)

    assert response.status_code == 413
    if page:
        assert_html_error(response)
    else:
        assert_json_error(response)
    assert (portal_rows(db), account_rows(db), count(db, Message)) == stored_before


@fuzz_settings(max_examples=40)
@given(path=st.sampled_from(["/handler", "/events", "/install", "/callbacks/smsc/x", "/api/test-sms"]),
       margin=st.integers(-64, 64))
def test_413_is_decided_by_the_configured_limit(app, client, db, bitrix, path, margin):
    # A small limit: the property is about where the line is, not about moving megabytes.
    app.config["MAX_CONTENT_LENGTH"] = 2048
    body = b"a=" + b"b" * (2048 + margin - 2)

    response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code < 500
    assert (response.status_code == 413) == (len(body) > 2048), response.status_code
