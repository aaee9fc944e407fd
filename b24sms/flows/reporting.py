"""Reporting: every status change Bitrix24 has not been told, in `batch` calls of up to 50, portals in parallel.

A runner claims a portal's reports (b24sms/store/claims.py: a lease on the portal) and tells Bitrix24 everything
pending for it, each status under the CODE of the sender its message came through (Bitrix24 finds the message
under no other), within Bitrix24's rate limit (b24sms/bitrix/rate_limit.py keeps it on our side). Marks are
per message and conditional on the status still being the one told, so a change that came meanwhile stays
pending; the lease's end is written only by its holder.
"""
import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select, update

from b24sms.bitrix import sender_names
from b24sms.bitrix.client import BATCH_LIMIT
from b24sms.bitrix.errors import AuthRevoked, BitrixError, RateLimited
from b24sms.bitrix.portal_tokens import rest_client
from b24sms.flows.workers import NotCalled, chunks
from b24sms.services import Services
from b24sms.store import claims
from b24sms.store.db import one_of
from b24sms.store.models import Message, Portal, PortalState, utcnow

logger = logging.getLogger(__name__)

REPORT_LEASE = timedelta(minutes=5)
REPORT_PAUSE = timedelta(seconds=60)  # after QUERY_LIMIT_EXCEEDED or Bitrix trouble
BATCHES_AT_ONCE = 2  # batch requests to one portal under way at once (well within its burst of 50)
# Bitrix24 errors after which a status can never be reported: stop trying it.
UNREPORTABLE = {"ERROR_MESSAGE_NOT_FOUND", "ERROR_MESSAGE_STATUS_INCORRECT"}


def portals_to_report(session, now):
    pending = select(Message.portal_id).where(Message.report_pending.is_(True)).distinct()
    return session.scalars(
        select(Portal.id).where(Portal.id.in_(pending), Portal.state == PortalState.ACTIVE,
                                Portal.report_not_before.is_(None) | (Portal.report_not_before <= now))
    ).all()


def report(services: Services, workers):
    """Report every portal's untold statuses, portals in parallel. Returns how many statuses were reported."""
    with services.db.session() as session:
        portal_ids = portals_to_report(session, utcnow())
    return workers.map(portal_ids, lambda session, portal_id: report_portal(services, workers, session, portal_id))


def report_portal(services: Services, workers, session, portal_id):
    """Claim the portal's reports and tell Bitrix24 everything pending. Returns how many were reported."""
    claim = claims.claim(session, claims.PORTAL_REPORTS, (Portal.id == portal_id, Portal.state == PortalState.ACTIVE),
                         now=utcnow(), lease=REPORT_LEASE, limit=1)
    if not claim.ids:
        return 0  # another runner has it, or Bitrix24 asked us to wait
    portal = session.get(Portal, portal_id)
    reported, pause = 0, None
    try:
        reported, pause = _tell(session, rest_client(services, portal), services.settings, portal, workers)
    finally:  # even after a surprise: the lease ends now (or after the pause), not when it runs out
        session.rollback()
        claims.settle(session, claims.PORTAL_REPORTS, portal_id, claim,
                      report_not_before=utcnow() + pause if pause else None)
        session.commit()
    return reported


def _tell(session, client, settings, portal, workers):
    """(how many were reported, the pause Bitrix24 asked for or None). BATCHES_AT_ONCE batch requests go at
    once, each waiting for its token in the portal's bucket."""
    reported, after_id = 0, 0
    legacy_code = sender_names.code_by_name(settings, portal)
    while not workers.out_of_time():
        messages = session.execute(  # plain rows: a portal may have thousands to tell
            select(Message.id, Message.bitrix_message_id, Message.status, Message.sender_code, Message.sender)
            .where(Message.portal_id == portal.id, Message.report_pending.is_(True), Message.id > after_id)
            .order_by(Message.id).limit(BATCH_LIMIT * BATCHES_AT_ONCE)
        ).all()
        if not messages:
            break
        after_id = messages[-1].id
        session.commit()  # no transaction stays open across the REST calls
        batches = list(chunks(messages, BATCH_LIMIT))
        commands = [{f"m{m.id}": ("messageservice.message.status.update",
                                  {"CODE": m.sender_code or legacy_code(m.sender), "MESSAGE_ID": m.bitrix_message_id,
                                   "STATUS": m.status})
                     for m in batch} for batch in batches]
        for batch, outcome in zip(batches, workers.call_each(commands, client.batch, BATCHES_AT_ONCE,
                                                             first_alone=False)):
            pause = _pause_for(portal, outcome)
            done = [] if pause is not None or isinstance(outcome, NotCalled) else _told(portal, batch, outcome)
            _mark_reported(session, done)
            reported += len(done)
            if pause is None and not done and not isinstance(outcome, NotCalled):
                pause = REPORT_PAUSE  # every command failed: don't hammer the portal
            if pause is not None:
                return reported, (pause or None)
    return reported, None


def _pause_for(portal, outcome):
    """None when the batch was answered; else the pause to take (0: none, the portal needs its admin)."""
    if isinstance(outcome, RateLimited):
        logger.info("portal %s: %s, pausing reports", portal.domain, outcome.code)
        return REPORT_PAUSE
    if isinstance(outcome, AuthRevoked):
        return 0  # the portal is now needs_reauth; its statuses wait for the admin
    if isinstance(outcome, BitrixError):
        logger.warning("portal %s: status report failed: %s", portal.domain, outcome)
        return REPORT_PAUSE
    if isinstance(outcome, Exception) and not isinstance(outcome, NotCalled):
        raise outcome
    return None


def _told(portal, batch, outcome):
    """The messages of an answered batch that need not be told again."""
    done = [m for m in batch if f"m{m.id}" in outcome.results]
    for m in batch:
        error = outcome.errors.get(f"m{m.id}")
        if error is not None and error.code in UNREPORTABLE:
            logger.warning("portal %s: message %s cannot be reported: %s", portal.domain, m.bitrix_message_id, error)
            done.append(m)
    return done


def _mark_reported(session, messages):
    now = utcnow()
    by_status = defaultdict(list)
    for message in messages:
        by_status[message.status].append(message.id)
    table = Message.__table__.c
    for status, ids in by_status.items():
        # Only rows whose status is still the one we reported: a change that came meanwhile stays pending.
        session.execute(
            update(Message.__table__).where(one_of(session, table.id, ids), table.status == status)
            .values(reported_status=status, report_pending=False, reported_at=now)
        )
    session.commit()
