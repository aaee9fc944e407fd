"""How much the spool holds, held against SPOOL_MAX_BYTES and SPOOL_MAX_CALLS (b24sms/flows/spool.py writes through
`admit`), without reading the spool per handler call.

Each process keeps a running total for its spool directory: what every file held at the last count, plus what
this process wrote since. A count (at the first write, then at most once per services.outage_waits.spool_recount_every
seconds, a second, while calls are being spooled, and after this process replays) lists the directory and stats
its few files (one per writing process, plus the ones being replayed): the bytes come from the sizes, the calls
from the newlines of the bytes added since the last count (files only grow; a file seen under a new name or
shorter is read again). The other processes' writes of the last second may be missed, so a bound is exceeded by
at most that much.

A call whose handler key this process has not seen stored lately (`vouched` False: an unknown key, a portal not
heard from since this process started, the legacy /handler) may fill only 1/UNVOUCHED_PART of each bound: a flood
of calls to made-up keys during an outage fills that part and is refused, and the portals this process knows
keep the rest. A pushed reply counts as a call, its URL's secret as its key (VouchedKeys keeps each kind of key
apart).
"""
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from b24sms.services import Services

logger = logging.getLogger(__name__)

UNVOUCHED_PART = 4
REFUSALS_LOGGED_EVERY = 60  # seconds: the most often a full spool is logged
READ_CHUNK = 1 << 20
VOUCHED_KEYS_KEPT = 50_000  # keys remembered per process and kind of key (the most recently stored-with first)


class SpoolFull(Exception):
    """The spool holds as much as its bounds allow for this call; the message says which bound (loggable)."""


@dataclass
class _Counted:
    size: int  # bytes read so far
    calls: int  # newlines in them


class SpoolUsage:
    """The running total of one spool directory in this process. Not thread-safe: spool.py calls it under its
    writing lock."""

    def __init__(self, list_files, directory, clock, recount_every):
        self._list_files = list_files  # directory -> the paths of its spool files
        self.directory = Path(directory)
        self._clock = clock  # monotonic seconds
        self._recount_every = recount_every
        self._files: dict[tuple[str, int], _Counted] = {}  # (name, inode) -> what was counted of it
        self._counted_at = None
        self.bytes = 0
        self.calls = 0
        self.refusals = RefusalLog(clock)

    def admit(self, size, settings, vouched):
        """Raise SpoolFull unless one more call of `size` bytes fits (see the module's words on `vouched`); a
        refusal is logged, at most once per REFUSALS_LOGGED_EVERY seconds."""
        if self._counted_at is None or self._clock() - self._counted_at >= self._recount_every:
            self.recount()
        part = 1 if vouched else UNVOUCHED_PART
        for name, held, adding, limit in (("SPOOL_MAX_BYTES", self.bytes, size, settings.spool_max_bytes),
                                          ("SPOOL_MAX_CALLS", self.calls, 1, settings.spool_max_calls)):
            bound = limit // part
            if held + adding > bound:
                whose = "" if vouched else (f" (1/{part} of it: calls whose handler key this process has not seen, "
                                            "replies to a URL it has not)")
                reason = (f"{name}={limit} reached{whose}: the spool holds {self.bytes} bytes, "
                          f"{self.calls} calls")
                self.refusals.refused(reason)
                raise SpoolFull(reason)

    def written(self, size):
        self.bytes += size
        self.calls += 1

    def stale(self):
        """The next `admit` counts again (a replay has just removed files)."""
        self._counted_at = None

    def recount(self):
        files, total_bytes, total_calls = {}, 0, 0
        for path in self._list_files(self.directory):
            try:
                status = os.stat(path)
                key = (path.name, status.st_ino)
                counted = self._files.get(key)
                if counted is None or counted.size > status.st_size:
                    counted = _Counted(0, 0)
                counted.calls += _newlines(path, counted.size, status.st_size)
                counted.size = status.st_size
            except FileNotFoundError:  # replayed and removed meanwhile
                continue
            files[key] = counted
            total_bytes += status.st_size
            total_calls += counted.calls
        self._files, self.bytes, self.calls = files, total_bytes, total_calls
        self._counted_at = self._clock()


_usages = {}  # spool directory -> this process's SpoolUsage of it


def of(directory, list_files, services: Services):
    """This process's running total of `directory` (under spool.py's writing lock)."""
    key = str(directory)
    if key not in _usages:
        _usages[key] = SpoolUsage(list_files, directory, services.clock.monotonic,
                                  services.outage_waits.spool_recount_every)
    return _usages[key]


def _newlines(path, start, end):
    count = 0
    with open(path, "rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            chunk = handle.read(min(READ_CHUNK, left))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


class RefusalLog:
    """Logs a full spool at most once per REFUSALS_LOGGED_EVERY seconds, with the count refused meanwhile: a
    flood of calls is not a flood of log lines."""

    def __init__(self, clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._logged_at = None
        self._refused = 0

    def refused(self, reason):
        with self._lock:
            self._refused += 1
            now = self._clock()
            if self._logged_at is not None and now - self._logged_at < REFUSALS_LOGGED_EVERY:
                return
            count, self._refused, self._logged_at = self._refused, 0, now
        logger.error("the spool is full (%s): handler calls and pushed replies that cannot be stored now are "
                     "answered 503 and not kept (%d since the last such line)", reason, count)


class VouchedKeys:
    """Digests of the keys (handler keys, the secrets of reply URLs) this process has stored with lately (a
    bounded, least recently used set): during an outage, what tells a known portal's request from one to a
    made-up key without the database."""

    def __init__(self, kept=VOUCHED_KEYS_KEPT):
        self._kept = kept
        self._digests = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key):
        digest = _digest(key)
        with self._lock:
            self._digests[digest] = None
            self._digests.move_to_end(digest)
            while len(self._digests) > self._kept:
                self._digests.popitem(last=False)

    def has(self, key):
        if key is None:  # the legacy /handler: only its auth, checked against Bitrix24, vouches for it
            return False
        with self._lock:
            return _digest(key) in self._digests


def _digest(key):
    return hashlib.sha256(key.encode()).digest()
