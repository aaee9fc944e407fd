"""Reply numbers saved with the provider chain (PUT /api/settings, each entry's `reply_numbers`): normalised,
refused at their field, one portal's only, and pointed at our inbound URL where the provider's API does that.

The receiving providers are the two stand-ins of tests/helpers/receiving.py: no provider module declares its reply
ways on this branch yet (another branch adds them; Twilio's hook then gets tests of its own)."""
import logging

import pytest
from sqlalchemy import select

from b24sms.store.reply_models import ReplyNumber
from tests.helpers import PROSTOR_SETTINGS, bearer, installed, receiving, save_providers
from tests.helpers.receiving import HOOKED, PASTED
from tests.helpers.suite import PUBLIC_URL

receivers = receiving.receivers  # the fixture


def with_numbers(entry, *numbers):
    return {**entry, "reply_numbers": list(numbers)}


def stored_numbers(db):
    with db.session() as session:
        return {row.number: (row.hooked, row.hook_error) for row in session.scalars(select(ReplyNumber))}


def test_numbers_are_saved_normalised_and_listed_with_the_url_to_paste(client, db, bitrix, receivers):
    token = installed(client, bitrix, lang="en")

    response = save_providers(client, token, [with_numbers(PASTED, "8 (916) 123-45-67", "+7 916 765 43 21",
                                                           "+79161234567")])

    assert response.status_code == 200, response.get_json()
    entry = response.get_json()["providers"][0]
    assert entry["reply_numbers"] == ["+79161234567", "+79167654321"]
    secret = entry["inbound_url"].rsplit("/", 1)[1]
    assert entry["inbound_url"] == f"{PUBLIC_URL}/inbound/pastedsms/{secret}" and len(secret) >= 20
    assert entry["replies_help"] == "Where in the cabinet to paste the URL: Settings, incoming messages."
    assert set(stored_numbers(db)) == {"+79161234567", "+79167654321"}
    # GET answers the same; the set is replaced by the next save.
    assert client.get("/api/settings", headers=bearer(token)).get_json()["providers"][0] == entry
    again = save_providers(client, token, [with_numbers(PASTED, "+79167654321", "+7 495 123-45-67")])
    assert again.get_json()["providers"][0]["reply_numbers"] == ["+79167654321", "+74951234567"]
    assert set(stored_numbers(db)) == {"+79167654321", "+74951234567"}
    assert again.get_json()["providers"][0]["inbound_url"] == entry["inbound_url"]  # the pasted URL stays valid


def test_a_non_admin_sees_no_numbers_and_no_inbound_url(client, bitrix, receivers):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [with_numbers(PASTED, "+79161234567")])
    bitrix.admins.discard("2")
    user_token = installed(client, bitrix, user_id="2", lang="en")

    entry = client.get("/api/settings", headers=bearer(user_token)).get_json()["providers"][0]

    assert "reply_numbers" not in entry and "inbound_url" not in entry


@pytest.mark.parametrize("language, words", [
    ("en", "hello is not a phone number."),
    ("ru", "hello — не номер телефона."),
])
def test_a_bad_number_is_refused_at_its_field_in_the_pages_language(client, db, bitrix, receivers, language,
                                                                      words):
    token = installed(client, bitrix, lang=language)

    response = save_providers(client, token, [PROSTOR_SETTINGS, with_numbers(PASTED, "+79161234567", "hello")])

    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_number", "message": words,
                                   "field": "providers[1].reply_numbers[1]"}
    assert stored_numbers(db) == {}


@pytest.mark.parametrize("language, words", [
    ("en", "+79161234567 already receives replies for another Bitrix24 portal."),
    ("ru", "+79161234567 уже принимает ответы для другого портала Битрикс24."),
])
def test_another_portals_number_is_refused_at_its_field(client, db, bitrix, add_portal, receivers, language, words):
    save_providers(client, installed(client, bitrix, lang="en"), [with_numbers(PASTED, "+79161234567")])
    other = add_portal("other.bitrix24.ru", "b" * 32)
    token = installed(client, other, lang=language)

    response = save_providers(client, token, [with_numbers(PASTED, "+7 916 000 00 00", "8 916 123 45 67")])

    assert response.status_code == 400
    assert response.get_json() == {"error": "number_taken", "message": words,
                                   "field": "providers[0].reply_numbers[1]"}
    with db.session() as session:
        rows = session.scalars(select(ReplyNumber)).all()
    assert [row.number for row in rows] == ["+79161234567"]  # still the first portal's, nothing of the other


