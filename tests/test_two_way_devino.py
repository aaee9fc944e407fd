"""Devino replies fetched from its older platform, through the app: the optional login and password saved (checked,
the password masked, half of them refused at the field), the job fetching replies into the Open Line once, and an
account without them fetching nothing while its pasted URL keeps working."""
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from b24sms.flows.provider_settings import MASK
from b24sms.store.models import ProviderAccount
from b24sms.store.reply_models import IncomingMessage, IncomingState
from tests.fakes.devino import API_KEY, LOGIN, PASSWORD
from tests.helpers import APPLICATION_TOKEN, bearer, installed, open_page, run_job, save_providers
from tests.helpers.suite import PUBLIC_URL, on_postgres, passes_at_once

NUMBER = "+79031234567"  # the account's incoming number
CLIENT = "+79161234567"
PUSHED_ONLY = {"kind": "devino", "sender": "SHOP", "credentials": {"api_key": API_KEY}, "reply_numbers": [NUMBER]}
PULLING = {**PUSHED_ONLY, "credentials": {"api_key": API_KEY, "legacy_login": LOGIN, "legacy_password": PASSWORD}}


def replies(db):
    with db.session() as session:
        return session.scalars(select(IncomingMessage).order_by(IncomingMessage.id)).all()


def a_reply(devino, text, seconds_ago=30, at=None):
    """A client's SMS to the number, as Devino keeps it (a little while ago: the window asked ends at the last
    whole second; `at`: that moment exactly)."""
    return devino.receive(CLIENT.removeprefix("+"), NUMBER.removeprefix("+"), text,
                          at=at or datetime.now(UTC) - timedelta(seconds=seconds_ago))


def test_the_older_login_is_checked_on_save_and_its_password_masked(client, bitrix, devino):
    token = installed(client, bitrix, lang="en")

    saved = save_providers(client, token, [PULLING])

    assert saved.status_code == 200, saved.get_json()
    entry = saved.get_json()["providers"][0]
    assert entry["credentials"] == {"api_key": MASK, "legacy_login": LOGIN, "legacy_password": MASK}
    assert PASSWORD not in saved.get_data(as_text=True) and API_KEY not in saved.get_data(as_text=True)
    assert devino.session_requests == [{"login": LOGIN, "password": PASSWORD}]  # the check on save
    # Devino's pasted way is still shown: the URL and where it goes.
    assert entry["inbound_url"].startswith(f"{PUBLIC_URL}/inbound/devino/")
    assert "URL for incoming SMS" in entry["replies_help"] and "fetches the replies" in entry["replies_help"]
    assert client.get("/api/settings", headers=bearer(token)).get_json()["providers"][0] == entry

    again = save_providers(client, token, [{**PULLING, "credentials": entry["credentials"]}])  # masks sent back

    assert again.status_code == 200, again.get_json()
    assert devino.session_requests[-1] == {"login": LOGIN, "password": PASSWORD}  # the stored password kept


def test_the_page_offers_the_older_login_with_its_words_in_russian(client, bitrix):
    response, _ = open_page(client, bitrix, lang="ru", APPLICATION_TOKEN=APPLICATION_TOKEN)
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', response.get_data(as_text=True), re.S).group(1))
    devino = next(entry for entry in data["catalog"] if entry["kind"] == "devino")
    fields = {field["name"]: field for field in devino["credentials"]}
    assert list(fields) == ["api_key", "legacy_login", "legacy_password"]
    assert fields["legacy_login"]["label"] == "Логин для получения ответов" and not fields["legacy_login"]["required"]
    assert "integrationapi.net" in fields["legacy_login"]["help"] and "ответ" in fields["legacy_login"]["help"]
    assert fields["legacy_password"]["secret"] and fields["legacy_password"]["input"] == "password"
    assert devino["replies"] == ["pasted", "pulled"]  # the page shows the URL to paste where "pasted" is


