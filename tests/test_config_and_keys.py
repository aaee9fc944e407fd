"""Settings, secrets at rest, key rotation, the PHP-style form parser, and the health check."""
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text

from b24sms import create_app, crypto
from b24sms.bitrix.forms import FormError, build_query, parse
from b24sms.config import ConfigError
from b24sms.models import Portal, ProviderAccount
from tests.helpers import PROSTOR_SETTINGS, TWILIO_SETTINGS, install_with_chain


def test_production_names_every_missing_setting(monkeypatch):
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "B24_CLIENT_ID", "B24_CLIENT_SECRET", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("B24_CLIENT_ID", "app.x")
    with pytest.raises(ConfigError) as caught:
        create_app()
    message = str(caught.value)
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "B24_CLIENT_SECRET", "PUBLIC_URL"):
        assert name in message
    assert "B24_CLIENT_ID" not in message


def test_bad_encryption_keys_stop_start_up(database_url):
    with pytest.raises(ConfigError, match="Fernet"):
        create_app({"DATABASE_URL": database_url, "ENCRYPTION_KEYS": "not-a-key"})


def test_keys_rotate_re_encrypts_everything_and_the_old_key_can_go(app, client, db, bitrix, prostor, twilio, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, TWILIO_SETTINGS)
    with db.session() as session:
        callback_secret = session.scalars(select(ProviderAccount.callback_secret).where(
            ProviderAccount.kind == "twilio")).one()
    old_key = app.config["ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    crypto.configure(f"{new_key},{old_key}")

    result = runner.invoke(args=["keys", "rotate"])

    # 3 portal tokens, 2 accounts' credentials, Twilio's callback secret
    assert result.exit_code == 0 and "re-encrypted 6 secrets" in result.output
    crypto.configure(new_key)  # the old key removed
    with db.session() as session:
        accounts = {a.kind: a for a in session.scalars(select(ProviderAccount))}
        assert accounts["prostor"].credentials["password"] == "secret"
        assert accounts["twilio"].callback_secret == callback_secret
        assert session.scalars(select(Portal)).one().refresh_token.startswith("rt-")
    with db.engine.connect() as connection:
        raw = connection.execute(text("SELECT credentials FROM provider_accounts WHERE kind = 'prostor'")).scalar_one()
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(raw.encode())


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_unknown_url_and_method_are_json_errors(client):
    response = client.get("/nope")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    response = client.get("/handler")
    assert response.status_code == 405 and "error" in response.get_json()


def test_huge_bodies_are_refused(client, app):
    response = client.post("/handler", data={"message_body": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)})
    assert response.status_code == 413 and response.get_json()["error"] == "request_entity_too_large"


@pytest.mark.parametrize("pairs, expected", [
    ([("auth[member_id]", "m")], {"auth": {"member_id": "m"}}),
    ([("document_id[]", "crm"), ("document_id[]", "Deal")], {"document_id": ["crm", "Deal"]}),
    ([("bindings[0][OWNER_ID]", "5"), ("bindings[1][OWNER_ID]", "6")],
     {"bindings": [{"OWNER_ID": "5"}, {"OWNER_ID": "6"}]}),
    ([("a[b", "x")], {"a[b": "x"}),
    ([("a[2]", "x")], {"a": {"2": "x"}}),
])
def test_php_form_keys(pairs, expected):
    assert parse(pairs) == expected


def test_php_form_conflicts_and_depth_are_errors():
    with pytest.raises(FormError):
        parse([("a", "1"), ("a[b]", "2")])
    with pytest.raises(FormError):
        parse([("a" + "[x]" * 6, "1")])


def test_build_query_round_trips_through_parse():
    from urllib.parse import parse_qsl

    params = {"CODE": "b24sms", "NAME": {"ru": "Привет & пока", "en": "Hi"}, "LIST": ["a", "b"]}
    assert parse(parse_qsl(build_query(params))) == params