@pytest.mark.parametrize("language, words", [
    ("en", "Prostor SMS cannot receive SMS: it takes no reply numbers."),
    ("ru", "Prostor SMS не принимает SMS: номера для ответов ему не задаются."),
])
def test_a_provider_that_cannot_receive_is_refused_at_the_field(client, db, bitrix, prostor, language, words):
    token = installed(client, bitrix, lang=language)

    response = save_providers(client, token, [with_numbers(PROSTOR_SETTINGS, "+79161234567")])

    assert response.status_code == 400
    assert response.get_json() == {"error": "replies_unsupported", "message": words,
                                   "field": "providers[0].reply_numbers"}
    assert prostor.requests == []  # refused before the provider was asked


def test_hooked_numbers_point_at_the_inbound_url_and_a_refusal_is_recorded_not_undone(client, db, bitrix, receivers,
                                                                                       caplog):
    hooked_class, _ = receivers
    hooked_class.refused = {"+79167654321"}
    token = installed(client, bitrix, lang="en")

    with caplog.at_level(logging.DEBUG):
        response = save_providers(client, token, [with_numbers(HOOKED, "+79161234567", "+79167654321")])

    assert response.status_code == 200, response.get_json()
    entry = response.get_json()["providers"][0]
    assert entry["reply_numbers"] == ["+79161234567", "+79167654321"]
    assert entry["reply_hooks"] == [
        {"number": "+79161234567", "hooked": True, "error": None},
        {"number": "+79167654321", "hooked": False, "error": "21421: The number is not in this account"},
    ]
    assert "inbound_url" not in entry  # nothing to paste: the provider's API took it
    url = hooked_class.hooked[0][1]
    secret = url.rsplit("/", 1)[1]
    assert [number for number, _ in hooked_class.hooked] == ["+79161234567", "+79167654321"]
    assert url == f"{PUBLIC_URL}/inbound/hookedsms/{secret}" and len(secret) >= 20
    assert stored_numbers(db) == {"+79161234567": (True, None),
                                  "+79167654321": (False, "21421: The number is not in this account")}
    assert secret not in caplog.text  # the inbound URL's secret stays out of the logs

    # Once the number is in the account, the next save hooks it.
    hooked_class.refused = set()
    again = save_providers(client, token, [with_numbers({**HOOKED, "credentials": {"api_key": "********"}},
                                                        "+79161234567", "+79167654321")])
    assert [hook["hooked"] for hook in again.get_json()["providers"][0]["reply_hooks"]] == [True, True]


def test_a_number_moves_between_the_portals_providers_and_goes_with_its_provider(client, db, bitrix, receivers):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [with_numbers(PASTED, "+79161234567")])

    moved = save_providers(client, token, [with_numbers(PASTED), with_numbers(HOOKED, "+79161234567")])

    assert moved.status_code == 200, moved.get_json()
    assert [entry["reply_numbers"] for entry in moved.get_json()["providers"]] == [[], ["+79161234567"]]
    assert stored_numbers(db) == {"+79161234567": (True, None)}
    removed = save_providers(client, token, [with_numbers(PASTED)])  # its provider left the chain
    assert removed.status_code == 200 and stored_numbers(db) == {}


def test_more_than_twenty_numbers_are_refused(client, bitrix, receivers):
    token = installed(client, bitrix, lang="en")

    response = save_providers(client, token, [with_numbers(PASTED, *[f"+7916123{n:04d}" for n in range(21)])])

    assert response.status_code == 400
    assert response.get_json()["field"] == "providers[0].reply_numbers"
