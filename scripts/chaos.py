"""Chaos check: no SMS lost, none sent twice, while the provider fails and times out.

Starts the app under gunicorn (production settings, its own database) against two fakes of tests/fakes served on
loopback from this process: Bitrix24 (OAuth server + one portal's REST) and SMSC.ru. Like the real SMSC the fake
does not deduplicate: every accepted send.php call is a new SMS.
The provider answers HTTP 500 to 10% of requests and lets 5% time out (half of those after taking the
message, so only the answer is lost). The script installs a portal, posts --count handler calls from
--threads threads, then runs `flask jobs run-once` until nothing is left to do, and prints:

    accepted=300 sent=300 lost=0 duplicated=0 failed=0 final_statuses_reported=300 passes=5 seconds=19.9

Exit code 0 only when every call was accepted, nothing was lost or duplicated, the job got quiet and every
accepted message has a final status reported to the portal.

Run from the project root:
    .venv/bin/python scripts/chaos.py --count 300               # the full check
    .venv/bin/python scripts/chaos.py --count 60 --threads 8    # the CI size
    .venv/bin/python scripts/chaos.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/chaos
    .venv/bin/python scripts/chaos.py --db-outage 10            # the database away for 10 s mid-run
    .venv/bin/python scripts/chaos.py --runners 2               # each pass: two overlapping `jobs run-once`
(--database-url: an empty database; the script migrates it. --keep keeps the temp dir with the logs.)

--db-outage SECONDS makes the app's database unreachable for that long once a third of the calls were answered
(PostgreSQL: the database stops accepting connections and its sessions are ended, from an admin connection to
--admin-database; SQLite: another connection holds the file's exclusive lock). Bitrix24 never retries a handler
call, so every call answered 200 meanwhile must still end up stored and sent exactly once.
"""
import argparse
import random
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    String,
    column,
    create_engine,
    make_url,
    select,
    table,
    text,
    update,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file: the fakes are tests/fakes

from app_under_test import (  # noqa: E402
    TEXT_PREFIX,
    AppUnderTest,
    empty_database,
    install_portal,
    serve_bitrix,
    utcnow,
)

from tests.fakes.service import ANSWER_LOST, HTTP_500, UNANSWERED, Request  # noqa: E402
from tests.fakes.serving import LoopbackSite  # noqa: E402
from tests.fakes.smsc import FakeSmsc  # noqa: E402

APP_HTTP_TIMEOUT = 1  # seconds the app waits for the provider
TIMEOUT_SLEEP = 1.6  # a "time-out": the fake answers (a 504) later than the app waits
HTTP_500_RATE, TIMEOUT_RATE = 0.10, 0.05
MAX_PASSES = 60
FINAL = ("delivered", "undelivered", "failed")
SMSC_LOGIN, SMSC_PASSWORD = "chaos", "chaos-pass"

MESSAGES = table("messages", column("id", Integer), column("portal_id", Integer),
                 column("bitrix_message_id", String), column("state", String), column("due_at", DateTime),
                 column("report_pending", Boolean), column("status", String), column("error_code", String),
                 column("attempts", Integer), column("attempt_log", JSON))
PORTALS = table("portals", column("id", Integer), column("member_id", String),
                column("report_not_before", DateTime))
ACCOUNTS = table("provider_accounts", column("poll_not_before", DateTime), column("skip_until", DateTime))


class ChaosDraw:
    """The fake SMSC's `trouble`: which send.php and status.php requests get hurt (balance.php is spared: settings
    save). Drawn from (seed, script, id, how many times this id was asked), so which request gets hurt does not
    depend on thread timing."""

    def __init__(self, seed):
        self.seed = seed
        self.lock = threading.Lock()
        self.requests_seen = Counter()  # (script, id) -> how many times asked
        self.injected = Counter()  # (trouble, script) -> count

    def __call__(self, request: Request):
        script = request.last_segment
        if script not in ("send.php", "status.php"):
            return None
        key = request.form().get("id", "")
        with self.lock:
            self.requests_seen[script, key] += 1
            nth = self.requests_seen[script, key]
        draw = random.Random(f"{self.seed}:{script}:{key}:{nth}").random()
        trouble = (HTTP_500 if draw < HTTP_500_RATE
                   else ANSWER_LOST if draw < HTTP_500_RATE + TIMEOUT_RATE / 2
                   else UNANSWERED if draw < HTTP_500_RATE + TIMEOUT_RATE
                   else None)
        if trouble:
            with self.lock:
                self.injected[trouble, script] += 1
        return trouble


