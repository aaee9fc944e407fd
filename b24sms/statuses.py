"""Statuses: poll providers for messages not yet final, and report every change to Bitrix24 in batches.

Both duties claim their work first (messages by pushing `due_at` forward, portals by `report_not_before`,
under `FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of runners can work side by side.
"""
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

from sqlalchemy import select, update

from . import failover, lifecycle, providers
from .bitrix.client import BATCH_LIMIT
from .bitrix.errors import AuthRevoked, BitrixError, RateLimited
from .db import lock_rows
from .models import Message, MessageState, Portal, PortalState, ProviderAccount, utcnow
from .portal_tokens import rest_client
from .providers.base import UNKNOWN, ProviderError, RetryLater, Tracked

logger = logging.getLogger(__name__)

POLL_LEASE = timedelta(minutes=5)
POLL_GIVE_UP = timedelta(hours=72)  # a message with no final status by then is no longer polled
POLL_HUNG_DELAY = timedelta(minutes=2)  # messages of an account that hangs: polled again this much later
REPORT_LEASE = timedelta(minutes=5)
REPORT_PAUSE = timedelta(seconds=60)  # after QUERY_LIMIT_EXCEEDED or Bitrix trouble
BATCHES_PER_PORTAL = 20  # per pass: 1,000 statuses, then other portals get their turn
# Bitrix24 errors after which a status can never be reported: stop trying it.
UNREPORTABLE = {"ERROR_MESSAGE_NOT_FOUND", "ERROR_MESSAGE_STATUS_INCORRECT"}


# ---------------------------------------------------------------- polling
def next_poll_delay(age):
    """Soon after sending most statuses move; later they rarely do."""
    if age < timedelta(minutes=10):
        return timedelta(minutes=1)
    if age < timedelta(hours=1):
        return timedelta(minutes=5)
    if age < timedelta(hours=24):
        return timedelta(minutes=30)
    return timedelta(hours=2)


def claim_for_polling(session, now, limit=1000):
    messages = session.scalars(
        select(Message).join(Portal)
        .where(Message.state.in_(MessageState.POLLED), Message.due_at <= now, Message.account_id.is_not(None),
               Portal.state != PortalState.UNINSTALLED)
        .order_by(Message.due_at).limit(limit).with_for_update(skip_locked=True, of=Message)
    ).all()
    for message in messages:
        message.due_at = now + POLL_LEASE
    session.commit()
    return messages


@dataclass(frozen=True)
class Polled:
    claimed: int  # messages taken for polling (the job goes on while there are any)
    changed: int  # of them, how many changed state


def poll(session, settings, now, http, gate):
    """One polling round over up to a claim's worth of due messages."""
    by_account = defaultdict(list)
    claimed = claim_for_polling(session, now)
    for message in claimed:
        by_account[message.account_id].append(message)
    changed = 0
    for messages in by_account.values():
        account = messages[0].account
        if not gate.may_call(session, account.id, now):  # skipped: it hangs
            _poll_later(session, messages, now + POLL_HUNG_DELAY)
            continue
        provider = providers.for_account(account, settings, http=http)
        chunks = list(_chunks(messages, provider.statuses_per_request))
        if provider.poll_interval:
            chunks = _within_poll_slot(session, account, chunks, provider.poll_interval, now)
        for index, chunk in enumerate(chunks):
            if gate.is_closed(account.id):  # it timed out on an earlier chunk: the rest wait
                _poll_later(session, [m for later in chunks[index:] for m in later], now + POLL_HUNG_DELAY)
                break
            changed += _poll_chunk(session, gate, account, provider, chunk, now)
            session.commit()
    return Polled(claimed=len(claimed), changed=changed)


def _poll_later(session, messages, when):
    for message in messages:
        message.due_at = when
    session.commit()


