"""What flows and duties are handed: the settings, the database, the HTTP client, the clock, Bitrix24's rate limit
and the web process's sender, built once per process by `create_app` and kept in `app.extensions[EXTENSION]`
(the web views and the CLI take them from there).

Nothing here imports a flow: the outbox is any object with the web sender's two calls (b24sms/flows/outbox.py),
made from the services themselves, as it sends with them.
"""
import time
from collections.abc import Callable, Iterable
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import requests

from b24sms.bitrix.rate_limit import TokenBucket
from b24sms.config import Settings
from b24sms.store.db import Database
from b24sms.store.metrics import MessageCounts

EXTENSION = "b24sms.services"  # app.extensions key


class Clock(Protocol):
    """Time as the services read it; a test may hand a fake one (time that moves when the test says)."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """Now, as a naive UTC datetime (how the database stores moments: b24sms/store/models.py)."""
        return datetime.now(UTC).replace(tzinfo=None)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class OutageWaits:
    """Seconds the handler and the spool wait on things while the database is away (b24sms/flows/handler_calls.py,
    spool.py, spool_usage.py). Production's are these; the test suite shortens them, to prove the same steps
    without waiting them out."""

    store_retry: float = 3.0  # a handler call retries the database this long, then is spooled (Bitrix24 waits on it)
    spool_lock: float = 2.0  # a spool writer tries this long for its file's lock (a replayer holds it to claim it)
    spool_replay_every: float = 3.0  # between the web process's replay rounds
    spool_recount_every: float = 1.0  # the most often a process counts what the spool holds


class Outbox(Protocol):
    """The web process's sender (b24sms/flows/outbox.py): stored messages handed over to be sent at once."""

    def submit(self, portal_id: int, message_id: int) -> bool: ...

    def submit_many(self, portal_id: int, message_ids: Iterable[int]) -> int: ...

    def wait_idle(self, timeout: float | None = None) -> bool: ...


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    http: requests.Session  # the process's one HTTP client (b24sms/http_client.py)
    clock: Clock
    bitrix_rate_limit: TokenBucket  # Bitrix24's limit per portal, shared by every thread of the process
    outage_waits: OutageWaits
    make_outbox: InitVar[Callable[["Services"], Outbox]]
    outbox: Outbox = field(init=False)
    # /metrics: the messages counted by state at most every 30 s in this process (store/metrics.py).
    message_counts: MessageCounts = field(default_factory=MessageCounts)

    def __post_init__(self, make_outbox):
        object.__setattr__(self, "outbox", make_outbox(self))  # it sends with these services
