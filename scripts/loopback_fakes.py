"""Loopback fakes and the app runner shared by scripts/chaos.py and scripts/bench.py.

Everything here talks to 127.0.0.1 only: a fake Bitrix24 (one OAuth server, any number of portals), a fake
Prostor SMS (JSON API v2), and `AppUnderTest`, which runs the app as production does (migrations, gunicorn,
`flask --app wsgi jobs ...`) against them. The fakes are Flask apps served from the calling process by a
threaded server, so the scripts can read what the fakes saw (requests, status updates, arrivals) directly.
"""
import itertools
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import requests
from cryptography.fernet import Fernet
from flask import Flask, jsonify, request
from sqlalchemy import create_engine
from werkzeug.serving import ThreadedWSGIServer

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLIENT_ID, CLIENT_SECRET = "app.chaos.00000001", "chaos-client-secret"
SENDER_CODE = "b24sms"
TEXT_PREFIX = "chaos check "  # the SMS text names the Bitrix24 message id, so a fake provider can tell messages apart
PROSTOR_LOGIN, PROSTOR_PASSWORD = "bench", "bench-pass"
STATUSES = ("queued", "sent", "delivered", "undelivered", "failed")


class LoopbackServer(ThreadedWSGIServer):
    """A thread per connection, a deep accept queue: a burst of 100+ callers is neither refused nor queued
    behind a short backlog. Daemon threads, so a hung request never keeps the script alive."""
    request_queue_size = 1024
    daemon_threads = True


def serve(app):
    """Serve a WSGI app on 127.0.0.1, an ephemeral port, in a daemon thread. Returns (server, base URL)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = LoopbackServer("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def stop_servers(servers):
    for server in servers:
        server.shutdown()
        server.server_close()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def utcnow():
    return datetime.now(UTC).replace(tzinfo=None)  # the app keeps naive UTC


def error(status, code, description):
    return jsonify(error=code, error_description=description), status


def empty_database(url):
    """Every run starts from nothing: the app under test gets new keys, which cannot read an earlier run's data."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


class FakePortal:
    """One Bitrix24 portal as the fake sees it: REST under /p/<number>/rest/, and what was asked of it."""

    def __init__(self, number, name):
        self.number = number
        self.domain = f"{name}.bitrix24.ru" if number == 0 else f"{name}{number}.bitrix24.ru"
        self.member_id = secrets.token_hex(16)  # fresh per run: a reused database gets a new portal
        self.endpoint = ""  # set once the server's address is known
        self.senders, self.events = {}, {}
        self.status_updates = defaultdict(list)  # MESSAGE_ID -> every STATUS reported, in order
        self.sent_through = {}  # MESSAGE_ID -> the CODE of the sender whose HANDLER got it (handler_form)
        self.requests = Counter()  # REST method -> HTTP requests (a batch is one request, counted as "batch")
        self.batch_commands = Counter()  # method -> commands that came inside batches
        self.last_status_at = None  # time.monotonic() of the latest status update

    @property
    def handler_url(self):
        """The HANDLER the app registered with messageservice.sender.add (its keyed URL), or None."""
        return (self.senders.get(SENDER_CODE) or {}).get("HANDLER")


