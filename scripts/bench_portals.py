"""The bench's many-portal scenarios (scripts/bench.py runs them):

  portals  N portals x M messages the provider reports delivered, a round trip per request: `jobs run-once`
           passes until every status reached Bitrix24 (passes, job wall and CPU time, CPU per portal, requests
           against their floors, the time floor at the job's concurrency), with one job worker and then two
  idle     many portals with nothing due: what an empty pass costs

One portal is installed through the real install flow; the others are copies of its rows (each with a fake
portal of its own on the loopback site, which takes the copied token): installing thousands of portals through
the flow would take the bench longer than what it measures.
"""
import math
import os
import secrets
import time

from bench import (
    BATCH_SIZE,
    STATUS_IDS_PER_REQUEST,
    children_cpu,
    delivered_count,
    forget_requests,
    insert_polled_messages,
    prostor_requests,
    ratio,
    timed_pass,
)
from sqlalchemy import MetaData, delete, select, update

from b24sms.config import Settings

MAX_PASSES = 5
SPEEDUP_TARGET = 1.3  # two job workers against one, on 2 cores shared with the database and the fakes


def job_concurrency():
    """The job's calls in flight: JOB_CONCURRENCY as the bench was started with, else the app's default."""
    return int(os.environ.get("JOB_CONCURRENCY") or Settings.__dataclass_fields__["job_concurrency"].default)


def copy_portals(env, count, latency):
    """Make the installed portal `count` portals: a fake portal each on the site (taking the installed portal's
    tokens) and copies of its rows (portal, provider accounts, sender names). Returns the fake portals."""
    original = env.bitrix.portals[0]
    meta = MetaData()
    meta.reflect(env.engine, only=["portals", "provider_accounts", "sender_names"])
    portals, accounts, names = (meta.tables[name] for name in ("portals", "provider_accounts", "sender_names"))
    fakes = []
    for number in range(len(env.bitrix.portals), count):
        fake = env.site.add(env.bitrix.portal(f"bench{number}.bitrix24.ru", secrets.token_hex(16),
                                              endpoint=f"{env.site.url}/p/{number}/rest/"))
        fake.latency = latency
        with env.bitrix.lock:
            fake.tokens.update(original.tokens)
            fake.refresh_tokens.update(original.refresh_tokens)
        fakes.append(fake)
    with env.engine.begin() as connection:
        row = connection.execute(select(portals).where(portals.c.member_id == original.member_id)).mappings().one()
        own_accounts = connection.execute(select(accounts).where(accounts.c.portal_id == row["id"])).mappings().all()
        own_names = connection.execute(select(names).where(names.c.portal_id == row["id"])).mappings().all()
        for start in range(0, len(fakes), 2000):
            chunk = fakes[start:start + 2000]
            connection.execute(portals.insert(), [
                {**_without_id(row), "member_id": fake.member_id, "domain": fake.domain,
                 "client_endpoint": fake.endpoint, "install_id": secrets.token_hex(16),
                 "handler_key_hash": secrets.token_hex(32)} for fake in chunk])
            ids = dict(connection.execute(select(portals.c.member_id, portals.c.id).where(
                portals.c.member_id.in_([fake.member_id for fake in chunk]))).all())
            if own_accounts:
                connection.execute(accounts.insert(), [
                    {**_without_id(account), "portal_id": ids[fake.member_id],
                     "callback_secret_hash": secrets.token_hex(32) if account["callback_secret_hash"] else None}
                    for fake in chunk for account in own_accounts])
            if own_names:
                connection.execute(names.insert(), [{**_without_id(name), "portal_id": ids[fake.member_id]}
                                                    for fake in chunk for name in own_names])
    return env.bitrix.portals


def _without_id(row):
    return {name: value for name, value in row.items() if name != "id"}


def clear_messages(env):
    """No messages, no leases left over: the next run starts as the first did."""
    meta = MetaData()
    meta.reflect(env.engine, only=["messages", "portals", "provider_accounts"])
    with env.engine.begin() as connection:
        connection.execute(delete(meta.tables["messages"]))
        connection.execute(update(meta.tables["portals"]).values(report_not_before=None, report_lease=None))
        connection.execute(update(meta.tables["provider_accounts"]).values(poll_not_before=None))


def passes_until_synced(env, sent_ids, total, job_workers):
    """`jobs run-once` (`job_workers` processes at once) until every status is at Bitrix24. Returns
    (passes, wall seconds, CPU seconds of the pass processes, each pass's line)."""
    passes, began, cpu, lines = 0, time.monotonic(), 0.0, []
    while passes < MAX_PASSES:
        passes += 1
        if job_workers == 1:
            _, line, pass_cpu = timed_pass(env)
            lines.append(line)
        else:
            cpu_before = children_cpu()
            outputs = env.app.flask_concurrently(job_workers, "jobs", "run-once", log_name="jobs.log")
            pass_cpu = children_cpu() - cpu_before
            lines += [out.splitlines()[-1] if out else "" for out in outputs]
        cpu += pass_cpu
        if delivered_count(env.bitrix, sent_ids) == total:
            break
    return passes, time.monotonic() - began, cpu, lines


