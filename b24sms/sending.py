"""Sending: store first, send once, retry transient failures with backoff.

A message is written before any provider is called, and only the runner that moves it from `received` /
`retry_wait` to `sending` (one conditional UPDATE) may call the provider, so it is never sent twice.
"""
import logging
import random
from datetime import timedelta

from sqlalchemy import select, update

from . import callback_urls, failover, lifecycle, provider_health, providers
from .models import Message, MessageState, Portal, PortalState, utcnow
from .providers.base import PER_MESSAGE, AnswerLost, Outgoing, ProviderError

logger = logging.getLogger(__name__)

# How long a runner may take over one provider call before the message counts as stuck.
SENDING_LEASE = timedelta(minutes=5)
FIRST_POLL_DELAY = timedelta(seconds=30)
RETRY_BASE = timedelta(seconds=60)
RETRY_CAP = timedelta(hours=1)

def claim(session, message_id):
    """Take the message for one send attempt; False when another runner has it or it is not due."""
    now = utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state.in_(MessageState.TO_SEND))
        .values(state=MessageState.SENDING, due_at=now + SENDING_LEASE, updated_at=now)
    )
    session.commit()
    return result.rowcount == 1


def send(session, settings, message_id, http=None, gate=None):
    """Send a stored message if this runner can claim it, along the portal's failover chain. Returns it.

    `gate`: the job pass's PassGate; an account closed in it (it timed out in this pass) is not called again in
    this pass: the message is left due for the next one."""
    if not claim(session, message_id):
        return session.get(Message, message_id, populate_existing=True)
    message = session.get(Message, message_id, populate_existing=True)
    chain = message.portal.active_accounts
    max_attempts = settings["SEND_MAX_ATTEMPTS"]
    gate = gate or provider_health.PassGate()
    skipped = provider_health.skips(session, chain, utcnow())
    failed_id, error = None, None  # the account the last call failed at in this attempt, and how
    while True:
        log = message.attempt_log or []
        if failed_id is None:
            route = failover.first_route(chain, log, max_attempts, message.account_id, skipped)
        else:
            route = failover.next_route(chain, log, max_attempts, failed_id, skipped)
        if route.passed_over:
            message.attempt_log = failover.passed_over(log, route.passed_over, utcnow())
        account = route.account
        if account is None:
            _no_account(message, chain, route, skipped, failed_id is not None)
            break
        if route.wait:
            message.account_id, message.provider = account.id, account.kind
            lifecycle.retry_at(message, utcnow() + backoff(failover.transient_failures(message.attempt_log,
                                                                                       account.id)))
            logger.info("message %s: %s; next try at %s via %s", message.id, error, message.due_at, account.kind)
            break
        if error is not None:
            logger.info("message %s: %s; failing over to %s", message.id, error, account.kind)
        if gate.is_closed(account.id):  # it timed out in this pass: leave the message to the next pass
            message.account_id, message.provider = account.id, account.kind
            lifecycle.retry_at(message, utcnow())
            break
        if not provider_health.take_call(session, account.id, utcnow()):  # another runner probes it now
            skipped[account.id] = utcnow() + provider_health.PROBE_EVERY
            continue
        error = _attempt(session, settings, message, account, http, gate)
        if error is None:
            break
        if isinstance(error, AnswerLost):  # the provider may have it: another send could be a duplicate
            lifecycle.await_reconciliation(message, utcnow())
            break
        if not error.fails_over:  # the number or the text is the problem: no provider will do better
            lifecycle.fail(message, message.error_code, error.text)
            logger.info("message %s failed: %s", message.id, error)
            break
        failed_id = account.id
    session.commit()
    return message


def _no_account(message, chain, route, skipped, after_a_failure):
    if route.held:  # every account that could take it hangs: wait for the first one to be probed again
        resume_at = min(skipped[account.id] for account in route.passed_over)
        lifecycle.retry_at(message, resume_at + timedelta(seconds=random.uniform(0, 15)))
        logger.info("message %s: every provider of the chain is skipped; next try at %s", message.id,
                    message.due_at)
    elif after_a_failure:
        lifecycle.fail(message, message.error_code, message.error_text)
        logger.info("message %s failed, no provider left: %s", message.id, message.error_text)
    else:
        _fail_without_route(message, chain)