class FakeBitrix:
    """The OAuth server (/rest/app.info, /oauth/token/) and `portals` portals' REST under /p/<n>/rest/.
    `latency`: seconds every request sleeps before it is answered (a round trip to Bitrix24)."""

    def __init__(self, portals=1, latency=0.0, name="chaos"):
        self.lock = threading.Lock()
        self.latency = latency
        self.portals = [FakePortal(number, name) for number in range(portals)]
        self.base_url = ""
        self.access_tokens, self.refresh_tokens = {}, {}  # token -> (portal, user id)

    def serve(self):
        """Start serving on loopback; returns the server (for stop_servers)."""
        server, self.base_url = serve(self.wsgi_app())
        for portal in self.portals:
            portal.endpoint = f"{self.base_url}/p/{portal.number}/rest/"
        return server

    def issue(self, portal, user_id="1"):
        with self.lock:
            access, refresh = f"at-{secrets.token_hex(8)}", f"rt-{secrets.token_hex(8)}"
            self.access_tokens[access] = self.refresh_tokens[refresh] = (portal, user_id)
            return access, refresh

    def reset_counters(self):
        with self.lock:
            for portal in self.portals:
                portal.requests.clear()
                portal.batch_commands.clear()

    def requests_of(self, method):
        """HTTP requests of `method` summed over every portal."""
        with self.lock:
            return sum(portal.requests[method] for portal in self.portals)

    def wsgi_app(self):
        app = Flask("fake_bitrix")
        app.before_request(self.delay)
        app.get("/rest/app.info")(self.app_info)
        app.get("/oauth/token/")(self.oauth_token)
        app.post("/p/<int:number>/rest/<method>")(self.rest)
        return app

    def delay(self):
        if self.latency > 0:
            time.sleep(self.latency)

    def app_info(self):
        portal, user = self.access_tokens.get(request.args.get("auth"), (None, None))
        if portal is None:
            return error(401, "invalid_token", "The access token provided is invalid.")
        install = {"installed": True, "status": "L", "domain": portal.domain, "client_endpoint": portal.endpoint,
                   "member_id": portal.member_id, "member_type": "PORTAL", "scope": "crm,messageservice,user"}
        return jsonify(result={"client_id": CLIENT_ID, "user_id": int(user), "scope": install["scope"],
                               "install": install})

    def oauth_token(self):
        if (request.args.get("client_id"), request.args.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return error(401, "invalid_client", "Invalid client credentials")
        with self.lock:
            portal, user = self.refresh_tokens.pop(request.args.get("refresh_token"), (None, None))  # they rotate
        if portal is None:
            return error(400, "invalid_grant", "Invalid refresh token")
        access, refresh = self.issue(portal, user)
        return jsonify(access_token=access, refresh_token=refresh, expires_in=3600, member_id=portal.member_id,
                       client_endpoint=portal.endpoint, user_id=int(user))

    def rest(self, number, method):
        params = request.get_json(silent=True) or {}
        method = method.removesuffix(".json")
        if not 0 <= number < len(self.portals):
            return error(404, "ERROR_PORTAL_NOT_FOUND", "No such portal.")
        portal = self.portals[number]
        with self.lock:
            portal.requests[method] += 1
            owner, _ = self.access_tokens.get(params.pop("auth", None), (None, None))
            if owner is not portal:
                return error(401, "invalid_token", "The access token provided is invalid.")
            if method == "batch":
                return jsonify(result=self.batch(portal, params.get("cmd") or {}))
            status, body = self.call(portal, method, params)
        return jsonify(body), status

    def batch(self, portal, commands):
        results, errors = {}, {}
        for key, command in commands.items():
            method, _, query = command.partition("?")
            portal.batch_commands[method] += 1
            status, body = self.call(portal, method, dict(parse_qsl(query, keep_blank_values=True)))
            if status == 200:
                results[key] = body["result"]
            else:
                errors[key] = body
        return {"result": results or [], "result_error": errors or [], "result_total": [], "result_next": []}

    def call(self, portal, method, params):
        """(HTTP status, body) of one REST method; the caller holds the lock."""
        params = {key.upper(): value for key, value in params.items()}
        if method == "user.admin":
            return 200, {"result": True}
        if method in ("messageservice.sender.add", "messageservice.sender.update"):
            portal.senders[params.get("CODE")] = params
            return 200, {"result": True}
        if method == "messageservice.sender.list":
            return 200, {"result": list(portal.senders)}
        if method == "event.bind":
            portal.events[params.get("EVENT")] = params.get("HANDLER")
            return 200, {"result": True}
        if method == "messageservice.message.status.update":
            code = portal.sent_through.get(params.get("MESSAGE_ID"))
            if code is not None and str(params.get("CODE") or "").lower() != code.lower():
                # Bitrix24 finds a message under the CODE of the sender it went through only (any case).
                return 400, {"error": "ERROR_MESSAGE_NOT_FOUND", "error_description": "Message not found!"}
            if params.get("STATUS") not in STATUSES:
                return 400, {"error": "ERROR_MESSAGE_STATUS_INCORRECT",
                             "error_description": "Message status incorrect!"}
            portal.status_updates[params.get("MESSAGE_ID")].append(params["STATUS"])
            portal.last_status_at = time.monotonic()
            return 200, {"result": True}
        return 400, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}


