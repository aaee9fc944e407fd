"""The handler through a database outage, on an SQLite file of the test's own (so these run in both suites):
a call is retried for a few seconds, then spooled to a local file and answered 200, and stored once when the
database is back. PostgreSQL outages: test_spool_postgres.py."""
import fcntl
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from b24sms import create_app
from b24sms.flows import spool
from b24sms.rules.lifecycle import MessageState
from b24sms.store import crypto
from b24sms.store.db import unavailable
from tests.helpers import (
    APPLICATION_TOKEN,
    PROSTOR_SETTINGS,
    bearer,
    handler_form,
    handler_path,
    install_with_prostor,
    message_id,
    run_job,
    stored,
    wait_for,
    without_auth,
)
from tests.helpers.spool import (
    delivered_and_reported,
    locked,
    moved_away,
    post_all,
    replay_settled,
    sent_once_each,
    spool_files,
    spooled,
    stored_ids,
)
from tests.helpers.suite import ENCRYPTION_KEY, services_of, suite_config, use_settings


# ---------------------------------------------------------------- an SQLite file of the test's own
@pytest.fixture
def app(app_on_own_file):
    """The app over an SQLite file of the test's own (conftest.py)."""
    return app_on_own_file


@contextmanager
def read_only(db):
    """The file cannot be written while the block runs; the web process starts afresh meanwhile (connections
    opened before keep what they had)."""
    path = Path(db.engine.url.database)
    if os.geteuid() != 0:
        path.chmod(0o444)
        undo = ["chmod", "644", str(path)]
    else:  # root writes whatever the mode says
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root where chattr +i is not available: no way to make the file read-only")
        undo = ["chattr", "-i", str(path)]
    db.engine.dispose()
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_a_locked_file_spools_the_calls_which_are_then_stored_sent_and_reported_once(app, client, db, bitrix,
                                                                                    prostor, runner):
    install_with_prostor(client, bitrix)
    keyed = handler_path(db)
    with locked(db):
        began = time.monotonic()
        answers = post_all(app, [(keyed, without_auth(handler_form(bitrix, message_id(1)))),
                                 ("/handler", handler_form(bitrix, message_id(2)))])
        waited = time.monotonic() - began
        assert [spooled(answer, n) for answer, n in zip(answers, (1, 2), strict=True)] == [True, True]
        assert waited < 10  # not the 30 s that other writers wait for a lock: Bitrix24 waits on the call
        assert stored_ids(db) == [] and len(spool_files(app)) == 1

    replay_settled(app, runner)
    run_job(runner)

    assert stored_ids(db) == [message_id(1), message_id(2)]
    assert sent_once_each(db, prostor)
    assert delivered_and_reported(db, bitrix, prostor, runner, (1, 2))
    with db.engine.connect() as connection:  # the handler's short wait stays with the handler
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


@pytest.mark.parametrize("outage", [read_only, moved_away], ids=["read_only", "moved_away"])
def test_a_read_only_or_unopenable_file_spools_the_calls_until_it_can_be_written(app, client, db, bitrix,
                                                                                prostor, runner, outage):
    install_with_prostor(client, bitrix)
    keyed = handler_path(db)
    with outage(db):
        answers = post_all(app, [(keyed, without_auth(handler_form(bitrix, message_id(n)))) for n in (1, 2)])
        assert [spooled(answer, n) for answer, n in zip(answers, (1, 2), strict=True)] == [True, True]

    replay_settled(app, runner)
    run_job(runner)

    assert stored_ids(db) == [message_id(1), message_id(2)]
    assert sent_once_each(db, prostor)


def test_a_spooled_call_keeps_the_sender_code_its_status_is_reported_under(app, client, db, bitrix, prostor, runner):
    prostor.senders.append({"name": "PROMO", "status": "active", "info": ""})
    token = install_with_prostor(client, bitrix)
    saved = client.put("/api/settings", headers=bearer(token), json={
        "providers": [PROSTOR_SETTINGS], "senders": [{"name": "SHOP", "default": True}, {"name": "PROMO"}]})
    promo_code = next(entry["code"] for entry in saved.get_json()["senders"] if entry["name"] == "PROMO")
    with locked(db):
        answer = client.post(handler_path(db), data=without_auth(handler_form(bitrix, message_id(1), code=promo_code)))
        assert spooled(answer, 1)

    replay_settled(app, runner)
    run_job(runner)

    assert (stored(db, 1).sender, stored(db, 1).sender_code) == ("PROMO", promo_code)
    assert delivered_and_reported(db, bitrix, prostor, runner, (1,))


