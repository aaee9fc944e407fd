"""The app as production runs it, for scripts/chaos.py and scripts/bench.py: migrations, gunicorn and
`flask --app wsgi jobs ...` against the loopback fakes of tests/fakes (served by tests/fakes/serving.py), and the
steps a portal's admin takes to install it there.
"""
import os
import re
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine

from tests.fakes.bitrix import CLIENT_ID, CLIENT_SECRET, FakeOAuthServer, FakePortal
from tests.fakes.serving import LoopbackSite, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TEXT_PREFIX = "chaos check "  # the SMS text names the Bitrix24 message id, so a fake provider can tell messages apart


def utcnow():
    return datetime.now(UTC).replace(tzinfo=None)  # the app keeps naive UTC


def empty_database(url):
    """Every run starts from nothing: the app under test gets new keys, which cannot read an earlier run's data."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def serve_bitrix(site: LoopbackSite, portals: int, name: str, latency: float = 0.0) -> FakeOAuthServer:
    """Bitrix24 on `site`: its OAuth server at the site's root and `portals` portals' REST under /p/<n>/rest/, each
    request taking `latency` seconds (a round trip). Member ids are fresh per run: a reused database gets new
    portals."""
    bitrix = site.add(FakeOAuthServer(site.url))
    for number in range(portals):
        domain = f"{name}.bitrix24.ru" if number == 0 else f"{name}{number}.bitrix24.ru"
        site.add(bitrix.portal(domain, secrets.token_hex(16), endpoint=f"{site.url}/p/{number}/rest/"))
    for fake in (bitrix, *bitrix.portals):
        fake.latency = latency
    return bitrix


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


def install_portal(app_url: str, portal: FakePortal, application_token: str, providers: list[dict]) -> None:
    """Open the install page as Bitrix24 does, then save `providers` ([{kind, sender, credentials}]) as the
    portal's chain through the settings API, as the admin's page does."""
    access, refresh = portal.issue("1")
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
