"""The handler through a database outage: calls posted at once, what the spool holds, what was stored and sent."""
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from b24sms.services import EXTENSION
from b24sms.store.models import Message
from tests.helpers import make_due, message_id, run_job


def post_all(app, calls):
    """Post (path, form) calls at once, each from a client of its own, as a portal's users do."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: app.test_client().post(call[0], data=call[1]), calls))


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