def chaotic_smsc(site, seed):
    """SMSC on `site`, every message delivered at once, hurt as ChaosDraw says."""
    smsc = site.add(FakeSmsc(login=SMSC_LOGIN, password=SMSC_PASSWORD, base=f"{site.url}/sys/"))
    smsc.initial_status = (1, 0)
    smsc.trouble = ChaosDraw(seed)
    return smsc


def sends_by_message(smsc):
    """Bitrix24 message id (from the text) -> the SMSC ids of every accepted send of it."""
    sends = defaultdict(list)
    with smsc.lock:
        for sent in smsc.sent:
            sends[sent["mes"].removeprefix(TEXT_PREFIX)].append(sent["id"])
    return sends


class DatabaseOutage:
    """--db-outage: the app's database is unreachable for `seconds`, starting once `start_after` handler calls
    were answered. PostgreSQL: the database refuses new connections and its sessions are ended; SQLite: another
    connection holds the file's exclusive lock (the app's writers wait, then give up)."""

    def __init__(self, database_url, seconds, start_after, admin_database):
        self.url = make_url(database_url)
        self.seconds, self.start_after, self.admin_database = seconds, start_after, admin_database
        self.lock = threading.Lock()
        self.answered = 0
        self.active = False
        self.during = Counter()  # outcome -> handler calls answered while the database was away
        self.slowest = 0.0  # seconds: Bitrix24 waits on each call
        self.held_seconds = 0.0
        self.release = None
        self.problem = None
        self.over = threading.Event()

    def note(self, outcome, seconds):
        """Called as each handler call is answered: counts it, and starts the outage at its moment."""
        with self.lock:
            self.slowest = max(self.slowest, seconds)
            if self.active:
                self.during[outcome] += 1
            self.answered += 1
            start = self.answered == self.start_after
        if start:
            threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        try:
            self.release = self.begin_postgres() if self.url.get_backend_name() == "postgresql" else self.begin_sqlite()
            began = time.monotonic()
            with self.lock:
                self.active = True
            time.sleep(self.seconds)
            with self.lock:
                self.active = False
            self.end()
            self.held_seconds = time.monotonic() - began
        except Exception as exc:  # reported by wait()
            self.problem = exc
        finally:
            self.over.set()

    def begin_postgres(self):
        admin = create_engine(self.url.set(database=self.admin_database), isolation_level="AUTOCOMMIT")
        name = self.url.database
        with admin.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(name)
            connection.execute(text(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS false"))
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})

        def release():
            with admin.connect() as connection:
                connection.execute(text(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true"))
            admin.dispose()
        return release

    def begin_sqlite(self):
        holder = sqlite3.connect(self.url.database, isolation_level=None, timeout=30)
        holder.execute("BEGIN EXCLUSIVE")

        def release():
            holder.execute("ROLLBACK")
            holder.close()
        return release

    def end(self):
        """Give the database back (idempotent: also called when the run stops early)."""
        with self.lock:
            release, self.release, self.active = self.release, None, False
        if release is not None:
            release()

    def wait(self):
        """Until the database is back; raises when the outage could not be made."""
        if self.answered >= self.start_after and not self.over.wait(self.seconds + 120):
            raise RuntimeError("the database outage did not end in time")
        if self.problem is not None:
            raise RuntimeError(f"could not make the database unreachable: {self.problem}")

    def summary(self):
        return (f"database outage: {self.held_seconds:.1f} s from the answer to call {self.start_after} on; "
                f"calls answered meanwhile: {dict(self.during) or 0}; slowest answer of the run: {self.slowest:.1f} s")


def post_handler_calls(app_url, portal, application_token, count, threads, seed, outage=None):
    """Post `count` SMS from `threads` threads. Returns (accepted message ids, Counter of other outcomes)."""
    rng = random.Random(seed)
    run_tag = secrets.token_hex(8)  # distinct ids even in a reused database
    calls = [(f"{run_tag}{n:016x}", f"+7916{rng.randrange(10 ** 7):07d}") for n in range(count)]
    access, _ = portal.issue("1")

    def post(call):
        message_id, phone = call
        began = time.monotonic()
        try:
            form = portal.handler_form(message_id, phone, TEXT_PREFIX + message_id, access, application_token)
            answer = requests.post(f"{app_url}/handler", data=form, timeout=30)
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        else:
            outcome = "ok" if answer.status_code == 200 else f"http_{answer.status_code}"
        if outage is not None:
            outage.note(outcome, time.monotonic() - began)
        return message_id, outcome

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(post, calls))
    accepted = [message_id for message_id, outcome in outcomes if outcome == "ok"]
    rejected = Counter(outcome for _, outcome in outcomes if outcome != "ok")
    return accepted, rejected


def fast_forward(engine):
    """Compress time, skip no work: retries, polls, reconciliations and leases scheduled minutes ahead become
    due now, the provider's one-status-request-a-minute slot and the portal's report pause are freed, and a
    provider account skipped for timing out is due its probe call."""
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(update(MESSAGES).where(MESSAGES.c.due_at > now).values(due_at=now))
        connection.execute(update(ACCOUNTS).values(poll_not_before=None))
        connection.execute(update(ACCOUNTS).where(ACCOUNTS.c.skip_until > now).values(skip_until=now))
        connection.execute(update(PORTALS).values(report_not_before=None))


def portal_messages(engine, member_id):
    with engine.connect() as connection:
        portal_id = connection.execute(select(PORTALS.c.id).where(PORTALS.c.member_id == member_id)).scalar_one()
        return connection.execute(select(MESSAGES).where(MESSAGES.c.portal_id == portal_id)).mappings().all()


def unsettled(messages):
    """Messages with work left: any state that is not final (received, sending, retry_wait, reconciling,
    accepted, sent, or a state added later), or a status Bitrix24 has not been told."""
    return [m for m in messages if m["state"] not in FINAL or m["report_pending"]]


def run_job_until_quiet(app, engine, member_id, runners=1):
    """Job passes until no message has work left; each pass is `runners` overlapping `jobs run-once` processes
    (on SQLite all but one say another runner is at work and exit 0). Returns (quiet, passes)."""
    for passes in range(1, MAX_PASSES + 1):
        fast_forward(engine)
        app.flask_concurrently(runners, "jobs", "run-once", log_name="jobs.log")
        if not unsettled(portal_messages(engine, member_id)):
            return True, passes
    return False, MAX_PASSES


def describe(message, sends, updates):
    """One line of evidence about one message."""
    log = [f"{entry.get('result')}{':' + entry['code'] if entry.get('code') else ''}"
           for entry in message["attempt_log"] or []]
    return (f"  {message['bitrix_message_id']} (our id {message['id']}): state={message['state']} "
            f"error={message['error_code']} attempts={message['attempts']} provider_calls={log} "
            f"smsc_sends={sends} reported={updates}")


def report(accepted, rejected, quiet, passes, seconds, smsc, portal, messages):
    """Print the detail lines and the summary line; return whether the run passed."""
    accepted_ids = set(accepted)
    last_reported = {mid: updates[-1] for mid, updates in portal.status_updates.items() if updates}
    sends = sends_by_message(smsc)
    sent = {mid for mid, ids in sends.items() if ids}
    duplicated = {mid for mid, ids in sends.items() if len(ids) > 1}
    failed = {mid for mid in accepted_ids if last_reported.get(mid) == "failed"}
    lost = {mid for mid in accepted_ids if mid not in sent and mid not in failed}
    final_reported = {mid for mid in accepted_ids if last_reported.get(mid) in FINAL}
    by_id = {m["bitrix_message_id"]: m for m in messages}

    injected = ", ".join(f"{script} {kind}={n}" for (kind, script), n in sorted(smsc.trouble.injected.items()))
    print(f"chaos injected: {injected or 'none'}")
    print(f"handler calls not accepted: {dict(rejected) or 0}")
    print(f"final states: {dict(Counter(m['state'] for m in messages))}")
    print(f"sent but reported failed: {len(sent & failed)}")
    for title, ids in (("duplicated", duplicated), ("lost", lost), ("no final status reported",
                                                                     accepted_ids - final_reported)):
        if ids:
            print(f"{title} ({len(ids)}), first ones:")
            for mid in sorted(ids)[:10]:
                if mid in by_id:
                    print(describe(by_id[mid], sends.get(mid, []), portal.status_updates.get(mid, [])))
                else:
                    print(f"  {mid}: not stored by the app")
    if not quiet:
        print(f"NOT QUIET after {passes} passes: {len(unsettled(messages))} messages still have work left")
    print(f"accepted={len(accepted_ids)} sent={len(sent)} lost={len(lost)} duplicated={len(duplicated)} "
          f"failed={len(failed)} final_statuses_reported={len(final_reported)} passes={passes} "
          f"seconds={seconds:.1f}")
    return (quiet and not lost and not duplicated and not rejected
            and len(final_reported) == len(accepted_ids))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="handler calls to post (default 300)")
    parser.add_argument("--threads", type=int, default=16, help="threads posting them (default 16)")
    parser.add_argument("--seed", type=int, default=20261123, help="chaos seed (default fixed)")
    parser.add_argument("--database-url", help="a PostgreSQL database to use instead of a temporary SQLite file; "
                                               "its public schema is dropped and made again first")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs)")
    parser.add_argument("--db-outage", type=float, default=0, metavar="SECONDS",
                        help="make the database unreachable for SECONDS once a third of the calls were answered")
    parser.add_argument("--admin-database", default="postgres",
                        help="PostgreSQL: the database the outage is made from (default postgres)")
    parser.add_argument("--runners", type=int, default=1, metavar="N",
                        help="overlapping `jobs run-once` processes per pass (default 1)")
    args = parser.parse_args()

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="b24sms-chaos-"))
    database_url = args.database_url or f"sqlite:///{workdir}/chaos.sqlite3"
    if args.database_url:
        empty_database(database_url)
    sites, app, engine = [], None, None
    outage = None
    if args.db_outage > 0:
        outage = DatabaseOutage(database_url, args.db_outage, max(1, args.count // 3), args.admin_database)
    try:
        # A lost answer comes as a 504 once the app has given up waiting.
        bitrix_site, smsc_site = LoopbackSite(), LoopbackSite(lost_answer_seconds=TIMEOUT_SLEEP)
        sites += [bitrix_site, smsc_site]
        portal = serve_bitrix(bitrix_site, 1, "chaos").portals[0]
        smsc = chaotic_smsc(smsc_site, args.seed)
        app = AppUnderTest(workdir, database_url, bitrix_site.url,
                           {"SMSC_API_URL": f"{smsc_site.url}/sys/", "HTTP_TIMEOUT": str(APP_HTTP_TIMEOUT)})
        app.start()
        application_token = secrets.token_hex(16)
        smsc_provider = {"kind": "smsc", "sender": "",
                         "credentials": {"login": SMSC_LOGIN, "password": SMSC_PASSWORD}}
        install_portal(app.url, portal, application_token, [smsc_provider])
        accepted, rejected = post_handler_calls(app.url, portal, application_token, args.count, args.threads,
                                                args.seed, outage)
        if outage is not None:
            outage.wait()
            print(outage.summary())
        engine = create_engine(database_url)
        quiet, passes = run_job_until_quiet(app, engine, portal.member_id, args.runners)
        passed = report(accepted, rejected, quiet, passes, time.monotonic() - started, smsc, portal,
                        portal_messages(engine, portal.member_id))
    except (RuntimeError, requests.RequestException, subprocess.TimeoutExpired) as exc:
        print(f"chaos: cannot complete the run: {exc}", file=sys.stderr)
        passed = False
    finally:
        if outage is not None:
            outage.end()
        if app is not None:
            app.stop()
        for site in sites:
            site.close()
        if engine is not None:
            engine.dispose()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
