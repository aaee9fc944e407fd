"""Statuses: poll providers for messages not yet final (receipts that providers push are b24sms/flows/receipts.py).

Nearly every account is polled in bulk: one claim takes the due messages of many accounts (b24sms/store/claims.py),
each account's provider is asked as many per status request as it takes (accounts in parallel, each within its own
limit), and every answer is written back in one statement, only where the claim still holds the message. Accounts
with one status request per interval (SMSC) or whose calls hang are polled one by one. Reporting the changes to
Bitrix24 is b24sms/flows/reporting.py.
"""
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from b24sms import providers
from b24sms.bitrix import notices
from b24sms.flows import provider_health
from b24sms.flows.workers import DutyFailed, NotCalled, chunks
from b24sms.providers.base import ProviderError, RetryLater, Tracked
from b24sms.rules import lifecycle
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store import claims
from b24sms.store.models import Message, Portal, PortalState, ProviderAccount, utcnow

logger = logging.getLogger(__name__)

POLL_LEASE = timedelta(minutes=5)
POLL_GIVE_UP = timedelta(hours=72)  # a message with no final status by then is no longer polled
POLL_HUNG_DELAY = timedelta(minutes=2)  # messages of an account that hangs: polled again this much later
POSTPONE_BATCH = 1000  # messages of a hung account put off at once (nothing is loaded: ids only)
CLAIM_MIN = 100  # messages one polling claim takes at least (providers asked one message per request)
# What applying a polled status reads (lifecycle.apply_status works on these plain records as on messages).
POLL_COLUMNS = (Message.id, Message.account_id, Message.provider_message_id, Message.created_at, Message.state,
                Message.status, Message.report_to_bitrix, Message.report_pending, Message.provider_status,
                Message.error_code, Message.error_text, Message.due_at, Message.cost, Message.currency)
# Providers asked one message per request: this many requests to one account at once; bulk ones (Prostor: 200
# ids a request) get two, a claim's worth.
CALLS_PER_ACCOUNT = 4
BULK_CALLS_PER_ACCOUNT = 2


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


@dataclass(frozen=True)
class Polled:
    claimed: int = 0  # messages taken for polling (the job goes on while there are any)
    changed: int = 0  # of them, how many changed state

    def __add__(self, other):
        return Polled(self.claimed + other.claimed, self.changed + other.changed)


# Providers that allow one status request per interval (SMSC): their accounts are polled one by one, each taking its
# slot first. So are accounts whose calls hang (a probe decides whether to call them): the rest, nearly every
# account, are polled in bulk, many accounts per claim.
SLOTTED_KINDS = tuple(kind for kind, cls in providers.PROVIDERS.items() if cls.poll_interval)
POLL_SLICE = 2000  # messages one bulk claim takes, across accounts (a round's share: the next duty goes next)


def accounts_due_polling(session, now, closed=()):
    """The accounts with due messages that are polled one by one (see SLOTTED_KINDS); `closed`: accounts the pass
    closed (they timed out), whose due messages are put off."""
    special = ProviderAccount.kind.in_(SLOTTED_KINDS) | ProviderAccount.skip_until.is_not(None)
    if closed:
        special = special | ProviderAccount.id.in_(list(closed))
    return session.scalars(
        select(Message.account_id).join(Portal).join(ProviderAccount, ProviderAccount.id == Message.account_id)
        .where(Message.state.in_(MessageState.POLLED), Message.due_at <= now, special,
               Portal.state != PortalState.UNINSTALLED)
        .distinct()
    ).all()


def poll(services: Services, workers, gate):
    """One round of polling: a slice of due messages across accounts in bulk, then the accounts polled one by
    one."""
    polled = workers.in_lanes(lambda: poll_in_bulk(services, workers, gate))
    with services.db.session() as session:
        account_ids = accounts_due_polling(session, utcnow(), gate.closed)
    return workers.map(account_ids, lambda session, account_id: _poll_account(
        services, workers, gate, session, account_id), start=polled)


