"""Issue 11: each provider account's balance threshold, saved with the settings and shown with the balance."""
import pytest
from sqlalchemy import select

from b24sms.store.models import ProviderAccount
from tests.helpers import PROSTOR_SETTINGS, SMSC_SETTINGS, bearer, installed, run_job, save_providers


def thresholds(client, token):
    return [entry["balance_threshold"]
            for entry in client.get("/api/settings", headers=bearer(token)).get_json()["providers"]]


def test_thresholds_are_saved_kept_when_not_named_and_cleared_with_null(client, bitrix, prostor, smsc):
    token = installed(client, bitrix, lang="en")

    saved = save_providers(client, token, [{**PROSTOR_SETTINGS, "balance_threshold": 200},
                                           {**SMSC_SETTINGS, "balance_threshold": "50,5"}])
    assert saved.status_code == 200, saved.get_json()
    assert [entry["balance_threshold"] for entry in saved.get_json()["providers"]] == [200, 50.5]

    save_providers(client, token, [PROSTOR_SETTINGS, {**SMSC_SETTINGS, "balance_threshold": None}])
    assert thresholds(client, token) == [200, None]  # not named: kept; null: none


@pytest.mark.parametrize("value", [-1, "lots", True, [100], {"amount": 1}, 1e13, "NaN"])
def test_a_bad_threshold_is_400_naming_the_field_before_any_provider_is_asked(client, bitrix, prostor, value):
    token = installed(client, bitrix, lang="en")
    asked = len(prostor.requests)

    response = save_providers(client, token, [{**PROSTOR_SETTINGS, "balance_threshold": value}])

    assert response.status_code == 400
    assert response.get_json()["field"] == "providers[0].balance_threshold"
    assert response.get_json()["error"] == "invalid_settings"
    assert len(prostor.requests) == asked


def test_balance_entries_carry_the_threshold_and_whether_the_balance_is_below_it(client, bitrix, prostor, smsc):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [{**PROSTOR_SETTINGS, "balance_threshold": 200},  # Prostor has 120.50
                                   {**SMSC_SETTINGS, "balance_threshold": 50}])  # SMSC has 98.60

    answer = client.get("/api/balance", headers=bearer(token)).get_json()

    assert answer == [
        {"provider": "prostor", "balance": 120.5, "currency": "RUB", "threshold": 200, "low": True},
        {"provider": "smsc", "balance": 98.6, "currency": "RUB", "threshold": 50, "low": False},
    ]


def test_an_unknown_balance_is_never_low(client, bitrix, prostor):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [{**PROSTOR_SETTINGS, "balance_threshold": 200}])
    prostor.fail_next.append(503)

    entry = client.get("/api/balance", headers=bearer(token)).get_json()[0]

    assert entry["balance"] is None and entry["low"] is False and entry["threshold"] == 200
    assert entry["error"]["code"] == "retry_later"


def test_a_changed_threshold_is_checked_at_the_next_pass(client, db, bitrix, prostor, runner):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [{**PROSTOR_SETTINGS, "balance_threshold": 10}])
    run_job(runner)
    with db.session() as session:
        assert session.scalars(select(ProviderAccount.balance_checked_at)).one() is not None

    save_providers(client, token, [{**PROSTOR_SETTINGS, "balance_threshold": 20}])

    with db.session() as session:
        assert session.scalars(select(ProviderAccount.balance_checked_at)).one() is None