def portals(bench):
    concurrency = job_concurrency()
    for count, per_portal in bench.sizes.portal_runs:
        with bench.environment(f"portals{count}", 1) as env:
            fakes = copy_portals(env, count, bench.latency)
            noops = [timed_pass(env) for _ in range(2)]  # start-up and an empty pass over every portal, warm
            noop, noop_cpu = min(n[0] for n in noops), min(n[2] for n in noops)
            print(f"portals: {count} portals x {per_portal} delivered, {bench.latency:.3f} s a request, "
                  f"JOB_CONCURRENCY={concurrency}; an empty pass over them: {noop:.2f} s wall, {noop_cpu:.2f} s CPU "
                  f"(process start-up included)")
            walls = {}
            for job_workers in (1, 2):
                clear_messages(env)
                sent_ids = insert_polled_messages(env, per_portal, fakes)
                total = count * per_portal
                forget_requests(env)
                passes, wall, cpu, lines = passes_until_synced(env, sent_ids, total, job_workers)
                delivered = delivered_count(env.bitrix, sent_ids)
                with env.bitrix.lock:
                    batches = sum(method == "batch" for fake in fakes for method, _ in fake.http_requests)
                status_requests = len(prostor_requests(env.prostor, "status.json"))
                batch_floor = count * math.ceil(per_portal / BATCH_SIZE)
                status_floor = count * math.ceil(per_portal / STATUS_IDS_PER_REQUEST)
                floor = (batch_floor + status_floor) * bench.latency / concurrency
                own = max(0.0, wall - passes * noop)
                walls[job_workers] = wall
                label = f"portals {count}x{per_portal} workers={job_workers}"
                print(f"{label}: passes={passes} delivered={delivered}/{total} wall={wall:.2f} s (start-up "
                      f"included; {own:.2f} s less empty passes) floor={floor:.2f} s at {concurrency} in flight "
                      f"ratio={ratio(wall, floor):.2f}")
                print(f"{label}: job_cpu={cpu:.2f} s, per portal {1000 * max(0.0, cpu - passes * noop_cpu) / count:.2f}"
                      f" ms (less the empty passes' CPU); bitrix24_batches={batches}/{batch_floor} "
                      f"ratio={ratio(batches, batch_floor):.2f} prostor_status={status_requests}/{status_floor} "
                      f"ratio={ratio(status_requests, status_floor):.2f}")
                for line in lines:
                    print(f"{label}:   {line}")
                if job_workers == 1:
                    name = f"{count}x{per_portal}"
                    bench.target("portals", f"{name}: one pass", passes == 1 and delivered == total,
                                 f"passes={passes} delivered={delivered}/{total}")
                    bench.target("portals", f"{name}: wall within 2x the floor", wall <= 2 * floor,
                                 f"wall={wall:.2f}s floor={floor:.2f}s")
                    limit = 20 if per_portal >= 20 else 60
                    bench.target("portals", f"{name}: wall under {limit} s", wall < limit, f"wall={wall:.2f}s")
                    bench.target("portals", f"{name}: requests within 1.05x their floors",
                                 batches <= 1.05 * batch_floor and status_requests <= 1.05 * status_floor,
                                 f"batches={batches}/{batch_floor} status={status_requests}/{status_floor}")
                    bench.target("portals", f"{name}: CPU per portal under 3 ms",
                                 max(0.0, cpu - passes * noop_cpu) / count < 0.003,
                                 f"{1000 * max(0.0, cpu - passes * noop_cpu) / count:.2f} ms")
            speedup = ratio(walls[1], walls[2])
            print(f"portals {count}x{per_portal}: two job workers against one: speed-up {speedup:.2f}")
            bench.target("portals", f"{count}x{per_portal}: two workers faster than one", speedup >= SPEEDUP_TARGET,
                         f"speed-up={speedup:.2f}")


def idle(bench):
    count = bench.sizes.idle_portals
    with bench.environment("idle", 1) as env:
        copy_portals(env, count, bench.latency)
        runs = [timed_pass(env) for _ in range(3)]
    seconds = [line.split("seconds=")[1].split()[0] if "seconds=" in line else "?" for _, line, _ in runs]
    pass_seconds = min(float(s) for s in seconds if s != "?") if "?" not in seconds else float("inf")
    walls, cpus = (", ".join(f"{run[i]:.2f}" for run in runs) for i in (0, 2))
    print(f"idle: {count} portals, nothing due: process wall {walls} s (start-up included); the pass itself "
          f"{', '.join(seconds)} s; process CPU {cpus} s")
    print(f"idle: last pass said: {runs[-1][1]}")
    bench.target("idle", f"{count} portals with nothing due: a pass under 2 s", pass_seconds < 2,
                 f"pass={pass_seconds:.2f}s")
