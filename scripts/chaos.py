"""Chaos check: no SMS lost, none sent twice, while the provider fails and times out.

Starts the app under gunicorn (production settings, its own database) against two fakes on loopback served
from this process: Bitrix24 (OAuth server + one portal's REST; scripts/loopback_fakes.py, shared with
scripts/bench.py) and an SMS provider speaking the SMSC.ru protocol. Like the real SMSC the fake does not
deduplicate: every accepted send.php call is a new SMS.
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
from flask import Flask, jsonify, request
from loopback_fakes import (
    TEXT_PREFIX,
    AppUnderTest,
    FakeBitrix,
    empty_database,
    handler_form,
    install_portal,
    serve,
    stop_servers,
    utcnow,
)
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

APP_HTTP_TIMEOUT = 1  # seconds the app waits for the provider
TIMEOUT_SLEEP = 1.6  # a "time-out": the fake answers later than the app waits
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


class FakeSmsc:
    """SMSC.ru's HTTP API with chaos on send.php and status.php (balance.php is spared: settings save)."""

    def __init__(self, seed):
        self.seed = seed
        self.lock = threading.Lock()
        self.sends = defaultdict(list)  # Bitrix message id (from the text) -> SMSC ids of every accepted send
        self.delivered = set()  # SMSC ids accepted at least once: status 1 at once
        self.requests_seen = Counter()  # (script, key) -> how many times asked, for the chaos draw
        self.injected = Counter()  # (kind, script) -> count

    def wsgi_app(self):
        app = Flask("fake_smsc")
        app.post("/sys/<script>")(self.handle)
        return app

    def chaos_for(self, script, key):
        """None, "http_500", "timeout_processed" or "timeout_unprocessed". Drawn from (seed, script, key, how
        many times this key was asked), so which request gets hurt does not depend on thread timing."""
        with self.lock:
            self.requests_seen[script, key] += 1
            nth = self.requests_seen[script, key]
        draw = random.Random(f"{self.seed}:{script}:{key}:{nth}").random()
        if draw < HTTP_500_RATE:
            return "http_500"
        if draw < HTTP_500_RATE + TIMEOUT_RATE / 2:
            return "timeout_processed"
        if draw < HTTP_500_RATE + TIMEOUT_RATE:
            return "timeout_unprocessed"
        return None

    def handle(self, script):
        form = request.form
        if form.get("fmt") != "3" or (form.get("login"), form.get("psw")) != (SMSC_LOGIN, SMSC_PASSWORD):
            return jsonify(error="authorise error", error_code=2)
        if script == "balance.php":
            return jsonify(balance="100.00", currency="RUB")
        answer = {"send.php": self.send, "status.php": self.status}.get(script)
        if answer is None:
            return jsonify(error="parameters error", error_code=1)
        chaos = self.chaos_for(script, form.get("id", ""))
        if chaos:
            with self.lock:
                self.injected[chaos, script] += 1
        if chaos == "http_500":
            return "Internal Server Error", 500
        body = answer(form) if chaos != "timeout_unprocessed" else None
        if chaos:
            time.sleep(TIMEOUT_SLEEP)  # the app has given up waiting: whatever we answer now is lost
            return "Gateway Timeout", 504
        return jsonify(body)

    def send(self, form):
        if not form.get("phones", "").isdigit() or not form.get("id"):
            return {"error": "invalid number", "error_code": 7}
        bitrix_id = form.get("mes", "").removeprefix(TEXT_PREFIX)
        with self.lock:
            self.sends[bitrix_id].append(form["id"])
            self.delivered.add(form["id"])
        return {"id": form["id"], "cnt": 1, "cost": "1.40", "balance": "100.00"}

    def status(self, form):
        ids, phones = form.get("id", "").split(","), form.get("phone", "").split(",")
        if len(ids) != len(phones):
            return {"error": "parameters error", "error_code": 1}
        with self.lock:
            codes = [1 if smsc_id in self.delivered else -3 for smsc_id in ids]
        if len(ids) == 1:  # no trailing comma: SMSC's single-message shape
            return {"status": 1, "err": 0} if codes[0] == 1 else {"error": "message not found", "error_code": 3}
        return [{"status": code, "err": 0, "id": smsc_id, "phone": phone, "last_timestamp": int(time.time())}
                for smsc_id, phone, code in zip(ids[:-1], phones[:-1], codes[:-1], strict=True) if smsc_id]


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


def post_handler_calls(app_url, bitrix, portal, application_token, count, threads, seed, outage=None):
    """Post `count` SMS from `threads` threads. Returns (accepted message ids, Counter of other outcomes)."""
    rng = random.Random(seed)
    run_tag = secrets.token_hex(8)  # distinct ids even in a reused database
    calls = [(f"{run_tag}{n:016x}", f"+7916{rng.randrange(10 ** 7):07d}") for n in range(count)]
    access, _ = bitrix.issue(portal, "1")

    def post(call):
        message_id, phone = call
        began = time.monotonic()
        try:
            answer = requests.post(f"{app_url}/handler", timeout=30,
                                   data=handler_form(bitrix, portal, access, application_token, message_id, phone))
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
    sent = {mid for mid, sends in smsc.sends.items() if sends}
    duplicated = {mid for mid, sends in smsc.sends.items() if len(sends) > 1}
    failed = {mid for mid in accepted_ids if last_reported.get(mid) == "failed"}
    lost = {mid for mid in accepted_ids if mid not in sent and mid not in failed}
    final_reported = {mid for mid in accepted_ids if last_reported.get(mid) in FINAL}
    by_id = {m["bitrix_message_id"]: m for m in messages}

    injected = ", ".join(f"{script} {kind}={n}" for (kind, script), n in sorted(smsc.injected.items())) or "none"
    print(f"chaos injected: {injected}")
    print(f"handler calls not accepted: {dict(rejected) or 0}")
    print(f"final states: {dict(Counter(m['state'] for m in messages))}")
    print(f"sent but reported failed: {len(sent & failed)}")
    for title, ids in (("duplicated", duplicated), ("lost", lost), ("no final status reported",
                                                                     accepted_ids - final_reported)):
        if ids:
            print(f"{title} ({len(ids)}), first ones:")
            for mid in sorted(ids)[:10]:
                if mid in by_id:
                    print(describe(by_id[mid], smsc.sends.get(mid, []), portal.status_updates.get(mid, [])))
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
    bitrix, smsc = FakeBitrix(), FakeSmsc(args.seed)
    portal = bitrix.portals[0]
    servers, app, engine = [], None, None
    outage = None
    if args.db_outage > 0:
        outage = DatabaseOutage(database_url, args.db_outage, max(1, args.count // 3), args.admin_database)
    try:
        servers.append(bitrix.serve())
        smsc_server, smsc_url = serve(smsc.wsgi_app())
        servers.append(smsc_server)
        app = AppUnderTest(workdir, database_url, bitrix.base_url,
                           {"SMSC_API_URL": f"{smsc_url}/sys/", "HTTP_TIMEOUT": str(APP_HTTP_TIMEOUT)})
        app.start()
        application_token = secrets.token_hex(16)
        smsc_provider = {"kind": "smsc", "sender": "",
                         "credentials": {"login": SMSC_LOGIN, "password": SMSC_PASSWORD}}
        install_portal(app.url, bitrix, portal, application_token, [smsc_provider])
        accepted, rejected = post_handler_calls(app.url, bitrix, portal, application_token, args.count,
                                                args.threads, args.seed, outage)
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
        stop_servers(servers)
        if engine is not None:
            engine.dispose()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
