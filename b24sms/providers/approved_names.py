"""Sender names against the providers' own lists: what a saved account may send with (the page's picker), and the
check that a typed name is one of them before settings are saved.

Where a provider cannot list its names (`sender_names()` is None), or the list cannot be had just now, a name is
not checked: the provider itself refuses a wrong one when sending (SenderRejected, and the chain fails over)."""
import logging

from b24sms import providers
from b24sms.providers.base import ProviderError
from b24sms.providers.refusals import asked
from b24sms.rules.errors import N_, BadRequest, NotFound, UpstreamError

logger = logging.getLogger(__name__)
SHOWN_NAMES = 10  # approved names an error message lists


def names_at(portal, settings, http, kind):
    """`{"names": [...]}` from the portal's saved account of `kind`; `{"names": None}` where it cannot list."""
    cls = providers.PROVIDERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadRequest(N_("`kind`: unknown provider %(kind)r."), "invalid_parameter", kind=str(kind)[:40])
    account = next((account for account in portal.active_accounts if account.kind == kind), None)
    if account is None:
        raise NotFound(N_("%(provider)s is not among this portal's saved providers: save it first."),
                       "provider_not_configured", provider=cls.title)
    provider = providers.for_account(account, settings, http)
    names = asked(provider, provider.sender_names,
                  refused=N_("%(provider)s refused the saved credentials: %(words)s"),
                  other=N_("%(provider)s did not list the sender names: %(words)s"), other_error=UpstreamError,
                  other_code="provider_error")
    return {"names": names}


def names_to_check(index, sender, cls, stored_or_wanted):
    """(name, field path) pairs one chain entry will send with: its own sender, and the portal's sender names
    where the provider takes them."""
    names = [(sender, f"providers[{index}].sender")] if sender else []
    if cls.sends_with_sender_names():
        names += [(entry.name, f"senders[{position}].name") for position, entry in enumerate(stored_or_wanted)]
    return names


def check(provider, names):
    """Raises BadRequest (naming the field) for the first name in `names` the provider's list does not have."""
    if not names:
        return
    try:
        approved = provider.sender_names()
    except ProviderError as exc:
        logger.warning("%s did not list its sender names (%s): the names are not checked", provider.title,
                       exc.kind)
        return
    if approved is None:
        return
    for name, path in names:
        if name in approved:
            continue
        if not approved:
            raise BadRequest(N_("%(provider)s has no approved sender names yet, so “%(name)s” cannot be used."),
                             "sender_not_approved", provider=provider.title, name=name, field_path=path)
        shown = ", ".join(approved[:SHOWN_NAMES]) + (", …" if len(approved) > SHOWN_NAMES else "")
        raise BadRequest(N_("%(provider)s has not approved the sender name “%(name)s” (approved: %(approved)s)."),
                         "sender_not_approved", provider=provider.title, name=name, approved=shown, field_path=path)