def test_a_call_the_spool_cannot_take_answers_503_and_nothing_is_stored(app, client, db, bitrix, prostor, runner,
                                                                        tmp_path):
    install_with_prostor(client, bitrix)
    (tmp_path / "in-the-way").write_text("a file where the spool directory should be")
    use_settings(app, spool_dir=str(tmp_path / "in-the-way"))
    with locked(db):
        answer = client.post(handler_path(db), data=without_auth(handler_form(bitrix, message_id(1))))

    assert answer.status_code == 503
    assert answer.get_json()["error"] == "database_unavailable" and answer.get_json()["message"]
    run_job(runner)
    assert stored_ids(db) == [] and prostor.sent == {}


def test_a_malformed_call_is_still_a_400_in_an_outage_and_is_not_spooled(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    keyed = handler_path(db)
    form = without_auth(handler_form(bitrix, message_id(1)))
    del form["message_to"], form["properties[phone_number]"]
    with moved_away(db):  # not even the key can be checked: the form still is
        answer = client.post(keyed, data=form)

    assert answer.status_code == 400 and answer.get_json()["error"] == "missing_field"
    assert spool_files(app) == []


def test_spool_files_are_private_and_keys_never_reach_the_log(app, client, db, bitrix, prostor, runner, caplog):
    caplog.set_level(logging.DEBUG)
    install_with_prostor(client, bitrix)
    keyed = handler_path(db)
    key = keyed.removeprefix("/handler/")
    wrong_key = "W" * 32
    with moved_away(db):  # not even a read: the key can only be checked at replay
        answers = post_all(app, [(keyed, without_auth(handler_form(bitrix, message_id(1)))),
                                 (f"/handler/{wrong_key}", without_auth(handler_form(bitrix, message_id(2))))])
        assert [answer.status_code for answer in answers] == [200, 200]

    directory = Path(services_of(app).settings.spool_dir)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    [file] = spool_files(app)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert key.encode() in file.read_bytes()  # replay needs it: hence the modes
    replay_settled(app, runner)

    assert stored_ids(db) == [message_id(1)]
    dropped = [r for r in caplog.records if "dropped at replay" in r.getMessage()]
    assert [r.levelname for r in dropped] == ["WARNING"] and message_id(2) in dropped[0].getMessage()
    assert key not in caplog.text and wrong_key not in caplog.text and APPLICATION_TOKEN not in caplog.text


def test_a_record_replayed_again_or_of_a_stored_message_stores_nothing_new(app, client, db, bitrix, prostor,
                                                                          runner, tmp_path):
    install_with_prostor(client, bitrix)
    keyed = handler_path(db)
    assert client.post(keyed, data=without_auth(handler_form(bitrix, message_id(1)))).status_code == 200
    with locked(db):  # Bitrix24 re-sends message 1, and sends message 2
        answers = post_all(app, [(keyed, without_auth(handler_form(bitrix, message_id(n)))) for n in (1, 2)])
        assert [answer.status_code for answer in answers] == [200, 200]
    [file] = spool_files(app)
    shutil.copy(file, tmp_path / "copy")

    replay_settled(app, runner)
    shutil.copy(tmp_path / "copy", file)  # as if a replayer had died after storing, before removing the file
    output = run_job(runner)

    assert "replayed=0" in output and spool_files(app) == []
    assert stored_ids(db) == [message_id(1), message_id(2)]
    assert sent_once_each(db, prostor)


def test_a_spool_left_by_a_web_process_that_died_is_replayed_and_sent_by_one_job_pass(app, client, db, bitrix,
                                                                                     prostor, runner):
    install_with_prostor(client, bitrix)
    keyed, services = handler_path(db), services_of(app)
    spool.append(services, keyed.removeprefix("/handler/"), without_auth(handler_form(bitrix, message_id(1))).items())
    spool.append(services, None, handler_form(bitrix, message_id(2)).items())  # the legacy /handler
    spool.append(services, None, handler_form(bitrix, message_id(3), application_token="not-the-pinned-one")
                 .items())

    output = run_job(runner)

    assert "replayed=2" in output and "sent=2" in output and spool_files(app) == []
    assert stored_ids(db) == [message_id(1), message_id(2)] and sent_once_each(db, prostor)
    assert delivered_and_reported(db, bitrix, prostor, runner, (1, 2))


def test_a_file_another_replayer_holds_is_left_to_it(app, client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    key = handler_path(db).removeprefix("/handler/")
    for n in (1, 2):
        spool.append(services_of(app), key, without_auth(handler_form(bitrix, message_id(n))).items())
    [file] = spool_files(app)

    with open(file, "rb") as other_replayer:
        fcntl.flock(other_replayer, fcntl.LOCK_EX)
        assert "replayed=0" in run_job(runner)
        assert spool_files(app) == [file] and stored_ids(db) == []
    assert "replayed=2" in run_job(runner)

    assert stored_ids(db) == [message_id(1), message_id(2)] and spool_files(app) == []


def test_a_writer_whose_file_a_replayer_claimed_starts_a_new_one(app, client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    key = handler_path(db).removeprefix("/handler/")
    spool.append(services_of(app), key, without_auth(handler_form(bitrix, message_id(1))).items())
    [file] = spool_files(app)

    with open(file, "rb") as replayer:  # what a replayer does first: lock the file, rename it
        fcntl.flock(replayer, fcntl.LOCK_EX)
        file.rename(file.with_name("replaying-1-test.jsonl"))
        spool.append(services_of(app), key, without_auth(handler_form(bitrix, message_id(2))).items())
        assert [f.name for f in spool_files(app)] == [file.name, "replaying-1-test.jsonl"]
    run_job(runner)

    assert stored_ids(db) == [message_id(1), message_id(2)] and spool_files(app) == []


def test_the_web_process_replays_by_itself_once_the_lock_is_gone(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    with locked(db):
        answer = client.post(handler_path(db), data=without_auth(handler_form(bitrix, message_id(1))))
        assert spooled(answer, 1)

    wait_for(lambda: stored_ids(db) == [message_id(1)] and not spool_files(app))
    # No job pass: the web process's own sender sends what its replay stored, once.
    wait_for(lambda: stored(db, 1).state == MessageState.ACCEPTED)
    assert services_of(app).outbox.wait_idle(10) and sent_once_each(db, prostor)


# ---------------------------------------------------------------- what counts as the database being away
def test_sqlite_outages_are_told_from_faults_of_the_statement(tmp_path):
    path = tmp_path / "x.sqlite3"
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    read_only_engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")

    def error_of(engine, statement):
        with pytest.raises(SQLAlchemyError) as caught, engine.begin() as connection:
            connection.execute(text(statement))
        return caught.value

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    assert unavailable(error_of(engine, "INSERT INTO t VALUES (2)"))  # database is locked
    holder.execute("ROLLBACK")
    assert unavailable(error_of(read_only_engine, "INSERT INTO t VALUES (2)"))  # a read-only database
    assert not unavailable(error_of(engine, "INSERT INTO t VALUES (1)"))  # an integrity error
    assert not unavailable(error_of(engine, "INSERT INTO nowhere VALUES (1)"))  # no such table
    holder.close()


def test_a_call_that_keys_changed_without_rotation_cannot_read_is_spooled_not_lost(
        app, db, client, bitrix, prostor, runner, database_url):
    install_with_prostor(client, bitrix)
    path = handler_path(db)
    settings = services_of(app).settings
    wrong = create_app({**suite_config(settings.database_url, settings.spool_dir),
                        "ENCRYPTION_KEYS": Fernet.generate_key().decode()})

    answer = wrong.test_client().post(path, data=without_auth(handler_form(bitrix, message_id(1))))
    services_of(wrong).db.engine.dispose()

    assert spooled(answer, 1) and stored_ids(db) == []
    crypto.configure(ENCRYPTION_KEY)  # the keys are put right again
    run_job(runner)
    assert stored_ids(db) == [message_id(1)] and sent_once_each(db, prostor) and not spool_files(app)
