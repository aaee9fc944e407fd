"""The web process's sender: a message that a handler call stored is sent at once, off Bitrix24's request.

The handler commits the message, hands its id here and answers. A bounded pool of JOB_CONCURRENCY threads sends;
one portal is sent by one thread at a time, and what arrives for it meanwhile goes in its next round, so a
campaign burst becomes batches (as many messages per request as the provider takes), not one request per SMS.

Nothing here is needed for safety: a message this process does not send (it crashed or restarted, or too many
wait) is sent by the job's next pass once intake.INLINE_GRACE has passed, and a round that dies mid-send is
recovered by the job (b24sms/flows/sending.py, recover_stuck).
"""
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from b24sms.flows import provider_health, sending
from b24sms.services import Services
from b24sms.store.models import utcnow

logger = logging.getLogger(__name__)
MAX_WAITING = 20_000  # message ids waiting in this process; past that the job sends the rest


class WebSender:
    """Services.outbox: made by the services it sends with (b24sms/services.py)."""

    def __init__(self, services: Services):
        self.services = services
        self._pid = None

    def _reset_if_forked(self):
        """State of this process's own: a forked worker (gunicorn) starts with none of its parent's threads."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._idle = threading.Condition(self._lock)
            self._waiting = {}  # portal id -> message ids
            self._running = set()  # portals a thread is sending now
            self._count = 0
            self._pool = ThreadPoolExecutor(max_workers=self.services.settings.job_concurrency,
                                            thread_name_prefix="b24sms-sender")

    def submit(self, portal_id, message_id):
        """Send the stored message soon. False when too many wait already (the job will send it)."""
        return self.submit_many(portal_id, [message_id]) == 1

    def submit_many(self, portal_id, message_ids):
        """Send the portal's stored messages soon (a resumed portal's backlog). Returns how many were taken;
        past MAX_WAITING the job sends the rest."""
        self._reset_if_forked()
        with self._lock:
            room = max(0, MAX_WAITING - self._count)
            if len(message_ids) > room:
                logger.warning("%d messages left to the job: %d messages wait for this process's sender",
                               len(message_ids) - room, self._count)
            message_ids = list(message_ids)[:room]
            if not message_ids:
                return 0
            self._waiting.setdefault(portal_id, []).extend(message_ids)
            self._count += len(message_ids)
            if portal_id in self._running:
                return len(message_ids)
            self._running.add(portal_id)
        self._pool.submit(self._send_portal, portal_id)
        return len(message_ids)

    def wait_idle(self, timeout=None):
        """Whether every submitted message was sent (or given to the job) within `timeout` seconds."""
        self._reset_if_forked()
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)

    def _send_portal(self, portal_id):
        while True:
            with self._lock:
                ids = self._waiting.pop(portal_id, [])
                if len(ids) > sending.CLAIM_BATCH:
                    self._waiting[portal_id], ids = ids[sending.CLAIM_BATCH:], ids[:sending.CLAIM_BATCH]
                self._count -= len(ids)
                if not ids:
                    self._running.discard(portal_id)
                    self._idle.notify_all()
                    return
            try:
                with self.services.db.session() as session:
                    claim = sending.claim_named(session, ids, utcnow())
                    if claim.ids:
                        sending.send_held(self.services, session, claim, provider_health.PassGate())
            except Exception:  # they are stored: the job sends (or recovers) them
                logger.exception("sending %d messages of portal %s failed; the job takes them", len(ids), portal_id)
