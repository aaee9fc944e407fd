import os

# prometheus_client decides at its import whether its metrics are multi-process: the developer's setting goes
# before anything imports it (the rest of the developer's settings go in pytest_configure, below).
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

import pytest  # noqa: E402
import responses  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import text  # noqa: E402

from b24sms import create_app  # noqa: E402
from b24sms.config import is_setting  # noqa: E402
from b24sms.store.db import Database  # noqa: E402
from b24sms.store.models import Base  # noqa: E402
from tests.fake_providers import FakeProstor, FakeSmsAero, FakeSmsc, FakeTwilio  # noqa: E402
from tests.fakes import CLIENT_ID, CLIENT_SECRET, FakeBitrix  # noqa: E402

# The suite's own variables; every other one the app could read is the developer's (their `make run`).
SUITE_SETTINGS = ("TEST_DATABASE_URL", "B24SMS_REQUIRE_BROWSER")

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
# Fixed, so that every import of this module agrees (pytest imports conftest under two names).
ENCRYPTION_KEY = "p3ZkX0qO0eHn7WkT0bq1o6v9J8m2f0Vx4kq3Y9aC1sU="
PUBLIC_URL = "https://sms.example.com"
UNANSWERED = "Connection refused by Responses"  # what `responses` raises for a call no fake answers


def pytest_configure():
    leave_out_the_developers_settings(os.environ)


def leave_out_the_developers_settings(environ):
    """The app under test gets only what a test gives it: none of the developer's settings (their demo's OAuth
    settings, a DATABASE_URL, a provider's test double...), and APP_ENV=testing, which never reads `.env`."""
    for name in [name for name in environ if name not in SUITE_SETTINGS
                 and (is_setting(name) or name.startswith("B24_"))]:
        del environ[name]
    environ["APP_ENV"] = "testing"


def on_postgres():
    return bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The suite's database, migrated once: PostgreSQL when TEST_DATABASE_URL says so, else an SQLite file."""
    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    database = Database(url)
    if on_postgres():
        with database.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    database.upgrade()
    database.engine.dispose()
    return url


class SettledClient(FlaskClient):
    """A test client that, after each request, waits until the web sender has sent what the request handed it:
    the handler answers before the provider is called, and a test reads the outcome after both."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        assert self.application.extensions["b24sms.sender"].wait_idle(30), "the web sender did not settle"
        return response


def settled(app):
    """The app, its test clients waiting for its web sender after each request."""
    app.test_client_class = SettledClient
    return app


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({
        "SPOOL_DIR": str(tmp_path / "spool"),  # never a developer's own instance/spool
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "B24_CLIENT_ID": CLIENT_ID,
        "B24_CLIENT_SECRET": CLIENT_SECRET,
        "PUBLIC_URL": PUBLIC_URL,
        "HTTP_TIMEOUT": 5,
    })
    yield settled(app)
    app.extensions["b24sms.sender"].wait_idle(30)
    empty_tables(app)


def empty_tables(app):
    """What a test stored is gone for the next one (the schema stays: it is migrated once per session)."""
    database = app.extensions["b24sms.db"]
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    database.engine.dispose()


@pytest.fixture
def db(app):
    return app.extensions["b24sms.db"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def rsps():
    """Every outgoing HTTP call of a test goes to `responses`; one that nothing answers fails the test (our code
    would read the refusal as a lost answer and carry on, so the test itself must say so)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        # Inside the block: leaving it resets the recorded calls.
        assert not unanswered_calls(mock), f"outgoing calls nothing answers: {unanswered_calls(mock)}"


def unanswered_calls(mock):
    return [f"{call.request.method} {call.request.url}" for call in mock.calls
            if isinstance(call.response, Exception) and str(call.response).startswith(UNANSWERED)]


@pytest.fixture
def bitrix(rsps):
    return FakeBitrix(rsps)


@pytest.fixture
def prostor(rsps):
    return FakeProstor(rsps)


@pytest.fixture
def smsc(rsps):
    return FakeSmsc(rsps)


@pytest.fixture
def smsaero(rsps):
    return FakeSmsAero(rsps)


@pytest.fixture
def twilio(rsps):
    return FakeTwilio(rsps)
