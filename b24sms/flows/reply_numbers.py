"""The numbers that receive a portal's replies, saved with its provider chain (PUT /api/settings, each entry's
`reply_numbers`): checked before any provider is called, stored as the account's set, then, where the provider's
API sets a number's incoming URL (REPLIES_HOOKED), pointed at our inbound URL."""
import logging

from sqlalchemy import select
from sqlalchemy.orm import object_session

from b24sms import providers
from b24sms.providers.base import REPLIES_HOOKED, REPLIES_PASTED, ProviderError
from b24sms.rules.errors import N_, BadRequest
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.store import callback_urls
from b24sms.store.reply_models import ReplyNumber

logger = logging.getLogger(__name__)
MAX_NUMBERS = 20  # reply numbers one provider account may have
MAX_HOOK_ERROR = 500
HOOK_FAILED = N_("The provider could not be asked to send this number's replies to b24sms.")


def parse(session, portal, entries, offered):
    """Each chain entry's reply numbers in E.164 (None where the entry does not say: its numbers stay), refused
    at the field (`providers[i].reply_numbers[j]`) when a number is not one, is another portal's, or its provider
    cannot receive SMS. Call after the entries themselves were checked."""
    wanted, seen = [], {}
    for index, entry in enumerate(entries):
        raw = entry.get("reply_numbers") if isinstance(entry, dict) else None
        path = f"providers[{index}].reply_numbers"
        if raw is None:
            wanted.append(None)
            continue
        cls = offered[entry["kind"]]
        if not isinstance(raw, list):
            raise BadRequest(N_("The reply numbers must be a list of phone numbers."), "invalid_settings",
                             field_path=path)
        if raw and not cls.reply_ways:
            raise BadRequest(N_("%(provider)s cannot receive SMS: it takes no reply numbers."), "replies_unsupported",
                             field_path=path, provider=cls.title)
        if len(raw) > MAX_NUMBERS:
            raise BadRequest(N_("At most %(most)s reply numbers per provider."), "too_many_numbers",
                             field_path=path, most=MAX_NUMBERS)
        numbers = []
        for position, value in enumerate(raw):
            try:
                number = normalize(value if isinstance(value, str) else "", portal.region)
            except InvalidPhone:
                raise BadRequest(N_("%(number)s is not a phone number."), "invalid_number",
                                 field_path=f"{path}[{position}]", number=str(value)[:40]) from None
            if number in seen and seen[number] != index:
                raise BadRequest(N_("%(number)s is already a reply number of another provider here."),
                                 "duplicate_number", field_path=f"{path}[{position}]", number=number)
            seen[number] = index
            if number not in numbers:
                numbers.append(number)
        wanted.append(numbers)
    _refuse_other_portals(session, portal, wanted)
    return wanted


def _refuse_other_portals(session, portal, wanted):
    given = {number: (index, position) for index, numbers in enumerate(wanted) for position, number
             in enumerate(numbers or [])}
    if not given:
        return
    taken = session.scalars(select(ReplyNumber.number).where(ReplyNumber.number.in_(list(given)),
                                                             ReplyNumber.portal_id != portal.id)).all()
    if taken:
        index, position = min(given[number] for number in taken)
        number = wanted[index][position]
        raise BadRequest(N_("%(number)s already receives replies for another Bitrix24 portal."), "number_taken",
                         field_path=f"providers[{index}].reply_numbers[{position}]", number=number)


def store(session, portal, accounts, wanted):
    """Replace each account's reply numbers with its `wanted` set (None: keep them); the numbers of accounts no
    longer in the chain go. A number moved between the portal's accounts keeps its row. The caller commits."""
    session.flush()  # new accounts get their ids
    rows = {row.number: row for row in session.scalars(select(ReplyNumber)
                                                       .where(ReplyNumber.portal_id == portal.id))}
    keep = set()
    for account, numbers in zip(accounts, wanted, strict=True):
        if numbers is None:
            keep |= {number for number, row in rows.items() if row.account_id == account.id}
            continue
        for number in numbers:
            row = rows.get(number)
            if row is None:
                row = rows[number] = ReplyNumber(portal_id=portal.id, number=number, hooked=False)
                session.add(row)
            if row.account_id != account.id:
                row.account_id, row.hooked, row.hook_error = account.id, False, None
            keep.add(number)
    for number, row in rows.items():
        if number not in keep:
            session.delete(row)


def hook(services, session, accounts):
    """Point every reply number of the accounts whose provider's API sets incoming URLs at the account's inbound
    URL, recording per number whether that worked. Trouble loses nothing: the numbers stay saved, the page shows
    the words, and the next save tries again."""
    settings = services.settings
    for account in accounts:
        cls = providers.PROVIDERS.get(account.kind)
        if cls is None or REPLIES_HOOKED not in cls.reply_ways:
            continue
        rows = numbers_of(session, account)
        if not rows:
            continue
        url = callback_urls.inbound_url_for(settings.public_url, account)
        provider = providers.for_account(account, settings, services.http)
        for row in rows:
            try:
                provider.hook_replies(row.number, url)
            except ProviderError as exc:  # its words only: the URL carries the account's secret
                row.hooked, row.hook_error = False, str(exc)[:MAX_HOOK_ERROR] or HOOK_FAILED
                logger.warning("%s did not take the inbound URL of a reply number (%s)", account.kind, exc)
            except Exception as exc:  # noqa: BLE001 - a save must not be lost to this
                row.hooked, row.hook_error = False, HOOK_FAILED
                logger.warning("hooking a %s reply number failed (%s)", account.kind, type(exc).__name__)
            else:
                row.hooked, row.hook_error = True, None
    session.commit()


def numbers_of(session, account):
    return list(session.scalars(select(ReplyNumber).where(ReplyNumber.account_id == account.id)
                                .order_by(ReplyNumber.id)))


def portal_numbers(session, portal):
    """The portal's reply numbers (E.164), in the order they were added."""
    return list(session.scalars(select(ReplyNumber.number).where(ReplyNumber.portal_id == portal.id)
                                .order_by(ReplyNumber.id)))


def describe(settings, account):
    """What GET /api/settings adds to an admin's view of an account whose provider receives SMS: its numbers,
    for a pasted way the URL to paste and where (`replies_help`, to be translated), for a hooked way each number's
    outcome."""
    cls = providers.PROVIDERS.get(account.kind)
    if cls is None or not cls.reply_ways:
        return {}
    rows = numbers_of(object_session(account), account) if account.id is not None else []
    described = {"reply_numbers": [row.number for row in rows]}
    if REPLIES_PASTED in cls.reply_ways:
        url = callback_urls.inbound_url_for(settings.public_url, account)
        described["inbound_url"] = url and url + cls.pasted_url_query
        described["replies_help"] = cls.replies_help
    if REPLIES_HOOKED in cls.reply_ways:
        described["reply_hooks"] = [{"number": row.number, "hooked": row.hooked, "error": row.hook_error}
                                    for row in rows]
    return described
