"""The handler and pushed replies through a real PostgreSQL outage: a database of its own (`spool_<test database>`)
stops accepting connections and its sessions are ended. Calls are answered 200 (replies as their provider
expects) from the spool and stored once when it returns."""
import logging
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from b24sms.store.db import Database, unavailable
from tests.helpers import (
    APPLICATION_TOKEN,
    handler_form,
    handler_path,
    install_with_prostor,
    message_id,
    run_job,
    wait_for,
    without_auth,
)
from tests.helpers.spool import (
    delivered_and_reported,
    devino_answer,
    devino_push,
    post_all,
    receiving_on_twilio_and_devino,
    replay_settled,
    replies_stored,
    sent_once_each,
    spool_files,
    spooled,
    stored_ids,
    twilio_push,
    twiml,
)
from tests.helpers.suite import TEST_DATABASE_URL, empty_tables, make_app, on_postgres, services_of, use_settings

pytestmark = pytest.mark.skipif(not on_postgres(), reason="a PostgreSQL outage needs PostgreSQL")


@pytest.fixture(scope="module")
def admin(database_url):
    """A connection to the suite's database, from which the outage database is made and taken away."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def outage_url(admin):
    url = make_url(TEST_DATABASE_URL)
    name = f"spool_{url.database}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    outage_url = url.set(database=name).render_as_string(hide_password=False)
    database = Database(outage_url)
    database.upgrade()
    database.engine.dispose()
    yield outage_url
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def app(outage_url, tmp_path):
    app = make_app(outage_url, tmp_path / "spool")
    yield app
    empty_tables(app)


@contextmanager
def database_away(admin, db):
    """The app's database refuses new connections and its sessions are ended, until the block ends."""
    name = db.engine.url.database
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def test_calls_in_an_outage_are_spooled_then_stored_sent_and_reported_once(app, client, db, bitrix, prostor, runner,
                                                                          admin, caplog):
    caplog.set_level(logging.DEBUG)
    install_with_prostor(client, bitrix)
    keyed = handler_path(db)
    key = keyed.removeprefix("/handler/")
    assert client.post(keyed, data=without_auth(handler_form(bitrix, message_id(1)))).status_code == 200
    calls = [
        (keyed, handler_form(bitrix, message_id(1))),  # Bitrix24 sends message 1 again
        (keyed, without_auth(handler_form(bitrix, message_id(2)))),  # no author
        (keyed, handler_form(bitrix, message_id(3))),
        ("/handler", handler_form(bitrix, message_id(4))),  # a sender from before keyed URLs
        ("/handler/" + "W" * 32, without_auth(handler_form(bitrix, message_id(5)))),  # a wrong key
        ("/handler", handler_form(bitrix, message_id(6), application_token="not-the-pinned-one")),
    ]
    malformed = without_auth(handler_form(bitrix, message_id(7)))
    del malformed["message_to"], malformed["properties[phone_number]"]

    with database_away(admin, db):
        began = time.monotonic()
        answers = post_all(app, calls + [(keyed, malformed)])
        waited = time.monotonic() - began
        assert [spooled(answer, n) for answer, n in zip(answers, range(1, 7))] == [True] * 6
        assert answers[-1].status_code == 400  # checked before spooling: no database needed
        assert waited < 15
    replay_settled(app, runner)
    run_job(runner)

    assert stored_ids(db) == [message_id(n) for n in (1, 2, 3, 4)]
    assert sent_once_each(db, prostor)
    dropped = " ".join(r.getMessage() for r in caplog.records if "dropped at replay" in r.getMessage())
    assert message_id(5) in dropped and message_id(6) in dropped
    assert key not in caplog.text and "W" * 32 not in caplog.text and APPLICATION_TOKEN not in caplog.text
    assert delivered_and_reported(db, bitrix, prostor, runner, (1, 2, 3, 4))


def test_the_web_process_replays_by_itself_when_the_database_returns(app, client, db, bitrix, prostor, runner,
                                                                    admin):
    install_with_prostor(client, bitrix)
    keyed = handler_path(db)
    with database_away(admin, db):
        answer = client.post(keyed, data=without_auth(handler_form(bitrix, message_id(1))))
        assert spooled(answer, 1)
        assert len(spool_files(app)) == 1

    wait_for(lambda: stored_ids(db) == [message_id(1)] and not spool_files(app))
    services_of(app).outbox.wait_idle(10)  # the web process's sender sends what its replay stored
    assert "sent=0" in run_job(runner) and sent_once_each(db, prostor)


