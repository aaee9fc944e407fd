"""The failover chain: which provider account a message goes to next, read from its attempt log.

Rules:
- a recipient-side refusal (bad number, blocked text) ends the message: no other provider is asked;
- a provider-side refusal (bad credentials, no money, sender not allowed, ...) takes that account out of this
  message's chain, and so does giving an account up after a lost answer it could not be asked about;
- a transient failure (timeout, 5xx, rate limit) hands the message to the next account in the chain at once;
  after the whole chain failed it waits (backoff) and starts again from the primary; each account gets at most
  `max_attempts` transient failures;
- an account that hangs (skipped, see provider_health) is passed over without a call and without counting
  against the message; when every account still usable is skipped, the message waits for one to answer again;
- when no account is left the message fails with the last error.

Everything here is pure: the chain, the log and the skipped accounts in, a Route out.
"""
from dataclasses import dataclass
from datetime import datetime

ACCEPTED = "accepted"
PENDING = "pending"
SKIPPED = "skipped"  # passed over because the account hangs: no call was made
GIVEN_UP = "given_up"  # after a lost answer it could not be asked about: out of this message's chain
NOT_CALLS = (SKIPPED, GIVEN_UP)


@dataclass(frozen=True)
class Route:
    # The ProviderAccount to try. None: nothing is left and the message fails, or (with `wait`) every usable
    # account is skipped and the message waits for one to answer again.
    account: object
    wait: bool = False  # True with an account: a new round through the chain, after a backoff
    passed_over: tuple = ()  # usable accounts skipped on the way to `account` (they hang)

    @property
    def held(self):
        """Every account that could still take the message is skipped: wait, do not fail."""
        return self.account is None and self.wait


# ---- the attempt log ----
def started(log, account, at):
    """The log with a call to `account` under way: written before the call, so that a runner dying mid-call
    leaves a trace of which provider may have the message."""
    return [*(log or []), _entry(account, at, PENDING)]


def settled(log, at, error=None):
    """The log with its last (pending) call closed: accepted, or the error's kind and code. `at` becomes the
    settling time; when the call started is kept as `called_at` (reconciling by content needs it)."""
    entry = {**log[-1], "called_at": log[-1].get("called_at", log[-1]["at"]), "at": _iso(at)}
    if error is None:
        entry["result"] = ACCEPTED
    else:
        entry.update(result=error.kind, retryable=error.retryable)
        if error.code:
            entry["code"] = error.code
    return [*log[:-1], entry]


def passed_over(log, accounts, at):
    """The log with a `skipped` entry for each account passed over, unless its latest entry already says so
    (a message waiting out a long outage does not grow its log each round)."""
    log = list(log or [])
    for account in accounts:
        latest = next((entry for entry in reversed(log) if entry.get("account") == account.id), None)
        if latest is None or latest.get("result") != SKIPPED:
            log.append(_entry(account, at, SKIPPED))
    return log


def given_up(log, account, at, reason):
    """The log with `account` given up for this message (it counts as refused from now on)."""
    return [*(log or []), {**_entry(account, at, GIVEN_UP), "code": reason, "retryable": False}]


def was_given_up(log, account_id):
    return any(entry.get("account") == account_id and entry.get("result") == GIVEN_UP for entry in log or [])


def in_flight(log):
    """The account id of a call that started and never settled, or None."""
    if log and log[-1].get("result") == PENDING:
        return log[-1]["account"]
    return None


def last_call_at(log):
    """When the last provider call was made (or settled), or None; skips and give-ups are not calls."""
    calls = [entry for entry in log or [] if entry.get("result") not in NOT_CALLS]
    try:
        return datetime.fromisoformat(calls[-1]["at"].removesuffix("Z")) if calls else None
    except (KeyError, ValueError):
        return None


def first_call_at(log, account_id):
    """When the message's first call to `account_id` started, or None where a start is not known (a log written
    before starts were kept, or a date that cannot be read)."""
    starts = [entry.get("called_at") if entry.get("result") != PENDING else entry.get("at")
              for entry in log or [] if entry.get("account") == account_id and entry.get("result") not in NOT_CALLS]
    try:
        return min(datetime.fromisoformat(start.removesuffix("Z")) for start in starts) if starts else None
    except (AttributeError, TypeError, ValueError):  # a start missing (None) or not a date
        return None


def _entry(account, at, result):
    return {"account": account.id, "provider": account.kind, "at": _iso(at), "result": result}


def _iso(moment):
    return moment.isoformat() + "Z"


# ---- the rule ----
def transient_failures(log, account_id):
    return sum(1 for entry in log if entry["account"] == account_id and entry.get("retryable"))


def refused(log, account_id):
    return any(entry["account"] == account_id and not entry.get("retryable")
               and entry["result"] not in (ACCEPTED, PENDING, SKIPPED) for entry in log)


def usable_accounts(chain, log, max_attempts):
    return [account for account in chain
            if not refused(log, account.id) and transient_failures(log, account.id) < max_attempts]


def first_route(chain, log, max_attempts, preferred_id=None, skipped=()):
    """Where a message starts (or resumes after a wait): the account chosen before, if still usable, else the
    first usable one; skipped accounts (ids in `skipped`) are passed over."""
    usable = usable_accounts(chain, log, max_attempts)
    in_order = sorted(usable, key=lambda account: account.id != preferred_id)  # stable: chain order after it
    return _first_open(in_order, skipped)


def next_route(chain, log, max_attempts, failed_id, skipped=()):
    """After a provider-side or transient failure at `failed_id`: the next usable account later in the chain
    (at once), else the first usable one from the top (after a wait), else none. Skipped accounts are passed
    over either way."""
    usable = usable_accounts(chain, log, max_attempts)
    positions = {account.id: index for index, account in enumerate(chain)}
    failed_at = positions.get(failed_id, -1)
    later = _first_open([account for account in usable if positions[account.id] > failed_at], skipped)
    if later.account is not None:
        return later
    from_the_top = _first_open(usable, skipped, wait=True)
    passed = {account.id: account for account in (*later.passed_over, *from_the_top.passed_over)}
    return Route(from_the_top.account, wait=from_the_top.wait, passed_over=tuple(passed.values()))


def _first_open(accounts, skipped, wait=False):
    passed = []
    for account in accounts:
        if account.id not in skipped:
            return Route(account, wait=wait, passed_over=tuple(passed))
        passed.append(account)
    return Route(None, wait=bool(passed), passed_over=tuple(passed))
