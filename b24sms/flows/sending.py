"""Sending: store first, send once, fail over along the chain, retry transient failures with backoff.

Only the holder of a message's claim (b24sms/store/claims.py, state `sending`) calls a provider for it, so it is never
sent twice; a runner whose lease was taken over meanwhile writes nothing (every ORM write of a message is
fenced by its lease token). Messages going to the same provider account at the same moment go together, as
many per request as the provider takes (`sends_per_request`).
"""
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy import select

from b24sms import providers
from b24sms.bitrix import notices
from b24sms.flows import guards, provider_health
from b24sms.flows.pausing import NOT_PAUSED
from b24sms.flows.workers import chunks
from b24sms.providers.base import PER_MESSAGE, AnswerLost, Outgoing, ProviderError
from b24sms.rules import failover, lifecycle
from b24sms.rules.lifecycle import MessageState
from b24sms.rules.replies import answer_from
from b24sms.services import Services
from b24sms.store import callback_urls, claims
from b24sms.store.db import one_of
from b24sms.store.models import Message, Portal, PortalState, utcnow

logger = logging.getLogger(__name__)

# How long a runner may take over one round of provider calls before its messages count as stuck.
SENDING_LEASE = timedelta(minutes=5)
FIRST_POLL_DELAY = timedelta(seconds=30)
RETRY_BASE = timedelta(seconds=60)
RETRY_CAP = timedelta(hours=1)
CLAIM_BATCH = 1000  # messages one claim takes: memory stays flat whatever the backlog
RECOVERY_LEASE = timedelta(minutes=1)
# A send round works on plain records of these columns (not ORM objects) and writes these back in one
# executemany per batch: a campaign's batch of 200 is two statements, not four hundred.
SEND_WRITES = tuple(dict.fromkeys(("account_id", "provider", "attempts", "attempt_log", "updated_at",
                                   "provider_message_id", "possible_duplicate", *lifecycle.STATUS_COLUMNS)))
SEND_COLUMNS = tuple(getattr(Message, name) for name in (
    "id", "portal_id", "provider_key", "recipient", "body", "sender", "origin", "report_to_bitrix", *SEND_WRITES))


# ---------------------------------------------------------------- claims
INSTALLED = Message.portal_id.in_(select(Portal.id).where(Portal.state != PortalState.UNINSTALLED))
# A paused portal's messages wait where they are (received, retry_wait): no claim to send takes them
# (pausing.NOT_PAUSED).


def claim_named(session, message_ids, now):
    """Claim the named messages that still wait for their first send (the web process's sender, a test SMS)."""
    return claims.claim_ids(session, claims.MESSAGES, message_ids,
                            (Message.state == MessageState.RECEIVED, NOT_PAUSED),
                            now=now, lease=SENDING_LEASE, values=lifecycle.claimed_to_send(now))


def claim_due(session, portal_id, now, limit=CLAIM_BATCH):
    """Claim the portal's messages whose (re)try is due."""
    return claims.claim(session, claims.MESSAGES,
                        (Message.portal_id == portal_id, Message.state.in_(MessageState.TO_SEND), NOT_PAUSED),
                        now=now, lease=SENDING_LEASE, limit=limit, values=lifecycle.claimed_to_send(now))


# ---------------------------------------------------------------- sending
def send(services: Services, session, message_id):
    """Send one stored message if this runner can claim it (a test SMS). Returns the message as it is then."""
    claim = claim_named(session, [message_id], utcnow())
    if claim.ids:
        send_held(services, session, claim, provider_health.PassGate())
    return session.get(Message, message_id, populate_existing=True)


def send_held(services: Services, session, claim, gate):
    """Send the messages of `claim` along their portals' failover chains. Returns them (as plain records), or
    none when the lease was lost meanwhile.

    `gate`: the job pass's PassGate (elsewhere a new one); an account closed in it (it timed out in this pass) is
    not called again in this pass: its messages are left due for the next one."""
    messages = claims.held(session, claims.MESSAGES, claim, columns=SEND_COLUMNS)
    portals = {portal.id: portal for portal in session.scalars(
        select(Portal).where(Portal.id.in_({m.portal_id for m in messages})))}
    for message in messages:
        message.portal = portals[message.portal_id]
    # ---- guard rails hook (issue 20): stop list, quiet hours, caps and repeats decide before any provider call;
    # the held and refused messages are written (and committed) by admit, only the rest go on to the round.
    to_send = guards.admit(session, claim, messages, utcnow())
    # ---- end of the guard rails hook
    try:
        _Round(services, session, gate, claim).run(to_send)
    except LeaseLost:  # another runner took the messages over: their fate is its to write
        session.rollback()
        logger.warning("a send round lost its lease on %d messages; their new holder settles them", len(messages))
        return []
    return messages


class LeaseLost(Exception):
    """A write of the round found some of its messages held by another runner now."""


@dataclass
class _Way:
    """One message's way along its chain in this round: where the last call failed, and how."""

    message: Message
    failed_id: int | None = None
    error: ProviderError | None = None