def test_a_call_the_spool_cannot_take_answers_503_and_nothing_is_stored(app, client, db, bitrix, prostor, runner,
                                                                        admin, tmp_path):
    install_with_prostor(client, bitrix)
    (tmp_path / "in-the-way").write_text("a file where the spool directory should be")
    use_settings(app, spool_dir=str(tmp_path / "in-the-way" / "spool"))
    keyed = handler_path(db)
    with database_away(admin, db):
        answer = client.post(keyed, data=without_auth(handler_form(bitrix, message_id(1))))

    assert answer.status_code == 503 and answer.get_json()["error"] == "database_unavailable"
    run_job(runner)
    assert stored_ids(db) == [] and prostor.sent == {}


def test_replies_pushed_in_an_outage_are_answered_then_stored_once_and_a_forged_one_dropped(
        app, client, db, bitrix, twilio, devino, runner, admin, caplog):
    caplog.set_level(logging.DEBUG)
    _, devino_path = receiving_on_twilio_and_devino(client, bitrix)
    twilio_call, sid = twilio_push(twilio, "Is my order ready?")
    devino_call, devino_id = devino_push(devino, devino_path, "Перезвоните мне")
    (path, form, headers), _ = twilio_push(twilio, "hello")
    secret = path.rsplit("/", 1)[1]

    with database_away(admin, db):
        began = time.monotonic()
        answers = post_all(app, [twilio_call, twilio_call, devino_call, (path, {**form, "Body": "forged"}, headers)])
        assert [twiml(answers[0]), twiml(answers[1]), devino_answer(answers[2]), twiml(answers[3])] == [True] * 4
        assert time.monotonic() - began < 15  # within Twilio's 15 s
        assert len(spool_files(app)) == 1
    replay_settled(app, runner)
    run_job(runner)

    assert replies_stored(db) == [("devino", devino_id), ("twilio", sid)]
    dropped = [r.getMessage() for r in caplog.records if "dropped at replay" in r.getMessage()]
    assert dropped == ["spooled twilio reply dropped at replay: 403 bad_signature"]
    assert secret not in caplog.text and devino_path not in caplog.text


def test_the_web_process_replays_pushed_replies_by_itself_when_the_database_returns(app, client, db, bitrix,
                                                                                   twilio, devino, admin):
    receiving_on_twilio_and_devino(client, bitrix)
    call, sid = twilio_push(twilio, "are you there?")
    with database_away(admin, db):
        assert twiml(client.post(call[0], data=call[1], headers=call[2]))
        assert len(spool_files(app)) == 1

    wait_for(lambda: replies_stored(db) == [("twilio", sid)] and not spool_files(app))


def test_postgres_outages_are_told_from_faults_of_the_statement(admin):
    def error_of(engine, statement):
        with pytest.raises(SQLAlchemyError) as caught, engine.begin() as connection:
            connection.execute(text(statement))
        return caught.value

    nobody_listens = create_engine(make_url(TEST_DATABASE_URL).set(port=1))
    assert unavailable(error_of(nobody_listens, "SELECT 1"))  # connection refused
    with admin.connect() as connection:  # a session ended under its statement
        with pytest.raises(SQLAlchemyError) as caught:
            connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert unavailable(caught.value)
    assert not unavailable(error_of(admin, "SELECT 1 / 0"))  # a fault of the statement
    with admin.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE t (id integer PRIMARY KEY)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(SQLAlchemyError) as caught:
            connection.execute(text("INSERT INTO t VALUES (1)"))
    assert not unavailable(caught.value)  # an integrity error
    assert not unavailable(error_of(admin, "SELECT CAST('x' AS integer)"))  # of the data
    assert not unavailable(error_of(admin, "SELECT * FROM nowhere"))


def test_a_connection_that_dies_after_the_answer_is_ready_does_not_turn_it_into_a_500(app, admin):
    from b24sms.web.context import db_session

    with app.test_request_context("/handler"):
        pid = db_session().execute(text("SELECT pg_backend_pid()")).scalar()  # a transaction is open
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # Leaving the request closed its session on the dead connection without raising (a 500 after a 200).
