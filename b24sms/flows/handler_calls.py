"""A Bitrix24 handler call from end to end: stored once (riding out a database outage), answered, then sent by
the web process's sender (b24sms/flows/outbox.py), off the request.

Bitrix24 never retries a handler call and does not read the answer: a call answered 200 must not be lost. While
the database cannot take it, the call is retried for a few seconds, then written to the spool (b24sms/flows/spool.py)
and stored when the database is back; 503 only when even the spool cannot be written, or is full
(b24sms/flows/spool_usage.py: a call whose handler key this process has not stored lately has the smaller part of it).
"""
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from b24sms.config import ConfigError
from b24sms.flows import messaging, spool, spool_usage
from b24sms.rules import handler_call
from b24sms.rules.errors import N_, AppError
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store.db import DatabaseUnavailable, write_retrying
from b24sms.store.models import Message

logger = logging.getLogger(__name__)
VOUCHED_KEYS_KEPT = 50_000  # handler keys remembered per process (the most recently stored-with first)


@dataclass(frozen=True)
class Outcome:
    message: Message | None = None  # as stored; None when the call was spooled
    created: bool = False
    spooled_message_id: str | None = None


def take(services: Services, session, data, auth, form_pairs, handler_key):
    """Store the call's message once and hand it to the web sender (services.outbox); spool the call (`form_pairs`,
    as posted) when it cannot be stored now. `handler_key`: the key of its URL, None for the legacy /handler."""
    try:
        message, created = write_retrying(
            session, lambda: messaging.store_handler_call(services, session, data, auth, handler_key),
            services.outage_waits.store_retry)  # Bitrix24 waits on the call: the spool takes over after
    except (DatabaseUnavailable, ConfigError) as exc:  # ConfigError: ENCRYPTION_KEYS cannot read the portal's key
        incoming = handler_call.HandlerCall.from_payload(data)  # needs no database: a bad call is a 400 even now
        _spool(services, handler_key, form_pairs, incoming, exc)
        return Outcome(spooled_message_id=incoming.message_id)
    if handler_key is not None:  # found and checked against the database: vouched for during an outage
        _vouched_keys.add(handler_key)
    if created and message.state == MessageState.RECEIVED:  # a repeated call sends nothing
        services.outbox.submit(message.portal_id, message.id)
    return Outcome(message=message, created=created)


def _spool(services, handler_key, form_pairs, incoming, outage):
    """Keep the call for replay; its key and auth are checked then (they need the database)."""
    try:
        spool.append(services, handler_key, form_pairs, vouched=_vouched_keys.has(handler_key))
    except spool_usage.SpoolFull:  # logged there, once in a while: not per call of a flood
        raise AppError(N_("The message could not be stored now: the database is unavailable."), "spool_full",
                       status=503) from None
    except spool.SpoolUnwritable as exc:
        logger.error("message %s not taken: it cannot be stored now (%s) and the spool cannot be written "
                     "(%s)", incoming.message_id, outage, exc)
        raise AppError(N_("The message could not be stored now: the database is unavailable."),
                       "database_unavailable", status=503) from None
    logger.warning("message %s spooled: it cannot be stored now (%s)", incoming.message_id, outage)
    spool.replay_in_background(services)


class VouchedKeys:
    """Digests of the handler keys this process has stored calls with lately (a bounded, least recently used
    set): during an outage, what tells a known portal's call from one to a made-up key without the database."""

    def __init__(self, kept=VOUCHED_KEYS_KEPT):
        self._kept = kept
        self._digests = OrderedDict()
        self._lock = threading.Lock()

    def add(self, handler_key):
        digest = _digest(handler_key)
        with self._lock:
            self._digests[digest] = None
            self._digests.move_to_end(digest)
            while len(self._digests) > self._kept:
                self._digests.popitem(last=False)

    def has(self, handler_key):
        if handler_key is None:  # the legacy /handler: only its auth, checked against Bitrix24, vouches for it
            return False
        with self._lock:
            return _digest(handler_key) in self._digests


def _digest(handler_key):
    return hashlib.sha256(handler_key.encode()).digest()


_vouched_keys = VouchedKeys()
