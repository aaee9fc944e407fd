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
from functools import partial

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from b24sms.bitrix import sender_names
from b24sms.bitrix.client import BATCH_LIMIT
from b24sms.bitrix.errors import AuthRevoked, BitrixError, RateLimited
from b24sms.bitrix.portal_tokens import rest_client
from b24sms.flows.workers import DutyFailed, NotCalled, chunks
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


PORTAL_SLICE = 200  # portals one claim takes (a round's share: the next duty goes next)
PER_PORTAL_READ = BATCH_LIMIT * BATCHES_AT_ONCE  # a portal's statuses read at a time


def report(services: Services, workers):
    """One round of reporting: claim up to PORTAL_SLICE portals with untold statuses in one claim, tell each
    portal's Bitrix24 (portals in parallel, each within its own rate limit), mark what was told in bulk. Returns
    how many statuses were reported."""
    with services.db.session() as session:
        now = utcnow()
        pending = select(Message.portal_id).where(Message.report_pending.is_(True))
        claim = claims.claim(session, claims.PORTAL_REPORTS, (Portal.state == PortalState.ACTIVE,
                                                               Portal.id.in_(pending)),
                             now=now, lease=REPORT_LEASE, limit=PORTAL_SLICE, order_by=(Portal.id,),
                             columns=(Portal.domain, Portal.client_endpoint, Portal.access_token,
                                      Portal.token_expires_at))
        if not claim.ids:
            return 0
        portals = {portal.id: portal for portal in claim.records}
        clients = {portal_id: rest_client(services, portal) for portal_id, portal in portals.items()}
        reported, pauses, busy, failed = 0, {}, set(claim.ids), []
        try:
            while busy and not workers.out_of_time():
                messages = _untold(session, busy, workers.untold)
                codes = _codes(services.settings, session, messages)
                session.commit()  # no transaction stays open across the REST calls
                told = workers.each(list(messages), partial(_tell, clients, messages, codes, workers))
                done = []
                for portal_id, outcome in told.items():
                    portal = portals[portal_id]
                    try:
                        if isinstance(outcome, Exception):
                            raise outcome
                        portal_done, pause = _settle_batches(portal, outcome, workers)
                    except Exception:  # a bug or an odd answer: this portal waits, the others go on
                        logger.exception("reporting to portal %s failed", portal.domain)
                        failed.append(portal_id)
                        portal_done, pause = [], REPORT_PAUSE
                    done += portal_done
                    if pause is not None:
                        pauses[portal_id] = pause
                _mark_reported(session, done)
                reported += len(done)
                # A portal goes on while it had a full read and nothing to pause for: more may be waiting.
                busy = {portal_id for portal_id, batch in messages.items()
                        if len(batch) == PER_PORTAL_READ and portal_id not in pauses}
        finally:  # even after a surprise: the leases end now (or after the pause), not when they run out
            session.rollback()
            _end_leases(session, claim, pauses)
    if failed:
        raise DutyFailed(f"reporting to {len(failed)} of {len(claim.ids)} portals failed")
    return reported


def _untold(session, portal_ids, untold):
    """{portal id: up to PER_PORTAL_READ of its untold statuses, in id order}, for all of them in one statement
    (plain rows: a portal may have thousands to tell). `untold`: messages this pass could not report (left for the
    next pass, not asked again in this one)."""
    ranked = (select(Message.id, Message.portal_id, Message.bitrix_message_id, Message.status, Message.sender_code,
                     Message.sender, func.row_number().over(partition_by=Message.portal_id, order_by=Message.id)
                     .label("place"))
              .where(one_of(session, Message.portal_id, portal_ids), Message.report_pending.is_(True)))
    if untold:
        ranked = ranked.where(Message.id.not_in(list(untold)))
    ranked = ranked.subquery()
    messages = defaultdict(list)
    for row in session.execute(select(ranked).where(ranked.c.place <= PER_PORTAL_READ)
                               .order_by(ranked.c.portal_id, ranked.c.id)).all():
        messages[row.portal_id].append(row)
    return messages


def _codes(settings, session, messages):
    """{message id: the CODE its status is reported under} for the messages stored before the CODE was kept (the
    others' is their `sender_code`, the sender they came through): found by their sender name, their portals'
    names read only then."""
    codes = {}
    legacy = {portal_id for portal_id, batch in messages.items() if any(m.sender_code is None for m in batch)}
    for portal in session.scalars(select(Portal).where(Portal.id.in_(legacy))
                                  .options(selectinload(Portal.sender_names))) if legacy else ():
        code_of = sender_names.code_by_name(settings, portal)
        codes.update((m.id, code_of(m.sender)) for m in messages[portal.id] if not m.sender_code)
    return codes


def _tell(clients, untold, codes, workers, portal_id):
    """Tell the portal's Bitrix24 its `untold` statuses: BATCHES_AT_ONCE batch requests at once, each waiting for its
    token in the portal's bucket. [(the batch's messages, its outcome)]."""
    batches = list(chunks(untold[portal_id], BATCH_LIMIT))
    commands = [{f"m{m.id}": ("messageservice.message.status.update",
                              {"CODE": m.sender_code or codes.get(m.id),
                               "MESSAGE_ID": m.bitrix_message_id, "STATUS": m.status})
                 for m in batch} for batch in batches]
    return list(zip(batches, workers.call_each(commands, clients[portal_id].batch, BATCHES_AT_ONCE,
                                               first_alone=False)))


def _settle_batches(portal, outcome, workers):
    """(the messages that need not be told again, the pause to take or None; 0: stop, the portal needs its admin)
    from one portal's batches."""
    done = []
    for batch, answer in outcome:
        pause = _pause_for(portal, answer)
        told = [] if pause is not None or isinstance(answer, NotCalled) else _told(portal, batch, answer)
        done += told
        told_ids = {m.id for m in told}
        workers.untold.update(m.id for m in batch if m.id not in told_ids and not isinstance(answer, NotCalled))
        if pause is None and not told and not isinstance(answer, NotCalled):
            pause = REPORT_PAUSE  # every command failed: don't hammer the portal
        if pause is not None:
            return done, pause
    return done, None


def _end_leases(session, claim, pauses):
    """End the claim's leases: at once, or after the pause Bitrix24 asked for."""
    now = utcnow()
    later = defaultdict(list)
    for portal_id in claim.ids:
        later[pauses.get(portal_id)].append(portal_id)
    for pause, portal_ids in later.items():
        session.execute(update(Portal).where(one_of(session, Portal.id, portal_ids),
                                             Portal.report_lease == claim.token)
                        .values(report_lease=None, report_not_before=now + pause if pause else None)
                        .execution_options(synchronize_session=False))
    session.commit()


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
