"""Several sender names: each one its own messageservice sender, the handler call's `code` picks the name the
provider gets, the names checked against the providers' approved lists, and the page's JSON for all of it."""
import csv
import io
import re

import pytest
from sqlalchemy import select, update

from b24sms.store.models import Message, Portal, SenderName
from tests.fakes.smsaero import sign
from tests.helpers import (
    PROSTOR_SETTINGS,
    SMSAERO_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    TWO_NAMES,
    bearer,
    handler_form,
    handler_path,
    installed,
    message_id,
    open_page,
    run_job,
    stored,
    suffix,
)
from tests.helpers import save_providers as save
from tests.helpers.suite import PUBLIC_URL


def sent_sender(prostor):
    path, body = prostor.requests[-1]
    assert path == "send.json"
    return body["messages"][0].get("sender")


# ---------------------------------------------------------------- registering
def test_each_name_is_its_own_sender_with_the_keyed_handler(client, db, bitrix, two_names):
    promo_code = f"b24sms_{suffix('PROMO')}"
    assert set(bitrix.senders) == {"b24sms", promo_code}
    assert re.fullmatch(r"[a-z0-9.\-_]+", promo_code)
    handler = PUBLIC_URL + handler_path(db)
    for code, name in (("b24sms", "SHOP"), (promo_code, "PROMO")):
        sender = bitrix.senders[code]
        assert sender["NAME"] == {"ru": name, "en": name} and sender["TYPE"] == "SMS"
        assert sender["HANDLER"] == handler
        assert set(sender["DESCRIPTION"]) == {"ru", "en"} and name in sender["DESCRIPTION"]["en"]

    body = client.get("/api/settings", headers=bearer(two_names)).get_json()

    assert body["senders"] == [
        {"name": "SHOP", "code": "b24sms", "default": True, "registered": True},
        {"name": "PROMO", "code": promo_code, "default": False, "registered": True},
    ]
    assert body["portal"]["sender_registered"] is True


def test_without_names_the_portal_keeps_its_one_sender(client, bitrix, prostor):
    token = installed(client, bitrix)

    response = save(client, token, [PROSTOR_SETTINGS])

    assert response.status_code == 200 and response.get_json()["senders"] == []
    assert list(bitrix.senders) == ["b24sms"] and bitrix.senders["b24sms"]["NAME"]["en"] == "b24sms: SMS"


def test_removing_a_name_unregisters_its_sender(client, db, bitrix, prostor, two_names):
    promo_code = f"b24sms_{suffix('PROMO')}"

    response = save(client, two_names, [PROSTOR_SETTINGS], [{"name": "SHOP", "default": True}])

    assert response.status_code == 200
    assert list(bitrix.senders) == ["b24sms"]
    assert ("messageservice.sender.delete", {"CODE": promo_code}) in bitrix.calls
    with db.session() as session:
        assert session.scalars(select(SenderName.name)).all() == ["SHOP"]

    assert save(client, two_names, [PROSTOR_SETTINGS], []).status_code == 200  # no names at all: the one sender
    assert list(bitrix.senders) == ["b24sms"] and bitrix.senders["b24sms"]["NAME"]["en"] == "b24sms: SMS"


def test_leaving_senders_out_of_the_body_keeps_the_names(client, bitrix, prostor, two_names):
    response = save(client, two_names, [PROSTOR_SETTINGS])

    assert [entry["name"] for entry in response.get_json()["senders"]] == ["SHOP", "PROMO"]
    assert len(bitrix.senders) == 2


