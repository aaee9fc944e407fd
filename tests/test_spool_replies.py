"""Replies pushed while the database is away (an SQLite file of the test's own): answered at once as each provider
expects, spooled as they came, checked at replay exactly as a live push (the account by the URL's secret, Twilio's
signature over the URL it called) and stored once; a forged one is dropped then. PostgreSQL outages:
test_spool_postgres.py."""
import json
import logging
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from b24sms.store.reply_models import IncomingMessage
from tests.helpers import handler_form, handler_path, install_with_prostor, message_id, run_job, without_auth
from tests.helpers.spool import (
    DEVINO_NUMBER,
    devino_answer,
    devino_push,
    locked,
    moved_away,
    post_all,
    receiving_on_twilio_and_devino,
    replay_settled,
    replies_stored,
    spool_files,
    stored_ids,
    twilio_push,
    twiml,
)
from tests.helpers.suite import services_of, use_settings


@pytest.fixture
def app(app_on_own_file):
    """The app over an SQLite file of the test's own (conftest.py)."""
    return app_on_own_file


def test_replies_pushed_in_an_outage_are_answered_then_stored_once_each(app, client, db, bitrix, twilio, devino,
                                                                        runner, tmp_path):
    _, devino_path = receiving_on_twilio_and_devino(client, bitrix)
    twilio_call, sid = twilio_push(twilio, "Is my order ready?")
    devino_call, devino_id = devino_push(devino, devino_path, "Перезвоните мне")

    with locked(db):
        answers = post_all(app, [twilio_call, devino_call, twilio_call])  # Twilio pushes its reply twice
        assert [twiml(answers[0]), devino_answer(answers[1]), twiml(answers[2])] == [True, True, True]
        assert replies_stored(db) == []
        records = [json.loads(line) for file in spool_files(app) for line in file.read_bytes().splitlines()]
        for n, file in enumerate(spool_files(app)):
            shutil.copy(file, tmp_path / f"copy-{n}")
    assert sorted(record["record"] for record in records) == ["pushed_reply"] * 3
    assert {record["provider"] for record in records} == {"twilio", "devino"}
    assert all(record["headers"] == {"x-twilio-signature": twilio_call[2]["X-Twilio-Signature"]}
               for record in records if record["provider"] == "twilio")  # the signature, no other header

    replay_settled(app, runner)
    assert replies_stored(db) == [("devino", devino_id), ("twilio", sid)]
    for n, file in enumerate(sorted(tmp_path.glob("copy-*"))):  # as if a replayer had died before removing them
        shutil.copy(file, Path(services_of(app).settings.spool_dir) / f"calls-{n + 1}.jsonl")
    output = run_job(runner)

    assert "replayed=0" in output and spool_files(app) == []
    assert replies_stored(db) == [("devino", devino_id), ("twilio", sid)]
    with db.session() as session:
        rows = {row.provider: row for row in session.scalars(select(IncomingMessage))}
    assert (rows["twilio"].body, rows["twilio"].receiver) == ("Is my order ready?", "+15017122661")
    assert (rows["devino"].body, rows["devino"].receiver) == ("Перезвоните мне", DEVINO_NUMBER)


def test_a_forged_or_unknown_push_is_answered_then_dropped_at_replay_and_no_secret_is_logged(
        app, client, db, bitrix, twilio, devino, runner, caplog):
    caplog.set_level(logging.DEBUG)
    _, devino_path = receiving_on_twilio_and_devino(client, bitrix)
    (path, form, headers), _ = twilio_push(twilio, "hello")
    secret = path.rsplit("/", 1)[1]
    made_up = "M" * 32
    genuine, genuine_sid = twilio_push(twilio, "genuine")

    with moved_away(db):  # nothing can be checked now: the account and its token are in the database
        answers = post_all(app, [(path, {**form, "Body": "forged"}, headers),
                                 (path.replace(secret, made_up), form, headers),
                                 genuine])
        assert [twiml(answer) for answer in answers] == [True, True, True]
        unknown_kind = app.test_client().post(path.replace("/twilio/", "/nosuch/"), data=form, headers=headers)
    assert unknown_kind.status_code == 404 and unknown_kind.get_json()["error"] == "unknown_inbound"

    replay_settled(app, runner)

    assert replies_stored(db) == [("twilio", genuine_sid)]
    dropped = [r for r in caplog.records if "dropped at replay" in r.getMessage()]
    assert sorted(r.getMessage() for r in dropped) == ["spooled twilio reply dropped at replay: 403 bad_signature",
                                                       "spooled twilio reply dropped at replay: 404 unknown_inbound"]
    assert {r.levelname for r in dropped} == {"WARNING"}
    assert secret not in caplog.text and made_up not in caplog.text and devino_path not in caplog.text


def test_a_reply_the_spool_cannot_take_answers_503_and_is_not_kept(app, client, db, bitrix, twilio, devino, runner,
                                                                  tmp_path):
    receiving_on_twilio_and_devino(client, bitrix)
    (tmp_path / "in-the-way").write_text("a file where the spool directory should be")
    use_settings(app, spool_dir=str(tmp_path / "in-the-way"))
    call, _ = twilio_push(twilio, "hi")
    with locked(db):
        answer = client.post(call[0], data=call[1], headers=call[2])

    assert answer.status_code == 503 and answer.get_json()["error"] == "database_unavailable"
    run_job(runner)
    assert replies_stored(db) == []


def test_replies_to_a_url_this_process_has_not_taken_replies_through_get_the_smaller_part(app, client, db, bitrix,
                                                                                           twilio, devino, runner):
    _, devino_path = receiving_on_twilio_and_devino(client, bitrix)
    first, first_id = devino_push(devino, devino_path, "before the outage")
    assert client.post(first[0], data=first[1]).status_code == 200  # taken: the Devino URL is vouched for now
    use_settings(app, spool_max_calls=4)  # 4 for vouched URLs, 1 for the rest
    twilio_calls = [twilio_push(twilio, f"twilio {n}")[0] for n in (1, 2)]
    devino_calls = [devino_push(devino, devino_path, f"devino {n}") for n in (1, 2, 3)]

    with locked(db):
        answers = [client.post(path, data=form, headers=headers) for path, form, headers in twilio_calls]
        answers += [client.post(path, data=form) for (path, form), _ in devino_calls]

    assert [answer.status_code for answer in answers] == [200, 503, 200, 200, 200]
    assert answers[1].get_json()["error"] == "spool_full"
    replay_settled(app, runner)
    assert [provider for provider, _ in replies_stored(db)] == ["devino"] * 4 + ["twilio"]


def test_a_record_spooled_before_records_had_kinds_replays_as_a_handler_call(app, client, db, bitrix, prostor,
                                                                             runner):
    install_with_prostor(client, bitrix)
    key = handler_path(db).removeprefix("/handler/")
    directory = Path(services_of(app).settings.spool_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    old = {"key": key, "form": [list(pair) for pair in without_auth(handler_form(bitrix, message_id(1))).items()],
           "spooled_at": "2026-01-01T00:00:00Z"}
    (directory / "calls-1.jsonl").write_text(json.dumps(old) + "\n")

    output = run_job(runner)

    assert "replayed=1" in output and stored_ids(db) == [message_id(1)] and spool_files(app) == []
