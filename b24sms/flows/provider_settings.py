"""A portal's failover chain of provider accounts: shown with secrets masked, saved only after each provider
accepted the credentials."""
import logging

from b24sms import providers
from b24sms.bitrix import messageservice_senders, sender_names
from b24sms.flows import balances, reply_numbers
from b24sms.providers import approved_names
from b24sms.providers.base import ACCOUNT, ProviderError
from b24sms.providers.refusals import asked
from b24sms.rules.errors import N_, BadRequest
from b24sms.services import Services
from b24sms.store import callback_urls
from b24sms.store.models import ProviderAccount

MASK = "********"
logger = logging.getLogger(__name__)


def describe_accounts(portal, settings, *, full):
    """Settings as the page sees them. An admin (`full`) gets every field with secrets masked (never echoed
    back) and, for providers whose receipt URL goes into the provider's cabinet, that URL; anyone else gets the
    provider kinds and sender names only."""
    described = []
    for account in portal.active_accounts:
        entry = {"kind": account.kind, "sender": account.sender or ""}
        if full:
            cls = providers.PROVIDERS.get(account.kind)
            secret_names = {s.name for s in cls.credential_settings if s.secret} if cls else set(account.credentials)
            entry["credentials"] = {name: (MASK if name in secret_names and value else value)
                                    for name, value in (account.credentials or {}).items()}
            if cls is not None and cls.receipts == ACCOUNT:
                entry["callback_url"] = callback_urls.url_for(settings.public_url, account)
            entry["balance_threshold"] = account.balance_threshold
            entry.update(reply_numbers.describe(settings, account))
        described.append(entry)
    return described


def save_and_register(services: Services, session, portal, entries, sender_entries):
    """Save the chain (and the sender names, when `sender_entries` is not None), then register the portal's
    senders (Bitrix trouble leaves `sender_registered` false)."""
    names = sender_names.parse(sender_entries)  # refused before any provider is called
    retired = save_settings(services, session, portal, entries, names)
    messageservice_senders.sync_sender(services, session, portal, check_first=False, retired=retired)


def save_settings(services: Services, session, portal, entries, names):
    """Replace the portal's failover chain with `entries`, each checked first against what its provider declares
    it takes as a sender, then against the provider itself (credentials, then the sender names it will send with,
    where it lists its approved ones); with `names`, the portal's sender names too. Returns the sender CODEs no
    name has any more."""
    if not isinstance(entries, list) or not entries:
        raise BadRequest(N_("Add at least one SMS provider."), "invalid_settings")
    settings = services.settings
    existing = {account.kind: account for account in portal.accounts}
    offered = providers.offered(settings)
    cleaned = [_clean_entry(index, entry, existing, offered) for index, entry in enumerate(entries)]
    thresholds = balances.parse_thresholds(entries)
    kinds = [kind for kind, _, _ in cleaned]
    if len(set(kinds)) != len(kinds):
        raise BadRequest(N_("Each provider may appear once in the chain."), "invalid_settings")
    wanted_numbers = reply_numbers.parse(session, portal, entries, offered)  # before any provider is called

    to_send_with = portal.sender_names if names is None else names
    for index, (kind, sender, _) in enumerate(cleaned):  # the providers' declared limits: before any is called
        sender_names.check_limits(offered[kind], approved_names.names_to_check(index, sender, offered[kind],
                                                                                to_send_with))
    for index, (kind, sender, credentials) in enumerate(cleaned):
        provider = providers.build(kind, credentials, sender, settings, services.http)
        asked(provider, provider.check_credentials, refused=N_("%(provider)s refused the credentials: %(words)s"),
              other=N_("%(provider)s refused the settings: %(words)s"))
        approved_names.check(provider, approved_names.names_to_check(index, sender, offered[kind], to_send_with))

    for account in portal.accounts:
        account.position = None  # retired unless named again below; kept for polling its messages
    saved = []
    for position, (kind, sender, credentials) in enumerate(cleaned):
        account = existing.get(kind)
        if account is None:
            account = ProviderAccount(kind=kind, portal=portal)
            session.add(account)
        saved.append(account)
        account.position = position
        account.sender = sender or None
        account.credentials = credentials
        balances.set_threshold(account, thresholds[position])
        if providers.PROVIDERS[kind].receipts or providers.PROVIDERS[kind].receives_replies():
            callback_urls.assign_secret(account)  # its receipt and reply URLs carry it
    reply_numbers.store(session, portal, saved, wanted_numbers)
    retired = sender_names.store(session, settings, portal, names) if names is not None else set()
    session.commit()
    session.expire(portal, ["accounts"])  # the relationship is ordered by position: read it again
    _register_receipts(services, saved)
    reply_numbers.hook(services, session, saved)
    return retired