def test_moving_the_default_moves_sender_code_and_a_name_keeps_its_suffix(client, bitrix, prostor, two_names):
    swapped = [{"name": "SHOP", "default": False}, {"name": "PROMO", "default": True}]

    body = save(client, two_names, [PROSTOR_SETTINGS], swapped).get_json()

    shop_code = f"b24sms_{suffix('SHOP')}"
    assert [(entry["name"], entry["code"]) for entry in body["senders"]] == [("SHOP", shop_code), ("PROMO", "b24sms")]
    assert set(bitrix.senders) == {"b24sms", shop_code}  # PROMO's old code is gone
    assert bitrix.senders["b24sms"]["NAME"]["en"] == "PROMO"
    # Removed and added again (in another case), a name gets its old CODE back: robots set up with it still work.
    save(client, two_names, [PROSTOR_SETTINGS], [{"name": "PROMO", "default": True}])
    body = save(client, two_names, [PROSTOR_SETTINGS], [{"name": "PROMO", "default": True},
                                                        {"name": "shop", "default": False}])
    assert body.status_code == 400  # Prostor spells it SHOP: "shop" is not an approved name
    body = save(client, two_names, [PROSTOR_SETTINGS], swapped).get_json()
    assert body["senders"][0]["code"] == shop_code


# ---------------------------------------------------------------- the handler call's code
def test_the_handler_calls_code_picks_the_name_the_provider_gets(client, db, bitrix, prostor, two_names):
    promo_code = f"b24sms_{suffix('PROMO')}"
    path = handler_path(db)

    client.post(path, data=handler_form(bitrix, message_id(1), code=promo_code))
    assert sent_sender(prostor) == "PROMO"
    client.post(path, data=handler_form(bitrix, message_id(2), code="b24sms"))
    assert sent_sender(prostor) == "SHOP"
    client.post(path, data=handler_form(bitrix, message_id(3), code=promo_code.upper()))  # CODE has no case
    assert sent_sender(prostor) == "PROMO"

    assert [stored(db, n).sender for n in (1, 2, 3)] == ["PROMO", "SHOP", "PROMO"]
    log = client.get("/api/messages", headers=bearer(two_names)).get_json()
    assert [entry["sender"] for entry in log] == ["PROMO", "SHOP", "PROMO"]


def test_a_code_no_name_has_goes_out_with_the_default_name(client, db, bitrix, prostor, two_names):
    client.post(handler_path(db), data=handler_form(bitrix, message_id(1), code="b24sms_0badc0de"))

    assert sent_sender(prostor) == "SHOP" and stored(db, 1).sender == "SHOP"


def test_the_names_override_the_accounts_own_sender(client, db, bitrix, prostor):
    prostor.senders += [{"name": "MAIN", "status": "active", "info": ""}]
    token = installed(client, bitrix)
    assert save(client, token, [PROSTOR_SETTINGS], [{"name": "MAIN", "default": True}]).status_code == 200

    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))

    assert sent_sender(prostor) == "MAIN"  # not the account's SHOP


def test_without_names_each_provider_sends_with_its_own_sender(client, db, bitrix, prostor):
    token = installed(client, bitrix)
    save(client, token, [PROSTOR_SETTINGS])

    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))

    assert sent_sender(prostor) == "SHOP" and stored(db, 1).sender is None


def test_a_provider_whose_sender_is_a_number_keeps_its_number(client, db, bitrix, twilio):
    token = installed(client, bitrix)
    assert save(client, token, [TWILIO_SETTINGS], [{"name": "SHOP", "default": True}]).status_code == 200

    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))

    [message] = twilio.messages.values()
    assert message["from"] == TWILIO_SETTINGS["sender"]
    assert stored(db, 1).sender == "SHOP"


def test_the_test_sms_picks_a_name(client, db, bitrix, prostor, two_names):
    answer = client.post("/api/test-sms", json={"to": "+79161234567", "sender": "promo"}, headers=bearer(two_names))
    assert answer.status_code == 200 and answer.get_json()["sender"] == "PROMO"
    assert sent_sender(prostor) == "PROMO"

    answer = client.post("/api/test-sms", json={"to": "+79161234567"}, headers=bearer(two_names))
    assert answer.get_json()["sender"] == "SHOP" and sent_sender(prostor) == "SHOP"

    sends = len(prostor.requests)
    answer = client.post("/api/test-sms", json={"to": "+79161234567", "sender": "OTHER"}, headers=bearer(two_names))
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "unknown_sender" and answer.get_json()["field"] == "sender"
    assert "OTHER" in answer.get_json()["message"] and len(prostor.requests) == sends


