"""The spool: what the database could not take (a Bitrix24 handler call, a reply a provider pushed) is written to a
local file, answered as if stored, and stored once the database is back. Bitrix24 never retries a handler call,
and a provider that was answered does not push again: without the spool an outage loses them.

A record is one JSON line of a kind (b24sms/flows/spool_records.py: the request as it came, so that replaying it is
the same request). What needs the database (a handler key, an auth, an account's secret and signature) is checked
at replay, and a record refused then is dropped, with a warning. The directory is 0700 and the files 0600: they
hold handler keys, Bitrix24 tokens and providers' URL secrets, so their content is never logged.

Writing: each process appends to its own file (`calls-<pid>.jsonl`) under the file's OS lock, and fsyncs
before the request is answered; within SPOOL_MAX_BYTES and SPOOL_MAX_CALLS (b24sms/flows/spool_usage.py: a
record counts as a call). Replay (a thread of the web process that spooled, and every `jobs run-once`) takes a
file's lock, renames it to `replaying-...` (a writer that finds its file gone starts a new one), stores each
record and removes the file only when every record in it was stored or dropped. Storing inserts nothing when the
message or reply is already there, so a record replayed twice stores it once. A file another replayer holds is
left to it; the OS releases the lock of one that died.

SPOOL_DIR is per machine. With several machines, a machine's spool is replayed only by its own web processes
and by a job runner on that machine: run `jobs run-once` (cron) on every machine that serves the handler or
takes pushed replies, and keep SPOOL_DIR on a local disk (file locks over a network file system cannot be
trusted).
"""
import fcntl
import json
import logging
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from b24sms.flows import spool_records, spool_usage
from b24sms.flows.spool_records import DATABASE_AWAY
from b24sms.rules.errors import N_, AppError
from b24sms.services import Services
from b24sms.store.models import utcnow

logger = logging.getLogger(__name__)

LIVE, CLAIMED = "calls-", "replaying-"  # file name prefixes: being written to; taken by a replayer
LOCK_RETRY_PAUSE = 0.01  # seconds between a writer's tries for its file's lock (services.outage_waits.spool_lock)


class SpoolUnwritable(Exception):
    """The record could not be written to the spool; the message is one loggable line."""


class SpoolStuck(Exception):
    """Records stay in the spool for a reason that is not a database outage (the log says which)."""


@dataclass
class ReplayReport:
    stored: int = 0
    already_stored: int = 0
    dropped: int = 0
    held_back: int = 0  # records not stored for a reason that is not an outage (Bitrix24 away, a fault: logged)
    database_away: bool = False  # the round stopped: the database still cannot take the records
    kept: int = 0  # records in the files that stay in the spool after this round
    busy_files: int = 0  # files another replayer holds

    def add(self, outcome):
        setattr(self, outcome, getattr(self, outcome) + 1)


# ---------------------------------------------------------------- writing
_writing = threading.Lock()  # this process's threads take turns at its file (and at its SpoolUsage)


def keep(services: Services, record, *, vouched, what, outage):
    """Spool a record the database cannot take now (`outage`: why), and see that this process replays it.
    `what`: the record in the log (no key, no secret). Raises AppError 503 where the spool cannot take it."""
    try:
        write(services, record, vouched)
    except spool_usage.SpoolFull:  # logged there, once in a while: not per request of a flood
        raise AppError(N_("The message could not be stored now: the database is unavailable."), "spool_full",
                       status=503) from None
    except SpoolUnwritable as exc:
        logger.error("%s not taken: it cannot be stored now (%s) and the spool cannot be written (%s)", what,
                     outage, exc)
        raise AppError(N_("The message could not be stored now: the database is unavailable."),
                       "database_unavailable", status=503) from None
    logger.warning("%s spooled: it cannot be stored now (%s)", what, outage)
    replay_in_background(services)


def append(services: Services, handler_key, form_pairs, vouched=True):
    """Write one handler call (`form_pairs` as posted) to the spool (see `write`)."""
    write(services, spool_records.of_handler_call(handler_key, form_pairs), vouched)


def write(services: Services, record, vouched=True):
    """Write one record (spool_records.py) to this process's spool file and fsync it. Raises SpoolUnwritable, or
    spool_usage.SpoolFull past SPOOL_MAX_BYTES or SPOOL_MAX_CALLS (a smaller part of them unless `vouched`: this
    process has stored with the record's handler key or URL secret lately)."""
    line = json.dumps({**record, "spooled_at": utcnow().isoformat() + "Z"}).encode() + b"\n"
    try:
        directory = _directory(services.settings)
        with _writing:
            usage = spool_usage.of(directory, _files, services)
            usage.admit(len(line), services.settings, vouched)
            _append_line(directory / f"{LIVE}{os.getpid()}.jsonl", line, services)
            usage.written(len(line))
    except OSError as exc:
        raise SpoolUnwritable(f"{type(exc).__name__}: {exc.strerror or exc}") from None


