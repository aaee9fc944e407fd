"""Reconciliation: a provider call whose answer was lost may have gone through, so the message is never simply
sent again. The provider is asked by our key (where it can be asked) before anything else happens.

A provider without a client id answers with the messages it lists alike (LookAlikes): which one is ours is
decided by one rule for all of them (b24sms/flows/content_matching.py). Reconciling a paused portal's messages waits,
as sending does (pausing.NOT_PAUSED in the claim): asking some providers is sending again under the same key.

A provider that still cannot be asked RECONCILE_FAILOVER_AFTER seconds after the lost answer (it keeps failing
or hanging, or it offers no way to ask and no receipt came) is given up for that message, which moves on along
the failover chain, marked a possible duplicate. With no other provider left in the chain it is never sent
again: it fails `outcome_unknown` (after RECONCILE_WINDOW where the provider cannot be asked at all, after
RECONCILE_GIVE_UP where asking keeps failing).
"""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from b24sms import providers
from b24sms.flows import content_matching
from b24sms.flows.pausing import NOT_PAUSED
from b24sms.flows.sending import CLAIM_BATCH, FIRST_POLL_DELAY, SENDING_LEASE, outgoing
from b24sms.flows.workers import NotCalled
from b24sms.providers.base import CannotTell, LookAlikes, ProviderError
from b24sms.rules import failover, lifecycle
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store import claims
from b24sms.store.models import Message, utcnow

logger = logging.getLogger(__name__)

# After a lost answer, asking failed: ask again this much later.
RECONCILE_RETRY = timedelta(minutes=2)
# Where the provider cannot be asked and no other provider is left: wait this long for a receipt to name the
# message, then report it failed.
RECONCILE_WINDOW = timedelta(minutes=30)
# Where it can be asked but keeps failing to answer and no other provider is left: give up after this long.
RECONCILE_GIVE_UP = timedelta(hours=24)
CALLS_PER_ACCOUNT = 4  # providers asked about one message per request: this many requests at once


def accounts_due_reconciling(session, now):
    return session.scalars(select(Message.account_id).where(Message.state == MessageState.RECONCILING,
                                                            Message.due_at <= now, NOT_PAUSED).distinct()).all()


def reconcile_due(services: Services, workers, gate):
    """Ask providers about messages whose send may have gone through, accounts in parallel. Returns how many
    were settled (found, found missing, moved on along the chain, or failed)."""
    with services.db.session() as session:
        account_ids = accounts_due_reconciling(session, utcnow())
    return workers.map(account_ids, lambda session, account_id: _reconcile_account(
        services, workers, gate, session, account_id))


def _reconcile_account(services, workers, gate, session, account_id):
    started, settled = utcnow(), 0  # only what was due when this began
    while not workers.out_of_time():
        claim = claims.claim(session, claims.MESSAGES,
                             (Message.account_id == account_id, Message.state == MessageState.RECONCILING,
                              NOT_PAUSED),
                             now=started, lease=SENDING_LEASE, limit=CLAIM_BATCH)
        if not claim.ids:
            break
        messages = claims.held(session, claims.MESSAGES, claim)
        try:
            settled += _reconcile_claimed(services, workers, gate, session, messages)
            session.commit()
        except StaleDataError:  # another runner took them over
            session.rollback()
    return settled


def _reconcile_claimed(services, workers, gate, session, messages):
    """Decide for each message whether the provider is asked now; ask those (a few at a time); settle all."""
    account = messages[0].account
    if account is None:  # cannot happen while accounts are only retired; never resend blindly
        for message in messages:
            lifecycle.fail(message, "outcome_unknown", "The provider account that was sent the message is gone.")
        return len(messages)
    provider = providers.for_account(account, services.settings, services.http)
    asking = _Asking(session, services.settings, provider, gate, utcnow())
    settled, to_ask = 0, []
    for message in messages:
        lost = asking.lost(message)
        if not provider.can_be_asked:
            settled += asking.await_receipt(lost)
        elif not gate.may_call(session, account.id, asking.now):  # it hangs: not asked in this pass
            settled += asking.unanswered(lost, "it does not answer")
        else:
            to_ask.append(lost)
    session.commit()  # no transaction stays open across the provider calls
    answers = workers.call_each([outgoing(lost.message, account, services.settings, provider) for lost in to_ask],
                                provider.find_sent, CALLS_PER_ACCOUNT,
                                stop=gate.halts(account.id))
    for lost, found in zip(to_ask, answers):
        settled += asking.settle(lost, found)
    return settled