def test_the_csv_export_has_the_sender(client, db, bitrix, prostor, two_names):
    client.post(handler_path(db), data=handler_form(bitrix, message_id(1), code=f"b24sms_{suffix('PROMO')}"))

    text = client.get("/api/messages.csv", headers=bearer(two_names)).get_data(as_text=True)

    header, row = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    # The page's language names the column (the fixture's page was opened with LANG=ru).
    assert row[header.index("Отправитель")] == "PROMO"


# ---------------------------------------------------------------- healing
def due_for_a_check(db):
    with db.session() as session:
        session.execute(update(Portal).values(sender_checked_at=None))


def test_the_check_registers_a_lost_code_again_and_drops_stale_ones(client, db, bitrix, runner, two_names):
    promo_code = f"b24sms_{suffix('PROMO')}"
    promo = bitrix.senders.pop(promo_code)
    bitrix.senders["b24sms_0123456789ab"] = {**promo, "CODE": "b24sms_0123456789ab"}  # a name removed long ago
    bitrix.senders["b24sms_promo"] = {**promo, "CODE": "b24sms_promo"}  # not a suffix of ours: left alone
    bitrix.calls.clear()
    due_for_a_check(db)

    run_job(runner)

    assert set(bitrix.senders) == {"b24sms", promo_code, "b24sms_promo"}
    assert bitrix.senders[promo_code]["HANDLER"] == PUBLIC_URL + handler_path(db)
    methods = [method for method, _ in bitrix.calls if method.startswith("messageservice.sender")]
    assert methods == ["messageservice.sender.list", "messageservice.sender.add", "messageservice.sender.delete"]
    with db.session() as session:
        assert session.scalars(select(SenderName.registered)).all() == [True, True]


def test_the_check_registers_every_sender_after_an_app_update(client, db, bitrix, runner, two_names):
    bitrix.senders.clear()  # an app update deletes them all
    due_for_a_check(db)

    run_job(runner)

    assert set(bitrix.senders) == {"b24sms", f"b24sms_{suffix('PROMO')}"}


def test_a_failed_registration_shows_which_names_are_not_registered(client, db, bitrix, prostor, two_names):
    bitrix.senders.clear()
    bitrix.rate_limited = 100  # Bitrix24 refuses every call for now

    body = save(client, two_names, [PROSTOR_SETTINGS], TWO_NAMES).get_json()

    assert body["portal"]["sender_registered"] is False
    assert [entry["registered"] for entry in body["senders"]] == [False, False]


# ---------------------------------------------------------------- the providers' approved names
def test_sender_names_of_each_provider(client, bitrix, prostor, smsc, smsaero, twilio):
    prostor.senders = [{"name": "SHOP", "status": "default", "info": ""},
                       {"name": "PROMO", "status": "active", "info": ""},
                       {"name": "NEWONE", "status": "pending", "info": "on moderation"},
                       {"name": "OLD", "status": "blocked", "info": ""}]
    smsc.senders = ["SHOP", "SMSC.RU"]
    smsaero.signs = [sign(1, "SHOP"), sign(2, "Wait", status=0), sign(3, "Second"), sign(4, "Third")]
    smsaero.signs_per_page = 2  # the approved ones span two pages
    token = installed(client, bitrix)
    assert save(client, token, [PROSTOR_SETTINGS, SMSC_SETTINGS, SMSAERO_SETTINGS, TWILIO_SETTINGS]).status_code == 200

    def names(kind):
        response = client.get(f"/api/sender-names?kind={kind}", headers=bearer(token))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    assert names("prostor") == {"names": ["SHOP", "PROMO"]}
    assert names("smsc") == {"names": ["SHOP", "SMSC.RU"]}
    assert names("smsaero") == {"names": ["SHOP", "Second", "Third"]}
    assert names("twilio") == {"names": None}  # Twilio has no list of sender names
    assert [form.get("get") for script, form in smsc.requests if script == "senders.php"][-1] == "1"
    assert [path for path, _ in smsaero.requests].count("sign/list") >= 2


