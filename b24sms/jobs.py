"""One pass of every background duty. Each duty claims its own work, so passes may overlap safely."""
import logging
import time
from dataclasses import asdict, dataclass, field

from . import provider_health, reconciling, retention, senders, sending, spool, statuses
from .counters import measured_duty
from .models import utcnow

logger = logging.getLogger(__name__)
# A pass repeats its duties while they find work; this bounds the rounds should a duty keep finding some.
MAX_ROUNDS = 100


@dataclass
class PassReport:
    replayed: int = 0
    recovered: int = 0
    reconciled: int = 0
    senders_checked: int = 0
    sent: int = 0
    status_changes: int = 0
    reported: int = 0
    expired: int = 0  # messages deleted by retention
    # The duties that raised this pass (`jobs run-once` then exits non-zero naming them).
    failed_duties: list = field(default_factory=list)

    def __str__(self):
        counts = " ".join(f"{name}={value}" for name, value in asdict(self).items() if name != "failed_duties")
        return counts + (f" failed_duties={','.join(self.failed_duties)}" if self.failed_duties else "")


def run_once(db, settings, http):
    """One pass: rounds of every duty until nothing was left to do or JOB_PASS_SECONDS is spent. Each duty runs
    in a session of its own, so that one failing (a bug, a dead provider) does not starve the rest; a duty that
    failed sits out the rest of the pass."""
    # An account that hangs is called once per pass, not once per message or round: other accounts go on.
    gate = provider_health.PassGate()
    duties = {
        # Handler calls spooled during a database outage, first: the send duty below sends them in this pass.
        "replayed": lambda _session: spool.replay_duty(db, settings, http=http),
        "recovered": lambda session: sending.recover_stuck(session, utcnow()),
        "reconciled": lambda session: reconciling.reconcile_due(session, settings, utcnow(), http, gate),
        "senders_checked": lambda session: heal_senders(db, session, settings, http),
        "sent": lambda session: sending.send_due(session, settings, utcnow(), http, gate),
        "status_changes": lambda session: statuses.poll(session, settings, utcnow(), http, gate),
        "reported": lambda session: statuses.report(db, session, settings, utcnow(), http=http),
        "expired": lambda session: retention.delete_expired(session, settings, utcnow()),
    }
    result = PassReport()
    deadline = time.monotonic() + settings["JOB_PASS_SECONDS"]
    for _ in range(MAX_ROUNDS):
        worked = False
        for name, duty in duties.items():
            if name in result.failed_duties or time.monotonic() >= deadline:
                continue
            done = _run_duty(db, name, duty, result)
            if isinstance(done, statuses.Polled):  # polling is work even when no status changed
                worked |= done.claimed > 0
                done = done.changed
            setattr(result, name, getattr(result, name) + done)
            worked |= done > 0
        if not worked or time.monotonic() >= deadline:
            break
    return result


def _run_duty(db, name, duty, result):
    try:
        with measured_duty(name), db.session() as session:  # its time, and its failure, for /metrics
            return duty(session)
    except Exception:
        logger.exception("job duty %s failed; the other duties go on", name)
        result.failed_duties.append(name)
        return 0


def heal_senders(db, session, settings, http):
    checked = 0
    for portal in senders.portals_due_sender_check(session, utcnow()):
        senders.sync_sender(db, session, settings, portal, check_first=True, http=http)
        checked += 1
    return checked