class FakeProstor:
    """Prostor SMS, JSON API v2 under /messages/v2/: send.json (a repeated clientId is dropped and answered
    with its first smscId, as Prostor does), status.json (every message it took is delivered at once) and
    balance.json and senders.json (the account's approved sender names, `sender_names`). `latency`: seconds each request sleeps first (may be changed while serving)."""

    def __init__(self, latency=0.0, text_prefix=TEXT_PREFIX):
        self.lock = threading.Lock()
        self.latency = latency
        self.text_prefix = text_prefix
        self.next_id = itertools.count(10 ** 9)  # Prostor's smscIds are numbers
        self.by_client_id = {}  # clientId -> (smscId, time.monotonic() of its first arrival)
        self.arrived = {}  # Bitrix24 message id (from the text) -> time.monotonic() of its first arrival
        self.delivered = set()  # smscIds (str) whose status is "delivered"
        self.send_requests = 0
        self.messages_per_send = Counter()  # messages in one send.json request -> how many such requests
        self.status_requests = 0
        self.sender_names = ["SHOP", "SHOP2"]

    def serve(self):
        """Start serving on loopback; returns (server, the base URL the app's PROSTOR_API_URL takes)."""
        server, url = serve(self.wsgi_app())
        return server, f"{url}/messages/v2/"

    def known_delivered(self, count):
        """`count` new smscIds of messages taken earlier and now delivered (for rows put straight into the
        app's database)."""
        with self.lock:
            ids = [str(next(self.next_id)) for _ in range(count)]
            self.delivered.update(ids)
        return ids

    def reset_counters(self):
        with self.lock:
            self.send_requests = self.status_requests = 0
            self.messages_per_send.clear()

    def wsgi_app(self):
        app = Flask("fake_prostor")
        app.post("/messages/v2/<script>")(self.handle)
        return app

    def handle(self, script):
        if self.latency > 0:
            time.sleep(self.latency)
        body = request.get_json(silent=True) or {}
        if (body.get("login"), body.get("password")) != (PROSTOR_LOGIN, PROSTOR_PASSWORD):
            return jsonify(status="error", description="error authorization")
        if script == "balance.json":
            return jsonify(status="ok", balance=[{"type": "RUB", "balance": "100.00", "credit": None}])
        if script == "senders.json":
            return jsonify(status="ok", senders=[{"name": name, "status": "active", "info": ""}
                                                 for name in self.sender_names])
        if script == "send.json":
            return jsonify(status="ok", messages=self.send(body.get("messages") or []))
        if script == "status.json":
            return jsonify(status="ok", messages=self.status(body.get("messages") or []))
        return jsonify(status="error", description="unknown method"), 404

    def send(self, items):
        now, answers = time.monotonic(), []
        with self.lock:
            self.send_requests += 1
            self.messages_per_send[len(items)] += 1
            for item in items:
                client_id, text = str(item.get("clientId", "")), str(item.get("text", ""))
                if not item.get("phone"):
                    answers.append({"clientId": client_id, "status": "invalid mobile phone"})
                    continue
                if client_id not in self.by_client_id:
                    smsc_id = str(next(self.next_id))
                    self.by_client_id[client_id] = (smsc_id, now)
                    self.delivered.add(smsc_id)
                    if text.startswith(self.text_prefix):
                        self.arrived.setdefault(text.removeprefix(self.text_prefix), now)
                smsc_id = self.by_client_id[client_id][0]
                answers.append({"clientId": client_id, "smscId": int(smsc_id), "status": "accepted"})
        return answers

    def status(self, items):
        with self.lock:
            self.status_requests += 1
            return [{"smscId": item.get("smscId"),
                     "status": "delivered" if str(item.get("smscId")) in self.delivered else "incorrect id"}
                    for item in items if isinstance(item, dict)]

    def sends_summary(self):
        """(send requests, mean messages per request, largest request)."""
        with self.lock:
            total = sum(size * count for size, count in self.messages_per_send.items())
            largest = max(self.messages_per_send, default=0)
            return self.send_requests, total / self.send_requests if self.send_requests else 0.0, largest