def test_sender_names_of_an_unknown_or_unsaved_kind(client, bitrix, prostor):
    token = installed(client, bitrix)
    save(client, token, [PROSTOR_SETTINGS])

    unknown = client.get("/api/sender-names?kind=nosuch", headers=bearer(token))
    missing = client.get("/api/sender-names", headers=bearer(token))
    unsaved = client.get("/api/sender-names?kind=smsc", headers=bearer(token))

    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_parameter"
    assert missing.status_code == 400
    assert unsaved.status_code == 404 and unsaved.get_json()["error"] == "provider_not_configured"
    assert "SMSC.ru" in unsaved.get_json()["message"]


def test_sender_names_when_the_provider_refuses_or_is_down(client, bitrix, prostor):
    token = installed(client, bitrix)
    save(client, token, [PROSTOR_SETTINGS])

    prostor.fail_next.append(503)
    down = client.get("/api/sender-names?kind=prostor", headers=bearer(token))
    prostor.password = "changed-in-the-cabinet"
    refused = client.get("/api/sender-names?kind=prostor", headers=bearer(token))

    assert down.status_code == 502 and down.get_json()["error"] == "provider_unavailable"
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_credentials"
    assert "secret" not in refused.get_data(as_text=True)


def test_a_name_the_provider_has_not_approved_is_refused_and_nothing_saved(client, db, bitrix, prostor):
    token = installed(client, bitrix)

    response = save(client, token, [PROSTOR_SETTINGS], [{"name": "SHOP", "default": True},
                                                        {"name": "NOPE", "default": False}])

    body = response.get_json()
    assert response.status_code == 400 and body["error"] == "sender_not_approved"
    assert body["field"] == "senders[1].name"
    assert "NOPE" in body["message"] and "Prostor SMS" in body["message"] and "SHOP" in body["message"]
    assert bitrix.senders == {}
    with db.session() as session:
        assert session.scalars(select(SenderName)).all() == []
        assert session.scalars(select(Portal.sender_registered)).one() is False


def test_the_accounts_own_sender_is_checked_too(client, bitrix, prostor):
    token = installed(client, bitrix)

    response = save(client, token, [{**PROSTOR_SETTINGS, "sender": "OTHER"}])

    assert response.status_code == 400 and response.get_json()["field"] == "providers[0].sender"
    assert "OTHER" in response.get_json()["message"]


def test_every_provider_of_the_chain_must_have_approved_the_names(client, bitrix, prostor, smsc, twilio):
    prostor.senders.append({"name": "PROMO", "status": "active", "info": ""})  # SMSC has SHOP only
    token = installed(client, bitrix)

    response = save(client, token, [PROSTOR_SETTINGS, TWILIO_SETTINGS, SMSC_SETTINGS], TWO_NAMES)

    assert response.status_code == 400 and response.get_json()["field"] == "senders[1].name"
    assert "SMSC.ru" in response.get_json()["message"] and "PROMO" in response.get_json()["message"]
    smsc.senders.append("PROMO")
    assert save(client, token, [PROSTOR_SETTINGS, TWILIO_SETTINGS, SMSC_SETTINGS], TWO_NAMES).status_code == 200


def test_an_account_with_no_approved_names_says_so(client, bitrix, smsaero):
    smsaero.signs = [sign(1, "SHOP", status=0)]  # still on moderation
    token = installed(client, bitrix)

    response = save(client, token, [SMSAERO_SETTINGS])

    assert response.status_code == 400 and response.get_json()["error"] == "sender_not_approved"
    assert response.get_json()["field"] == "providers[0].sender"


def test_names_are_not_checked_when_the_list_cannot_be_had(client, bitrix, prostor):
    prostor.canned["senders.json"] = {"status": "error", "description": "request limit exceeded"}
    token = installed(client, bitrix)

    response = save(client, token, [PROSTOR_SETTINGS], [{"name": "UNLISTED", "default": True}])

    assert response.status_code == 200  # Prostor refuses a wrong one when sending; the chain fails over then
    assert response.get_json()["senders"][0]["name"] == "UNLISTED"


