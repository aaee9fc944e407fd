"""Bitrix24's REST limit, kept on our side: per portal 2 requests a second, with a burst of 50.

Bitrix24 answers QUERY_LIMIT_EXCEEDED (HTTP 503) past its limit; waiting here first means a report pass never
learns the limit from refusals. The process has one TokenBucket (Services.bitrix_rate_limit), with one bucket per
portal (its REST endpoint), shared by every thread (the job's workers and the web process's calls); every REST
call waits for its portal's token (b24sms/bitrix/client.py). Several processes keep buckets of their own, so the
portal's own limit remains the last word: a refusal still pauses that portal's reports (b24sms/flows/reporting.py).
"""
import threading
from typing import Protocol

RATE = 2.0  # requests a second, per portal
BURST = 50


class Waits(Protocol):
    """The clock a bucket reads and waits on (b24sms/services.py, Clock)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class TokenBucket:
    def __init__(self, clock: Waits, rate=RATE, burst=BURST):
        self.clock, self.rate, self.burst = clock, rate, burst
        self._lock = threading.Lock()
        self._buckets = {}  # key -> (tokens, at)

    def reserve(self, key):
        """Take one request's token for `key`; returns the seconds to wait before making the request."""
        with self._lock:
            now = self.clock.monotonic()
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate) - 1
            self._buckets[key] = (tokens, now)
        return 0.0 if tokens >= 0 else -tokens / self.rate

    def wait(self, key):
        delay = self.reserve(key)
        if delay > 0:
            self.clock.sleep(delay)
