"""One pass of every background duty. Each duty claims its own work, so passes may overlap safely."""
import logging
from dataclasses import asdict, dataclass

from . import portals, sending, statuses
from .models import utcnow

logger = logging.getLogger(__name__)


@dataclass
class PassReport:
    recovered: int = 0
    senders_checked: int = 0
    sent: int = 0
    status_changes: int = 0
    reported: int = 0

    def __str__(self):
        return " ".join(f"{name}={value}" for name, value in asdict(self).items())


def run_once(db, settings, http=None):
    result = PassReport()
    with db.session() as session:
        now = utcnow()
        result.recovered = sending.recover_stuck(session, now)
        for portal in portals.portals_due_sender_check(session, now):
            portals.sync_sender(db, session, settings, portal, check_first=True, http=http)
            result.senders_checked += 1
        result.sent = sending.send_due(session, settings, utcnow(), http=http)
        result.status_changes = statuses.poll(session, settings, utcnow(), http=http)
        result.reported = statuses.report(db, session, settings, utcnow(), http=http)
    return result
