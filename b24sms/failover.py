"""The failover chain: which provider account a message goes to next, read from its attempt log.

Rules:
- a recipient-side refusal (bad number, blocked text) ends the message: no other provider is asked;
- a provider-side refusal (bad credentials, no money, sender not allowed, ...) takes that account out of this
  message's chain;
- a transient failure (timeout, 5xx, rate limit) hands the message to the next account in the chain at once;
  after the whole chain failed it waits (backoff) and starts again from the primary; each account gets at most
  `max_attempts` transient failures;
- when no account is left the message fails with the last error.
"""
from dataclasses import dataclass
from datetime import datetime

ACCEPTED = "accepted"
PENDING = "pending"


@dataclass(frozen=True)
class Route:
    account: object  # the ProviderAccount to try, or None: nothing left, the message fails
    wait: bool = False  # True: a new round through the chain, after a backoff


def started(log, account, at):
    """The log with a call to `account` under way: written before the call, so that a runner dying mid-call
    leaves a trace of which provider may have the message."""
    return [*(log or []), {"account": account.id, "provider": account.kind, "at": _iso(at), "result": PENDING}]


def settled(log, at, error=None):
    """The log with its last (pending) call closed: accepted, or the error's kind and code."""
    entry = {**log[-1], "at": _iso(at)}
    if error is None:
        entry["result"] = ACCEPTED
    else:
        entry.update(result=error.kind, retryable=error.retryable)
        if error.code:
            entry["code"] = error.code
    return [*log[:-1], entry]


def in_flight(log):
    """The account id of a call that started and never settled, or None."""
    if log and log[-1].get("result") == PENDING:
        return log[-1]["account"]
    return None


def last_call_at(log):
    """When the last call was made (or settled), or None."""
    try:
        return datetime.fromisoformat(log[-1]["at"].removesuffix("Z")) if log else None
    except (KeyError, ValueError):
        return None


def _iso(moment):
    return moment.isoformat() + "Z"


def transient_failures(log, account_id):
    return sum(1 for entry in log if entry["account"] == account_id and entry.get("retryable"))


def refused(log, account_id):
    return any(entry["account"] == account_id and not entry.get("retryable")
               and entry["result"] not in (ACCEPTED, PENDING) for entry in log)


def usable_accounts(chain, log, max_attempts):
    return [account for account in chain
            if not refused(log, account.id) and transient_failures(log, account.id) < max_attempts]


def first_route(chain, log, max_attempts, preferred_id=None):
    """Where a message starts (or resumes after a wait): the account chosen before, if still usable, else the
    first usable one."""
    usable = usable_accounts(chain, log, max_attempts)
    preferred = next((account for account in usable if account.id == preferred_id), None)
    return Route(preferred or (usable[0] if usable else None))


def next_route(chain, log, max_attempts, failed_id):
    """After a provider-side or transient failure at `failed_id`: the next usable account later in the chain
    (at once), else the first usable one from the top (after a wait), else none."""
    usable = usable_accounts(chain, log, max_attempts)
    if not usable:
        return Route(None)
    positions = {account.id: index for index, account in enumerate(chain)}
    failed_at = positions.get(failed_id, -1)
    later = [account for account in usable if positions[account.id] > failed_at]
    if later:
        return Route(later[0])
    return Route(usable[0], wait=True)