def _directory(settings):
    directory = Path(settings.spool_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != 0o700:
        directory.chmod(0o700)
    return directory


def _append_line(path, line, services):
    clock = services.clock
    deadline = clock.monotonic() + services.outage_waits.spool_lock
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if _lock(fd) and _still_at(fd, path):
                _write_synced(fd, line, path.parent)
                return
        finally:
            os.close(fd)  # releases the lock too
        if clock.monotonic() > deadline:
            raise BlockingIOError(0, "the spool file stayed locked")
        clock.sleep(LOCK_RETRY_PAUSE)


def _write_synced(fd, line, directory):
    size = os.fstat(fd).st_size
    try:
        written = 0
        while written < len(line):
            written += os.write(fd, line[written:])
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, size)  # no half line for the next record to be glued to
        except OSError:
            pass
        raise
    if size == 0:  # a new file: its name must survive a crash too
        _sync_directory(directory)


def _lock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _still_at(fd, path):
    """Whether the open file is still the one at `path` (not claimed or removed by a replayer meanwhile)."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (at_path.st_dev, at_path.st_ino)


def _sync_directory(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- replaying
def replay(services: Services, *, send_at_once):
    """Store what the spool holds. Safe beside other replayers, in this process or another. Returns a report.
    `send_at_once`: hand what it stores to this process's web sender (else the job's send duty sends it)."""
    report, directory = ReplayReport(), Path(services.settings.spool_dir)
    for path in _files(directory):
        _replay_file(services, path, report, send_at_once)
        if report.database_away:
            break
    if report.stored or report.already_stored or report.dropped or report.held_back:
        logger.info("spool replay: %s", report)
    with _writing:  # files may be gone: this process's next write counts the spool again
        spool_usage.of(directory, _files, services).stale()
    return report


def replay_duty(services: Services):
    """The job's duty: replay, and fail (so that `jobs run-once` says so) when records are held back."""
    report = replay(services, send_at_once=False)
    if report.held_back and not report.database_away:
        raise SpoolStuck(f"{report.held_back} spooled records could not be stored; the log says why")
    return report.stored


def pending(settings):
    """Whether the spool holds files (records, or files a replayer is working through)."""
    return bool(_files(Path(settings.spool_dir)))


def _files(directory):
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / name for name in sorted(names)
            if name.startswith((LIVE, CLAIMED)) and name.endswith(".jsonl")]


def _replay_file(services, path, report, send_at_once):
    try:
        handle = open(path, "rb")
    except FileNotFoundError:  # another replayer finished it
        return
    with handle:
        if not _lock(handle.fileno()):
            report.busy_files += 1
            return
        if not _still_at(handle.fileno(), path):  # claimed or removed between listing and locking
            return
        if path.name.startswith(LIVE):
            path = _claim(path)
        lines = [line for line in handle.read().splitlines() if line.strip()]
        held_back = report.held_back
        for line in lines:
            outcome = spool_records.replay(services, line, send_at_once)
            if outcome == DATABASE_AWAY:
                report.database_away = True
                break
            report.add(outcome)
        if report.database_away or report.held_back > held_back:
            report.kept += len(lines)  # the file stays whole: its stored records store nothing new next time
            return
        path.unlink()
        _sync_directory(path.parent)


def _claim(path):
    """Rename a live file under its lock: its writer, finding the name gone, starts a new file."""
    claimed = path.with_name(f"{CLAIMED}{os.getpid()}-{secrets.token_hex(4)}.jsonl")
    os.rename(path, claimed)
    _sync_directory(path.parent)
    return claimed


# ---------------------------------------------------------------- the web process's replay thread
_replayers = {}  # SPOOL_DIR -> this process's replay thread for it
_replayers_lock = threading.Lock()


def replay_in_background(services: Services):
    """Start this process's replay thread for SPOOL_DIR unless it runs: a round every
    services.outage_waits.spool_replay_every seconds while the database is away, until the spool is empty (records
    held back for another reason are left to `jobs run-once`, which says so). What it stores goes to this
    process's web sender."""
    directory = services.settings.spool_dir
    with _replayers_lock:
        if directory in _replayers:
            return
        thread = threading.Thread(target=_replay_until_empty, args=(services, directory), daemon=True,
                                  name="b24sms-spool-replay")
        _replayers[directory] = thread
    thread.start()


def _replay_until_empty(services, directory):
    try:
        while True:
            services.clock.sleep(services.outage_waits.spool_replay_every)
            report = replay(services, send_at_once=True)
            with _replayers_lock:  # decided under the lock: a writer that spools meanwhile starts a new thread
                if not pending(services.settings) or (report.held_back and not report.database_away):
                    del _replayers[directory]
                    return
    except Exception:  # never silent: the job replays what is left
        logger.exception("the spool replay thread stopped; `jobs run-once` replays what is left")
        with _replayers_lock:
            _replayers.pop(directory, None)
