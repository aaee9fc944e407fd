"""The message state machine: the one place that moves a message's state and its Bitrix24 status.

Bitrix24 already shows a message as sent when it hands it to our handler, so a provider's "queued" is kept on
the message but not reported (it would move the CRM card backwards); every later status is.
"""
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from b24sms.rules.failover import Account
from b24sms.rules.statuses import DELIVERED, FAILED, QUEUED, SENT, STATUS_RANK, UNDELIVERED, UNKNOWN


class MessageState:
    RECEIVED = "received"  # stored, not yet handed to a provider
    SENDING = "sending"  # claimed by one sender; the provider call is under way
    RETRY_WAIT = "retry_wait"  # a transient failure; `due_at` says when to try again
    # The provider may have it (its answer was lost, or a runner died mid-call): ask before sending again.
    RECONCILING = "reconciling"
    ACCEPTED = "accepted"  # the provider took it and gave us its id
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"

    FINAL = (DELIVERED, UNDELIVERED, FAILED)
    POLLED = (ACCEPTED, SENT)
    TO_SEND = (RECEIVED, RETRY_WAIT)


class MessageRow(Protocol):
    """The columns of a message (b24sms/store/models.py, Message) that the state machine reads and writes."""

    state: str
    status: str | None
    provider_status: str | None
    provider_message_id: str | None
    error_code: str | None
    error_text: str | None
    due_at: datetime | None
    report_pending: bool
    report_to_bitrix: bool
    possible_duplicate: bool
    account_id: int | None
    provider: str | None
    cost: Decimal | None
    currency: str | None


STATE_FOR_STATUS = {
    QUEUED: MessageState.ACCEPTED,
    SENT: MessageState.SENT,
    DELIVERED: MessageState.DELIVERED,
    UNDELIVERED: MessageState.UNDELIVERED,
    FAILED: MessageState.FAILED,
}
STATUS_FOR_STATE = {state: status for status, state in STATE_FOR_STATUS.items()}
# The columns apply_status (and note_cost beside it) may change: a bulk writer of its results writes these back.
STATUS_COLUMNS = ("state", "status", "report_pending", "provider_status", "error_code", "error_text", "due_at",
                  "cost", "currency")
# After a lost answer: give the provider time to file the message before asking it.
RECONCILE_DELAY = timedelta(seconds=60)


def received(due_at: datetime | None) -> dict[str, Any]:
    """The columns of a message as stored: it waits for its first send (the job's by `due_at` at the latest)."""
    return {"state": MessageState.RECEIVED, "due_at": due_at, "report_pending": False}


def refused_at_intake(code: str, text: str, report_to_bitrix: bool) -> dict[str, Any]:
    """The columns of a message that cannot be sent at all (its number is invalid): failed, and Bitrix24 told."""
    return {"state": MessageState.FAILED, "error_code": code, "error_text": text, "status": FAILED,
            "report_pending": report_to_bitrix, "due_at": None}


def current_status(message: MessageRow) -> str | None:
    return STATUS_FOR_STATE.get(message.state)


def apply_status(message: MessageRow, status: str, raw: object, *, error_code: object = None,
                 error_text: object = None) -> bool:
    """Move the message to a provider status; never backwards; an unknown value only keeps the raw word.

    Returns True when the state changed.
    """
    if raw is not None:
        message.provider_status = str(raw).replace("\x00", "")[:255]  # a provider's word, as text PostgreSQL holds
    if status == UNKNOWN or status not in STATE_FOR_STATUS:
        return False
    now = current_status(message)
    if now is not None and STATUS_RANK[status] <= STATUS_RANK[now]:
        return False
    message.state = STATE_FOR_STATUS[status]
    if error_code or error_text:
        message.error_code = str(error_code).replace("\x00", "")[:64] if error_code else None
        message.error_text = str(error_text).replace("\x00", "") if error_text else None
    if status != QUEUED:
        _set_status(message, status)
    if message.state in MessageState.FINAL:
        message.due_at = None
    return True


def accept(message: MessageRow, provider_id: str | None, status: str, raw: object,
           poll_at: datetime | None, cost: Decimal | None = None, currency: str | None = None) -> None:
    """The provider took the message (at send, on asking it, or as a receipt shows): keep its id, poll at
    `poll_at`, and move to its first status (and keep its price, where the provider said)."""
    message.provider_message_id = provider_id
    message.error_code = message.error_text = None
    message.state = MessageState.ACCEPTED
    message.due_at = poll_at
    apply_status(message, status, raw)
    note_cost(message, cost, currency)


def note_cost(message: MessageRow, cost: Decimal | None, currency: str | None) -> bool:
    """Keep what the provider said the message cost. A price the provider did not state (None) never replaces
    a known one, and a price without its currency is not kept: an amount in an unknown currency says nothing.
    Returns whether it changed."""
    if cost is None or not currency or (message.cost == cost and message.currency == currency):
        return False
    message.cost, message.currency = cost, currency
    return True


def fail(message: MessageRow, code: str | None, text: str | None) -> None:
    """The message will not be sent: keep why, and tell Bitrix24."""
    message.state = MessageState.FAILED
    message.error_code = str(code)[:64] if code else None
    message.error_text = text
    _set_status(message, FAILED)
    message.due_at = None


def _set_status(message: MessageRow, status: str) -> None:
    message.status = status
    message.report_pending = message.report_to_bitrix is not False


def await_reconciliation(message: MessageRow, now: datetime) -> None:
    """The provider may have the message (its answer was lost): ask it before anything is sent again."""
    message.state = MessageState.RECONCILING
    message.due_at = now + RECONCILE_DELAY
    message.error_code = "answer_lost"
    message.error_text = ("The provider's answer was lost; it is asked whether it has the message before anything "
                          "is sent again.")


def claimed_to_send(now: datetime) -> dict[str, Any]:
    """The columns a claim for sending sets (b24sms/store/claims.py): the claimer alone calls the provider."""
    return {"state": MessageState.SENDING, "updated_at": now}


def retry_at(message: MessageRow, due_at: datetime) -> None:
    """Back to the send queue: sent (or sent again) at `due_at`, along the failover chain."""
    message.state = MessageState.RETRY_WAIT
    message.due_at = due_at


def move_on(message: MessageRow, now: datetime, reason: str) -> None:
    """The provider that may have the message could not be asked in time and is given up for it: the next one
    in the chain sends it now. The SMS may then arrive twice, and the message says so."""
    message.possible_duplicate = True
    retry_at(message, now)
    message.error_code = "provider_given_up"
    message.error_text = reason


def taken_after_all(message: MessageRow, account: Account, provider_id: str | None,
                    poll_at: datetime | None) -> None:
    """A receipt shows that `account`, which we waited on or gave up on after a lost answer, took the message:
    it is that provider's. Waiting to be sent elsewhere means no other provider has it: no duplicate then."""
    only_there = message.state in MessageState.TO_SEND
    message.account_id, message.provider = account.id, account.kind
    accept(message, provider_id, QUEUED, None, poll_at)
    if only_there:
        message.possible_duplicate = False