# ---------------------------------------------------------------- who may do what
def test_a_non_admin_sees_the_names_but_cannot_change_them(client, bitrix, prostor, two_names):
    _, token = open_page(client, bitrix, path="/", user_id="7")
    prostor.requests.clear()

    read = client.get("/api/settings", headers=bearer(token)).get_json()
    saved = save(client, token, [PROSTOR_SETTINGS], [{"name": "SHOP", "default": True}])
    listed = client.get("/api/sender-names?kind=prostor", headers=bearer(token))

    assert [entry["name"] for entry in read["senders"]] == ["SHOP", "PROMO"]
    assert read["providers"] == [{"kind": "prostor", "sender": "SHOP"}]  # no credentials
    assert saved.status_code == 403 and saved.get_json()["error"] == "admin_only"
    assert listed.status_code == 403
    assert prostor.requests == [] and len(bitrix.senders) == 2


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("senders, field", [
    ("SHOP", "senders"),
    (["SHOP"], "senders[0]"),
    ([{"default": True}], "senders[0].name"),
    ([{"name": 5, "default": True}], "senders[0].name"),
    ([{"name": "   ", "default": True}], "senders[0].name"),
    ([{"name": "X" * 65, "default": True}], "senders[0].name"),
    ([{"name": "SH\tOP", "default": True}], "senders[0].name"),
    ([{"name": "SH\u0085OP", "default": True}], "senders[0].name"),  # C1 control
    ([{"name": "SHOP", "default": True}, {"name": " shop "}], "senders[1].name"),
    ([{"name": "SHOP"}, {"name": "PROMO"}], "senders[0].default"),
    ([{"name": "SHOP", "default": True}, {"name": "PROMO", "default": True}], "senders[1].default"),
    ([{"name": "SHOP", "default": "yes"}], "senders[0].default"),
    ([{"name": f"N{n}", "default": n == 0} for n in range(21)], "senders"),
])
def test_bad_sender_lists_are_400_naming_the_field(client, db, bitrix, prostor, senders, field):
    token = installed(client, bitrix)

    response = save(client, token, [PROSTOR_SETTINGS], senders)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_settings"
    assert response.get_json()["field"] == field
    assert prostor.requests == []  # refused before any provider was asked
    with db.session() as session:
        assert session.scalars(select(SenderName)).all() == []


# ---------------------------------------------------------------- names that look alike; what providers take
CAFE_NFC, CAFE_NFD = "Caf\u00e9", "Cafe\u0301"


@pytest.mark.parametrize("chain, senders, field, words", [
    ([TWILIO_SETTINGS], [{"name": "\u202ePOHS", "default": True}], "senders[0].name", "U+202E"),  # bidi override
    ([TWILIO_SETTINGS], [{"name": "SHOP", "default": True}, {"name": "SH\u200bOP"}], "senders[1].name", "U+200B"),
    ([TWILIO_SETTINGS], [{"name": "\u2066SHOP\u2069", "default": True}], "senders[0].name", "U+2066"),
    ([TWILIO_SETTINGS], [{"name": "\uff33\uff28\uff2f\uff30", "default": True}], "senders[0].name", "“SHOP”"),
    ([TWILIO_SETTINGS], [{"name": CAFE_NFC, "default": True}, {"name": CAFE_NFD}], "senders[1].name", "twice"),
    ([TWILIO_SETTINGS], [{"name": "A B", "default": True}, {"name": "a\u00a0b"}], "senders[1].name", "twice"),
    ([{**PROSTOR_SETTINGS, "sender": "\u202ePOHS"}], None, "providers[0].sender", "U+202E"),
    ([{**TWILIO_SETTINGS, "sender": "+15017122661\u200b"}], None, "providers[0].sender", "U+200B"),
])
def test_names_that_hide_characters_or_look_alike_are_refused_at_their_field(client, db, bitrix, prostor, twilio,
                                                                             chain, senders, field, words):
    token = installed(client, bitrix, lang="en")  # the words checked are English

    response = save(client, token, chain, senders)

    body = response.get_json()
    assert response.status_code == 400 and body["error"] == "invalid_settings", body
    assert body["field"] == field and words in body["message"]
    assert prostor.requests == [] and twilio.requests == []  # refused before any provider was asked
    assert bitrix.senders == {}
    with db.session() as session:
        assert session.scalars(select(SenderName)).all() == []


