"""A job pass's threads: work on many portals or provider accounts at once, each in a database session of its own.

`JOB_CONCURRENCY` bounds the provider and Bitrix24 calls under way at once; `JOB_PASS_SECONDS` bounds the pass.
One key's failure (a bug, an odd answer) does not stop the others: it is logged, and the duty is reported failed
once every key is done.
"""
import copy
import logging
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from sqlalchemy import select

from b24sms.providers import for_account
from b24sms.services import Services
from b24sms.store.db import one_of
from b24sms.store.models import ProviderAccount

logger = logging.getLogger(__name__)
# On PostgreSQL, a bulk slice (a claim, its calls, its writes) runs in this many lanes at once: each lane claims a
# slice of its own (claims make that as safe as two runners), so one lane's statements overlap another's round
# trips instead of the calls waiting on them (1,000 portals x 20 at 100 ms: a pass of 7.5 s in one lane, 6.1 s in
# four). SQLite takes one writer at a time: there a lane's statements would only wait on another's.
LANES = 4


class DutyFailed(Exception):
    """Some keys of a duty raised (each was logged); the others were worked on."""


class NotCalled(Exception):
    """A call `call_each` did not make: `stop()` said so first (the account timed out on an earlier call)."""


class Workers:
    def __init__(self, services: Services):
        self.db, self.clock, self.settings, self.http = services.db, services.clock, services.settings, services.http
        self._providers = {}  # account id -> (account, provider), built once per pass
        self.untold = set()  # messages whose status Bitrix24 did not take in this pass: tried again in the next
        self.concurrency = services.settings.job_concurrency
        self.seconds = services.settings.job_pass_seconds
        self.deadline = self.clock.monotonic() + self.seconds
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="b24sms-job")
        # Plain HTTP calls fanned out by a task of the pool above (never a task that waits on another pool task).
        self._calls = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="b24sms-call")
        self.lanes = 1 if services.db.is_sqlite else LANES

    def out_of_time(self):
        return self.clock.monotonic() >= self.deadline

    def sharing(self, share):
        """These workers for a duty that has `share` of the pass's time (the same threads and what the pass built
        once): its work stops when that is spent."""
        view = copy.copy(self)
        view.deadline = self.deadline - (1 - share) * self.seconds
        return view

    def in_lanes(self, work):
        """`work()` in `lanes` threads at once (one of them this one): what they returned, added up. A lane that
        raised raises here, once the others are done."""
        if self.lanes == 1:
            return work()
        with ThreadPoolExecutor(max_workers=self.lanes - 1, thread_name_prefix="b24sms-lane") as others:
            started = [others.submit(work) for _ in range(self.lanes - 1)]
            return sum((lane.result() for lane in started), work())

    def map(self, keys, work, start=0):
        """`work(session, key)` for every key, in parallel, each in a session of its own (committed when it
        returns, rolled back when it raises). Returns `start` plus what they returned."""
        keys = list(keys)
        futures = [(key, self._pool.submit(self._in_session, work, key)) for key in keys]
        total, failed = start, []
        for key, future in futures:
            try:
                result = future.result()
                total = total + result if result else total
            except Exception:
                logger.exception("job work on %s failed; the rest goes on", key)
                failed.append(key)
        if failed:
            raise DutyFailed(f"{len(failed)} of {len(keys)} failed")
        return total

    def each(self, keys, work):
        """`work(key)` for every key, in parallel, with no database session (provider and Bitrix24 calls only).
        Returns {key: what it returned, or the exception it raised}."""
        futures = {key: self._pool.submit(_outcome, work, key) for key in keys}
        return {key: future.result() for key, future in futures.items()}

    def providers(self, session, account_ids):
        """{account id: (the account, its provider)}, each built once per pass (credentials decrypted once): the
        accounts not met before in this pass are read in one statement."""
        missing = [account_id for account_id in account_ids if account_id not in self._providers]
        if missing:
            for account in session.scalars(select(ProviderAccount).where(one_of(session, ProviderAccount.id,
                                                                               missing))):
                self._providers[account.id] = (account, for_account(account, self.settings, self.http))
        return {account_id: self._providers[account_id] for account_id in account_ids}

    def _in_session(self, work, key):
        if self.out_of_time():
            return 0
        with self.db.session() as session:
            return work(session, key)

    def call_each(self, items, call, at_once, stop=lambda results: False, first_alone=True):
        """`call(item)` for every item, `at_once` of them under way at a time (a provider's limit per account).
        Returns one result per item, in order: what the call returned, the exception it raised, or NotCalled
        for those left once `stop(results so far)` said so or the pass ran out of time. `first_alone`: the first
        call goes alone, so that an account that hangs costs one call, not `at_once`."""
        results, start = [], 0
        while start < len(items):
            window = items[start:start + (1 if first_alone and not start else max(1, at_once))]
            start += len(window)
            if stop(results) or self.out_of_time():
                results += [NotCalled()] * len(window)
            elif len(window) == 1:
                results.append(_outcome(call, window[0]))
            else:
                results += [f.result() for f in [self._calls.submit(_outcome, call, item) for item in window]]
        return results

    def close(self):
        self._pool.shutdown(wait=True)
        self._calls.shutdown(wait=True)


def chunks(items, size):
    """`items` in lists of at most `size` (a provider's messages per request, Bitrix24's commands per batch)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, max(1, size))):
        yield chunk


def _outcome(call, item):
    try:
        return call(item)
    except Exception as exc:  # handed back: the caller decides what a failed call means
        return exc
