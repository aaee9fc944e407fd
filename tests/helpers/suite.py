"""What the suite's fixtures are made of, and the plain helpers tests share (conftest holds the fixtures)."""
import os
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, make_url, text

from b24sms import configure, create_app
from b24sms.bitrix.rate_limit import TokenBucket
from b24sms.config import is_setting
from b24sms.flows import jobs
from b24sms.flows.outbox import WebSender
from b24sms.services import EXTENSION, OutageWaits, Services
from b24sms.store.models import Base
from tests.fakes.bitrix import CLIENT_ID, CLIENT_SECRET
from tests.fakes.clock import StillClock

# The suite's own variables; every other one the app could read is the developer's (their `make run`).
SUITE_SETTINGS = ("TEST_DATABASE_URL", "B24SMS_REQUIRE_BROWSER")

GIVEN_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
# pytest-xdist's worker (gw0, gw1...) when the suite runs in several processes (`make test`), else None.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
MEMORY_FOLDER = Path("/dev/shm")  # Linux's tmpfs
# Fixed, so that every import of this module agrees.
ENCRYPTION_KEY = "p3ZkX0qO0eHn7WkT0bq1o6v9J8m2f0Vx4kq3Y9aC1sU="
PUBLIC_URL = "https://sms.example.com"
UNANSWERED = "Connection refused by Responses"  # what `responses` raises for a call no fake answers
# The spool tests take the database away: production's waits cut short prove the same steps (a call retried for
# the window, then spooled; replayed round after round until the database is back) without waiting seconds out.
# The replay round still comes well after the retry window, as in production: the calls a test posts at once are
# all written before a replayer claims the file they share.
SHORT_OUTAGE_WAITS = OutageWaits(store_retry=0.25, spool_lock=0.2, spool_replay_every=0.2, spool_recount_every=0.2)


def leave_out_the_developers_settings(environ):
    """The app under test gets only what a test gives it: none of the developer's settings (their demo's OAuth
    settings, a DATABASE_URL, a provider's test double...), and APP_ENV=testing, which never reads `.env`."""
    for name in [name for name in environ if name not in SUITE_SETTINGS
                 and (is_setting(name) or name.startswith("B24_"))]:
        del environ[name]
    environ["APP_ENV"] = "testing"


def on_postgres():
    return bool(GIVEN_DATABASE_URL and GIVEN_DATABASE_URL.startswith("postgresql"))


def worker_database_url():
    """This process's PostgreSQL database: the one TEST_DATABASE_URL names, or under xdist one per worker named
    after it (`<name>_gw0`), as each process drops and recreates its schema."""
    if not (on_postgres() and XDIST_WORKER):
        return GIVEN_DATABASE_URL
    given = make_url(GIVEN_DATABASE_URL)
    return given.set(database=f"{given.database}_{XDIST_WORKER}").render_as_string(hide_password=False)


TEST_DATABASE_URL = worker_database_url()


def create_worker_database():
    """The worker's database, made from a connection to the given one unless it exists."""
    name = make_url(TEST_DATABASE_URL).database
    given = create_engine(GIVEN_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with given.connect() as connection:
            if connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        given.dispose()


@contextmanager
def sqlite_folder(tmp_path_factory):
    """Where the suite's SQLite file goes: a folder of this process's own in memory (tmpfs) where the machine has
    one, so that its commits wait for no disk (the suite proves nothing about durability; the spool tests' own
    files stay on disk, where their outages are real); else a temporary folder."""
    if MEMORY_FOLDER.is_dir() and os.access(MEMORY_FOLDER, os.W_OK):
        with tempfile.TemporaryDirectory(dir=MEMORY_FOLDER, prefix="b24sms-tests-") as folder:
            yield Path(folder)
    else:
        yield tmp_path_factory.mktemp("db")


def migrated(database):
    database.upgrade()
    database.engine.dispose()
    return database.url


class SettledClient(FlaskClient):
    """A test client that, after each request, waits until the web sender has sent what the request handed it:
    the handler answers before the provider is called, and a test reads the outcome after both."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        assert services_of(self.application).outbox.wait_idle(30), "the web sender did not settle"
        return response


def settled(app):
    """The app, its test clients waiting for its web sender after each request."""
    app.test_client_class = SettledClient
    return app


def suite_config(database_url, spool_dir):
    """What the suite's app is created with (`create_app(suite_config(...))`)."""
    return {
        "SPOOL_DIR": str(spool_dir),  # never a developer's own instance/spool
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "B24_CLIENT_ID": CLIENT_ID,
        "B24_CLIENT_SECRET": CLIENT_SECRET,
        "PUBLIC_URL": PUBLIC_URL,
        "HTTP_TIMEOUT": 5,
    }


class CompiledTemplates(BytecodeCache):
    """The templates' compiled code, shared by the apps of this process: each app has a Jinja environment of its
    own, which would parse and compile every page it renders again (a bucket's key holds its source's checksum)."""

    def __init__(self):
        self._code = {}

    def load_bytecode(self, bucket):
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def suite_app(config, **services):
    """The suite's app: its test clients settled, its templates compiled once per process, Bitrix24's rate limit
    on a clock that never sleeps (a test of the limit sets its own), and `services` (Services fields) changed."""
    app = settled(create_app(config))
    app.extensions_at_start = set(app.extensions)  # what configured_anew keeps
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    use_services(app, bitrix_rate_limit=TokenBucket(StillClock()), **services)
    return app


def configured_anew(app, config):
    """`app` as suite_app(config) makes it: Flask's config, the settings and the services anew (b24sms.configure),
    the URL rules kept. An app's URL rules take longer to compile than most tests take to run, so the suite
    compiles them once per process and starts that app anew for each test."""
    app.config = app.make_config()
    for name in set(app.extensions) - app.extensions_at_start:  # state made since (the demo's stand-in portal)
        del app.extensions[name]
    configure(app, config)
    use_services(app, bitrix_rate_limit=TokenBucket(StillClock()))
    return app


def services_of(app) -> Services:
    return app.extensions[EXTENSION]


def use_services(app, **changes):
    """From here on the app runs on its services with `changes` (a Services field each: settings, clock,
    bitrix_rate_limit...) and a web sender of its own, once the one it had has settled."""
    services = services_of(app)
    services.outbox.wait_idle(30)
    app.extensions[EXTENSION] = replace(services, **changes, make_outbox=WebSender)
    return app.extensions[EXTENSION]


def use_settings(app, **changes):
    """From here on the app runs with these settings changed (Settings fields: `send_max_attempts=2`)."""
    return use_services(app, settings=replace(services_of(app).settings, **changes))


def empty_tables(app):
    """What a test stored is gone for the next one (the schema stays: it is migrated once per session)."""
    database = services_of(app).db
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    database.engine.dispose()


def unanswered_calls(mock):
    return [f"{call.request.method} {call.request.url}" for call in mock.calls
            if isinstance(call.response, Exception) and str(call.response).startswith(UNANSWERED)]


def make_app(database_url, spool_dir):
    """The suite's app over another database (the spool tests' outages), its outage waits cut short."""
    return suite_app(suite_config(database_url, spool_dir), outage_waits=SHORT_OUTAGE_WAITS)


def passes_at_once(app, count=2, timeout=120):
    """`count` job passes of `app` in threads started together (as two cron runners overlap); their reports."""
    start, reports = threading.Barrier(count), []

    def runner():
        with app.app_context():
            start.wait()
            reports.append(jobs.run_once(services_of(app)))

    threads = [threading.Thread(target=runner) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return reports