@pytest.mark.parametrize("chain, senders, field, words", [
    ([PROSTOR_SETTINGS], [{"name": "Магазин", "default": True}], "senders[0].name", "Latin letters"),
    ([PROSTOR_SETTINGS], [{"name": CAFE_NFD, "default": True}], "senders[0].name", f"“{CAFE_NFC}” has “é”"),
    ([PROSTOR_SETTINGS], [{"name": "SHOP", "default": True}, {"name": "VERY LONG NAME"}], "senders[1].name",
     "at most 11 characters"),
    ([{**PROSTOR_SETTINGS, "sender": "SHOP_ONLINE_24"}], None, "providers[0].sender", "at most 11 characters"),
    ([{**PROSTOR_SETTINGS, "sender": "+7916123456789012"}], None, "providers[0].sender", "at most 15 digits"),
    ([TWILIO_SETTINGS, SMSC_SETTINGS], [{"name": "SHOP", "default": True}, {"name": "Магазин"}], "senders[1].name",
     "SMSC.ru"),
])
def test_a_name_a_provider_cannot_send_with_is_refused_at_its_field(client, db, bitrix, prostor, smsc, chain,
                                                                   senders, field, words):
    token = installed(client, bitrix, lang="en")  # the words checked are English

    response = save(client, token, chain, senders)

    body = response.get_json()
    assert response.status_code == 400 and body["error"] == "invalid_settings", body
    assert body["field"] == field and words in body["message"]
    assert prostor.requests == [] and smsc.requests == []
    with db.session() as session:
        assert session.scalars(select(SenderName)).all() == []


def test_a_name_typed_decomposed_is_stored_and_registered_composed(client, db, bitrix, twilio):
    token = installed(client, bitrix)

    response = save(client, token, [TWILIO_SETTINGS], [{"name": CAFE_NFD, "default": True}])

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["senders"][0]["name"] == CAFE_NFC
    assert bitrix.senders["b24sms"]["NAME"] == {"ru": CAFE_NFC, "en": CAFE_NFC}
    again = save(client, token, [TWILIO_SETTINGS], [{"name": CAFE_NFC, "default": True}, {"name": CAFE_NFD}])
    assert again.status_code == 400 and again.get_json()["field"] == "senders[1].name"


@pytest.mark.parametrize("listed", [None, "nonsense", [5], [{"info": "no name"}]])
def test_a_list_of_approved_names_we_cannot_read_does_not_refuse_the_names(client, bitrix, prostor, listed):
    prostor.canned["senders.json"] = {"status": "ok"} if listed is None else {"status": "ok", "senders": listed}
    token = installed(client, bitrix)

    response = save(client, token, [PROSTOR_SETTINGS], [{"name": "UNLISTED", "default": True}])

    assert response.status_code == 200, response.get_json()  # Prostor refuses a wrong one when sending
    assert response.get_json()["senders"][0]["name"] == "UNLISTED"


def test_names_are_stored_stripped_and_in_order(client, db, bitrix, twilio):
    token = installed(client, bitrix)  # Twilio sends from its number: the names are Bitrix24's only, any script

    response = save(client, token, [TWILIO_SETTINGS], [{"name": " Магазин ", "default": False},
                                                       {"name": "SHOP ", "default": True}])

    assert response.status_code == 200, response.get_json()
    assert [(e["name"], e["default"]) for e in response.get_json()["senders"]] == [("Магазин", False), ("SHOP", True)]
    assert bitrix.senders[f"b24sms_{suffix('Магазин')}"]["NAME"]["ru"] == "Магазин"


def test_a_removed_portal_takes_its_names_along(client, db, bitrix, two_names):
    with db.session() as session:
        session.delete(session.scalars(select(Portal)).one())
        session.commit()
        assert session.scalars(select(SenderName)).all() == []
        assert session.scalars(select(Message)).all() == []
