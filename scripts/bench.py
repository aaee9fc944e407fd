"""Benchmark: how fast the app answers Bitrix24, gets messages out and brings statuses back, and its job's memory.

Black-box, like scripts/chaos.py: each scenario starts the app under gunicorn (production settings, a fresh
temporary SQLite database, or --database-url's PostgreSQL database with its public schema dropped and made
again) against loopback fakes of tests/fakes (Bitrix24 and Prostor SMS), which sleep
--latency seconds on every request (a round trip). Each figure is printed beside its floor or target and the
ratio; a summary at the end says which targets were met. It measures, it does not gate: the exit code is 0
unless the bench itself broke.

Scenarios (--only ack,burst,sync,memory,portals,idle; all by default):
  ack     handler ack latency from concurrent callers, with a fast provider and a 2 s one (p99 within 1.5x)
  burst   1,000 handler calls from 64 callers, provider 2 s a request, no `jobs worker` (a cron-only
          deployment): every call answered within 1 s, every message at the provider within 60 s
  sync    20 portals x 500 messages the provider reports delivered: `jobs run-once` until every status
          reached Bitrix24 (one pass, within 2x the time floor, requests within 1.05x their floors)
  memory  peak RSS of one `jobs run-once` pass with 10,000 and 100,000 messages due for polling (< 200 MB, flat)
  portals 1,000 portals x 20 and 5,000 x 4 delivered messages: passes, wall and CPU per portal against the floor
          at the job's concurrency, with one job worker and two (scripts/bench_portals.py)
  idle    10,000 portals with nothing due: an empty pass under 2 s

Run from the project root:
    .venv/bin/python scripts/bench.py                      # everything (under ~10 minutes on 2 cores)
    .venv/bin/python scripts/bench.py --quick              # a smoke run at small sizes
    .venv/bin/python scripts/bench.py --only sync --latency 0.1
    .venv/bin/python scripts/bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""
import argparse
import math
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from sqlalchemy import MetaData, create_engine, delete, make_url, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file: the fakes are tests/fakes

from app_under_test import (  # noqa: E402
    TEXT_PREFIX,
    AppUnderTest,
    empty_database,
    install_portal,
    serve_bitrix,
    utcnow,
)

from tests.fakes.bitrix import FakeOAuthServer  # noqa: E402
from tests.fakes.prostor import FakeProstor  # noqa: E402
from tests.fakes.serving import LoopbackSite  # noqa: E402

SCENARIOS = ("ack", "burst", "sync", "memory", "portals", "idle")
SLOW_PROVIDER = 2.0  # seconds a request to the slow provider takes
CALL_TIMEOUT = 60  # seconds a bench caller waits for a handler answer (counted as not answered past that)
ARRIVAL_WAIT = 90  # seconds after the last answer that the burst waits for messages to reach the provider
SYNC_MAX_PASSES = 15
MEMORY_PASS_SECONDS = 20  # JOB_PASS_SECONDS in the memory scenario: a 100k pass would otherwise run for minutes
MEMORY_LIMIT_MB, MEMORY_FLAT_RATIO = 200, 1.25
BATCH_SIZE, STATUS_IDS_PER_REQUEST = 50, 200  # Bitrix24's batch limit; Prostor's status.json ids a request
# Runs a command and prints its own peak RSS (the deepest child's, in KB on Linux) as the last line.
PEAK_RSS_PROBE = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
                  "print('peak_rss_kb=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


@dataclass(frozen=True)
class Sizes:
    ack_calls: int
    ack_callers: int
    burst_calls: int
    burst_callers: int
    sync_portals: int
    sync_messages: int  # per portal
    memory_portals: int
    memory_totals: tuple
    portal_runs: tuple  # (portals, delivered messages each) for the `portals` scenario
    idle_portals: int


FULL = Sizes(300, 32, 1000, 64, 20, 500, 20, (10_000, 100_000), ((1000, 20), (5000, 4)), 10_000)
QUICK = Sizes(60, 16, 150, 32, 4, 200, 4, (2_000, 20_000), ((100, 20), (300, 4)), 1000)


@dataclass
class Environment:
    app: AppUnderTest
    site: LoopbackSite
    bitrix: FakeOAuthServer  # and its portals
    prostor: FakeProstor
    engine: object
    access_tokens: dict  # portal domain -> an access token for handler forms
    application_token: str


class Bench:
    def __init__(self, args):
        self.args = args
        self.sizes = QUICK if args.quick else FULL
        if args.portals:
            runs = tuple(tuple(int(n) for n in run.split("x")) for run in args.portals.split(","))
            self.sizes = replace(self.sizes, portal_runs=runs)
        self.latency = args.latency
        self.workdir = Path(tempfile.mkdtemp(prefix="b24sms-bench-"))
        self.workers = int(os.environ.get("WEB_CONCURRENCY", "2"))  # as the Procfile's web process
        self.threads = int(os.environ.get("GUNICORN_THREADS", "8"))
        self.targets = []  # (scenario, what, met, figure)

    def target(self, scenario, what, met, figure):
        self.targets.append((scenario, what, met, figure))

    @contextmanager
    def environment(self, name, portals, extra_env=None):
        """A fresh database and app, fresh fakes, and `portals` portals installed through the real install flow
        with the fake Prostor saved as their provider (one scenario's leftovers never skew the next)."""
        workdir = self.workdir / name
        workdir.mkdir()
        database_url = self.args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
        if self.args.database_url:
            empty_database(database_url)
        site = LoopbackSite()
        bitrix = serve_bitrix(site, portals, "bench", self.latency)
        prostor = site.add(FakeProstor(base=f"{site.url}/messages/v2/"))
        prostor.latency, prostor.initial_status = self.latency, "delivered"
        app = AppUnderTest(workdir, database_url, bitrix.url,
                           {"PROSTOR_API_URL": f"{site.url}/messages/v2/", **(extra_env or {})}, self.workers,
                           self.threads)
        engine = create_engine(database_url)
        try:
            app.start()
            application_token = secrets.token_hex(16)
            with ThreadPoolExecutor(max_workers=4) as pool:  # installs take a few round trips each
                list(pool.map(lambda portal: install_portal(app.url, portal, application_token,
                                                            [prostor_provider(prostor)]), bitrix.portals))
            tokens = {portal.domain: portal.issue()[0] for portal in bitrix.portals}
            yield Environment(app, site, bitrix, prostor, engine, tokens, application_token)
        finally:
            app.stop()
            site.close()
            engine.dispose()


def prostor_provider(prostor):
    """The settings entry that makes the fake Prostor a portal's provider."""
    return {"kind": "prostor", "sender": "", "credentials": {"login": prostor.login, "password": prostor.password}}


# ---------------------------------------------------------------- helpers
def percentile(values, fraction):
    """The nearest-rank percentile of `values` (0 when empty)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def spread(values):
    return f"p50={percentile(values, 0.5):.3f} p99={percentile(values, 0.99):.3f} max={max(values, default=0):.3f}"


def ratio(value, floor):
    return value / floor if floor else float("inf")


def post_handler_calls(env, portal, count, callers, tag):
    """`count` SMS posted to the portal's keyed HANDLER (the one the app registered with
    messageservice.sender.add) from `callers` threads. Returns [(message id, began, seconds, outcome)]."""
    url = portal.handler_url
    if not url or not url.startswith(env.app.url + "/handler/"):
        raise RuntimeError(f"the app registered no keyed HANDLER on loopback (got {url!r})")
    run_tag = f"{tag}{secrets.token_hex(4)}"

    def post(n):
        message_id, phone = f"{run_tag}{n:06d}", f"+7916{n % 10 ** 7:07d}"
        form = portal.handler_form(message_id, phone, TEXT_PREFIX + message_id, env.access_tokens[portal.domain],
                                   env.application_token)
        began = time.monotonic()
        try:
            answer = requests.post(url, data=form, timeout=CALL_TIMEOUT)
            outcome = "ok" if answer.status_code == 200 else f"http_{answer.status_code}"
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        return message_id, began, time.monotonic() - began, outcome

    with ThreadPoolExecutor(max_workers=callers) as pool:
        return list(pool.map(post, range(count)))


def not_ok(calls):
    bad = [outcome for *_, outcome in calls if outcome != "ok"]
    return f"not_ok={len(bad)}" + (f" ({', '.join(sorted(set(bad)))})" if bad else "")


def timed_pass(env, log_name="jobs.log"):
    """One `jobs run-once` process: (wall seconds including its start-up, its "pass: ..." line, the CPU seconds
    the process used, start-up included)."""
    began, cpu_before = time.monotonic(), children_cpu()
    out = env.app.flask("jobs", "run-once", log_name=log_name)
    return time.monotonic() - began, out.splitlines()[-1] if out else "", children_cpu() - cpu_before


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # children that ended: the pass that just ran
    return usage.ru_utime + usage.ru_stime


def insert_polled_messages(env, per_portal, portals):
    """Rows straight into `messages`: taken by Prostor (state accepted, an smscId the fake reports delivered),
    due for polling now. Returns {portal: [bitrix message ids]}."""
    meta = MetaData()
    meta.reflect(env.engine, only=["messages", "portals", "provider_accounts"])
    messages, portal_rows, accounts = (meta.tables[name] for name in ("messages", "portals", "provider_accounts"))
    now, tag = utcnow(), secrets.token_hex(4)
    with env.engine.connect() as connection:
        found = connection.execute(
            select(portal_rows.c.member_id, portal_rows.c.id, accounts.c.id)
            .join(accounts, accounts.c.portal_id == portal_rows.c.id).where(accounts.c.position == 0)).all()
    ids_of = {member_id: (portal_id, account_id) for member_id, portal_id, account_id in found}
    extra = unknown_not_null_columns(messages, now)
    sent_ids, rows = {}, []
    for number, portal in enumerate(portals):
        portal_id, account_id = ids_of[portal.member_id]
        sent_ids[portal] = []
        # Taken by Prostor earlier (the fake reports them delivered), under clientIds of their own.
        smsc_ids = env.prostor.sent_before(f"{tag}-{number}-{n}" for n in range(per_portal))
        for n, smsc_id in enumerate(smsc_ids):
            bitrix_id = f"{tag}{number:03d}{n:07d}"
            sent_ids[portal].append(bitrix_id)
            phone = f"+7916{n % 10 ** 7:07d}"
            rows.append({**extra, "portal_id": portal_id, "bitrix_message_id": bitrix_id,
                         "provider_key": secrets.token_hex(16), "recipient": phone, "recipient_raw": phone,
                         "body": f"bench {bitrix_id}", "segments": 1, "account_id": account_id,
                         "provider": "prostor", "provider_message_id": smsc_id, "provider_status": "accepted",
                         "state": "accepted", "attempts": 1, "due_at": now, "possible_duplicate": False,
                         "status": "queued", "reported_status": "queued", "report_pending": False,
                         "report_to_bitrix": True, "created_at": now, "updated_at": now,
                         "sender_code": "b24sms"})
    columns = set(messages.c.keys())  # a column dropped from the schema since is left out
    rows = [{name: value for name, value in row.items() if name in columns} for row in rows]
    with env.engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(messages.insert(), rows[start:start + 5000])
    return sent_ids


def unknown_not_null_columns(messages, now):
    """Values for NOT NULL columns this bench does not know (added to the schema since): '' / 0 / false / now;
    `lease_token` (the claim's lease, when there is one) is ''."""
    known = {"id", "portal_id", "bitrix_message_id", "provider_key", "recipient", "recipient_raw", "body",
             "segments", "account_id", "provider", "provider_message_id", "provider_status", "state", "attempts",
             "due_at", "possible_duplicate", "status", "reported_status", "report_pending", "report_to_bitrix",
             "created_at", "updated_at"}
    extra = {"lease_token": ""} if "lease_token" in messages.c else {}
    for col in messages.columns:
        if col.name in known or col.name in extra or col.nullable or col.server_default is not None:
            continue
        python_type = col.type.python_type
        extra[col.name] = now if python_type.__name__ == "datetime" else python_type()
    return extra


def delivered_count(bitrix, sent_ids):
    with bitrix.lock:
        return sum("delivered" in portal.status_updates.get(mid, ()) for portal, ids in sent_ids.items() for mid in ids)


def arrivals(prostor):
    """Bitrix24 message id (from the text) -> time.monotonic() of its first arrival at the fake Prostor."""
    with prostor.lock:
        found = {}
        for message in prostor.sent.values():
            if message["text"].startswith(TEXT_PREFIX):
                found.setdefault(message["text"].removeprefix(TEXT_PREFIX), prostor.first_arrival[message["clientId"]])
        return found


def forget_requests(env):
    """The fakes' records of requests start empty (the figures count from here)."""
    with env.bitrix.lock, env.prostor.lock:
        for portal in env.bitrix.portals:
            portal.http_requests.clear()
            portal.calls.clear()
        env.prostor.requests.clear()


def prostor_requests(prostor, path):
    """The bodies of the fake Prostor's requests to `path` (send.json, status.json), in order."""
    with prostor.lock:
        return [body for asked, body in prostor.requests if asked == path]


def arrival_delays(env, calls):
    """Seconds from each accepted handler call to its message's arrival at the fake provider, waiting up to
    ARRIVAL_WAIT for stragglers (no job pass runs: only the app's own sender can bring them). Returns (delays,
    how many calls were accepted)."""
    accepted = {mid: start for mid, start, _, outcome in calls if outcome == "ok"}
    deadline = time.monotonic() + ARRIVAL_WAIT
    while time.monotonic() < deadline and not accepted.keys() <= arrivals(env.prostor).keys():
        time.sleep(0.2)
    arrived = arrivals(env.prostor)
    delays = [arrived[mid] - start for mid, start in accepted.items() if mid in arrived]
    return delays, len(accepted)


# ---------------------------------------------------------------- scenarios
def ack(bench):
    calls, callers = bench.sizes.ack_calls, bench.sizes.ack_callers
    with bench.environment("ack", 1) as env:
        portal = env.bitrix.portals[0]
        fast = post_handler_calls(env, portal, calls, callers, "fast")
        fast_delays, fast_accepted = arrival_delays(env, fast)
        env.prostor.latency = SLOW_PROVIDER
        slow = post_handler_calls(env, portal, calls, callers, "slow")
    fast_p99 = percentile([s for _, _, s, _ in fast], 0.99)
    slow_p99 = percentile([s for _, _, s, _ in slow], 0.99)
    print(f"ack: {calls} handler calls from {callers} callers each way (seconds to the answer)")
    print(f"ack fast provider ({bench.latency:.3f} s a request): {spread([s for _, _, s, _ in fast])} {not_ok(fast)}")
    print(f"ack slow provider ({SLOW_PROVIDER:.1f} s a request): {spread([s for _, _, s, _ in slow])} {not_ok(slow)}")
    print(f"ack: p99(slow)/p99(fast)={ratio(slow_p99, fast_p99):.2f} target=1.50")
    print(f"ack: from handler call to the fast provider, no job runner: arrived={len(fast_delays)}/{fast_accepted} "
          + (f"{spread(fast_delays)} target_max=2.0" if fast_delays else ""))
    bench.target("ack", "a cron-only deployment sends within 2 s of the handler call",
                 len(fast_delays) == fast_accepted > 0 and max(fast_delays) <= 2.0,
                 f"max={max(fast_delays, default=0):.2f}s")
    bench.target("ack", "p99 with a 2 s provider within 1.5x of a fast one", ratio(slow_p99, fast_p99) <= 1.5,
                 f"ratio={ratio(slow_p99, fast_p99):.2f}")


def burst(bench):
    count, callers = bench.sizes.burst_calls, bench.sizes.burst_callers
    with bench.environment("burst", 1) as env:  # no `jobs worker`, no pass: a cron-only deployment
        env.prostor.latency = SLOW_PROVIDER
        forget_requests(env)
        began = time.monotonic()
        calls = post_handler_calls(env, env.bitrix.portals[0], count, callers, "burst")
        answered = time.monotonic()
        delays, accepted = arrival_delays(env, calls)
        sizes = [len(body["messages"]) for body in prostor_requests(env.prostor, "send.json")]
    requests_made, largest = len(sizes), max(sizes, default=0)
    per_request = sum(sizes) / requests_made if requests_made else 0.0
    acks = [s for _, _, s, _ in calls]
    slowest = max(acks, default=0)
    print(f"burst: {count} handler calls from {callers} callers, provider {SLOW_PROVIDER:.1f} s a request, "
          f"no job runner; all answered after {answered - began:.1f} s")
    print(f"burst ack: slowest={slowest:.3f} target=1.000 ratio={ratio(slowest, 1.0):.2f} "
          f"({spread(acks)}) {not_ok(calls)}")
    print(f"burst arrival at the provider (from each handler call): arrived={len(delays)}/{accepted} "
          + (f"{spread(delays)} target_max=60.0" if delays else ""))
    if len(delays) < accepted:
        print(f"burst: {accepted - len(delays)} of {accepted} accepted messages never reached the "
              f"provider within {ARRIVAL_WAIT} s of the last answer without a job pass")
    print(f"burst provider: send_requests={requests_made} messages_per_request={per_request:.2f} "
          f"largest_request={largest}")
    bench.target("burst", "every handler call answered within 1 s", slowest <= 1.0 and accepted == count,
                 f"slowest={slowest:.2f}s accepted={accepted}/{count}")
    arrived_in_time = len(delays) == accepted > 0 and max(delays) <= 60
    bench.target("burst", "every message at the provider within 60 s", arrived_in_time,
                 f"arrived={len(delays)}/{accepted} max={max(delays, default=0):.1f}s")


def sync(bench):
    portals, per_portal = bench.sizes.sync_portals, bench.sizes.sync_messages
    with bench.environment("sync", portals) as env:
        noops = [timed_pass(env) for _ in range(2)]  # start-up and an empty pass, warm
        noop, noop_cpu = min(n[0] for n in noops), min(n[2] for n in noops)
        sent_ids = insert_polled_messages(env, per_portal, env.bitrix.portals)
        total = portals * per_portal
        forget_requests(env)
        began, cpu = time.monotonic(), 0.0
        passes = 0
        while passes < SYNC_MAX_PASSES:
            passes += 1
            _, line, pass_cpu = timed_pass(env)
            cpu += pass_cpu - noop_cpu
            if delivered_count(env.bitrix, sent_ids) == total:
                break
        seconds = time.monotonic() - began
        delivered = delivered_count(env.bitrix, sent_ids)
        last_status = max((p.last_status_at for p in env.bitrix.portals if p.last_status_at), default=began)
        with env.bitrix.lock:
            asked = Counter(method for portal in env.bitrix.portals for method, _ in portal.http_requests)
        batches, status_requests = asked.pop("batch", 0), len(prostor_requests(env.prostor, "status.json"))
        other = dict(asked)
    batch_floor = portals * math.ceil(per_portal / BATCH_SIZE)
    status_floor = portals * math.ceil(per_portal / STATUS_IDS_PER_REQUEST)
    time_floor = (math.ceil(per_portal / STATUS_IDS_PER_REQUEST) + math.ceil(per_portal / BATCH_SIZE)) * bench.latency
    own = max(0.0, seconds - passes * noop)
    print(f"sync: {portals} portals x {per_portal} messages the provider reports delivered; delivered statuses "
          f"at Bitrix24: {delivered}/{total}")
    print(f"sync: passes={passes} seconds={seconds:.2f} floor={time_floor:.2f} ratio={ratio(seconds, time_floor):.2f} "
          f"(wall time of the pass processes, start-up included)")
    print(f"sync: own_seconds={own:.2f} floor={time_floor:.2f} ratio={ratio(own, time_floor):.2f} (less a no-op pass's "
          f"{noop:.2f} s per pass: process start-up and an empty pass); last status at Bitrix24 "
          f"{last_status - began:.2f} s after the first pass started")
    print(f"sync: job_cpu_seconds={cpu:.2f} (the pass processes' own CPU, less a no-op pass's {noop_cpu:.2f} s; "
          f"{os.cpu_count()} cores here, shared with the database and the fakes)")
    print(f"sync: bitrix24_batch_requests={batches} floor={batch_floor} ratio={ratio(batches, batch_floor):.2f}; "
          f"other REST requests: {other or 0}")
    print(f"sync: prostor_status_requests={status_requests} floor={status_floor} "
          f"ratio={ratio(status_requests, status_floor):.2f}")
    print(f"sync: last pass said: {line}")
    bench.target("sync", "every status reported in one pass", passes == 1 and delivered == total,
                 f"passes={passes} delivered={delivered}/{total}")
    bench.target("sync", "pass time within 2x the floor", own <= 2 * time_floor,
                 f"own={own:.2f}s floor={time_floor:.2f}s")
    bench.target("sync", "Bitrix24 batches within 1.05x the floor", batches <= 1.05 * batch_floor,
                 f"{batches}/{batch_floor}")
    bench.target("sync", "Prostor status requests within 1.05x the floor", status_requests <= 1.05 * status_floor,
                 f"{status_requests}/{status_floor}")


def memory(bench):
    portals = bench.sizes.memory_portals
    peaks = {}
    with bench.environment("memory", portals, {"JOB_PASS_SECONDS": str(MEMORY_PASS_SECONDS)}) as env:
        meta = MetaData()
        meta.reflect(env.engine, only=["messages", "portals", "provider_accounts"])
        for total in bench.sizes.memory_totals:
            with env.engine.begin() as connection:  # each size alone in the queue, no leases left over
                connection.execute(delete(meta.tables["messages"]))
                connection.execute(update(meta.tables["portals"]).values(report_not_before=None))
                connection.execute(update(meta.tables["provider_accounts"]).values(poll_not_before=None))
            insert_polled_messages(env, total // portals, env.bitrix.portals)
            began = time.monotonic()
            out = env.app.flask_concurrently(1, "jobs", "run-once", log_name="jobs.log",
                                             argv_prefix=(sys.executable, "-c", PEAK_RSS_PROBE))[0].splitlines()
            seconds = time.monotonic() - began
            peaks[total] = int(out[-1].removeprefix("peak_rss_kb=")) / 1024
            print(f"memory: queued={total} peak_rss_mb={peaks[total]:.1f} limit={MEMORY_LIMIT_MB} "
                  f"pass_seconds={seconds:.1f} ({out[-2] if len(out) > 1 else 'no pass line'})")
    small, large = bench.sizes.memory_totals
    growth = ratio(peaks[large], peaks[small])
    print(f"memory: ratio {large}/{small}={growth:.2f} target<={MEMORY_FLAT_RATIO:.2f} "
          f"(JOB_PASS_SECONDS={MEMORY_PASS_SECONDS} for both passes, so the large one ends in reasonable time)")
    bench.target("memory", f"peak RSS under {MEMORY_LIMIT_MB} MB", max(peaks.values()) < MEMORY_LIMIT_MB,
                 f"{max(peaks.values()):.1f} MB")
    bench.target("memory", "peak RSS flat with the queue's size", growth <= MEMORY_FLAT_RATIO, f"ratio={growth:.2f}")


def many_portals(name):
    def run(bench):
        import bench_portals  # it imports this module's helpers
        getattr(bench_portals, name)(bench)
    return run


RUNS = {"ack": ack, "burst": burst, "sync": sync, "memory": memory, "portals": many_portals("portals"),
        "idle": many_portals("idle")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds every request to the fakes takes (default 0.05)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios to run (default all: {','.join(SCENARIOS)})")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--database-url", help="a PostgreSQL database to use instead of temporary SQLite files; "
                                               "its public schema is dropped and made again for each scenario")
    parser.add_argument("--portals", help="the portals scenario's runs, as portals x delivered messages each "
                                          "(default 1000x20,5000x4; --quick 100x20,300x4)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")

    sys.stdout.reconfigure(line_buffering=True)  # each line as it comes, also into a pipe or a CI log
    bench = Bench(args)
    database = (f"postgresql ({make_url(args.database_url).database})" if args.database_url
                else "sqlite (a temporary file per scenario)")
    print(f"bench: latency={args.latency:.3f} s per request to the fakes; database={database}; "
          f"gunicorn={bench.workers} workers x {bench.threads} threads; "
          f"JOB_CONCURRENCY={os.environ.get('JOB_CONCURRENCY', 'unset (the app default)')}; "
          f"size={'quick' if args.quick else 'full'}")
    broken = []
    started = time.monotonic()
    try:
        for name in SCENARIOS:
            if name not in chosen:
                continue
            print()
            try:
                RUNS[name](bench)
            except Exception as exc:  # the bench broke, not the app's figures: say so and go on
                traceback.print_exc()
                print(f"{name}: the bench could not complete this scenario: {exc}")
                broken.append(name)
    finally:
        if args.keep:
            print(f"kept {bench.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(bench.workdir, ignore_errors=True)
    print(f"\nsummary ({time.monotonic() - started:.0f} s):")
    for scenario, what, met, figure in bench.targets:
        print(f"  {scenario}: {what}: {'met' if met else 'not met'} ({figure})")
    for name in broken:
        print(f"  {name}: not measured (the bench broke)")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