def poll_in_bulk(services: Services, workers, gate):
    """Claim up to POLL_SLICE due messages of many accounts in one claim, ask each account's provider (accounts
    in parallel, each within its own limit) and write every answer back in one statement."""
    if workers.out_of_time():
        return Polled()
    with services.db.session() as session:
        now = utcnow()
        where = [Message.state.in_(MessageState.POLLED), Message.account_id.is_not(None)]
        if gate.closed:
            where.append(Message.account_id.not_in(list(gate.closed)))
        claim = claims.claim(
            session, claims.MESSAGES, where, now=now, lease=POLL_LEASE, limit=POLL_SLICE,
            among=((Portal, Portal.id == Message.portal_id, Portal.state != PortalState.UNINSTALLED),
                   (ProviderAccount, ProviderAccount.id == Message.account_id,
                    ProviderAccount.kind.not_in(SLOTTED_KINDS), ProviderAccount.skip_until.is_(None))),
            columns=(Message.account_id, Message.provider_message_id, Message.recipient))
        if not claim.ids:
            return Polled()
        tracked = defaultdict(list)
        for m in claim.records:
            tracked[m.account_id].append((m.id, Tracked(m.provider_message_id, m.recipient)))
        known = workers.providers(session, tracked)
        session.commit()  # no transaction stays open across the provider calls

    def ask(account_id):
        provider = known[account_id][1]
        per_request = list(chunks(tracked[account_id], provider.statuses_per_request))
        one_by_one = provider.statuses_per_request == 1
        return list(zip(per_request, workers.call_each(
            [[t for _, t in chunk] for chunk in per_request], provider.statuses,
            CALLS_PER_ACCOUNT if one_by_one else BULK_CALLS_PER_ACCOUNT, stop=gate.halts(account_id),
            first_alone=one_by_one)))

    asked = workers.each(list(tracked), ask)
    with services.db.session() as session:
        changed = _apply_bulk(session, gate, known, claim, asked)
    failed = [account_id for account_id, outcome in asked.items() if isinstance(outcome, Exception)]
    if failed:
        raise DutyFailed(f"polling {len(failed)} of {len(asked)} accounts failed")
    return Polled(claimed=len(claim.ids), changed=changed)


def _apply_bulk(session, gate, known, claim, asked):
    """Write what every account's requests answered (an account whose work raised: its messages are tried again
    later). Returns how many messages changed state."""
    now = utcnow()
    answer_of, answered = {}, []
    reports = {}  # (account id, the provider's id) -> its report: ids are the provider's, not unique across accounts
    for account_id, outcome in asked.items():
        account, provider = known[account_id]
        if isinstance(outcome, Exception):
            logger.error("status poll of %s account %s failed: %r", account.kind, account_id, outcome)
            outcome = []
        errors = [answer for _, answer in outcome if isinstance(answer, Exception)]
        for chunk, answer in outcome:
            for message_id, _ in chunk:
                answer_of[message_id] = answer
            if isinstance(answer, list):
                reports.update(((account_id, report.provider_id), report) for report in answer)
        for error in errors:
            if isinstance(error, ProviderError):
                gate.note(session, account_id, now, error)
                notices.note_refusal(session, account, [error])
            if not isinstance(error, NotCalled):
                log = logger.warning if isinstance(error, ProviderError) else logger.error
                log("status poll at %s failed (%s)", provider.kind, error)
        if outcome and not errors:
            answered.append(account_id)
    provider_health.record_answers(session, answered)
    session.commit()  # the accounts' rows are not held while their messages are locked and worked on
    messages = claims.held(session, claims.MESSAGES, claim, lock=True, columns=POLL_COLUMNS)
    changed = 0
    for message in messages:
        answer = answer_of.get(message.id)
        message.updated_at = now
        if isinstance(answer, NotCalled) and not gate.is_closed(message.account_id):
            message.due_at = now  # the pass ran out of time before its request: due at the next one
            continue
        if not isinstance(answer, list):  # not asked (its account's work raised), not called, or failed
            message.due_at = now + _retry_delay(answer)
            continue
        changed += _apply_report(message, reports.get((message.account_id, message.provider_message_id)), now)
    claims.write_held(session, claims.MESSAGES, claim, messages, lifecycle.STATUS_COLUMNS + ("updated_at",),
                      locked=True)
    session.commit()
    return changed


def _retry_delay(error):
    if isinstance(error, NotCalled):
        return POLL_HUNG_DELAY
    return timedelta(minutes=2) if isinstance(error, RetryLater) else timedelta(minutes=15)


def _apply_report(message, report, now):
    """Apply one message's report (None: the answer did not name it) and set its next poll. Whether it changed
    state."""
    changed = 0
    if report is not None:
        changed = lifecycle.apply_status(message, report.status, report.raw,
                                         error_code=report.error_code, error_text=report.error_text)
        lifecycle.note_cost(message, report.cost, report.currency)  # Twilio's price comes only later
    if message.state not in MessageState.FINAL:
        age = now - message.created_at
        message.due_at = None if age >= POLL_GIVE_UP else now + next_poll_delay(age)
    return changed


