"""What providers push to an account's own URL, taken one way: a receipt to `/callbacks/<kind>/<secret>`
(b24sms/flows/receipts.py), a reply to `/inbound/<kind>/<secret>` (b24sms/flows/replies.py). The account is
found by the URL's secret, the push is checked as the provider's own (its signature, where it signs), then read;
what is done with what it carries is the caller's."""
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from b24sms import providers
from b24sms.providers.base import Provider, ProviderError, Receipt
from b24sms.rules.errors import N_, BadRequest, Forbidden, NotFound
from b24sms.services import Services
from b24sms.store import callback_urls
from b24sms.store.models import ProviderAccount

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushKind:
    """What tells one kind of push from another: the provider's calls for it and the words of its refusals."""

    noun: str  # for the log
    taken_by: Callable[[type[Provider]], bool]  # whether a provider takes pushes of this kind at all
    verify: Callable[[Provider, Receipt], bool]
    read: Callable[[Provider, Receipt], list[Any]]
    unknown: tuple[str, str]  # (words, code) for a URL that names no account
    forged: str  # words for a push whose signature does not match
    unreadable: tuple[str, str]  # (words with %(words)s, code) for a push the provider's module cannot read


RECEIPT = PushKind(
    "receipt", lambda cls: True,
    lambda provider, pushed: provider.verify_receipt(pushed), lambda provider, pushed: provider.read_receipt(pushed),
    (N_("No receipt address like this one."), "unknown_callback"), N_("The receipt's signature does not match."),
    (N_("The receipt could not be read: %(words)s"), "bad_receipt"))
REPLY = PushKind(
    "reply", lambda cls: cls.receives_replies(),
    lambda provider, pushed: provider.verify_reply(pushed), lambda provider, pushed: provider.read_replies(pushed),
    (N_("No reply address like this one."), "unknown_inbound"), N_("The reply's signature does not match."),
    (N_("The reply could not be read: %(words)s"), "bad_reply"))


@dataclass(frozen=True)
class Taken:
    account: ProviderAccount
    provider: Provider
    items: list[Any]  # what the push carries, as the provider's module read it (StatusReport, Reply)


def provider_class(settings, push_kind: PushKind, kind: str) -> type[Provider]:
    """The provider class a URL's `<kind>` names, where this deployment offers it and it takes pushes of this kind;
    else the URL is unknown (needs no database: a push to such a URL is refused even while the database is away).
    Not offered: `log` where ENABLE_LOG_PROVIDER is off (production), so an old log account takes nothing."""
    cls = providers.offered(settings).get(kind)
    if cls is None or not push_kind.taken_by(cls):
        raise NotFound(push_kind.unknown[0], push_kind.unknown[1])
    return cls


def take(services: Services, session, push_kind: PushKind, kind: str, secret: str, pushed: Receipt) -> Taken:
    """The account the URL names, and what the push carries, once it is checked as the provider's own. Raises
    NotFound (no such account), Forbidden (a bad signature), BadRequest (the push cannot be read)."""
    account = callback_urls.account_for(session, kind, secret)
    if account is None:
        raise NotFound(push_kind.unknown[0], push_kind.unknown[1])
    provider_class(services.settings, push_kind, kind)
    provider = providers.for_account(account, services.settings, services.http)
    if not push_kind.verify(provider, pushed):
        logger.warning("%s %s with a bad signature refused", kind, push_kind.noun)
        raise Forbidden(push_kind.forged, "bad_signature")
    try:
        items = push_kind.read(provider, pushed)
    except ProviderError as exc:
        raise BadRequest(push_kind.unreadable[0], push_kind.unreadable[1], words=exc.text) from None
    return Taken(account, provider, items)
