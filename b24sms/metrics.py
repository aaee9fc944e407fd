"""What `GET /metrics` shows, in the Prometheus text format.

Two kinds of numbers:
- counted as things happen, in whichever process does them: provider calls by provider kind, operation and
  outcome (`ok` or the ProviderError's `kind`), job duty durations and failures;
- read from the database at scrape time (`DatabaseCollector`): messages by state, queue depths, portals by
  state, provider accounts skipped as hung. Any process answers these alike, so they are never counted.

Several processes (gunicorn workers, the job worker): set `PROMETHEUS_MULTIPROC_DIR` to an empty directory
that every process of the machine can write, before any of them starts (prometheus_client picks its storage
when it is first imported). Each process then writes its counters to files there and a scrape adds them up.
The directory must be emptied at every deploy/start, before the processes start, and gunicorn's `child_exit`
hook calls `mark_process_dead` (gunicorn.conf.py). Without the variable, each process counts in memory and a
scrape shows only the process that answered it.
"""
import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from .models import Message, MessageState, Portal, PortalState, ProviderAccount, utcnow

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class DatabaseCollector:
    """Gauges read from the database at collect time, with a few aggregate queries over indexed columns."""

    def __init__(self, db):
        self.db = db

    def collect(self):
        now = utcnow()
        try:
            with self.db.engine.connect() as connection:
                messages = self._messages(connection)
                families = [
                    _labelled("b24sms_messages", "Stored messages by state.", "state", messages),
                    self._queues(connection, now, reconciling=messages[MessageState.RECONCILING]),
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

    def _messages(self, connection):
        counts = dict.fromkeys(_states(MessageState), 0)
        counts.update(connection.execute(select(Message.state, func.count()).group_by(Message.state)).all())
        return counts

    def _queues(self, connection, now, reconciling):
        due = dict(connection.execute(
            select(Message.state, func.count())
            .where(Message.state.in_(MessageState.TO_SEND + MessageState.POLLED), Message.due_at <= now)
            .group_by(Message.state)
        ).all())
        to_report = connection.execute(select(func.count()).where(Message.report_pending.is_(True))).scalar_one()
        family = GaugeMetricFamily(
            "b24sms_queue_depth",
            "Messages waiting: due to send, due to poll, status to report to Bitrix24, reconciling.",
            labels=["queue"],
        )
        family.add_metric(["send"], sum(due.get(state, 0) for state in MessageState.TO_SEND))
        family.add_metric(["poll"], sum(due.get(state, 0) for state in MessageState.POLLED))
        family.add_metric(["report"], to_report)
        family.add_metric(["reconciling"], reconciling)
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


def exposition(db, accept=None) -> tuple[bytes, str]:
    """The scrape and its content type (the Prometheus text format, or OpenMetrics when `accept`, the request's
    Accept header, asks for it): this process's counters (in multiprocess mode, every process's) plus the
    database gauges. A registry per scrape, so the database collector runs once per scrape in any mode."""
    encode, content_type = choose_encoder(accept or "")
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)  # the counters above and the process/platform/gc metrics
    registry.register(DatabaseCollector(db))
    return encode(registry), content_type


def _labelled(name, documentation, label, counts):
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def _states(holder):
    return [value for name, value in vars(holder).items() if name.isupper() and isinstance(value, str)]
