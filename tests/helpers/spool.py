"""The handler and pushed replies through a database outage: calls posted at once, what the spool holds, what was
stored and sent."""
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from b24sms.services import EXTENSION
from b24sms.store.models import Message
from b24sms.store.reply_models import IncomingMessage
from tests.fakes.devino import API_KEY as DEVINO_API_KEY
from tests.helpers import TWILIO_SETTINGS, installed, make_due, message_id, run_job, save_providers
from tests.helpers.suite import PUBLIC_URL

TWILIO_NUMBER = "+15017122661"  # FakeTwilio's number, which receives the portal's replies
DEVINO_NUMBER = "+79031234567"  # the Devino account's incoming number
CLIENT = "+79161234567"


def post_all(app, calls):
    """Post (path, form) or (path, form, headers) calls at once, each from a client of its own, as a portal's users
    (or a provider's pushes) do."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: app.test_client().post(call[0], data=call[1],
                                                                 headers=call[2] if len(call) > 2 else None), calls))


def spooled(answer, n):
    return answer.status_code == 200 and answer.get_json() == {"spooled": True, "message_id": message_id(n)}


def spool_files(app):
    return sorted(Path(app.extensions[EXTENSION].settings.spool_dir).glob("*.jsonl"))


def stored_ids(db):
    with db.session() as session:
        return sorted(session.scalars(select(Message.bitrix_message_id)))


def sent_once_each(db, prostor):
    """Whether every stored message went to the provider exactly once (and nothing else did)."""
    sent = [m["clientId"] for path, body in prostor.requests if path == "send.json" for m in body["messages"]]
    with db.session() as session:
        keys = session.scalars(select(Message.provider_key)).all()
    return sorted(sent) == sorted(keys)


def replay_settled(app, runner, seconds=30):
    """Job passes until the spool is empty (a pass, or the web process's replay thread, stores what it holds)."""
    deadline = time.monotonic() + seconds
    while spool_files(app):
        assert time.monotonic() < deadline, "the spool was not replayed"
        run_job(runner)
        time.sleep(0.05)


def delivered_and_reported(db, bitrix, prostor, runner, ids):
    """The provider says delivered; the job's next pass polls it and tells Bitrix24."""
    for smsc_id in prostor.statuses:
        prostor.statuses[smsc_id] = "delivered"
    make_due(db)
    run_job(runner)
    return all(bitrix.statuses.get(message_id(n)) == "delivered" for n in ids)


@contextmanager
def locked(db):
    """Another connection holds the file's exclusive lock (a long write, a backup) until the block ends."""
    holder = sqlite3.connect(db.engine.url.database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextmanager
def moved_away(db):
    """The file's directory is gone (a volume not mounted) while the block runs; the web process starts afresh."""
    volume = Path(db.engine.url.database).parent
    volume.rename(volume.with_name("away"))
    db.engine.dispose()
    try:
        yield
    finally:
        volume.with_name("away").rename(volume)


# ---------------------------------------------------------------- pushed replies
def receiving_on_twilio_and_devino(client, bitrix):
    """A portal whose Twilio number and Devino incoming number receive its replies: Twilio's reply URL (the app
    hooks the number on save) and Devino's (the one to paste), as paths."""
    token = installed(client, bitrix, lang="en")
    saved = save_providers(client, token, [
        {**TWILIO_SETTINGS, "reply_numbers": [TWILIO_NUMBER]},
        {"kind": "devino", "sender": "SHOP", "credentials": {"api_key": DEVINO_API_KEY},
         "reply_numbers": [DEVINO_NUMBER]}])
    assert saved.status_code == 200, saved.get_json()
    devino_url = next(entry["inbound_url"] for entry in saved.get_json()["providers"] if entry["kind"] == "devino")
    return token, devino_url.removeprefix(PUBLIC_URL)


def twilio_push(twilio, text, sender=CLIENT, **extra):
    """(path, form, headers) of a client's SMS as Twilio posts it, signed, to the number's SmsUrl; its sid."""
    sid = twilio.receive(sender, TWILIO_NUMBER, text)
    form, headers = twilio.pushed_reply(sid, **extra)
    return (twilio.numbers[TWILIO_NUMBER]["sms_url"].removeprefix(PUBLIC_URL), form, headers), sid


def devino_push(devino, devino_path, text, sender="79161234568"):
    """(path, form) of a client's SMS as Devino posts it to the pasted URL; its messageId."""
    message_id = devino.receive(sender, DEVINO_NUMBER.removeprefix("+"), text)
    return (devino_path, devino.pushed_reply(message_id)), message_id


def twiml(answer):
    """Whether Twilio was answered as it expects: an empty TwiML, as text/xml."""
    return answer.status_code == 200 and answer.mimetype == "text/xml" and answer.get_data(as_text=True) == \
        "<Response/>"


def devino_answer(answer):
    """Whether Devino was answered with nothing (an answer's text would go back to the client as an SMS)."""
    return answer.status_code == 200 and answer.mimetype == "text/plain" and answer.get_data(as_text=True) == ""


def replies_stored(db):
    """(provider, provider id) of every stored reply, each as often as it is stored."""
    with db.session() as session:
        return sorted(tuple(row) for row in session.execute(
            select(IncomingMessage.provider, IncomingMessage.provider_message_id)))
