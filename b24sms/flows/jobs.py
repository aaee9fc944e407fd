"""One pass of every background duty. Each duty claims its own work (b24sms/store/claims.py), so passes may overlap
safely, on one machine or many."""
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from b24sms.bitrix import messageservice_senders, notices
from b24sms.counters import measured_duty
from b24sms.flows import (
    balances,
    guards,
    line_delivery,
    polling,
    prices,
    provider_health,
    reconciling,
    replies,
    reporting,
    sending,
    spool,
)
from b24sms.flows.workers import DutyFailed, Workers
from b24sms.services import Services
from b24sms.store import retention
from b24sms.store.models import Portal, utcnow

logger = logging.getLogger(__name__)
# A pass repeats its duties while they find work; this bounds the rounds should a duty keep finding some.
MAX_ROUNDS = 1000
# A round: each duty once, in this order. Polling and reporting each take a slice of their work per round, side by
# side, so that what one round polls is reported by the next and a pass that runs out of time leaves neither undone.
ROUND = (("replayed",), ("recovered",), ("reconciled",), ("senders_checked",), ("sent",),
         ("status_changes", "reported"), ("replies_pulled",), ("replies_delivered", "answers_confirmed"),
         ("balances_checked",), ("notices_sent",), ("expired",))
# Duties that follow the clock (hourly checks, schedules, leases that ran out, retention), which no other duty feeds
# within a pass: once one finds nothing, it sits out the pass's later rounds (each round of a busy pass would
# otherwise ask the database again for work that is not there).
BY_THE_CLOCK = frozenset({"replayed", "recovered", "senders_checked", "replies_pulled", "balances_checked", "expired"})
# Duties that make work for others (sending, reconciling, polling) have this share of JOB_PASS_SECONDS: the rest of
# the pass tells Bitrix24 what they found (a pass that runs out of time never leaves the reports of its polls undone).
PRODUCERS_SHARE = 0.8


@dataclass
class PassReport:
    replayed: int = 0
    recovered: int = 0
    reconciled: int = 0
    senders_checked: int = 0
    sent: int = 0
    status_changes: int = 0
    reported: int = 0
    replies_pulled: int = 0  # replies fetched from providers that keep them to be fetched (new ones)
    replies_delivered: int = 0  # replies an Open Line took
    answers_confirmed: int = 0  # operators' answers confirmed to their line once a provider took them
    balances_checked: int = 0  # accounts with a balance threshold asked for their balance (hourly)
    notices_sent: int = 0  # notices to portal admins (low balance, refused credentials)
    expired: int = 0  # messages deleted by retention
    seconds: float = 0.0  # the pass's wall time
    cpu_seconds: float = 0.0  # the process's CPU time during the pass (every thread)
    # The duties that raised this pass (`jobs run-once` then exits non-zero naming them).
    failed_duties: list = field(default_factory=list)

    def __str__(self):
        counts = " ".join(f"{name}={value:.2f}" if isinstance(value, float) else f"{name}={value}"
                          for name, value in asdict(self).items() if name != "failed_duties")
        return counts + (f" failed_duties={','.join(self.failed_duties)}" if self.failed_duties else "")


def run_once(services: Services):
    """One pass: rounds of every duty until nothing was left to do or JOB_PASS_SECONDS is spent. Within a duty,
    portals and provider accounts are worked on in parallel (JOB_CONCURRENCY), each in a session of its own,
    so that one failing (a bug, a dead provider) does not starve the rest; a duty that failed sits out the rest
    of the pass."""
    # An account that hangs is called once per pass, not once per message or round: other accounts go on.
    gate = provider_health.PassGate()
    workers = Workers(services)
    producing = workers.sharing(PRODUCERS_SHARE)
    duties = {
        # Handler calls spooled during a database outage, first: the send duty below sends them in this pass.
        "replayed": lambda: spool.replay_duty(services),
        "recovered": lambda: sending.recover_stuck(workers),
        "reconciled": lambda: reconciling.reconcile_due(services, producing, gate),
        "senders_checked": lambda: heal_senders(services, workers),
        "sent": lambda: sending.send_due(services, producing, gate),
        # Statuses, and the prices that some providers state only after a final receipt (flows/prices.py).
        "status_changes": lambda: polling.poll(services, producing, gate) + prices.poll_prices(services, producing),
        "reported": lambda: workers.in_lanes(lambda: reporting.report(services, workers)),
        # Two-way SMS: replies fetched, replies handed to their Open Line, operators' answers confirmed there.
        "replies_pulled": lambda: replies.pull_due(services, producing),
        "replies_delivered": lambda: line_delivery.deliver_due(services, workers),
        "answers_confirmed": lambda: line_delivery.confirm_answers(services, workers),
        # After sending and polling: what they (and the balance checks) noted is told in the same pass.
        "balances_checked": lambda: balances.check_due(services, workers, gate),
        "notices_sent": lambda: notices.send_due(services, workers),
        "expired": lambda: _expire(services),
    }
    result = PassReport()
    idle = set()  # duties BY_THE_CLOCK that found nothing
    began, cpu_began = services.clock.monotonic(), time.process_time()
    beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="b24sms-duty")
    try:
        for _ in range(MAX_ROUNDS):
            worked = False
            for group in ROUND:
                names = [name for name in group if name not in result.failed_duties and name not in idle
                         and not workers.out_of_time()]
                if not names:
                    continue
                # A group's duties go side by side: while one waits on its round trips, the other works.
                aside = [beside.submit(_run_duty, name, duties[name], result) for name in names[1:]]
                for name, done in zip(names, [_run_duty(names[0], duties[names[0]], result),
                                              *(future.result() for future in aside)]):
                    if isinstance(done, polling.Polled):  # polling is work even when no status changed
                        worked |= done.claimed > 0
                        done = done.changed
                    setattr(result, name, getattr(result, name) + done)
                    worked |= done > 0
                    if not done and name in BY_THE_CLOCK:
                        idle.add(name)
            if not worked or workers.out_of_time():
                break
    finally:
        beside.shutdown(wait=True)
        workers.close()
    result.seconds, result.cpu_seconds = services.clock.monotonic() - began, time.process_time() - cpu_began
    return result


def _run_duty(name, duty, result):
    try:
        with measured_duty(name):  # its time, and its failure, for /metrics
            return duty()
    except Exception as exc:
        if not isinstance(exc, DutyFailed):  # DutyFailed: each failing portal or account was logged already
            logger.exception("job duty %s failed; the other duties go on", name)
        else:
            logger.error("job duty %s failed: %s; the other duties go on", name, exc)
        result.failed_duties.append(name)
        return 0


def _expire(services):
    with services.db.session() as session:
        guards.forget_old_repeats(session, services.clock.now())  # a handful of rows: no count of its own
        session.commit()
        return retention.delete_expired(session, services.settings.retention_days, services.clock.now())


def heal_senders(services, workers):
    """Check (and mend) the senders of portals due a check, portals in parallel."""
    with services.db.session() as session:
        portal_ids = [portal.id for portal in messageservice_senders.portals_due_sender_check(session, utcnow())]

    def check(session, portal_id):
        portal = session.get(Portal, portal_id)
        messageservice_senders.sync_sender(services, session, portal, check_first=True)
        return 1

    return workers.map(portal_ids, check)
