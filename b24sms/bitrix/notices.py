"""Notices to a portal's admins in Bitrix24 (`im.notify.system.add`): a provider account's balance fell below
the threshold its admin set, or the provider refuses the account's credentials.

At most one notice a day per cause, a cause being (account, "low_balance") or (account, "credentials_refused").
Whoever sees a cause notes it (`note`: one upsert, in the caller's transaction): the balance check
(b24sms/flows/balances.py), a send or a status poll that the provider answered with InvalidCredentials. A noted
cause is due at once, or when the day since its last notice is over. The job's `send_due` claims due notices
with the project's claim primitive (b24sms/store/claims.py: FOR UPDATE SKIP LOCKED and a stamping UPDATE); the lease
is the quiet day itself, so two passes at once never both send one, and a runner that dies mid-call leaves the
notice to be tried again only the next day.

A cause not seen again for STALE_AFTER is not told (the admin mended it meanwhile); a portal that is not active
(needs_reauth, uninstalled) gets no notices. When Bitrix24 refuses the notice (the app lacks the `im` scope,
`ACCESS_DENIED`, ...), that is logged and tried again the next day.

The texts come from the gettext catalogue like the pages' words; a job pass has no request to carry a language,
so the portal's own (Portal.language) picks one.
"""
import logging
from datetime import timedelta

from sqlalchemy import case, select, update

from b24sms import providers
from b24sms.bitrix.errors import BitrixError
from b24sms.bitrix.portal_tokens import rest_client
from b24sms.i18n import format_money, format_number, language_for, translate_to
from b24sms.providers.base import InvalidCredentials
from b24sms.rules.errors import N_
from b24sms.services import Services
from b24sms.store import claims
from b24sms.store.db import dialect_of, insert_of
from b24sms.store.models import Portal, PortalNotice, PortalState, ProviderAccount, utcnow

logger = logging.getLogger(__name__)

LOW_BALANCE = "low_balance"
CREDENTIALS_REFUSED = "credentials_refused"
# Causes of the portal itself (no account): a cap of its guard rails was reached (the reasons' own words).
DAILY_CAP = "daily_cap"
MONTHLY_CAP = "monthly_cap"
QUIET = timedelta(days=1)  # one notice per cause this often at most; a refused notice is tried again after it
STALE_AFTER = timedelta(hours=3)  # a cause last seen longer ago is over (balances are checked hourly)
CLAIM_LIMIT = 20  # notices of one portal one claim takes
MAX_WORDS = 300  # of a provider's words quoted in a notice
NOTICES = claims.Queue(PortalNotice, PortalNotice.due_at, PortalNotice.lease, None)

TEXTS = {  # in the gettext catalogue like every other word; translated into the portal's language
    LOW_BALANCE: N_("b24sms: the balance of your %(provider)s account is %(balance)s, below the threshold of "
                    "%(threshold)s set in the app. Top it up so that SMS keep going out."),
    CREDENTIALS_REFUSED: N_("b24sms: %(provider)s refuses the account's credentials saved in the app (%(words)s). "
                            "SMS cannot go out through it: check the login and password (or key) in the app's "
                            "settings."),
    DAILY_CAP: N_("b24sms: today's cap of %(cap)s set in the app is reached. Further SMS today are not sent: they "
                  "fail with the reason \"daily cap\". Raise the cap in the app's settings if that is wrong."),
    MONTHLY_CAP: N_("b24sms: this month's cap of %(cap)s set in the app is reached. Further SMS this month are not "
                    "sent: they fail with the reason \"monthly cap\". Raise the cap in the app's settings if that "
                    "is wrong."),
}
PORTAL_CAUSES = (DAILY_CAP, MONTHLY_CAP)


# ---------------------------------------------------------------- noting causes (any runner, any process)
def note(session, portal_id, account_id, cause, detail):
    """The cause was seen now (`detail`: what the notice will say); `account_id` None: a cause of the portal
    itself. A new cause is due at once; one noted again keeps its due time; one told within the last day becomes
    due when that day is over. Not committed."""
    now = utcnow()
    table = PortalNotice.__table__
    insert = insert_of(dialect_of(session))
    statement = insert(table).values(portal_id=portal_id, account_id=account_id, cause=cause,
                                             detail=detail, noted_at=now, due_at=now)
    column = table.c
    if account_id is None:  # the portal's own causes are unique under a partial index
        target = {"index_elements": [column.portal_id, column.cause], "index_where": column.account_id.is_(None)}
    else:
        target = {"index_elements": [column.portal_id, column.account_id, column.cause]}
    session.execute(statement.on_conflict_do_update(
        **target,
        set_={"detail": statement.excluded.detail, "noted_at": statement.excluded.noted_at,
              "due_at": case((column.due_at.is_not(None), column.due_at),
                             (column.quiet_until > now, column.quiet_until), else_=now)}))


def note_refusal(session, account, results):
    """Note refused credentials if any of a provider call's results (ProviderErrors among them) says so."""
    refusal = next((result for result in results if isinstance(result, InvalidCredentials)), None)
    if refusal is not None:
        note(session, account.portal_id, account.id, CREDENTIALS_REFUSED, {"words": refusal.text[:MAX_WORDS]})


def clear(session, account_id, cause):
    """The cause is over (the balance is back, the provider took the credentials): a notice not yet being sent
    is not sent. Not committed."""
    session.execute(update(PortalNotice)
                    .where(PortalNotice.account_id == account_id, PortalNotice.cause == cause,
                           PortalNotice.due_at.is_not(None), PortalNotice.lease.is_(None))
                    .values(due_at=None).execution_options(synchronize_session=False))