class _Round:
    def __init__(self, services, session, gate, claim):
        self.services, self.session, self.gate, self.claim = services, session, gate, claim
        self.max_attempts = services.settings.send_max_attempts
        self.unsaved = []  # messages settled without a call (a wait, a failure, a closed gate): saved at the end

    def save(self, messages):
        """Write the messages back (one executemany, each row only while the claim holds it) and commit."""
        for message in messages:
            message.updated_at = utcnow()
        written = claims.write_held(self.session, claims.MESSAGES, self.claim, messages, SEND_WRITES)
        if written != len(messages):
            raise LeaseLost()
        self.session.commit()

    def run(self, messages):
        accounts = {a.id: a for m in messages for a in m.portal.active_accounts}
        self.skipped = provider_health.skips(self.session, list(accounts.values()), utcnow())
        ways = [_Way(message) for message in messages]
        while ways:  # each turn calls every account once per batch; failed messages go on to the next account
            by_account = defaultdict(list)
            for way in ways:
                account = self._route(way)
                if account is not None:
                    by_account[account.id].append((account, way))
            ways = []
            for group in by_account.values():
                ways += self._call_account(group[0][0], [way for _, way in group])
        self.save(self.unsaved)  # the others were written with their provider call

    def _route(self, way):
        """The account to call for the message now, or None when it is settled for this round."""
        message, chain = way.message, way.message.portal.active_accounts
        log = message.attempt_log or []
        if way.failed_id is None:
            route = failover.first_route(chain, log, self.max_attempts, message.account_id, self.skipped)
        else:
            route = failover.next_route(chain, log, self.max_attempts, way.failed_id, self.skipped)
        if route.passed_over:
            message.attempt_log = failover.passed_over(log, route.passed_over, utcnow())
        account = route.account
        if account is None:
            _no_account(message, chain, route, self.skipped, way.failed_id is not None)
        elif route.wait:
            message.account_id, message.provider = account.id, account.kind
            lifecycle.retry_at(message, utcnow() + backoff(failover.transient_failures(message.attempt_log,
                                                                                       account.id)))
            logger.info("message %s: %s; next try at %s via %s", message.id, way.error, message.due_at,
                        account.kind)
        elif self.gate.is_closed(account.id):  # it timed out in this pass: leave the message to the next pass
            message.account_id, message.provider = account.id, account.kind
            lifecycle.retry_at(message, utcnow())
        else:
            if way.error is not None:
                logger.info("message %s: %s; failing over to %s", message.id, way.error, account.kind)
            return account
        self.unsaved.append(message)
        return None

    def _call_account(self, account, ways):
        """Send `ways` through `account`, a batch per request. Returns the ways that go on to another account."""
        if not provider_health.take_call(self.session, account.id, utcnow()):  # another runner probes it now
            self.skipped[account.id] = utcnow() + provider_health.PROBE_EVERY
            return ways
        provider = providers.for_account(account, self.services.settings, self.services.http)
        onward = []
        for batch in chunks(ways, provider.sends_per_request):
            if self.gate.is_closed(account.id):  # it timed out on an earlier batch: the rest wait for the next pass
                for way in batch:
                    lifecycle.retry_at(way.message, utcnow())
                    self.unsaved.append(way.message)
                continue
            for way, error in zip(batch, self._attempt(account, provider, [way.message for way in batch])):
                if error is None:
                    continue
                message = way.message
                if isinstance(error, AnswerLost):  # the provider may have it: another send could be a duplicate
                    lifecycle.await_reconciliation(message, utcnow())
                elif not error.fails_over:  # the number or the text is the problem: no provider will do better
                    lifecycle.fail(message, message.error_code, error.text)
                    logger.info("message %s failed: %s", message.id, error)
                else:
                    way.failed_id, way.error = account.id, error
                    onward.append(way)
            self.save([way.message for way in batch])
        return onward

    def _attempt(self, account, provider, messages):
        """One provider request for `messages`. Returns, per message, None (taken) or the ProviderError."""
        for message in messages:  # committed before the call: recovery then knows which provider was asked
            message.account_id, message.provider = account.id, account.kind
            message.attempts += 1
            message.attempt_log = failover.started(message.attempt_log, account, utcnow())
        self.save(messages)  # raises LeaseLost, and then nothing is called
        outgoing_ = [outgoing(message, account, self.services.settings, provider) for message in messages]
        try:
            results = provider.send_many(outgoing_) if len(outgoing_) > 1 else [provider.send(outgoing_[0])]
        except ProviderError as exc:
            self.gate.note(self.session, account.id, utcnow(), exc)
            results = [exc] * len(messages)
        else:
            self.gate.note(self.session, account.id, utcnow())
        notices.note_refusal(self.session, account, results)  # the portal's admins hear of refused credentials
        errors = []
        for message, result in zip(messages, results):
            if isinstance(result, ProviderError):
                message.attempt_log = failover.settled(message.attempt_log, utcnow(), result)
                message.error_code = (f"{result.kind}:{result.code}" if result.code else result.kind)[:64]
                message.error_text = result.text
                errors.append(result)
            else:
                message.attempt_log = failover.settled(message.attempt_log, utcnow())
                lifecycle.accept(message, result.provider_id, result.status, result.raw, utcnow() + FIRST_POLL_DELAY,
                                 result.cost, result.currency)
                errors.append(None)
        return errors


