"""Prices that come after the status: a provider that states a message's price only once it has left (Twilio's
`price`, null at first) is asked again for a message whose final status arrived by receipt, before its price was
known. A receipt carries no price, and a final message is no longer polled, so without this its price would stay
unknown. Part of the job's polling duty (b24sms/flows/jobs.py); bounded: a few tries, then the price stays
unknown (null, never 0).
"""
import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from b24sms import providers
from b24sms.flows.polling import Polled
from b24sms.providers.base import ProviderError, Tracked
from b24sms.rules import lifecycle
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store import claims
from b24sms.store.models import Message, Portal, PortalState, ProviderAccount, utcnow

logger = logging.getLogger(__name__)

PRICE_DELAY = timedelta(minutes=2)  # after the final receipt: the provider has priced the message by then
PRICE_RETRY = timedelta(minutes=30)
PRICE_GIVE_UP = timedelta(hours=24)  # after the message's creation: its price stays unknown
PRICE_LEASE = timedelta(minutes=5)
PRICE_BATCH = 100
# The provider kinds whose price may come only after the status (their module says so).
LATER_KINDS = tuple(kind for kind, cls in providers.PROVIDERS.items() if cls.prices_after_sending)
WRITES = ("cost", "currency", "due_at", "updated_at")


def ask_later(message, kind, now):
    """After a receipt: a final message of a provider that prices later, still without a price, is asked again."""
    if kind in LATER_KINDS and message.state in MessageState.FINAL and message.cost is None \
            and message.provider_message_id:
        message.due_at = now + PRICE_DELAY


def poll_prices(services: Services, workers) -> Polled:
    """Ask the providers for the prices of final messages due for it (up to PRICE_BATCH per call)."""
    if not LATER_KINDS or workers.out_of_time():
        return Polled()
    with services.db.session() as session:
        now = utcnow()
        claim = claims.claim(
            session, claims.MESSAGES, (Message.state.in_(MessageState.FINAL), Message.cost.is_(None),
                                       Message.provider_message_id.is_not(None)),
            now=now, lease=PRICE_LEASE, limit=PRICE_BATCH,
            among=((Portal, Portal.id == Message.portal_id, Portal.state != PortalState.UNINSTALLED),
                   (ProviderAccount, ProviderAccount.id == Message.account_id,
                    ProviderAccount.kind.in_(LATER_KINDS))))
        if not claim.ids:
            return Polled()
        messages = claims.held(session, claims.MESSAGES, claim, columns=(
            Message.id, Message.account_id, Message.provider_message_id, Message.recipient, Message.created_at,
            Message.cost, Message.currency, Message.due_at, Message.updated_at))
        by_account = defaultdict(list)
        for message in messages:
            by_account[message.account_id].append(message)
        accounts = {account.id: account for account in session.scalars(
            select(ProviderAccount).where(ProviderAccount.id.in_(list(by_account))))}
        session.commit()  # no transaction stays open across the provider calls
        for account_id, waiting in by_account.items():
            _ask(services, accounts.get(account_id), waiting)
        now = utcnow()
        for message in messages:
            if message.cost is not None or now - message.created_at >= PRICE_GIVE_UP:
                message.due_at = None
            elif message.due_at is None or message.due_at <= now + PRICE_LEASE:
                message.due_at = now + PRICE_RETRY
            message.updated_at = now
        claims.write_held(session, claims.MESSAGES, claim, messages, WRITES)
        session.commit()
    return Polled(claimed=len(claim.ids))


def _ask(services, account, messages):
    if account is None:
        return
    provider = providers.for_account(account, services.settings, services.http)
    try:
        reports = provider.statuses([Tracked(m.provider_message_id, m.recipient) for m in messages])
    except ProviderError as exc:
        logger.info("prices of %d %s messages not read (%s); asked again later", len(messages), account.kind, exc)
        return
    by_id = {report.provider_id: report for report in reports}
    for message in messages:
        report = by_id.get(message.provider_message_id)
        if report is not None:
            lifecycle.note_cost(message, report.cost, report.currency)