class AppUnderTest:
    """The app as production runs it: migrations, gunicorn (gthread workers), and `flask jobs ...`.
    `extra_env`: settings on top of the production ones (provider URLs, HTTP_TIMEOUT, JOB_PASS_SECONDS...)."""

    def __init__(self, workdir, database_url, oauth_url, extra_env=None, workers=2, threads=8):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.gunicorn = None
        self.env = {name: value for name, value in os.environ.items()
                    if not name.startswith("FLASK_")}
        self.env.update(
            APP_ENV="production", DATABASE_URL=database_url, SECRET_KEY=secrets.token_urlsafe(32),
            ENCRYPTION_KEYS=Fernet.generate_key().decode(), B24_CLIENT_ID=CLIENT_ID,
            B24_CLIENT_SECRET=CLIENT_SECRET, PUBLIC_URL=self.url, B24_OAUTH_URL=oauth_url, LOG_LEVEL="INFO",
            SPOOL_DIR=str(workdir / "spool"),
            MALLOC_ARENA_MAX=os.environ.get("MALLOC_ARENA_MAX", "2"),  # as the Procfile runs the app
        )
        self.env.update(extra_env or {})

    def flask_argv(self, *args):
        return [str(VENV_BIN / "flask"), "--app", "wsgi", *args]

    def flask(self, *args, log_name):
        """Run one `flask --app wsgi ...` command; its stdout, stripped. Raises when it exits non-zero."""
        return self.flask_concurrently(1, *args, log_name=log_name)[0]

    def flask_concurrently(self, count, *args, log_name, argv_prefix=()):
        """Start `count` copies of one command at once (they overlap), wait for all; their stdouts.
        `argv_prefix`: a wrapper to run the command under (the bench's peak-memory probe)."""
        with open(self.workdir / log_name, "a") as log:
            processes = [subprocess.Popen([*argv_prefix, *self.flask_argv(*args)], cwd=ROOT, env=self.env,
                                          stdout=subprocess.PIPE, stderr=log, text=True) for _ in range(count)]
            outputs = []
            for process in processes:
                try:
                    out, _ = process.communicate(timeout=600)
                except subprocess.TimeoutExpired:
                    for other in processes:
                        other.kill()
                    raise
                log.write(out)
                outputs.append((process.returncode, out.strip()))
        for returncode, _ in outputs:
            if returncode != 0:
                raise RuntimeError(f"`flask {' '.join(args)}` exited {returncode}; see {self.workdir / log_name}")
        return [out for _, out in outputs]

    def start(self):
        self.flask("db", "upgrade", log_name="migrate.log")
        log = open(self.workdir / "gunicorn.log", "a")
        self.gunicorn = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--workers", str(self.workers), "--threads", str(self.threads),
             "--timeout", "60", "--bind", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child keeps its own copy
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.gunicorn.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.gunicorn.returncode}; see {self.workdir}/gunicorn.log")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 30 s")

    def stop(self):
        if self.gunicorn and self.gunicorn.poll() is None:
            self.gunicorn.terminate()
            try:
                self.gunicorn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.gunicorn.kill()
                self.gunicorn.wait()


def install_portal(app_url, bitrix, portal, application_token, providers):
    """Open the install page as Bitrix24 does, then save `providers` ([{kind, sender, credentials}]) as the
    portal's chain through the settings API, as the admin's page does."""
    access, refresh = bitrix.issue(portal, "1")
    form = {"AUTH_ID": access, "AUTH_EXPIRES": "3600", "REFRESH_ID": refresh, "member_id": portal.member_id,
            "status": "L", "PLACEMENT": "DEFAULT", "PLACEMENT_OPTIONS": "{}", "APPLICATION_TOKEN": application_token}
    page = requests.post(f"{app_url}/install?DOMAIN={portal.domain}&PROTOCOL=1&LANG=ru&APP_SID=chaos",
                         data=form, timeout=30)
    token = re.search(r'<meta name="b24sms-token" content="([^"]+)"', page.text)
    if page.status_code != 200 or not token:
        raise RuntimeError(f"install page answered {page.status_code}: {page.text[:300]}")
    saved = requests.put(f"{app_url}/api/settings", json={"providers": providers},
                         headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=30)
    if saved.status_code != 200:
        raise RuntimeError(f"saving settings answered {saved.status_code}: {saved.text[:300]}")


def prostor_provider(sender=""):
    """The settings entry that makes the fake Prostor a portal's provider."""
    return {"kind": "prostor", "sender": sender,
            "credentials": {"login": PROSTOR_LOGIN, "password": PROSTOR_PASSWORD}}


def handler_form(bitrix, portal, access_token, application_token, message_id, phone, text_prefix=TEXT_PREFIX):
    """What Bitrix24 posts to the sender's HANDLER for one SMS from a CRM card; the portal remembers the sender
    it went through (its statuses are taken under that CODE only)."""
    text = text_prefix + message_id
    with bitrix.lock:
        portal.sent_through[message_id] = SENDER_CODE
    return {
        "type": "SMS", "code": SENDER_CODE, "message_id": message_id, "message_to": phone, "message_body": text,
        "ts": str(int(time.time())), "properties[phone_number]": phone, "properties[message_text]": text,
        "module_id": "crm", "bindings[0][OWNER_TYPE_ID]": "3", "bindings[0][OWNER_ID]": "42",
        "auth[access_token]": access_token, "auth[expires]": str(int(time.time()) + 3600),
        "auth[expires_in]": "3600", "auth[scope]": "crm,messageservice", "auth[domain]": portal.domain,
        "auth[server_endpoint]": f"{bitrix.base_url}/rest/", "auth[status]": "L",
        "auth[client_endpoint]": portal.endpoint, "auth[member_id]": portal.member_id, "auth[user_id]": "1",
        "auth[application_token]": application_token,
    }

