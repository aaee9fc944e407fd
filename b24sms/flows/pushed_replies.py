"""A reply a provider pushes to `POST /inbound/<kind>/<secret>`, from end to end: stored once (riding out a
database outage) and answered at once, as that provider expects (Twilio: an empty TwiML).

A provider that was answered does not push the reply again, so an answered reply must not be lost. While the
database cannot take it, the push is retried for a few seconds (as a handler call is), then written to the spool
as it came (b24sms/flows/spool.py, spool_records.py: the method, the URL as the provider called it, the headers
its signature check reads, the form or body) and answered as if stored; 503 only when even the spool cannot take
it. Which account the URL's secret names, and whether the signature (Twilio's X-Twilio-Signature) matches, can
only be checked at replay: the account and the credentials the signature is made with are in the database. At
replay the push is checked exactly as it would have been when it came, then stored (once: a reply replayed twice
is stored once); one refused then (an unknown secret, a bad signature, a body that cannot be read) is dropped
with a warning. Only what needs no database is checked at once: a URL naming no provider that receives replies
is a 404 even now.
"""
from dataclasses import dataclass

from b24sms.config import ConfigError
from b24sms.flows import pushes, replies, spool, spool_records
from b24sms.flows.spool_usage import VouchedKeys
from b24sms.providers.base import Receipt
from b24sms.services import Services
from b24sms.store.db import DatabaseUnavailable, write_retrying


@dataclass(frozen=True)
class PushAnswer:
    """What a pushed reply is answered with: the provider's own answer (Twilio: an empty TwiML) or JSON."""

    body: str | None
    content_type: str | None
    received: int
    stored: int
    spooled: bool = False  # kept in the spool: stored (and counted) when the database is back


def take(services: Services, session, kind: str, secret: str, pushed: Receipt) -> PushAnswer:
    """A pushed reply checked and stored once, or spooled while the database cannot take it; answered at once."""
    provider_class = pushes.provider_class(services.settings, pushes.REPLY, kind)
    body, content_type = provider_class.reply_answer or (None, None)
    try:
        received, stored = write_retrying(
            session, lambda: replies.store_pushed(services, session, kind, secret, pushed),
            services.outage_waits.store_retry)  # the provider waits on the answer (Twilio: 15 s)
    except (DatabaseUnavailable, ConfigError) as exc:  # ConfigError: ENCRYPTION_KEYS cannot read the account
        spool.keep(services, spool_records.of_pushed_reply(kind, secret, pushed, provider_class.signed_headers),
                   vouched=_vouched_secrets.has(secret), what=f"a {kind} reply", outage=exc)
        return PushAnswer(body, content_type, 0, 0, spooled=True)
    _vouched_secrets.add(secret)  # found and checked against the database: vouched for during an outage
    return PushAnswer(body, content_type, received, stored)


_vouched_secrets = VouchedKeys()  # the secrets of the inbound URLs this process has taken replies through lately
