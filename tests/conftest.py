import os

# prometheus_client decides at its import whether its metrics are multi-process: the developer's setting goes
# before anything imports it (the rest of the developer's settings go in pytest_configure, below).
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

import shutil  # noqa: E402

import pytest  # noqa: E402
import responses  # noqa: E402
from sqlalchemy import text  # noqa: E402

from b24sms import create_app  # noqa: E402
from b24sms.store import crypto  # noqa: E402
from b24sms.store.db import Database  # noqa: E402
from tests.fakes.bitrix import CLIENT_ID, CLIENT_SECRET, FakeOAuthServer  # noqa: E402
from tests.fakes.devino import FakeDevino  # noqa: E402
from tests.fakes.exolve import FakeExolve  # noqa: E402
from tests.fakes.mocking import mocked  # noqa: E402
from tests.fakes.p1sms import FakeP1sms  # noqa: E402
from tests.fakes.prostor import FakeProstor  # noqa: E402
from tests.fakes.smsaero import FakeSmsAero  # noqa: E402
from tests.fakes.smsc import FakeSmsc  # noqa: E402
from tests.fakes.smsru import FakeSmsRu  # noqa: E402
from tests.fakes.smstraffic import FakeSmsTraffic  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.helpers import PROSTOR_SETTINGS, TWO_NAMES, installed, save_providers  # noqa: E402
from tests.helpers.demo import serve_from  # noqa: E402
from tests.helpers.suite import (  # noqa: E402
    ENCRYPTION_KEY,
    GIVEN_DATABASE_URL,
    PUBLIC_URL,
    TEST_DATABASE_URL,
    configured_anew,
    create_worker_database,
    empty_tables,
    leave_out_the_developers_settings,
    make_app,
    migrated,
    on_postgres,
    services_of,
    sqlite_folder,
    suite_app,
    suite_config,
    unanswered_calls,
)

# The browser tests' fixtures (Chromium, the app served on loopback, a loopback Prostor SMS).
pytest_plugins = ["tests.helpers.browser"]


def pytest_configure():
    leave_out_the_developers_settings(os.environ)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The suite's database, migrated once: PostgreSQL when TEST_DATABASE_URL says so (a database per xdist
    worker), else an SQLite file (per worker too)."""
    if on_postgres():
        if TEST_DATABASE_URL != GIVEN_DATABASE_URL:
            create_worker_database()
        database = Database(TEST_DATABASE_URL)
        with database.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        yield migrated(database)
        return
    with sqlite_folder(tmp_path_factory) as folder:
        yield migrated(Database(f"sqlite:///{folder / 'test.sqlite3'}"))


@pytest.fixture(scope="session")
def process_app(database_url, tmp_path_factory):
    """This process's app, whose settings and services each test's `app` starts anew."""
    return suite_app(suite_config(database_url, tmp_path_factory.mktemp("spool")))


@pytest.fixture
def app(process_app, database_url, tmp_path):
    app = configured_anew(process_app, suite_config(database_url, tmp_path / "spool"))
    yield app
    services_of(app).outbox.wait_idle(30)
    empty_tables(app)


@pytest.fixture
def services(app):
    """The app's services as the test starts (a test that changes them with use_services gets the new ones
    back from it)."""
    return services_of(app)


@pytest.fixture
def db(app):
    return services_of(app).db


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


@pytest.fixture
def loopback(rsps, app):
    """The demo's outgoing calls to PUBLIC_URL are answered by the app itself, as the threaded development server
    does (tests/helpers/demo.py)."""
    serve_from(rsps, app)
    return rsps


@pytest.fixture
def oauth(rsps):
    """Bitrix24's OAuth server, one for every fake portal of a test."""
    return mocked(rsps, FakeOAuthServer())


@pytest.fixture
def add_portal(rsps, oauth):
    """Another fake portal on the test's OAuth server: `add_portal(domain, member_id)`."""
    return lambda domain, member_id: mocked(rsps, oauth.portal(domain, member_id))


@pytest.fixture
def bitrix(add_portal):
    return add_portal("example.bitrix24.ru", "a1b2c3d4e5f60718293a4b5c6d7e8f90")


@pytest.fixture
def prostor(rsps):
    return mocked(rsps, FakeProstor())


@pytest.fixture
def smsc(rsps):
    return mocked(rsps, FakeSmsc())


@pytest.fixture
def smsaero(rsps):
    return mocked(rsps, FakeSmsAero())


@pytest.fixture
def twilio(rsps):
    return mocked(rsps, FakeTwilio())


@pytest.fixture
def p1sms(rsps):
    return mocked(rsps, FakeP1sms())


@pytest.fixture
def smsru(rsps):
    return mocked(rsps, FakeSmsRu())


@pytest.fixture
def smstraffic(rsps):
    return mocked(rsps, FakeSmsTraffic())


@pytest.fixture
def devino(rsps):
    return mocked(rsps, FakeDevino())


@pytest.fixture
def exolve(rsps):
    return mocked(rsps, FakeExolve())


@pytest.fixture
def two_names(client, bitrix, prostor):
    """Prostor with SHOP (its default) and PROMO approved, both saved as the portal's sender names."""
    prostor.senders.append({"name": "PROMO", "status": "active", "info": ""})
    token = installed(client, bitrix)
    response = save_providers(client, token, [PROSTOR_SETTINGS], TWO_NAMES)
    assert response.status_code == 200, response.get_json()
    return token


@pytest.fixture
def app_with_keys(app, database_url):
    """Another process of the app on the suite's database, started with the ENCRYPTION_KEYS given. The keys are
    process-wide (crypto.configure), so the app created last decides which keys encrypt and decrypt. (It needs
    `app`, whose teardown empties the tables: no canary written here outlives the test.)"""
    made = []

    def make(keys, url=database_url, **settings):
        other = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test-secret-key",
                            "ENCRYPTION_KEYS": keys, "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET,
                            "PUBLIC_URL": PUBLIC_URL, **settings})
        made.append(other)
        return other

    yield make
    for other in made:
        services_of(other).db.engine.dispose()
    crypto.configure(ENCRYPTION_KEY)


@pytest.fixture(scope="session")
def migrated_file(tmp_path_factory):
    """A migrated SQLite file, once per process: the tests that need a file of their own copy it (migrating
    takes longer than most of those tests)."""
    path = tmp_path_factory.mktemp("spool-template") / "b24sms.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.engine.dispose()
    return path


@pytest.fixture
def app_on_own_file(migrated_file, tmp_path):
    """The app over a copy of a migrated SQLite file in `volume/`, spooling to `spool/` (the spool
    tests' `app`: a database outage of their own)."""
    (tmp_path / "volume").mkdir()
    shutil.copy(migrated_file, tmp_path / "volume" / "b24sms.sqlite3")
    app = make_app(f"sqlite:///{tmp_path / 'volume' / 'b24sms.sqlite3'}", tmp_path / "spool")
    yield app
    services_of(app).db.engine.dispose()