def _no_account(message, chain, route, skipped, after_a_failure):
    if route.held:  # every account that could take it hangs: wait for the first one to be probed again
        resume_at = min(skipped[account.id] for account in route.passed_over)
        lifecycle.retry_at(message, resume_at + timedelta(seconds=random.uniform(0, 15)))
        logger.info("message %s: every provider of the chain is skipped; next try at %s", message.id,
                    message.due_at)
    elif after_a_failure:
        lifecycle.fail(message, message.error_code, message.error_text)
        logger.info("message %s failed, no provider left: %s", message.id, message.error_text)
    elif not chain:
        lifecycle.fail(message, "no_provider", "No SMS provider is configured for this portal.")
    else:  # every provider of the chain refused it or ran out of attempts before
        lifecycle.fail(message, message.error_code or "no_provider", message.error_text or "No provider is left.")


def outgoing(message, account, settings, provider):
    """The message as a provider sends it: with the sender name it asked for (a handler call's `code`, a test
    SMS), or an operator's answer from the reply number the client wrote to (where the provider needs a
    from-number), else the account's own sender. Per-message receipt URLs name the message, so that a receipt
    can settle a send whose answer was lost."""
    callback_url = None
    if provider.receipts == PER_MESSAGE and account.callback_secret:
        callback_url = f"{callback_urls.url_for(settings.public_url, account)}?m={message.provider_key}"
    takes_name = message.sender and provider.sends_with_sender_names()
    sender = answer_from(message.origin, account.id, provider.needs_from_number) or \
        (message.sender if takes_name else account.sender)
    return Outgoing(key=message.provider_key, phone=message.recipient, text=message.body, sender=sender,
                    callback_url=callback_url)


def backoff(attempts):
    """Exponential with full jitter over the upper half: 1, 2, 4 ... minutes, capped at an hour."""
    ceiling = min(RETRY_CAP, RETRY_BASE * (2 ** max(0, attempts - 1)))
    return ceiling * (0.5 + random.random() / 2)


# ---------------------------------------------------------------- the job's duties
def send_due(services: Services, workers, gate):
    """Every stored message whose (re)try is due: claimed across portals, CLAIM_BATCH at a time in one claim,
    each portal's sent along its chain, portals in parallel. Returns how many were settled (not left waiting for
    a retry). A provider that times out is not called again in this pass."""
    started, settled = utcnow(), 0  # only what was due when this began: a retry set for "now" waits its turn
    while not workers.out_of_time():
        with services.db.session() as session:
            claim = claims.claim(
                session, claims.MESSAGES, (Message.state.in_(MessageState.TO_SEND), NOT_PAUSED, INSTALLED),
                now=started, lease=SENDING_LEASE, limit=CLAIM_BATCH, values=lifecycle.claimed_to_send(started))
            by_portal = defaultdict(list)
            for message_id, portal_id in session.execute(select(Message.id, Message.portal_id)
                                                         .where(one_of(session, Message.id, claim.ids))):
                by_portal[portal_id].append(message_id)
        if not claim.ids:
            break
        settled = workers.map(by_portal, partial(_send_share, services, gate, claim, by_portal), start=settled)
    return settled


def _send_share(services, gate, claim, by_portal, session, portal_id):
    """Send one portal's share of a claim (the claim's token holds its messages). How many were settled."""
    share = claims.Claim(claim.token, tuple(by_portal[portal_id]))
    return sum(m.state != MessageState.RETRY_WAIT for m in send_held(services, session, share, gate))


def recover_stuck(workers):
    """Messages whose runner died mid-send (lease over). A provider call that was under way may have gone
    through: those are reconciled (the provider is asked before anything is sent again); the rest are retried.
    The claim takes the lease over, so the runner that lost it cannot write over this."""
    recovered = 0
    with workers.db.session() as session:
        while not workers.out_of_time():
            now = utcnow()
            claim = claims.claim(session, claims.MESSAGES, (Message.state == MessageState.SENDING,), now=now,
                                 lease=RECOVERY_LEASE, limit=CLAIM_BATCH)
            if not claim.ids:
                break
            for message in claims.held(session, claims.MESSAGES, claim):
                account_id = failover.in_flight(message.attempt_log)
                if account_id is None:  # no provider was called: nothing went out
                    lifecycle.retry_at(message, now)
                else:
                    message.attempt_log = failover.settled(message.attempt_log, now,
                                                           AnswerLost("the runner stopped mid-call"))
                    message.account_id = account_id
                    lifecycle.await_reconciliation(message, now - lifecycle.RECONCILE_DELAY)
                logger.warning("message %s was stuck in sending: now %s", message.id, message.state)
                recovered += 1
            session.commit()
    return recovered
