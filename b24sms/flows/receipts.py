"""Statuses that providers push (receipts, `POST /callbacks/<kind>/<secret>`): applied to the messages they name,
never backwards; a receipt can also settle a send whose answer was lost. Polling for the rest is
b24sms/flows/polling.py."""
import logging
from dataclasses import dataclass

from b24sms.flows import prices, pushes
from b24sms.providers.base import UNKNOWN, Receipt
from b24sms.rules import failover, lifecycle
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store.db import lock_rows
from b24sms.store.models import Message, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiptAnswer:
    """What a pushed receipt is answered with: the text the provider counts as "received" (SMS.RU: 100), or
    (None) JSON of the counts."""

    body: str | None
    received: int
    matched: int
    changed: int


def take_pushed(services: Services, session, kind: str, secret: str, pushed: Receipt,
                message_key: str | None) -> ReceiptAnswer:
    """A receipt pushed to an account's receipt URL: checked as the provider's own, read and applied.
    `message_key`: the `m` of a per-message receipt URL (see apply_receipts)."""
    taken = pushes.take(services, session, pushes.RECEIPT, kind, secret, pushed)
    matched, changed = apply_receipts(session, taken.account, taken.items, utcnow(), message_key)
    return ReceiptAnswer(taken.provider.receipt_reply, len(taken.items), matched, changed)


def apply_receipts(session, account, reports, now, message_key):
    """Statuses a provider pushed for `account`'s messages. Never backwards (the state machine sees to it); an
    unreadable status makes the message due for polling at once. `message_key`: our key for the message, which
    per-message receipt URLs carry (None on others); it settles a send whose answer was lost. Returns (matched,
    changed)."""
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
        lifecycle.note_cost(message, report.cost, report.currency)
        prices.ask_later(message, account.kind, now)  # a final receipt before the price (Twilio)
        session.commit()
    session.commit()  # also ends the lock a receipt for an unknown message took
    return matched, changed


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
