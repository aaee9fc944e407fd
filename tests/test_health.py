"""`GET /healthz`: 200 only when the database answers and ENCRYPTION_KEYS decrypt what is stored."""
from cryptography.fernet import Fernet
from sqlalchemy import select

from b24sms.store import crypto
from b24sms.store.models import EncryptionCanary, ProviderAccount
from tests.helpers import PROSTOR_SETTINGS, install_with_chain
from tests.helpers.rows import canary_rows
from tests.helpers.suite import ENCRYPTION_KEY

NEW_KEY = Fernet.generate_key().decode()


def health(app):
    answer = app.test_client().get("/healthz")
    return answer.status_code, answer.get_json()


def test_the_keys_that_wrote_the_data_are_healthy(app, client, bitrix, prostor, app_with_keys):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)

    assert health(app) == (200, {"status": "ok"})
    assert health(app_with_keys(ENCRYPTION_KEY)) == (200, {"status": "ok"})  # a restart with the same keys


def test_keys_changed_without_rotation_are_unavailable_with_the_reason(app, client, bitrix, prostor, app_with_keys):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)

    status, body = health(app_with_keys(NEW_KEY))

    assert status == 503 and body["status"] == "unavailable" and body["error"] == "encryption_keys"
    assert body["message"].startswith("ENCRYPTION_KEYS cannot decrypt stored secrets: ")
    assert NEW_KEY not in body["message"] and ENCRYPTION_KEY not in body["message"]


def test_a_rotated_key_list_is_healthy_before_and_after_keys_rotate(app, client, db, bitrix, prostor,
                                                                    app_with_keys):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)

    both = app_with_keys(f"{NEW_KEY},{ENCRYPTION_KEY}")  # the new key first, the old one still readable
    assert health(both) == (200, {"status": "ok"})
    rotated = both.test_cli_runner().invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output

    assert health(app_with_keys(NEW_KEY)) == (200, {"status": "ok"})  # the old key gone
    assert health(app_with_keys(ENCRYPTION_KEY))[0] == 503  # the old key alone reads nothing any more
    crypto.configure(NEW_KEY)
    with db.session() as session:
        assert session.scalars(select(ProviderAccount)).one().credentials["password"] == "secret"


def test_data_from_before_the_canary_is_checked_before_a_canary_is_written(app, client, db, bitrix, prostor,
                                                                           app_with_keys):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    with db.session() as session:  # portals stored by a version without the canary
        session.execute(EncryptionCanary.__table__.delete())

    status, body = health(app_with_keys(NEW_KEY))
    assert (status, body["error"]) == (503, "encryption_keys")
    assert "no key in the list decrypts portals." in body["message"]
    assert canary_rows(db) == 0  # wrong keys never get a canary of their own

    assert health(app_with_keys(ENCRYPTION_KEY)) == (200, {"status": "ok"})
    assert canary_rows(db) == 1  # written at start-up, by keys that read the portals


def test_an_empty_database_is_healthy_without_a_canary(app, db):
    with db.session() as session:
        session.execute(EncryptionCanary.__table__.delete())

    assert health(app) == (200, {"status": "ok"})  # nothing stored: nothing the keys could fail to read
    assert canary_rows(db) == 0  # /healthz only reads
