"""The encryption canary: written once, checked at start-up and before a job pass; and `jobs run-once`
telling cron (exit code, one line) when a duty failed or the keys cannot read the stored secrets."""
import logging
import threading

from cryptography.fernet import Fernet
from sqlalchemy import Text, select, type_coerce, update

from b24sms import cli
from b24sms.store import canary
from b24sms.store.models import EncryptionCanary, Portal
from tests.helpers import PROSTOR_SETTINGS, install_with_chain, run_job
from tests.helpers.rows import canary_rows
from tests.helpers.suite import ENCRYPTION_KEY, services_of

OTHER_KEY = Fernet.generate_key().decode()


def raw_canary(db):
    with db.engine.connect() as connection:
        return canary._canary_ciphertext(connection)


def test_start_up_writes_the_canary_with_the_first_key(app, db):
    assert canary_rows(db) == 1
    assert Fernet(ENCRYPTION_KEY.encode()).decrypt(raw_canary(db).encode()).decode() == canary.PLAINTEXT


def test_processes_starting_at_once_write_one_canary(app, db):
    with db.session() as session:
        session.execute(EncryptionCanary.__table__.delete())
    start = threading.Barrier(6)
    problems, errors = [], []

    def start_up():
        start.wait()
        try:
            problems.append(canary.ensure(db))
        except Exception as exc:  # a duplicate-key crash would land here
            errors.append(exc)

    workers = [threading.Thread(target=start_up) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == [] and problems == [None] * 6
    assert canary_rows(db) == 1


def test_start_up_on_an_unmigrated_database_does_not_crash(app_with_keys, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    fresh = app_with_keys(ENCRYPTION_KEY, url=url)  # what `flask db upgrade` does on a new database

    answer = fresh.test_client().get("/healthz")
    assert (answer.status_code, answer.get_json()["error"]) == (503, "database_not_migrated")

    services_of(fresh).db.upgrade()
    migrated = app_with_keys(ENCRYPTION_KEY, url=url)
    assert canary_rows(services_of(migrated).db) == 1
    assert migrated.test_client().get("/healthz").status_code == 200


def test_start_up_on_a_database_that_does_not_answer_does_not_crash(app_with_keys, tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'no-such-directory' / 'b24sms.sqlite3'}"
    unreachable = app_with_keys(ENCRYPTION_KEY, url=url)

    assert "the database does not answer" in caplog.text
    answer = unreachable.test_client().get("/healthz")
    assert (answer.status_code, answer.get_json()["error"]) == (503, "database_unavailable")


def test_start_up_with_the_wrong_keys_logs_why_and_never_the_keys(app, db, client, bitrix, prostor, app_with_keys,
                                                                  caplog):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    before = raw_canary(db)
    caplog.set_level(logging.INFO)

    app_with_keys(OTHER_KEY)  # keeps serving: /healthz says why (tests/test_health.py)

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "ENCRYPTION_KEYS cannot decrypt stored secrets" in errors[0]
    assert "encryption_canary.value" in errors[0]
    assert OTHER_KEY not in caplog.text and ENCRYPTION_KEY not in caplog.text
    assert raw_canary(db) == before


# ---------------------------------------------------------------- jobs run-once
def test_run_once_exits_non_zero_naming_the_duty_that_failed(app, db, client, bitrix, prostor, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    assert "senders_checked=" in run_job(runner)  # exit 0 when every duty did its part
    # One portal's token was written under a key that has left ENCRYPTION_KEYS (a rotation done by hand):
    # the canary still decrypts, but the sender check cannot load the portal.
    foreign = Fernet(Fernet.generate_key()).encrypt(b"rt-lost").decode()
    with db.engine.begin() as connection:
        connection.execute(update(Portal.__table__).values(refresh_token=type_coerce(foreign, Text),
                                                            sender_checked_at=None))

    result = runner.invoke(args=["jobs", "run-once"])

    assert result.exit_code == 1
    assert "failed_duties=senders_checked" in result.output
    [complaint] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert complaint == "Error: job duties failed: senders_checked (the log has why)"


def test_run_once_refuses_when_the_keys_cannot_read_stored_secrets(app, db, client, bitrix, prostor,
                                                                   app_with_keys):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    with db.session() as session:
        session.execute(update(Portal).values(sender_checked_at=None))

    result = app_with_keys(OTHER_KEY).test_cli_runner().invoke(args=["jobs", "run-once"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: job pass refused: ENCRYPTION_KEYS cannot decrypt stored secrets: no key in the list decrypts "
        "encryption_canary.value. Were the keys changed without `keys rotate`? Put the key that wrote the data "
        "back into the list (after the new one)."
    ]
    with db.session() as session:  # no duty ran
        assert session.scalars(select(Portal.sender_checked_at)).one() is None


def test_a_worker_pass_logs_what_run_once_would_exit_with(app, db, client, bitrix, prostor, app_with_keys, caplog):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"rt-lost").decode()
    with db.engine.begin() as connection:
        connection.execute(update(Portal.__table__).values(refresh_token=type_coerce(foreign, Text),
                                                            sender_checked_at=None))
    with app.app_context():
        cli._worker_pass()  # the worker's loop goes on after this; a pass only logs
    wrong = app_with_keys(OTHER_KEY)
    with wrong.app_context():
        cli._worker_pass()

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == "b24sms.cli"]
    assert errors[0] == "job duties failed: senders_checked"
    assert errors[1].startswith("job pass skipped: ENCRYPTION_KEYS cannot decrypt stored secrets: ")


def test_run_once_refuses_on_an_unmigrated_database(app_with_keys, tmp_path):
    fresh = app_with_keys(ENCRYPTION_KEY, url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    result = fresh.test_cli_runner().invoke(args=["jobs", "run-once"])

    assert result.exit_code == 1 and "run `flask --app wsgi db upgrade`" in result.output
