"""Provider balances: what the settings page shows, each account's threshold set by the admin, and the job's
hourly check of the accounts that have one (a balance below it, or refused credentials, is noted for the
portal's admins: b24sms/bitrix/notices.py)."""
import logging
import math
from datetime import timedelta

from sqlalchemy import or_, select, update

from b24sms import providers
from b24sms.bitrix import notices
from b24sms.providers.base import InvalidCredentials, ProviderError
from b24sms.rules.errors import N_, BadRequest
from b24sms.services import Services
from b24sms.store.models import Portal, PortalState, ProviderAccount, utcnow

logger = logging.getLogger(__name__)
CHECK_EVERY = timedelta(hours=1)  # an account's balance is asked for at most this often by the job
MAX_THRESHOLD = 1e12
KEEP = object()  # a chain entry that does not name a threshold keeps the stored one


# ---------------------------------------------------------------- the admin's thresholds
def parse_thresholds(entries):
    """The `balance_threshold` of each chain entry (already checked to be objects): a number >= 0, None (no
    threshold), or KEEP when the entry does not name one. Refused (400) before any provider is called."""
    return [_threshold(index, entry) for index, entry in enumerate(entries)]


def _threshold(index, entry):
    if "balance_threshold" not in entry:
        return KEEP
    value = entry["balance_threshold"]
    if isinstance(value, str):  # a form field's text: "" is no threshold, "100,5" a number
        value = value.strip().replace(",", ".")
        if not value:
            return None
        try:
            value = float(value)
        except ValueError:
            value = math.nan
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_THRESHOLD:
        raise BadRequest(N_("The balance threshold must be a number, zero or more, or empty for none."),
                         "invalid_settings", field_path=f"providers[{index}].balance_threshold")
    return float(value)


def set_threshold(account, threshold):
    """Store an account's threshold (KEEP: leave it); a changed one is checked at the next job pass."""
    if threshold is KEEP or threshold == account.balance_threshold:
        return
    account.balance_threshold = threshold
    account.balance_checked_at = None


def is_low(amount, threshold):
    return amount is not None and threshold is not None and float(amount) < threshold


# ---------------------------------------------------------------- GET /api/balance
def portal_balances(services: Services, session, portal):
    """Each configured provider's balance (or its error), its threshold, and whether the balance is below it.
    A provider that refuses the credentials here is noted for the admins' notice like anywhere else."""
    answer = []
    for account in portal.active_accounts:
        entry = {"provider": account.kind, "balance": None, "currency": None,
                 "threshold": account.balance_threshold, "low": False}
        try:
            result = providers.for_account(account, services.settings, services.http).balance()
        except ProviderError as exc:
            entry["error"] = {"code": exc.kind, "message": exc.text}
            notices.note_refusal(session, account, [exc])
        else:
            entry["balance"] = None if result.amount is None else float(result.amount)
            entry["currency"] = result.currency
            entry["low"] = is_low(result.amount, account.balance_threshold)
        answer.append(entry)
    session.commit()
    return answer


# ---------------------------------------------------------------- the job's hourly check
def accounts_due_check(session, now):
    return session.scalars(
        select(ProviderAccount.id).join(Portal, Portal.id == ProviderAccount.portal_id)
        .where(ProviderAccount.balance_threshold.is_not(None), ProviderAccount.position.is_not(None),
               Portal.state == PortalState.ACTIVE, _due(now))
    ).all()


def check_due(services: Services, workers, gate):
    """Ask for the balance of every account with a threshold not checked within the hour, accounts in
    parallel; note what the admins should hear of. Returns how many accounts were asked."""
    with services.db.session() as session:
        account_ids = accounts_due_check(session, utcnow())
    return workers.map(account_ids, lambda session, account_id: _check(services, gate, session, account_id))


def _due(now):
    return or_(ProviderAccount.balance_checked_at.is_(None), ProviderAccount.balance_checked_at <= now - CHECK_EVERY)


def _check(services, gate, session, account_id):
    now = utcnow()
    # The hour's slot: a conditional UPDATE, so that of two passes at once only one asks.
    taken = session.execute(update(ProviderAccount).where(ProviderAccount.id == account_id, _due(now))
                            .values(balance_checked_at=now).execution_options(synchronize_session=False)).rowcount
    session.commit()
    if taken != 1 or not gate.may_call(session, account_id, now):  # it hangs: asked again in an hour
        return 0
    account = session.get(ProviderAccount, account_id)
    try:
        result = providers.for_account(account, services.settings, services.http).balance()
    except ProviderError as exc:
        gate.note(session, account_id, utcnow(), exc)
        if isinstance(exc, InvalidCredentials):
            notices.note_refusal(session, account, [exc])
        else:
            logger.info("balance check of %s account %s failed: %s", account.kind, account_id, exc)
        session.commit()
        return 1
    gate.note(session, account_id, utcnow())
    notices.clear(session, account_id, notices.CREDENTIALS_REFUSED)  # it took the credentials
    if is_low(result.amount, account.balance_threshold):
        notices.note(session, account.portal_id, account_id, notices.LOW_BALANCE,
                     {"balance": str(result.amount), "currency": result.currency,
                      "threshold": account.balance_threshold})
    elif result.amount is not None:
        notices.clear(session, account_id, notices.LOW_BALANCE)
    session.commit()
    return 1
