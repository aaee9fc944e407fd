"""Settings, secrets at rest, key rotation, the PHP-style form parser, and the health check."""
import logging

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text, select, text, type_coerce, update

from b24sms import create_app
from b24sms.bitrix.forms import FormError, build_query, parse
from b24sms.config import ConfigError
from b24sms.store import crypto, keys
from b24sms.store.models import Portal, ProviderAccount
from tests.helpers import PROSTOR_SETTINGS, TWILIO_SETTINGS, install_with_chain
from tests.helpers.suite import ENCRYPTION_KEY, services_of


def stored_ciphertexts(db):
    """Every stored secret as its raw ciphertext: {(table, column, row id): ciphertext}."""
    found = {}
    with db.engine.connect() as connection:
        for table, names in keys.encrypted_columns():
            raw = [type_coerce(table.c[name], Text).label(name) for name in names]
            for row in connection.execute(select(table.c.id, *raw)):
                found.update({(table.name, name, row.id): row._mapping[name]
                              for name in names if row._mapping[name] is not None})
    return found


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


def test_bad_encryption_keys_stop_start_up(database_url, tmp_path):
    with pytest.raises(ConfigError, match="Fernet"):
        create_app({"DATABASE_URL": database_url, "ENCRYPTION_KEYS": "not-a-key"}, instance_path=tmp_path)


@pytest.mark.parametrize("code", ["", "c" * 48])
def test_a_sender_code_that_leaves_no_room_for_a_names_suffix_stops_start_up(database_url, tmp_path, code):
    # A second sender name's CODE is SENDER_CODE_<up to 16>, and a message keeps its CODE in 64 characters.
    with pytest.raises(ConfigError, match="SENDER_CODE must have 1 to 47 characters"):
        create_app({"DATABASE_URL": database_url, "SENDER_CODE": code}, instance_path=tmp_path)


@pytest.fixture
def development_environment(monkeypatch, tmp_path):
    """APP_ENV unset and no secrets in the environment: what `make run` starts with (on a database of its own,
    as development keys must not write the suite's canary)."""
    for name in ("APP_ENV", "SECRET_KEY", "ENCRYPTION_KEYS"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'development.sqlite3'}"
    made = []
    yield lambda **settings: made.append(
        create_app({"DATABASE_URL": url, **settings}, instance_path=tmp_path / "instance")) or made[-1]
    for app in made:
        services_of(app).db.engine.dispose()
    crypto.configure(ENCRYPTION_KEY)


def development_warnings(caplog):
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "DEVELOPMENT-ONLY" in r.getMessage()]


def test_generated_development_keys_are_announced_loudly_once(development_environment, tmp_path, caplog):
    app = development_environment()

    [warning] = development_warnings(caplog)
    assert "SECRET_KEY and ENCRYPTION_KEYS from instance/" in warning and "APP_ENV=production" in warning
    settings = services_of(app).settings
    assert settings.encryption_keys == (tmp_path / "instance" / "encryption_key").read_text().strip()
    assert settings.encryption_keys not in caplog.text and settings.secret_key not in caplog.text


def test_given_keys_are_not_announced(development_environment, caplog):
    development_environment(SECRET_KEY="given-secret", ENCRYPTION_KEYS=ENCRYPTION_KEY)

    assert development_warnings(caplog) == []


def test_keys_rotate_re_encrypts_everything_and_the_old_key_can_go(app, client, db, bitrix, prostor, twilio, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, TWILIO_SETTINGS)
    with db.session() as session:
        callback_secret = session.scalars(select(ProviderAccount.callback_secret).where(
            ProviderAccount.kind == "twilio")).one()
    old_key = services_of(app).settings.encryption_keys
    new_key = Fernet.generate_key().decode()
    crypto.configure(f"{new_key},{old_key}")

    secrets = stored_ciphertexts(db)  # portal tokens, both accounts' credentials, Twilio's callback secret...
    assert ("encryption_canary", "value", 1) in secrets  # ...and the canary, like every encrypted column

    result = runner.invoke(args=["keys", "rotate"])

    assert result.exit_code == 0 and f"re-encrypted {len(secrets)} secrets" in result.output
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


@pytest.mark.parametrize("readable", [False, True], ids=["no-key-reads-anything", "one-secret-unreadable"])
def test_keys_rotate_with_an_unreadable_secret_changes_nothing(app, client, db, bitrix, prostor, twilio, runner,
                                                               readable):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS, TWILIO_SETTINGS)
    new_key = Fernet.generate_key().decode()
    if readable:  # every secret readable but Twilio's credentials, left under a key no longer in the list
        foreign = Fernet(Fernet.generate_key()).encrypt(b"{}").decode()
        with db.engine.begin() as connection:
            connection.execute(update(ProviderAccount.__table__).where(ProviderAccount.kind == "twilio")
                               .values(credentials=type_coerce(foreign, Text)))
        crypto.configure(f"{new_key},{ENCRYPTION_KEY}")
    else:
        crypto.configure(new_key)
    before = stored_ciphertexts(db)

    result = runner.invoke(args=["keys", "rotate"])

    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    columns = ["provider_accounts.credentials"] if readable else [f"{t}.{c}" for t, c, _ in before]
    assert any(line.startswith(f"Error: keys rotate: no key in ENCRYPTION_KEYS decrypts {column} (row id ")
               for column in columns), line
    assert line.endswith("): nothing was changed") and "Traceback" not in result.output
    assert stored_ciphertexts(db) == before


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
