"""Sending: store first, send once, retry transient failures with backoff.

A message is written before any provider is called, and only the runner that moves it from `received` /
`retry_wait` to `sending` (one conditional UPDATE) may call the provider, so it is never sent twice.
"""
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from . import callback_urls, failover, lifecycle, providers
from .errors import BadRequest
from .models import Message, MessageState, Portal, PortalState, utcnow
from .phones import InvalidPhone, normalize
from .providers.base import PER_MESSAGE, AnswerLost, CannotTell, Outgoing, ProviderError

logger = logging.getLogger(__name__)

# The handler sends inline; the job picks up what it left (a crash, a restart) after this grace period.
INLINE_GRACE = timedelta(minutes=2)
# How long a runner may take over one provider call before the message counts as stuck.
SENDING_LEASE = timedelta(minutes=5)
# After a lost answer: give the provider time to file the message before asking it; ask again on trouble.
RECONCILE_DELAY = timedelta(seconds=60)
RECONCILE_RETRY = timedelta(minutes=2)
# Where the provider cannot be asked, wait this long for a receipt to name the message, then report it failed.
RECONCILE_WINDOW = timedelta(minutes=30)
# Where it can be asked but keeps failing to answer, give up after this long.
RECONCILE_GIVE_UP = timedelta(hours=24)
FIRST_POLL_DELAY = timedelta(seconds=30)
RETRY_BASE = timedelta(seconds=60)
RETRY_CAP = timedelta(hours=1)
MAX_BODY = 5000
MAX_PHONE = 64

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def segments(text):
    """How many SMS parts the text takes (GSM-7: 160/153 characters, otherwise UCS-2: 70/67)."""
    if all(char in GSM7 or char in GSM7_EXTENDED for char in text):
        length = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
        single, part = 160, 153
    else:
        length = sum(2 if ord(char) > 0xFFFF else 1 for char in text)
        single, part = 70, 67
    if length <= single:
        return 1
    return -(-length // part)


@dataclass(frozen=True)
class Incoming:
    """A handler call's fields, validated."""

    message_id: str
    phone: str
    text: str
    origin: dict

    @classmethod
    def from_payload(cls, data):
        properties = data.get("properties") if isinstance(data.get("properties"), dict) else {}
        message_id = _field(data, "message_id", data.get("message_id"), 64)
        phone = _field(data, "message_to", data.get("message_to") or properties.get("phone_number"), MAX_PHONE)
        text = _field(data, "message_body", data.get("message_body") or properties.get("message_text"), MAX_BODY)
        if data.get("type") not in (None, "", "SMS"):
            raise BadRequest(f"type: only SMS is supported, got {str(data.get('type'))[:20]!r}.", "invalid_field")
        origin = {"module_id": data.get("module_id")}
        for name in ("bindings", "workflow_id", "document_id", "document_type"):
            if data.get(name):
                origin[name] = data[name]
        auth = data.get("auth") if isinstance(data.get("auth"), dict) else {}
        if auth.get("user_id"):
            origin["user_id"] = auth["user_id"]
        return cls(message_id=message_id, phone=phone, text=text, origin=origin)


def _field(data, name, value, limit):
    if value is None or value == "":
        raise BadRequest(f"{name} is required.", "missing_field")
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a single text value.", "invalid_field")
    if len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters.", "invalid_field")
    if name != "message_body" and any(ord(char) < 32 for char in value):
        raise BadRequest(f"{name} contains control characters.", "invalid_field")
    return value


def receive(session, portal, incoming, *, report_to_bitrix=True):
    """Store the message (unique per portal + Bitrix id). Returns (message, created)."""
    now = utcnow()
    values = {
        "portal_id": portal.id,
        "bitrix_message_id": incoming.message_id,
        "recipient_raw": incoming.phone,
        "body": incoming.text,
        "segments": segments(incoming.text),
        "origin": incoming.origin,
        "state": MessageState.RECEIVED,
        "attempts": 0,
        "due_at": now + INLINE_GRACE,
        "report_pending": False,
        "report_to_bitrix": report_to_bitrix,
        "created_at": now,
        "updated_at": now,
    }
    try:
        values["recipient"] = normalize(incoming.phone, portal.region)
    except InvalidPhone as exc:
        values.update(recipient=None, state=MessageState.FAILED, error_code="invalid_phone", error_text=str(exc),
                      status=lifecycle.FAILED, report_pending=report_to_bitrix, due_at=None)
    # INSERT ... ON CONFLICT DO NOTHING: a repeated message_id, even from a concurrent request, stores nothing.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = Message.__table__
    statement = (
        dialect.insert(table).values(**values)
        .on_conflict_do_nothing(index_elements=["portal_id", "bitrix_message_id"])
        .returning(table.c.id)
    )
    created = session.execute(statement).scalar_one_or_none() is not None
    session.commit()
    message = session.scalars(
        select(Message).where(Message.portal_id == portal.id, Message.bitrix_message_id == incoming.message_id)
    ).one()
    return message, created


def claim(session, message_id):
    """Take the message for one send attempt; False when another runner has it or it is not due."""
    now = utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state.in_(MessageState.TO_SEND))
        .values(state=MessageState.SENDING, attempts=Message.attempts + 1, due_at=now + SENDING_LEASE,
                updated_at=now)
    )
    session.commit()
    return result.rowcount == 1