@dataclass(frozen=True)
class _Lost:
    """A message whose answer was lost `at` then; its provider is given up for it at `give_up_at`."""

    message: Message
    at: datetime
    give_up_at: datetime


class _Asking:
    """One claim's messages of one account (`provider`), settled by what the provider says of each, at `now`."""

    def __init__(self, session, settings, provider, gate, now):
        self.session, self.provider, self.gate, self.now = session, provider, gate, now
        self.max_attempts = settings.send_max_attempts
        self.failover_after = timedelta(seconds=settings.reconcile_failover_after)

    def lost(self, message):
        at = failover.last_call_at(message.attempt_log) or message.updated_at
        return _Lost(message, at, at + self.failover_after)

    def settle(self, lost, found):
        """Act on what the provider said of one message: it has it, it has not, or asking failed."""
        message, provider = lost.message, self.provider
        if isinstance(found, LookAlikes):
            found = content_matching.decide(self.session, message, found, provider.title)
        if isinstance(found, NotCalled):
            return self.unanswered(lost, "it does not answer")
        if isinstance(found, CannotTell):
            return self.await_receipt(lost)
        if isinstance(found, ProviderError):
            self.gate.note(self.session, message.account_id, utcnow(), found)
            logger.info("message %s: reconciliation at %s failed (%s)", message.id, provider.kind, found)
            return self.unanswered(lost, str(found))
        if isinstance(found, Exception):  # a bug of ours or an odd answer: ask again later, never resend blindly
            logger.error("message %s: reconciliation at %s raised %r", message.id, provider.kind, found)
            return self.unanswered(lost, type(found).__name__)
        self.gate.note(self.session, message.account_id, utcnow())
        if found is None:  # the provider never took it: send again, to the same account first
            lifecycle.retry_at(message, self.now)
            message.error_code = message.error_text = None
            logger.info("message %s: %s does not have it, sending again", message.id, provider.kind)
        else:
            lifecycle.accept(message, found.provider_id, found.status, found.raw, self.now + FIRST_POLL_DELAY,
                             getattr(found, "cost", None), getattr(found, "currency", None))
            logger.info("message %s: %s had it after all (%s)", message.id, provider.kind, found.provider_id)
        return 1

    def await_receipt(self, lost):
        """The provider offers no way to ask: only a receipt naming the message can tell (statuses settles it)."""
        message, now, title = lost.message, self.now, self.provider.title
        if now >= lost.give_up_at and self._move_on(message, "cannot_ask",
                                                    f"{title} cannot be asked whether it took the message"):
            return 1
        if self._route_without_it(message)[1].account is not None:
            message.due_at = lost.give_up_at  # a receipt naming the message may still come until then
            return 0
        if now - lost.at >= RECONCILE_WINDOW:
            lifecycle.fail(message, "outcome_unknown",
                           f"{title} was sent the message but its answer was lost, and it cannot be asked "
                           "whether it took it; the message is not sent again to avoid a duplicate.")
            return 1
        message.due_at = lost.at + RECONCILE_WINDOW
        return 0

    def unanswered(self, lost, why):
        """The provider can be asked, but asking failed (or it hangs): ask again later, or give it up."""
        message, now, title = lost.message, self.now, self.provider.title
        if now >= lost.give_up_at and self._move_on(message, "no_answer",
                                                    f"{title} could not be asked whether it took the message ({why})"):
            return 1
        if now - lost.at >= RECONCILE_GIVE_UP:
            lifecycle.fail(message, "outcome_unknown", f"{title} could not be asked whether it took the message: {why}")
            return 1
        message.due_at = now + RECONCILE_RETRY
        if lost.give_up_at > now:
            message.due_at = min(message.due_at, lost.give_up_at)
        return 0

    def _route_without_it(self, message, reason=""):
        """(the log with the message's provider given up, where the message would go then). Health is left to the
        send flow: a skipped account still counts as somewhere to go."""
        log = failover.given_up(message.attempt_log, message.account, self.now, reason)
        route = failover.next_route(message.portal.active_accounts, log, self.max_attempts, message.account_id)
        return log, route

    def _move_on(self, message, reason, text):
        """Give the provider up for this message and hand it to the next one in the chain, at once; False (nothing
        changed) when no other provider is left."""
        given_up = message.account
        log, route = self._route_without_it(message, reason)
        if route.account is None:
            return False
        message.attempt_log = log
        message.account, message.provider = route.account, route.account.kind
        lifecycle.move_on(message, self.now, f"{text}; sent on through {route.account.kind}, so it may arrive twice.")
        logger.warning("message %s: %s given up after its answer was lost, on to %s (possible duplicate)",
                       message.id, given_up.kind, route.account.kind)
        return True
