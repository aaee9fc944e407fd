"""What a scrape costs: never a pass over the whole messages table per scrape (once per interval per process, one
thread at a time), every other statement over messages bounded by an index."""
import re
import threading
from contextlib import contextmanager

from sqlalchemy import event

from b24sms.rules.lifecycle import MessageState
from b24sms.store.metrics import MessageCounts
from tests.helpers import install_with_prostor, post_sms
from tests.helpers.metrics import scrape, value
from tests.helpers.suite import on_postgres

SCRAPES = 20
OVER_MESSAGES = re.compile(r"\bFROM messages\b")
FILTERED = re.compile(r"\bWHERE\b")


@contextmanager
def recorded(engine):
    """Every statement the engine runs while the block runs: [(sql, parameters)]."""
    statements = []

    def record(_connection, _cursor, statement, parameters, _context, _executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def full_scans(engine, statement, parameters):
    """SQLite's plan steps that read the whole messages table (`SCAN messages ...`, index or not)."""
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return [row[-1] for row in plan if re.match(r"SCAN messages\b", row[-1])]


def test_many_scrapes_read_the_whole_messages_table_once(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    for n in (1, 2):
        post_sms(client, bitrix, n)

    with recorded(db.engine) as statements:
        scrapes = [scrape(client) for _ in range(SCRAPES)]

    assert all(value(samples, "b24sms_messages", state="accepted") == 2 for samples in scrapes)
    over_messages = [(sql, parameters) for sql, parameters in statements if OVER_MESSAGES.search(sql)]
    whole_table = [sql for sql, _ in over_messages if not FILTERED.search(sql)]
    assert len(whole_table) == 1, whole_table  # the count by state, once for all the scrapes
    bounded = {sql: parameters for sql, parameters in over_messages if FILTERED.search(sql)}
    assert len(over_messages) - 1 == SCRAPES * len(bounded)  # the same few statements each scrape
    if not on_postgres():  # PostgreSQL's planner picks by table statistics; SQLite's plan is fixed by the index
        for sql, parameters in bounded.items():
            assert full_scans(db.engine, sql, parameters) == [], sql


def test_message_counts_are_counted_again_once_the_interval_is_over(db):
    now = [1000.0]
    counts = MessageCounts(every=30, clock=lambda: now[0])
    with db.engine.connect() as connection, recorded(db.engine) as statements:
        first = counts.get(connection)
        now[0] += 29
        assert counts.get(connection) is first and len(statements) == 1
        now[0] += 1
        counts.get(connection)
        assert len(statements) == 2
    assert first[MessageState.RECEIVED] == 0 and set(MessageState.FINAL) <= set(first)


class SlowConnection:
    """A connection whose statements wait until `go` is set (a count of a large table under way)."""

    def __init__(self, connection, go):
        self.connection, self.go, self.entered = connection, go, threading.Event()

    def execute(self, *args, **kwargs):
        self.entered.set()
        assert self.go.wait(10)
        return self.connection.execute(*args, **kwargs)


def test_while_one_thread_counts_the_others_take_the_last_count(db):
    now = [1000.0]
    counts = MessageCounts(every=30, clock=lambda: now[0])
    go, done = threading.Event(), []
    with db.engine.connect() as connection:
        last = counts.get(connection)
        now[0] += 60
        slow, other = SlowConnection(connection, go), SlowConnection(connection, go)
        counting = threading.Thread(target=lambda: done.append(counts.get(slow)))
        counting.start()
        try:
            assert slow.entered.wait(10)
            assert counts.get(other) is last and not other.entered.is_set()  # at once, no statement of its own
        finally:
            go.set()
            counting.join(10)
    assert done and done[0] is not last