def send(session, settings, message_id, http=None):
    """Send a stored message if this runner can claim it, along the portal's failover chain. Returns it."""
    if not claim(session, message_id):
        return session.get(Message, message_id, populate_existing=True)
    message = session.get(Message, message_id, populate_existing=True)
    chain = message.portal.active_accounts
    max_attempts = settings["SEND_MAX_ATTEMPTS"]
    route = failover.first_route(chain, message.attempt_log or [], max_attempts, message.account_id)
    if route.account is None:
        _fail_without_route(message, chain)
    while route.account is not None:
        error = _attempt(session, settings, message, route.account, http)
        if error is None:
            break
        if isinstance(error, AnswerLost):  # the provider may have it: another send could be a duplicate
            await_reconciliation(message, utcnow())
            break
        if not error.fails_over:  # the number or the text is the problem: no provider will do better
            lifecycle.fail(message, message.error_code, error.text)
            logger.info("message %s failed: %s", message.id, error)
            break
        route = failover.next_route(chain, message.attempt_log, max_attempts, route.account.id)
        if route.account is None:
            lifecycle.fail(message, message.error_code, error.text)
            logger.info("message %s failed, no provider left: %s", message.id, error)
        elif route.wait:
            message.account_id, message.provider = route.account.id, route.account.kind
            message.state = MessageState.RETRY_WAIT
            message.due_at = utcnow() + backoff(failover.transient_failures(message.attempt_log, route.account.id))
            logger.info("message %s: %s; next try at %s via %s", message.id, error, message.due_at,
                        route.account.kind)
            break
        else:
            logger.info("message %s: %s; failing over to %s", message.id, error, route.account.kind)
            message.attempts += 1
    session.commit()
    return message


def _attempt(session, settings, message, account, http):
    """One provider call. Returns None when the provider took the message, else the ProviderError."""
    # Committed before the call: if this runner dies mid-call, recovery knows which provider was asked.
    message.account_id, message.provider = account.id, account.kind
    message.attempt_log = failover.started(message.attempt_log, account, utcnow())
    session.commit()
    provider = providers.for_account(account, settings, http=http)
    try:
        accepted = provider.send(_outgoing(message, account, settings, provider))
    except ProviderError as exc:
        message.attempt_log = failover.settled(message.attempt_log, utcnow(), exc)
        message.error_code = (f"{exc.kind}:{exc.code}" if exc.code else exc.kind)[:64]
        message.error_text = exc.text
        return exc
    message.attempt_log = failover.settled(message.attempt_log, utcnow())
    lifecycle.accept(message, accepted.provider_id, accepted.status, accepted.raw, utcnow() + FIRST_POLL_DELAY)
    return None


def _outgoing(message, account, settings, provider):
    """The message as a provider sends it. Per-message receipt URLs name the message, so that a receipt can
    settle a send whose answer was lost."""
    callback_url = None
    if provider.receipts == PER_MESSAGE and account.callback_secret:
        callback_url = f"{callback_urls.url_for(settings, account)}?m={message.id}"
    return Outgoing(key=str(message.id), phone=message.recipient, text=message.body, sender=account.sender,
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
            message.state, message.due_at = MessageState.RETRY_WAIT, now
        else:
            message.attempt_log = failover.settled(message.attempt_log, now, AnswerLost("the runner stopped mid-call"))
            message.account_id = account_id
            await_reconciliation(message, now - RECONCILE_DELAY)
        logger.warning("message %s was stuck in sending: now %s", message.id, message.state)
    session.commit()
    return len(stuck)


def await_reconciliation(message, now):
    message.state = MessageState.RECONCILING
    message.due_at = now + RECONCILE_DELAY
    message.error_code = "answer_lost"
    message.error_text = ("The provider's answer was lost; it is asked whether it has the message before anything "
                          "is sent again.")


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
        found = provider.find_sent(_outgoing(message, message.account, settings, provider))
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


def send_due(session, settings, now, http=None):
    """The job's part: every stored message whose (re)try is due. Safe beside other runners (claims)."""
    sent = 0
    for message_id in due_for_sending(session, now):
        message = send(session, settings, message_id, http=http)
        sent += message is not None and message.state != MessageState.RETRY_WAIT
    return sent