def _attempt(session, settings, message, account, http, gate):
    """One provider call. Returns None when the provider took the message, else the ProviderError."""
    # Committed before the call: if this runner dies mid-call, recovery knows which provider was asked.
    message.account_id, message.provider = account.id, account.kind
    message.attempts += 1
    message.attempt_log = failover.started(message.attempt_log, account, utcnow())
    session.commit()
    provider = providers.for_account(account, settings, http=http)
    try:
        accepted = provider.send(outgoing(message, account, settings, provider))
    except ProviderError as exc:
        gate.note(session, account.id, utcnow(), exc)
        message.attempt_log = failover.settled(message.attempt_log, utcnow(), exc)
        message.error_code = (f"{exc.kind}:{exc.code}" if exc.code else exc.kind)[:64]
        message.error_text = exc.text
        return exc
    gate.note(session, account.id, utcnow())
    message.attempt_log = failover.settled(message.attempt_log, utcnow())
    lifecycle.accept(message, accepted.provider_id, accepted.status, accepted.raw, utcnow() + FIRST_POLL_DELAY)
    return None


def outgoing(message, account, settings, provider):
    """The message as a provider sends it. Per-message receipt URLs name the message, so that a receipt can
    settle a send whose answer was lost."""
    callback_url = None
    if provider.receipts == PER_MESSAGE and account.callback_secret:
        callback_url = f"{callback_urls.url_for(settings, account)}?m={message.provider_key}"
    return Outgoing(key=message.provider_key, phone=message.recipient, text=message.body, sender=account.sender,
                    callback_url=callback_url)


def _fail_without_route(message, chain):
    if not chain:
        lifecycle.fail(message, "no_provider", "No SMS provider is configured for this portal.")
    else:  # every provider of the chain refused it or ran out of attempts before
        lifecycle.fail(message, message.error_code or "no_provider", message.error_text or "No provider is left.")


def backoff(attempts):
    """Exponential with full jitter over the upper half: 1, 2, 4 ... minutes, capped at an hour."""
    ceiling = min(RETRY_CAP, RETRY_BASE * (2 ** max(0, attempts - 1)))
    return ceiling * (0.5 + random.random() / 2)


def due_for_sending(session, now, limit=500):
    return session.scalars(
        select(Message.id).join(Portal)
        .where(Message.state.in_(MessageState.TO_SEND), Message.due_at <= now,
               Portal.state != PortalState.UNINSTALLED)
        .order_by(Message.due_at).limit(limit)
    ).all()


def recover_stuck(session, now):
    """Messages whose runner died mid-send (lease over). A provider call that was under way may have gone
    through: those are reconciled (the provider is asked before anything is sent again); the rest are retried."""
    stuck = session.scalars(
        select(Message).where(Message.state == MessageState.SENDING, Message.due_at <= now)
        .limit(500).with_for_update(skip_locked=True)
    ).all()
    for message in stuck:
        account_id = failover.in_flight(message.attempt_log)
        if account_id is None:  # no provider was called: nothing went out
            lifecycle.retry_at(message, now)
        else:
            message.attempt_log = failover.settled(message.attempt_log, now, AnswerLost("the runner stopped mid-call"))
            message.account_id = account_id
            lifecycle.await_reconciliation(message, now - lifecycle.RECONCILE_DELAY)
        logger.warning("message %s was stuck in sending: now %s", message.id, message.state)
    session.commit()
    return len(stuck)


def send_due(session, settings, now, http, gate):
    """The job's part: every stored message whose (re)try is due. Safe beside other runners (claims). A provider
    that times out is not called again in this pass, so other accounts' messages do not wait behind it."""
    sent = 0
    for message_id in due_for_sending(session, now):
        message = send(session, settings, message_id, http=http, gate=gate)
        sent += message is not None and message.state != MessageState.RETRY_WAIT
    return sent
