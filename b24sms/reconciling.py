"""Reconciliation: a provider call whose answer was lost may have gone through, so the message is never simply
sent again. The provider is asked by our key (where it can be asked) before anything else happens."""
import logging
from datetime import timedelta

from sqlalchemy import select

from . import failover, lifecycle, providers
from .models import Message, MessageState
from .providers.base import CannotTell, ProviderError
from .sending import FIRST_POLL_DELAY, SENDING_LEASE, outgoing

logger = logging.getLogger(__name__)

# After a lost answer, asking failed: ask again this much later.
RECONCILE_RETRY = timedelta(minutes=2)
# Where the provider cannot be asked, wait this long for a receipt to name the message, then report it failed.
RECONCILE_WINDOW = timedelta(minutes=30)
# Where it can be asked but keeps failing to answer, give up after this long.
RECONCILE_GIVE_UP = timedelta(hours=24)


def reconcile_due(session, settings, now, http=None):
    """Ask providers about messages whose send may have gone through. Returns how many were settled."""
    messages = session.scalars(
        select(Message).where(Message.state == MessageState.RECONCILING, Message.due_at <= now)
        .order_by(Message.due_at).limit(200).with_for_update(skip_locked=True)
    ).all()
    for message in messages:  # claimed: other runners skip them until the lease ends
        message.due_at = now + SENDING_LEASE
    session.commit()
    settled = 0
    for message in messages:
        settled += _reconcile(message, settings, now, http)
        session.commit()
    return settled


def _reconcile(message, settings, now, http):
    if message.account is None:  # cannot happen while accounts are only retired; never resend blindly
        lifecycle.fail(message, "outcome_unknown", "The provider account that was sent the message is gone.")
        return 1
    provider = providers.for_account(message.account, settings, http=http)
    lost_at = failover.last_call_at(message.attempt_log) or message.updated_at
    try:
        found = provider.find_sent(outgoing(message, message.account, settings, provider))
    except CannotTell:
        if now - lost_at < RECONCILE_WINDOW:
            message.due_at = lost_at + RECONCILE_WINDOW  # a receipt naming the message may still come
            return 0
        lifecycle.fail(message, "outcome_unknown",
                       f"{provider.title} was sent the message but its answer was lost, and it cannot be asked "
                       "whether it took it; the message is not sent again to avoid a duplicate.")
        return 1
    except ProviderError as exc:
        if now - lost_at >= RECONCILE_GIVE_UP:
            lifecycle.fail(message, "outcome_unknown",
                           f"{provider.title} could not be asked whether it took the message: {exc}")
            return 1
        message.due_at = now + RECONCILE_RETRY
        logger.info("message %s: reconciliation at %s failed (%s), again later", message.id, provider.kind, exc)
        return 0
    if found is None:  # the provider never took it: send again, to the same account first
        message.state, message.due_at = MessageState.RETRY_WAIT, now
        message.error_code = message.error_text = None
        logger.info("message %s: %s does not have it, sending again", message.id, provider.kind)
    else:
        lifecycle.accept(message, found.provider_id, found.status, found.raw, now + FIRST_POLL_DELAY)
        logger.info("message %s: %s had it after all (%s)", message.id, provider.kind, found.provider_id)
    return 1
