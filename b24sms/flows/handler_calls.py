"""A Bitrix24 handler call from end to end: stored once (riding out a database outage), answered, then sent by
the web process's sender (b24sms/flows/outbox.py), off the request.

Bitrix24 never retries a handler call and does not read the answer: a call answered 200 must not be lost. While
the database cannot take it, the call is retried for a few seconds, then written to the spool (b24sms/flows/spool.py)
and stored when the database is back; 503 only when even the spool cannot be written, or is full
(b24sms/flows/spool_usage.py: a call whose handler key this process has not stored lately has the smaller part of it).
"""
from dataclasses import dataclass

from b24sms.config import ConfigError
from b24sms.flows import messaging, spool, spool_records
from b24sms.flows.spool_usage import VouchedKeys
from b24sms.rules import handler_call
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store.db import DatabaseUnavailable, write_retrying
from b24sms.store.models import Message


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
    spool.keep(services, spool_records.of_handler_call(handler_key, form_pairs),
               vouched=_vouched_keys.has(handler_key), what=f"message {incoming.message_id}", outage=outage)


_vouched_keys = VouchedKeys()  # the handler keys this process has stored calls with lately
