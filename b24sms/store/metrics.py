"""What `GET /metrics` shows, in the Prometheus text format.

Two kinds of numbers:
- counted as things happen, in whichever process does them: provider calls by provider kind, operation and
  outcome (`ok` or the ProviderError's `kind`), job duty durations and failures;
- read from the database (`DatabaseCollector`): messages by state, queue depths (replies waiting for their Open
  Line among them), portals by state, provider accounts skipped as hung. Any process answers these alike, so they
  are never counted.

A scrape's cost does not grow with the messages table, so that scraping often (or anyone hammering /metrics)
cannot slow the handler: each scrape reads only what an index bounds (what is due, what Bitrix24 has not been
told, what is reconciling) and the small portal and account tables. Messages by state need a pass over the whole
table: that count is made at most once per MESSAGE_COUNTS_EVERY seconds per process, one thread at a time, and
other scrapes meanwhile show the last one (`MessageCounts`). Each process keeps its own, so two scrapes answered
by different processes may show counts up to that many seconds apart.

Several processes (gunicorn workers, the job worker): set `PROMETHEUS_MULTIPROC_DIR` to an empty directory
that every process of the machine can write, before any of them starts (prometheus_client picks its storage
when it is first imported). Each process then writes its counters to files there and a scrape adds them up.
The directory must be emptied at every deploy/start, before the processes start, and gunicorn's `child_exit`
hook calls `mark_process_dead` (gunicorn.conf.py). Without the variable, each process counts in memory and a
scrape shows only the process that answered it.
"""
import logging
import os
import threading
import time

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, Portal, PortalState, ProviderAccount, utcnow
from b24sms.store.reply_models import IncomingMessage, IncomingState

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
MESSAGE_COUNTS_EVERY = 30  # seconds: the most often one process counts the whole messages table


class MessageCounts:
    """Stored messages by state, counted at most once per `every` seconds in this process and by one thread at
    a time: while one counts, the others take the last count (only the very first scrapes wait for it)."""

    def __init__(self, every=MESSAGE_COUNTS_EVERY, clock=time.monotonic):
        self.every = every
        self._clock = clock
        self._counting = threading.Lock()
        self._counts = None
        self._counted_at = None

    def get(self, connection):
        if self._fresh():
            return self._counts
        if not self._counting.acquire(blocking=self._counts is None):
            return self._counts  # another thread is counting
        try:
            if not self._fresh():  # unless the thread this one waited for has just counted
                self._counts = _count_by_state(connection)
                self._counted_at = self._clock()
            return self._counts
        finally:
            self._counting.release()

    def _fresh(self):
        return self._counted_at is not None and self._clock() - self._counted_at < self.every


class DatabaseCollector:
    """Gauges read from the database at collect time: the bounded queries of every scrape, and the message counts
    of `message_counts` (at most one count of the whole table per interval)."""

    def __init__(self, db, message_counts):
        self.db = db
        self.message_counts = message_counts

    def collect(self):
        now = utcnow()
        try:
            with self.db.engine.connect() as connection:
                families = [
                    _labelled("b24sms_messages", "Stored messages by state (counted at most every "
                              f"{self.message_counts.every} s by each process).", "state",
                              self.message_counts.get(connection)),
                    self._queues(connection, now),
                    self._portals(connection),
                    self._skipped_accounts(connection, now),
                ]
        except SQLAlchemyError as exc:
            # The counters are still worth a scrape; the gap shows as b24sms_database_up 0.
            logger.warning("metrics: the database could not be read (%s)", type(exc).__name__)
            yield GaugeMetricFamily("b24sms_database_up", "Whether the database answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("b24sms_database_up", "Whether the database answered this scrape.", value=1)
        yield from families

    def _queues(self, connection, now):
        """Each over an index range as long as the queue itself (ix_messages_state_due, ix_messages_report)."""
        due = dict(connection.execute(
            select(Message.state, func.count())
            .where(Message.state.in_(MessageState.TO_SEND + MessageState.POLLED), Message.due_at <= now)
            .group_by(Message.state)
        ).all())
        to_report = connection.execute(select(func.count()).where(Message.report_pending.is_(True))).scalar_one()
        reconciling = connection.execute(
            select(func.count()).where(Message.state == MessageState.RECONCILING)).scalar_one()
        to_line = connection.execute(select(func.count()).where(  # ix_incoming_state_due
            IncomingMessage.state == IncomingState.PENDING, IncomingMessage.due_at <= now)).scalar_one()
        family = GaugeMetricFamily(
            "b24sms_queue_depth",
            "Messages waiting: due to send, due to poll, status to report to Bitrix24, reconciling; clients' replies "
            "due to go to their Open Line.",
            labels=["queue"],
        )
        family.add_metric(["send"], sum(due.get(state, 0) for state in MessageState.TO_SEND))
        family.add_metric(["poll"], sum(due.get(state, 0) for state in MessageState.POLLED))
        family.add_metric(["report"], to_report)
        family.add_metric(["reconciling"], reconciling)
        family.add_metric(["line"], to_line)
        return family

    def _portals(self, connection):
        counts = dict.fromkeys(_states(PortalState), 0)
        counts.update(connection.execute(select(Portal.state, func.count()).group_by(Portal.state)).all())
        return _labelled("b24sms_portals", "Portals by state (needs_reauth: an admin must open the app again).",
                         "state", counts)

    def _skipped_accounts(self, connection, now):
        skipped = func.count(case((ProviderAccount.skip_until > now, 1)))  # counts the non-NULLs
        rows = dict(connection.execute(
            select(ProviderAccount.kind, skipped)
            .where(ProviderAccount.position.is_not(None))  # retired accounts send nothing
            .group_by(ProviderAccount.kind)
        ).all())
        return _labelled("b24sms_provider_accounts_skipped",
                         "Provider accounts that new messages skip for now, as the provider hangs.", "provider", rows)


def multiprocess_dir():
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


def exposition(db, message_counts, accept) -> tuple[bytes, str]:
    """The scrape and its content type (the Prometheus text format, or OpenMetrics when `accept`, the request's
    Accept header, asks for it): this process's counters (in multiprocess mode, every process's) plus the
    database gauges, `message_counts` (a MessageCounts kept by the process) among them. A registry per scrape,
    so the database collector runs once per scrape in any mode."""
    encode, content_type = choose_encoder(accept or "")
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)  # the counters above and the process/platform/gc metrics
    registry.register(DatabaseCollector(db, message_counts))
    return encode(registry), content_type


def _count_by_state(connection):
    """The one statement that reads the whole messages table."""
    counts = dict.fromkeys(_states(MessageState), 0)
    counts.update(connection.execute(select(Message.state, func.count()).group_by(Message.state)).all())
    return counts


def _labelled(name, documentation, label, counts):
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def _states(holder):
    return [value for name, value in vars(holder).items() if name.isupper() and isinstance(value, str)]
