"""Reconciliation: a provider call whose answer was lost may have gone through, so the message is never simply
sent again. The provider is asked by our key (where it can be asked) before anything else happens.

A provider that still cannot be asked RECONCILE_FAILOVER_AFTER seconds after the lost answer (it keeps failing
or hanging, or it offers no way to ask and no receipt came) is given up for that message, which moves on along
the failover chain, marked a possible duplicate. With no other provider left in the chain it is never sent
again: it fails `outcome_unknown` (after RECONCILE_WINDOW where the provider cannot be asked at all, after
RECONCILE_GIVE_UP where asking keeps failing).
"""
import logging
from datetime import timedelta

from sqlalchemy import select

from . import failover, lifecycle, providers
from .models import Message, MessageState, utcnow
from .providers.base import CannotTell, ProviderError
from .sending import FIRST_POLL_DELAY, SENDING_LEASE, outgoing

logger = logging.getLogger(__name__)

# After a lost answer, asking failed: ask again this much later.
RECONCILE_RETRY = timedelta(minutes=2)
# Where the provider cannot be asked and no other provider is left: wait this long for a receipt to name the
# message, then report it failed.
RECONCILE_WINDOW = timedelta(minutes=30)
# Where it can be asked but keeps failing to answer and no other provider is left: give up after this long.
RECONCILE_GIVE_UP = timedelta(hours=24)


def reconcile_due(session, settings, now, http, gate):
    """Ask providers about messages whose send may have gone through. Returns how many were settled (found,
    found missing, moved on along the chain, or failed)."""
    messages = session.scalars(
        select(Message).where(Message.state == MessageState.RECONCILING, Message.due_at <= now)
        .order_by(Message.due_at).limit(200).with_for_update(skip_locked=True)
    ).all()
    for message in messages:  # claimed: other runners skip them until the lease ends
        message.due_at = now + SENDING_LEASE
    session.commit()
    settled = 0
    for message in messages:
        settled += _reconcile(session, message, settings, now, http, gate)
        session.commit()
    return settled


def _reconcile(session, message, settings, now, http, gate):
    account = message.account
    if account is None:  # cannot happen while accounts are only retired; never resend blindly
        lifecycle.fail(message, "outcome_unknown", "The provider account that was sent the message is gone.")
        return 1
    provider = providers.for_account(account, settings, http=http)
    lost_at = failover.last_call_at(message.attempt_log) or message.updated_at
    give_up_at = lost_at + timedelta(seconds=settings["RECONCILE_FAILOVER_AFTER"])
    if not provider.can_be_asked:
        return _await_receipt(message, settings, provider, now, lost_at, give_up_at)
    if not gate.may_call(session, account.id, now):  # it hangs: not asked in this pass
        return _unanswered(message, settings, provider, now, lost_at, give_up_at, "it does not answer")
    try:
        found = provider.find_sent(outgoing(message, account, settings, provider))
    except CannotTell:
        return _await_receipt(message, settings, provider, now, lost_at, give_up_at)
    except ProviderError as exc:
        gate.note(session, account.id, utcnow(), exc)
        logger.info("message %s: reconciliation at %s failed (%s)", message.id, provider.kind, exc)
        return _unanswered(message, settings, provider, now, lost_at, give_up_at, str(exc))
    gate.note(session, account.id, utcnow())
    if found is None:  # the provider never took it: send again, to the same account first
        lifecycle.retry_at(message, now)
        message.error_code = message.error_text = None
        logger.info("message %s: %s does not have it, sending again", message.id, provider.kind)
    else:
        lifecycle.accept(message, found.provider_id, found.status, found.raw, now + FIRST_POLL_DELAY)
        logger.info("message %s: %s had it after all (%s)", message.id, provider.kind, found.provider_id)
    return 1


def _await_receipt(message, settings, provider, now, lost_at, give_up_at):
    """The provider offers no way to ask: only a receipt naming the message can tell (statuses settles it)."""
    if now >= give_up_at and _move_on(message, settings, now, "cannot_ask",
                                      f"{provider.title} cannot be asked whether it took the message"):
        return 1
    if _route_without_it(message, settings, now)[1].account is not None:
        message.due_at = give_up_at  # a receipt naming the message may still come until then
        return 0
    if now - lost_at >= RECONCILE_WINDOW:
        lifecycle.fail(message, "outcome_unknown",
                       f"{provider.title} was sent the message but its answer was lost, and it cannot be asked "
                       "whether it took it; the message is not sent again to avoid a duplicate.")
        return 1
    message.due_at = lost_at + RECONCILE_WINDOW
    return 0


def _unanswered(message, settings, provider, now, lost_at, give_up_at, why):
    """The provider can be asked, but asking failed (or it hangs): ask again later, or give it up."""
    if now >= give_up_at and _move_on(message, settings, now, "no_answer",
                                      f"{provider.title} could not be asked whether it took the message ({why})"):
        return 1
    if now - lost_at >= RECONCILE_GIVE_UP:
        lifecycle.fail(message, "outcome_unknown",
                       f"{provider.title} could not be asked whether it took the message: {why}")
        return 1
    message.due_at = now + RECONCILE_RETRY
    if give_up_at > now:
        message.due_at = min(message.due_at, give_up_at)
    return 0


def _route_without_it(message, settings, now, reason=""):
    """(the log with the message's provider given up, where the message would go then). Health is left to the
    send flow: a skipped account still counts as somewhere to go."""
    log = failover.given_up(message.attempt_log, message.account, now, reason)
    route = failover.next_route(message.portal.active_accounts, log, settings["SEND_MAX_ATTEMPTS"],
                                message.account_id)
    return log, route


def _move_on(message, settings, now, reason, text):
    """Give the provider up for this message and hand it to the next one in the chain, at once; False (nothing
    changed) when no other provider is left."""
    given_up = message.account
    log, route = _route_without_it(message, settings, now, reason)
    if route.account is None:
        return False
    message.attempt_log = log
    message.account, message.provider = route.account, route.account.kind
    lifecycle.move_on(message, now, f"{text}; sent on through {route.account.kind}, so it may arrive twice.")
    logger.warning("message %s: %s given up after its answer was lost, on to %s (possible duplicate)",
                   message.id, given_up.kind, route.account.kind)
    return True