def _within_poll_slot(session, account, chunks, interval, now):
    """For providers that allow one status request per interval: take the account's slot (a conditional
    UPDATE, so only one runner gets it) and poll one chunk; everything else waits for the next slot."""
    taken = session.execute(
        update(ProviderAccount)
        .where(ProviderAccount.id == account.id,
               ProviderAccount.poll_not_before.is_(None) | (ProviderAccount.poll_not_before <= now))
        .values(poll_not_before=now + interval)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    allowed = chunks[:1] if taken else []
    for chunk in chunks[len(allowed):]:
        for message in chunk:
            message.due_at = now + interval
    session.commit()
    return allowed


def _poll_chunk(session, gate, account, provider, messages, now):
    try:
        reports = provider.statuses([Tracked(message.provider_message_id, message.recipient) for message in messages])
    except Exception as exc:  # a provider's odd answer must not stop polling for everyone else
        if isinstance(exc, ProviderError):
            gate.note(session, account.id, utcnow(), exc)
        delay = timedelta(minutes=2) if isinstance(exc, RetryLater) else timedelta(minutes=15)
        log = logger.warning if isinstance(exc, ProviderError) else logger.exception
        log("status poll at %s failed (%s): next try in %s", provider.kind, exc, delay)
        for message in messages:
            message.due_at = now + delay
        return 0
    gate.note(session, account.id, utcnow())
    session.commit()  # the account's row is not held while its messages are locked and worked on
    by_id = {report.provider_id: report for report in reports}
    changed = 0
    # Re-read under lock: a receipt may have moved a message while we waited for the provider.
    for message in lock_rows(session, Message, Message.id.in_([m.id for m in messages])):
        report = by_id.get(message.provider_message_id)
        if report is not None:
            changed += lifecycle.apply_status(message, report.status, report.raw,
                                              error_code=report.error_code, error_text=report.error_text)
        if message.state in MessageState.FINAL:
            continue
        age = now - message.created_at
        message.due_at = None if age >= POLL_GIVE_UP else now + next_poll_delay(age)
    return changed


# ---------------------------------------------------------------- receipts pushed by providers
def apply_receipts(session, account, reports, now, message_key=None):
    """Statuses a provider pushed for `account`'s messages. Never backwards (the state machine sees to it); an
    unreadable status makes the message due for polling at once. `message_key`: our key for the message, which
    per-message receipt URLs carry; it settles a send whose answer was lost. Returns (matched, changed)."""
    matched = changed = 0
    for report in reports:
        rows = lock_rows(session, Message, Message.account_id == account.id,
                         Message.provider_message_id == report.provider_id)
        if not rows and message_key and len(reports) == 1:
            rows = _taken_after_all(session, account, message_key, report.provider_id, now)
        message = rows[0] if rows else None
        if message is None:
            # Not ours, or the send has not committed yet: polling will find the status.
            logger.info("receipt for unknown %s message %s ignored", account.kind, report.provider_id)
            continue
        matched += 1
        if lifecycle.apply_status(message, report.status, report.raw,
                                  error_code=report.error_code, error_text=report.error_text):
            changed += 1
        elif report.status == UNKNOWN and message.state in MessageState.POLLED:
            message.due_at = now
        session.commit()
    session.commit()  # also ends the lock a receipt for an unknown message took
    return matched, changed


def _chunks(items, size):
    iterator = iter(items)
    while chunk := list(islice(iterator, max(1, size))):
        yield chunk


def _taken_after_all(session, account, message_key, provider_id, now):
    """The message named by a receipt URL, if its send to `account` was left unsettled: it waits to learn whether
    the provider took it, or it was given up there after a lost answer and waits to be sent elsewhere. The
    provider did take it, so it is that provider's (a send elsewhere under way, or done, is left alone)."""
    rows = lock_rows(session, Message, Message.provider_key == str(message_key)[:40],
                     Message.portal_id == account.portal_id)
    taken = [message for message in rows
             if (message.state == MessageState.RECONCILING and message.account_id == account.id)
             or (message.state in (MessageState.RECONCILING, *MessageState.TO_SEND)
                 and failover.was_given_up(message.attempt_log, account.id))]
    for message in taken:
        logger.info("message %s: a receipt shows %s took it (%s)", message.id, account.kind, provider_id)
        lifecycle.taken_after_all(message, account, provider_id, now)
    return taken


# ---------------------------------------------------------------- reporting to Bitrix24
def claim_portals_to_report(session, now, limit=100):
    pending = select(Message.portal_id).where(Message.report_pending.is_(True)).distinct()
    portals = session.scalars(
        select(Portal)
        .where(Portal.id.in_(pending), Portal.state == PortalState.ACTIVE,
               Portal.report_not_before.is_(None) | (Portal.report_not_before <= now))
        .limit(limit).with_for_update(skip_locked=True)
    ).all()
    for portal in portals:
        portal.report_not_before = now + REPORT_LEASE
    session.commit()
    return portals


def report(db, session, settings, now, http=None):
    """One reporting pass over every portal with untold statuses. Returns how many statuses were reported."""
    reported = 0
    for portal in claim_portals_to_report(session, now):
        try:
            reported += report_portal(db, session, settings, portal, http=http)
        except Exception:  # one portal's surprise must not keep the others waiting; its lease runs out
            logger.exception("reporting for portal %s failed", portal.domain)
            session.rollback()
    return reported


def report_portal(db, session, settings, portal, http=None):
    client = rest_client(db, portal, settings, http)
    code = settings["SENDER_CODE"]
    reported, after_id, pause = 0, 0, None
    for _ in range(BATCHES_PER_PORTAL):
        messages = session.scalars(
            select(Message).where(Message.portal_id == portal.id, Message.report_pending.is_(True),
                                  Message.id > after_id)
            .order_by(Message.id).limit(BATCH_LIMIT)
        ).all()
        if not messages:
            break
        after_id = messages[-1].id
        commands = {f"m{m.id}": ("messageservice.message.status.update",
                                 {"CODE": code, "MESSAGE_ID": m.bitrix_message_id, "STATUS": m.status})
                    for m in messages}
        try:
            outcome = client.batch(commands)
        except RateLimited as exc:
            logger.info("portal %s: %s, pausing reports", portal.domain, exc.code)
            pause = REPORT_PAUSE
            break
        except AuthRevoked:
            break  # the portal is now needs_reauth; its statuses wait for the admin
        except BitrixError as exc:
            logger.warning("portal %s: status report failed: %s", portal.domain, exc)
            pause = REPORT_PAUSE
            break
        done = [m for m in messages if f"m{m.id}" in outcome.results]
        for m in messages:
            error = outcome.errors.get(f"m{m.id}")
            if error is not None and error.code in UNREPORTABLE:
                logger.warning("portal %s: message %s cannot be reported: %s", portal.domain,
                               m.bitrix_message_id, error)
                done.append(m)
        _mark_reported(session, done)
        reported += len(done)
        if not done:
            pause = REPORT_PAUSE  # every command failed: don't hammer the portal
            break
    session.execute(update(Portal).where(Portal.id == portal.id)
                    .values(report_not_before=utcnow() + pause if pause else None))
    session.commit()
    return reported


def _mark_reported(session, messages):
    now = utcnow()
    by_status = defaultdict(list)
    for message in messages:
        by_status[message.status].append(message.id)
    for status, ids in by_status.items():
        # Only rows whose status is still the one we reported: a change that came meanwhile stays pending.
        session.execute(
            update(Message).where(Message.id.in_(ids), Message.status == status)
            .values(reported_status=status, report_pending=False, reported_at=now)
            .execution_options(synchronize_session=False)
        )
    session.commit()