def _claim_account(session, account_id, now, lease, limit, columns=()):
    return claims.claim(session, claims.MESSAGES,
                        (Message.account_id == account_id, Message.state.in_(MessageState.POLLED)),
                        among=((Portal, Portal.id == Message.portal_id, Portal.state != PortalState.UNINSTALLED),),
                        now=now, lease=lease, limit=limit, columns=columns)


def _poll_account(services, workers, gate, session, account_id):
    account = session.get(ProviderAccount, account_id)
    provider = providers.for_account(account, services.settings, services.http)
    started, polled = utcnow(), Polled()
    while not workers.out_of_time():
        if not gate.may_call(session, account_id, utcnow()):  # it hangs: its due messages wait
            _claim_account(session, account_id, started, POLL_HUNG_DELAY, POSTPONE_BATCH)
            break
        if provider.poll_interval and not _take_poll_slot(session, account_id, provider.poll_interval):
            break  # its one request per interval is spent: the messages stay due for the next slot
        limit = provider.statuses_per_request if provider.poll_interval else _claim_size(provider)
        claim = _claim_account(session, account_id, started, POLL_LEASE, limit,
                               columns=(Message.provider_message_id, Message.recipient))
        if not claim.ids:
            break
        polled += Polled(claimed=len(claim.ids))
        tracked = [(m.id, Tracked(m.provider_message_id, m.recipient)) for m in claim.records]
        session.commit()  # no transaction stays open across the provider calls
        per_request = list(chunks(tracked, provider.statuses_per_request))
        one_by_one = provider.statuses_per_request == 1
        answers = workers.call_each([[t for _, t in chunk] for chunk in per_request], provider.statuses,
                                    CALLS_PER_ACCOUNT if one_by_one else BULK_CALLS_PER_ACCOUNT,
                                    stop=gate.halts(account_id),
                                    first_alone=one_by_one)
        for chunk, answer in zip(per_request, answers):
            polled += Polled(changed=_apply_poll(session, gate, account, provider, claim, chunk, answer))
            session.commit()
        if provider.poll_interval:
            break
    return polled


def _claim_size(provider):
    """Two status requests' worth (Prostor: 400), at least CLAIM_MIN: a pass's memory stays the same whether an
    account has a thousand messages due or a million, and one claim's requests still go out together."""
    return max(2 * provider.statuses_per_request, CLAIM_MIN)


def _take_poll_slot(session, account_id, interval):
    """For providers that allow one status request per interval: take the account's slot (a conditional
    UPDATE, so only one runner gets it)."""
    now = utcnow()
    taken = session.execute(
        update(ProviderAccount)
        .where(ProviderAccount.id == account_id,
               ProviderAccount.poll_not_before.is_(None) | (ProviderAccount.poll_not_before <= now))
        .values(poll_not_before=now + interval)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    session.commit()
    return taken


def _apply_poll(session, gate, account, provider, claim, chunk, answer):
    """Write one status request's answer (a list of reports, or the exception it raised) to the messages this
    claim still holds. Returns how many changed state."""
    ids = [message_id for message_id, _ in chunk]
    if isinstance(answer, NotCalled):  # the account timed out on an earlier request of this claim
        for message in claims.held(session, claims.MESSAGES, claim, ids):
            message.due_at = utcnow() + POLL_HUNG_DELAY
        return 0
    if isinstance(answer, Exception):  # a provider's odd answer must not stop polling for everyone else
        if isinstance(answer, ProviderError):
            gate.note(session, account.id, utcnow(), answer)
            notices.note_refusal(session, account, [answer])  # the portal's admins hear of refused credentials
        delay = _retry_delay(answer)
        log = logger.warning if isinstance(answer, ProviderError) else logger.error
        log("status poll at %s failed (%s): next try in %s", provider.kind, answer, delay)
        for message in claims.held(session, claims.MESSAGES, claim, ids):
            message.due_at = utcnow() + delay
        return 0
    gate.note(session, account.id, utcnow())
    session.commit()  # the account's row is not held while its messages are locked and worked on
    by_id = {report.provider_id: report for report in answer}
    changed = 0
    now = utcnow()
    # Re-read under lock: a receipt may have moved a message while we waited for the provider. Plain records and
    # one executemany: a status request answers for up to 200 messages.
    messages = claims.held(session, claims.MESSAGES, claim, ids, lock=True, columns=POLL_COLUMNS)
    for message in messages:
        message.updated_at = now
        changed += _apply_report(message, by_id.get(message.provider_message_id), now)
    claims.write_held(session, claims.MESSAGES, claim, messages, lifecycle.STATUS_COLUMNS + ("updated_at",),
                      locked=True)
    return changed