# ---------------------------------------------------------------- the job's duty
def portals_with_due_notices(session, now):
    return session.scalars(select(PortalNotice.portal_id).join(Portal, Portal.id == PortalNotice.portal_id)
                           .where(PortalNotice.due_at <= now, Portal.state == PortalState.ACTIVE)
                           .distinct()).all()


def send_due(services: Services, workers):
    """Send the due notices, portals in parallel. Returns how many notices went out."""
    with services.db.session() as session:
        portal_ids = portals_with_due_notices(session, utcnow())
    return workers.map(portal_ids, lambda session, portal_id: _send_portal(services, session, portal_id))


def _send_portal(services, session, portal_id):
    now = utcnow()
    claim = claims.claim(session, NOTICES, (PortalNotice.portal_id == portal_id,), now=now, lease=QUIET,
                         limit=CLAIM_LIMIT,
                         among=((Portal, Portal.id == PortalNotice.portal_id, Portal.state == PortalState.ACTIVE),))
    notices = claims.held(session, NOTICES, claim)
    if not notices:
        return 0
    portal = session.get(Portal, portal_id)
    accounts = {account.id: account for account in session.scalars(
        select(ProviderAccount).where(ProviderAccount.id.in_({notice.account_id for notice in notices})))}
    session.commit()  # nothing stays locked across the Bitrix24 calls
    client = rest_client(services, portal)
    sent = 0
    for notice in notices:
        outcome = _send_one(client, portal, accounts.get(notice.account_id), notice, utcnow())
        if not claims.settle(session, NOTICES, notice.id, claim, **outcome):
            logger.warning("notice %s of portal %s: its claim was taken over; the new holder settles it",
                           notice.id, portal.domain)
        session.commit()
        sent += "last_sent_at" in outcome
    return sent


def _send_one(client, portal, account, notice, now):
    """Tell the portal's admins of one notice. Returns the notice's columns to write once it is settled."""
    gone = account is None or account.position is None  # the account left the chain
    if (gone and notice.cause not in PORTAL_CAUSES) or notice.noted_at is None \
            or notice.noted_at < now - STALE_AFTER:  # or the cause is over
        return {"due_at": None}
    admins = [str(user_id) for user_id in (portal.admin_user_ids or [])]
    if not admins:
        logger.warning("notice %s for portal %s: no admin of the portal is known yet (none opened the app since); "
                       "trying again in a day", notice.cause, portal.domain)
        return {"due_at": now + QUIET, "last_error": "no admin known"}
    text = compose(notice.cause, language_for(portal.language), account.kind if account else None,
                   notice.detail or {})
    commands = {f"u{user_id}": ("im.notify.system.add", {
        "USER_ID": user_id, "MESSAGE": text, "MESSAGE_OUT": text,
        # A newer notice of the same cause replaces the older one in the admin's list.
        "TAG": f"b24sms|{notice.cause}|{notice.account_id}|{user_id}", "SUB_TAG": f"b24sms|{notice.cause}",
    }) for user_id in admins}
    try:
        answer = client.batch(commands)
    except BitrixError as exc:
        return _refused(portal, notice, now, f"{exc.code}: {exc.description}" if exc.description else exc.code)
    told = [key for key, result in answer.results.items() if result not in (None, False)]
    problems = "; ".join(f"user {key[1:]}: {error}" for key, error in answer.errors.items())
    if not told:
        return _refused(portal, notice, now, problems or "Bitrix24 created no notification")
    if problems:
        logger.warning("notice %s for portal %s reached %d admins, not all: %s", notice.cause, portal.domain,
                       len(told), problems)
    logger.info("notice %s for portal %s sent to %d admins", notice.cause, portal.domain, len(told))
    return {"due_at": None, "last_sent_at": now, "quiet_until": now + QUIET, "last_error": problems or None}


def _refused(portal, notice, now, why):
    logger.warning("notice %s for portal %s could not be sent (%s); trying again in a day", notice.cause,
                   portal.domain, why)
    return {"due_at": now + QUIET, "last_error": why[:1000]}


def compose(cause, language, kind, detail):
    """The notice's text in `language` ("ru" or "en")."""
    cls = providers.PROVIDERS.get(kind)
    # Numbers as the settings page shows them (b24sms/i18n.py): 1 234,50 in Russian, 1,234.50 in English.
    values = {"provider": cls.title if cls else kind,
              "balance": format_money(language, detail.get("balance"), detail.get("currency")),
              "threshold": format_money(language, detail.get("threshold"), detail.get("currency")),
              "words": _plain(detail.get("words") or ""), "cap": _cap(language, detail.get("cap"))}
    return translate_to(language, TEXTS[cause], values)


def _cap(language, cap):
    """A cap as noted: a count of messages ("1000 SMS") or an amount of money ("1500.5")."""
    text = "?" if cap is None else str(cap)
    count, _, unit = text.partition(" ")
    try:
        return f"{format_number(language, count)} {unit}" if unit else format_money(language, count)
    except (ValueError, ArithmeticError):
        return text


def _plain(words):
    """A provider's words as plain text: Bitrix24 reads [b], [url=...] and the like in notices as BB-code."""
    return " ".join(str(words).replace("[", "(").replace("]", ")").split())[:MAX_WORDS]