def _register_receipts(services, accounts):
    """Hand each provider whose API takes the account's receipt URL (SMS.RU) that URL, now that it answers.
    Trouble there loses nothing: the settings stay saved and the provider's messages are polled."""
    for account in accounts:
        url = callback_urls.url_for(services.settings.public_url, account)
        if url is None:
            continue
        try:
            providers.for_account(account, services.settings, services.http).register_receipts(url)
        except ProviderError as exc:  # its words only: the URL carries the account's secret
            logger.warning("%s did not take the receipt URL (%s): its messages are polled", account.kind, exc)
        except Exception as exc:  # noqa: BLE001 - a save must not be lost to this
            logger.warning("registering the %s receipt URL failed (%s): its messages are polled", account.kind,
                           type(exc).__name__)


def _clean_entry(index, entry, existing_accounts, offered):
    """(kind, sender, credentials) of one chain entry, validated against the provider's declared settings."""
    if not isinstance(entry, dict):
        raise BadRequest(N_("providers[%(index)s] must be an object."), "invalid_settings", index=index)
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in offered:
        raise BadRequest(N_("providers[%(index)s].kind: unknown provider %(kind)r."), "invalid_settings", index=index,
                         kind=str(kind)[:40])
    cls = offered[kind]
    existing = existing_accounts.get(kind)
    given = entry.get("credentials") or {}
    if not isinstance(given, dict):
        raise BadRequest(N_("providers[%(index)s].credentials must be an object."), "invalid_settings", index=index)
    credentials = {}
    for setting in cls.credential_settings:
        value = given.get(setting.name, "")
        if not isinstance(value, str):
            raise BadRequest(N_("%(field)s must be text."), "invalid_settings", index=index, field=setting.label,
                             field_path=f"providers[{index}].credentials.{setting.name}")
        value = value.strip()
        if setting.secret and value == MASK:
            value = (existing.credentials or {}).get(setting.name, "") if existing else ""
        if setting.required and not value:
            raise BadRequest(N_("Fill in %(field)s."), "invalid_settings", field=setting.label,
                             field_path=f"providers[{index}].credentials.{setting.name}")
        credentials[setting.name] = value
    _refuse_half_a_group(index, cls, credentials)
    sender = sender_names.own_sender(entry.get("sender") or "", f"providers[{index}].sender")
    if cls.sender_setting and cls.sender_setting.required and not sender:
        raise BadRequest(N_("Fill in %(field)s."), "invalid_settings", field=cls.sender_setting.label,
                         field_path=f"providers[{index}].sender")
    return kind, sender if cls.sender_setting else "", credentials


def _refuse_half_a_group(index, cls, credentials):
    """Optional settings that go together (Devino's older login and its password) are all filled in or none."""
    for setting in cls.credential_settings:
        partners = [other for other in cls.credential_settings
                    if setting.together and other.together == setting.together and other is not setting]
        if any(credentials.get(other.name) for other in partners) and not credentials.get(setting.name):
            raise BadRequest(N_("Fill in %(field)s too, or leave empty the fields that go with it."),
                             "invalid_settings", field=setting.label,
                             field_path=f"providers[{index}].credentials.{setting.name}")