def test_a_wrong_older_password_is_refused_and_nothing_is_saved(client, db, bitrix, devino):
    token = installed(client, bitrix, lang="en")
    wrong = {**PULLING, "credentials": {**PULLING["credentials"], "legacy_password": "not it"}}

    refused = save_providers(client, token, [wrong])

    assert refused.status_code == 400
    body = refused.get_json()
    assert body["error"] == "invalid_credentials" and "integrationapi.net" in body["message"]
    assert "not it" not in refused.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(ProviderAccount)).all() == []


def test_half_of_the_older_login_is_refused_at_its_field_in_the_pages_language(client, bitrix, devino):
    for language, words in (("en", "Fill in Password for fetching replies too"),
                            ("ru", "«Пароль для получения ответов»")):
        token = installed(client, bitrix, lang=language)
        half = {**PULLING, "credentials": {"api_key": API_KEY, "legacy_login": LOGIN}}

        refused = save_providers(client, token, [half])

        assert refused.status_code == 400
        body = refused.get_json()
        assert body["field"] == "providers[0].credentials.legacy_password" and words in body["message"]
    assert devino.requests == [] and devino.legacy_requests == []  # refused before Devino is asked


def test_replies_fetched_from_devino_reach_the_line_once(client, db, bitrix, devino, runner):
    bitrix.add_line("7")
    token = installed(client, bitrix, lang="en")
    entry = save_providers(client, token, [PULLING]).get_json()["providers"][0]
    assert client.put("/api/lines/7", json={"reply_numbers": [NUMBER], "active": True},
                      headers=bearer(token)).status_code == 200
    moment = datetime.now(UTC) - timedelta(seconds=40)  # one moment: two calls of now() may straddle a millisecond
    first = a_reply(devino, "Where is my parcel?", at=moment)
    second = a_reply(devino, "And the invoice?", at=moment)  # the same instant

    run_job(runner)
    # The same SMS pushed to the pasted URL as well (Devino calls it for the number too): stored once all the same.
    pushed = client.get(entry["inbound_url"].removeprefix(PUBLIC_URL), query_string=devino.pushed_reply(first))
    run_job(runner)

    assert pushed.status_code == 200
    assert [(r.provider_message_id, r.sender, r.receiver, r.state) for r in replies(db)] == [
        (first, CLIENT, NUMBER, IncomingState.DELIVERED), (second, CLIENT, NUMBER, IncomingState.DELIVERED)]
    assert [m["message"]["text"] for m in bitrix.line_messages["7"]] == ["Where is my parcel?", "And the invoice?"]
    with db.session() as session:
        cursor = session.scalars(select(ProviderAccount.replies_cursor)).one()
    assert cursor.split(":")[0] == str((devino.received_at[first] - datetime(1970, 1, 1, tzinfo=UTC))
                                       // timedelta(milliseconds=1))
    assert devino.listings and len(cursor) <= 64


def test_without_the_older_login_nothing_is_fetched_and_the_pasted_url_works(client, db, bitrix, devino, runner):
    token = installed(client, bitrix, lang="en")
    entry = save_providers(client, token, [PUSHED_ONLY]).get_json()["providers"][0]
    message_id = a_reply(devino, "pushed only")

    run_job(runner)
    assert devino.legacy_requests == [] and replies(db) == []

    pushed = client.get(entry["inbound_url"].removeprefix(PUBLIC_URL), query_string=devino.pushed_reply(message_id))
    assert pushed.status_code == 200
    assert [(r.provider_message_id, r.body) for r in replies(db)] == [(message_id, "pushed only")]
    with db.session() as session:
        assert session.scalars(select(ProviderAccount.replies_cursor)).one() is None


@pytest.mark.skipif(not on_postgres(), reason="row locks: PostgreSQL")
def test_two_runners_fetching_the_same_devino_account_store_each_reply_once(app, client, db, bitrix, devino):
    token = installed(client, bitrix, lang="en")
    assert save_providers(client, token, [PULLING]).status_code == 200
    ids = [a_reply(devino, f"reply {n}", seconds_ago=40 - n) for n in range(12)]
    reports = passes_at_once(app)

    assert sum(report.replies_pulled for report in reports) == 12
    assert [reply.provider_message_id for reply in replies(db)] == ids
    assert len(devino.listings) == 1  # one runner held the account; the other found it taken
