"""Provider account health: an account that keeps timing out is skipped for new messages until it answers again.

Every provider call reports its outcome here. A timeout, a lost answer or a failed connection adds one to the
account's `timeouts_in_row`; any answer, even a refusal or an HTTP 503, resets it. After SKIP_AFTER in a row the
account is skipped until `skip_until`. When that passes, one call is a probe: the first runner to move
`skip_until` on makes it, the others keep skipping; an answer ends the skip, another timeout extends it.

Web threads and job runners on many machines share an account, so each change is one conditional UPDATE
(the database does the arithmetic), never a value read before a provider call and written after it.
"""
from datetime import timedelta

from sqlalchemy import case, select, update

from b24sms.providers.base import AnswerLost, Unreachable
from b24sms.store.models import ProviderAccount

SKIP_AFTER = 3  # timeouts in a row before new messages skip the account
PROBE_EVERY = timedelta(seconds=90)  # while skipped, one call this often finds out whether it answers again


def is_hanging(error):
    """Whether a failed call says the provider hangs or cannot be reached (as opposed to an answer)."""
    return isinstance(error, (AnswerLost, Unreachable))


def record(session, account_id, now, error=None):
    """Count the outcome of one call to the account (`error`: the ProviderError it raised, if any)."""
    account = ProviderAccount.__table__.c
    if is_hanging(error):
        statement = update(ProviderAccount).where(account.id == account_id).values(
            timeouts_in_row=account.timeouts_in_row + 1,
            skip_until=case((account.timeouts_in_row + 1 >= SKIP_AFTER, now + PROBE_EVERY),
                            else_=account.skip_until))
        session.execute(statement.execution_options(synchronize_session=False))
    else:
        record_answers(session, [account_id])


def record_answers(session, account_ids):
    """Record that each of these accounts answered its calls (one statement for them all): only an account with
    something to clear is written (no lock on the hot path)."""
    if account_ids:
        account = ProviderAccount.__table__.c
        session.execute(update(ProviderAccount)
                        .where(account.id.in_(account_ids),
                               (account.timeouts_in_row != 0) | account.skip_until.is_not(None))
                        .values(timeouts_in_row=0, skip_until=None).execution_options(synchronize_session=False))


def skips(session, accounts, now):
    """{account id: skipped until} for the accounts that new messages skip now."""
    ids = [account.id for account in accounts]
    if not ids:
        return {}
    rows = session.execute(select(ProviderAccount.id, ProviderAccount.skip_until)
                           .where(ProviderAccount.id.in_(ids), ProviderAccount.skip_until > now)).all()
    return dict(rows)


def take_call(session, account_id, now):
    """Whether this runner may call the account now: yes when it is not skipped; when its skip is over, yes for
    the one runner that claims the probe (and commits the claim, so that no lock is held across the call)."""
    skip_until = session.scalar(select(ProviderAccount.skip_until).where(ProviderAccount.id == account_id))
    if skip_until is None:
        return True
    if skip_until > now:
        return False
    claimed = session.execute(
        update(ProviderAccount)
        .where(ProviderAccount.id == account_id, ProviderAccount.skip_until <= now)
        .values(skip_until=now + PROBE_EVERY)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    session.commit()
    return claimed


class PassGate:
    """One job pass's view of which accounts may be called. An account that is skipped, or that timed out
    earlier in this pass, is not called again in this pass: each call to a hung provider waits out the whole
    timeout, and other portals' messages should not wait behind them."""

    def __init__(self):
        self.closed = set()
        self.open = set()  # let through once in this pass (maybe as the probe): not claimed again

    def is_closed(self, account_id):
        return account_id in self.closed

    def may_call(self, session, account_id, now):
        if account_id in self.closed:
            return False
        if account_id in self.open or take_call(session, account_id, now):
            self.open.add(account_id)
            return True
        self.closed.add(account_id)
        return False

    def halts(self, account_id):
        """For Workers.call_each: stop calling the account once it is closed, or one of these calls hung."""
        return lambda done: account_id in self.closed or any(map(is_hanging, done))

    def note(self, session, account_id, now, error=None):
        """Record a call's outcome; a hanging one closes the account for the rest of the pass."""
        record(session, account_id, now, error)
        if is_hanging(error):
            self.closed.add(account_id)
