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
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

ACCEPTED = "accepted"
PENDING = "pending"
SKIPPED = "skipped"  # passed over because the account hangs: no call was made
GIVEN_UP = "given_up"  # after a lost answer it could not be asked about: out of this message's chain
NOT_CALLS = (SKIPPED, GIVEN_UP)

# A message's attempt log (Message.attempt_log): one entry per call, skip or give-up, oldest first.
Entry = dict[str, Any]
Log = list[Entry]


class Account(Protocol):
    """What the chain reads of a provider account (b24sms/store/models.py, ProviderAccount)."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...


class CallError(Protocol):
    """What the log keeps of a failed call (b24sms/providers/base.py, ProviderError)."""

    @property
    def kind(self) -> str: ...

    @property
    def retryable(self) -> bool: ...

    @property
    def code(self) -> str | None: ...


@dataclass(frozen=True)
class Route:
    # The ProviderAccount to try. None: nothing is left and the message fails, or (with `wait`) every usable
    # account is skipped and the message waits for one to answer again.
    account: Account | None
    wait: bool = False  # True with an account: a new round through the chain, after a backoff
    passed_over: tuple[Account, ...] = ()  # usable accounts skipped on the way to `account` (they hang)

    @property
    def held(self) -> bool:
        """Every account that could still take the message is skipped: wait, do not fail."""
        return self.account is None and self.wait


# ---- the attempt log ----
def started(log: Log | None, account: Account, at: datetime) -> Log:
    """The log with a call to `account` under way: written before the call, so that a runner dying mid-call
    leaves a trace of which provider may have the message."""
    return [*(log or []), _entry(account, at, PENDING)]


def settled(log: Log, at: datetime, error: CallError | None = None) -> Log:
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


def passed_over(log: Log | None, accounts: Sequence[Account], at: datetime) -> Log:
    """The log with a `skipped` entry for each account passed over, unless its latest entry already says so
    (a message waiting out a long outage does not grow its log each round)."""
    log = list(log or [])
    for account in accounts:
        latest = next((entry for entry in reversed(log) if entry.get("account") == account.id), None)
        if latest is None or latest.get("result") != SKIPPED:
            log.append(_entry(account, at, SKIPPED))
    return log


def given_up(log: Log | None, account: Account, at: datetime, reason: str) -> Log:
    """The log with `account` given up for this message (it counts as refused from now on)."""
    return [*(log or []), {**_entry(account, at, GIVEN_UP), "code": reason, "retryable": False}]


def was_given_up(log: Log | None, account_id: int) -> bool:
    return any(entry.get("account") == account_id and entry.get("result") == GIVEN_UP for entry in log or [])


def in_flight(log: Log | None) -> int | None:
    """The account id of a call that started and never settled, or None."""
    if log and log[-1].get("result") == PENDING:
        return log[-1]["account"]
    return None


def last_call_at(log: Log | None) -> datetime | None:
    """When the last provider call was made (or settled), or None; skips and give-ups are not calls."""
    calls = [entry for entry in log or [] if entry.get("result") not in NOT_CALLS]
    try:
        return datetime.fromisoformat(calls[-1]["at"].removesuffix("Z")) if calls else None
    except (KeyError, ValueError):
        return None


def first_call_at(log: Log | None, account_id: int) -> datetime | None:
    """When the message's first call to `account_id` started, or None where a start is not known (a log written
    before starts were kept, or a date that cannot be read)."""
    starts = [entry.get("called_at") if entry.get("result") != PENDING else entry.get("at")
              for entry in log or [] if entry.get("account") == account_id and entry.get("result") not in NOT_CALLS]
    texts = [start for start in starts if isinstance(start, str)]
    if not starts or len(texts) < len(starts):  # no call, or a start missing (None)
        return None
    try:
        return min(datetime.fromisoformat(text.removesuffix("Z")) for text in texts)
    except (TypeError, ValueError):  # not a date, or dates with and without a zone
        return None


def _entry(account: Account, at: datetime, result: str) -> Entry:
    return {"account": account.id, "provider": account.kind, "at": _iso(at), "result": result}


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


# ---- the rule ----
def transient_failures(log: Log, account_id: int) -> int:
    return sum(1 for entry in log if entry["account"] == account_id and entry.get("retryable"))


def refused(log: Log, account_id: int) -> bool:
    return any(entry["account"] == account_id and not entry.get("retryable")
               and entry["result"] not in (ACCEPTED, PENDING, SKIPPED) for entry in log)


def usable_accounts(chain: Sequence[Account], log: Log, max_attempts: int) -> list[Account]:
    return [account for account in chain
            if not refused(log, account.id) and transient_failures(log, account.id) < max_attempts]


def first_route(chain: Sequence[Account], log: Log, max_attempts: int, preferred_id: int | None = None,
                skipped: Collection[int] = ()) -> Route:
    """Where a message starts (or resumes after a wait): the account chosen before, if still usable, else the
    first usable one; skipped accounts (ids in `skipped`) are passed over."""
    usable = usable_accounts(chain, log, max_attempts)
    in_order = sorted(usable, key=lambda account: account.id != preferred_id)  # stable: chain order after it
    return _first_open(in_order, skipped)


def next_route(chain: Sequence[Account], log: Log, max_attempts: int, failed_id: int,
               skipped: Collection[int] = ()) -> Route:
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


def _first_open(accounts: Sequence[Account], skipped: Collection[int], wait: bool = False) -> Route:
    passed: list[Account] = []
    for account in accounts:
        if account.id not in skipped:
            return Route(account, wait=wait, passed_over=tuple(passed))
        passed.append(account)
    return Route(None, wait=bool(passed), passed_over=tuple(passed))
