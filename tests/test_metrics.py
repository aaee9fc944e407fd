"""`GET /metrics`: the Prometheus text format, database gauges, provider and job counters, the token, and
several processes adding up their counters (PROMETHEUS_MULTIPROC_DIR)."""
import importlib.util
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from sqlalchemy import Text, type_coerce, update

from b24sms import create_app
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Portal, PortalState, ProviderAccount, utcnow
from tests.fakes.bitrix import CLIENT_ID, CLIENT_SECRET
from tests.helpers import (
    PROSTOR_SETTINGS,
    install_with_chain,
    install_with_prostor,
    make_due,
    post_sms,
    run_job,
)
from tests.helpers.metrics import scrape, value
from tests.helpers.suite import ENCRYPTION_KEY, PUBLIC_URL, services_of, use_settings

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "scrape-me-0c4b8f"


# ---------------------------------------------------------------- the format and the database gauges
def test_an_empty_database_scrapes_as_prometheus_text_with_zeroes(client):
    samples = scrape(client)

    assert value(samples, "b24sms_database_up") == 1
    for state in ("received", "retry_wait", "reconciling", "accepted", "delivered", "failed"):
        assert ("b24sms_messages", frozenset({("state", state)})) in samples
        assert value(samples, "b24sms_messages", state=state) == 0
    for queue in ("send", "poll", "report", "reconciling"):
        assert value(samples, "b24sms_queue_depth", queue=queue) == 0
    assert value(samples, "b24sms_portals", state="needs_reauth") == 0


def test_openmetrics_is_served_when_the_scraper_asks_for_it(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert response.content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(response.get_data(as_text=True))}
    assert families["b24sms_messages"].type == "gauge"


def test_gauges_show_stored_messages_portals_and_skipped_accounts(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    assert post_sms(client, bitrix, 1)["state"] == MessageState.ACCEPTED
    assert post_sms(client, bitrix, 2)["state"] == MessageState.ACCEPTED
    prostor.fail_next = [502]
    assert post_sms(client, bitrix, 3)["state"] == MessageState.RETRY_WAIT

    samples = scrape(client)
    assert value(samples, "b24sms_messages", state="accepted") == 2
    assert value(samples, "b24sms_messages", state="retry_wait") == 1
    assert value(samples, "b24sms_queue_depth", queue="send") == 0  # not due yet
    assert value(samples, "b24sms_portals", state="active") == 1
    assert value(samples, "b24sms_provider_accounts_skipped", provider="prostor") == 0

    make_due(db)
    with db.session() as session:
        session.execute(update(Portal).values(state=PortalState.NEEDS_REAUTH))
        session.execute(update(ProviderAccount).values(skip_until=utcnow() + timedelta(minutes=5)))

    samples = scrape(client)
    assert value(samples, "b24sms_queue_depth", queue="send") == 1
    assert value(samples, "b24sms_queue_depth", queue="poll") == 2
    assert value(samples, "b24sms_portals", state="needs_reauth") == 1
    assert value(samples, "b24sms_portals", state="active") == 0
    assert value(samples, "b24sms_provider_accounts_skipped", provider="prostor") == 1


def test_a_database_that_does_not_answer_still_gets_a_scrape(app, tmp_path):
    unreachable = create_app({
        "TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-directory' / 'b24sms.sqlite3'}",
        "SECRET_KEY": "test-secret-key", "ENCRYPTION_KEYS": ENCRYPTION_KEY, "B24_CLIENT_ID": CLIENT_ID,
        "B24_CLIENT_SECRET": CLIENT_SECRET, "PUBLIC_URL": PUBLIC_URL, "SPOOL_DIR": str(tmp_path / "spool"),
    })

    samples = scrape(unreachable.test_client())

    assert value(samples, "b24sms_database_up") == 0
    assert not any(name == "b24sms_messages" for name, _ in samples)
    assert any(name == "python_info" for name, _ in samples)  # the process's own metrics are still there


# ---------------------------------------------------------------- counters
def test_provider_calls_are_counted_by_kind_and_outcome(client, bitrix, prostor):
    install_with_prostor(client, bitrix)
    sends = {"provider": "prostor", "operation": "send"}
    before = scrape(client)

    post_sms(client, bitrix, 1)
    middle = scrape(client)
    assert value(middle, "b24sms_provider_calls_total", **sends, outcome="ok") == \
        value(before, "b24sms_provider_calls_total", **sends, outcome="ok") + 1

    prostor.fail_next = [502]
    post_sms(client, bitrix, 2)
    after = scrape(client)
    assert value(after, "b24sms_provider_calls_total", **sends, outcome="retry_later") == \
        value(middle, "b24sms_provider_calls_total", **sends, outcome="retry_later") + 1
    assert value(after, "b24sms_provider_calls_total", **sends, outcome="ok") == \
        value(middle, "b24sms_provider_calls_total", **sends, outcome="ok")


def test_a_refusal_parsed_from_the_answer_is_counted_by_its_kind(client, bitrix, prostor):
    install_with_prostor(client, bitrix)
    before = scrape(client)
    prostor.password = "changed-since"  # HTTP 200 with an error in the body

    post_sms(client, bitrix, 1)

    after = scrape(client)
    labels = {"provider": "prostor", "operation": "send", "outcome": "invalid_credentials"}
    assert value(after, "b24sms_provider_calls_total", **labels) == \
        value(before, "b24sms_provider_calls_total", **labels) + 1


def test_a_job_pass_records_each_duty_duration(client, bitrix, prostor, runner):
    before = scrape(client)

    run_job(runner)

    after = scrape(client)
    for duty in ("recovered", "reconciled", "senders_checked", "sent", "status_changes", "reported"):
        assert value(after, "b24sms_job_duty_seconds_count", duty=duty) == \
            value(before, "b24sms_job_duty_seconds_count", duty=duty) + 1
        assert value(after, "b24sms_job_duty_seconds_sum", duty=duty) >= \
            value(before, "b24sms_job_duty_seconds_sum", duty=duty)
        assert value(after, "b24sms_job_duty_failures_total", duty=duty) == \
            value(before, "b24sms_job_duty_failures_total", duty=duty)


def test_a_failing_duty_is_counted(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    # A token written under a key that left ENCRYPTION_KEYS: the sender check cannot load the portal.
    foreign = Fernet(Fernet.generate_key()).encrypt(b"rt-lost").decode()
    with db.engine.begin() as connection:
        connection.execute(update(Portal.__table__).values(refresh_token=type_coerce(foreign, Text),
                                                            sender_checked_at=None))
    before = scrape(client)

    assert runner.invoke(args=["jobs", "run-once"]).exit_code == 1

    after = scrape(client)
    assert value(after, "b24sms_job_duty_failures_total", duty="senders_checked") == \
        value(before, "b24sms_job_duty_failures_total", duty="senders_checked") + 1
    assert value(after, "b24sms_job_duty_failures_total", duty="sent") == \
        value(before, "b24sms_job_duty_failures_total", duty="sent")


# ---------------------------------------------------------------- METRICS_TOKEN
@pytest.fixture
def guarded_client(app):
    use_settings(app, metrics_token=METRICS_TOKEN)
    return app.test_client()


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}",
                                           f"Bearer {METRICS_TOKEN}x", "Bearer "])
def test_with_a_metrics_token_a_scrape_without_it_is_refused(guarded_client, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = guarded_client.get("/metrics", headers=headers)

    assert response.status_code == 401
    answer = response.get_json()
    assert answer["error"] == "invalid_metrics_token" and "METRICS_TOKEN" in answer["message"]
    assert METRICS_TOKEN not in response.get_data(as_text=True)


def test_with_a_metrics_token_the_bearer_may_scrape(guarded_client):
    samples = scrape(guarded_client, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert value(samples, "b24sms_database_up") == 1


# ---------------------------------------------------------------- several processes
def test_multiprocess_mode_adds_up_what_other_processes_counted(client, database_url, tmp_path, monkeypatch):
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "DATABASE_URL": database_url,
           "SECRET_KEY": "test-secret-key", "ENCRYPTION_KEYS": ENCRYPTION_KEY, "B24_CLIENT_ID": CLIENT_ID,
           "B24_CLIENT_SECRET": CLIENT_SECRET, "PUBLIC_URL": PUBLIC_URL, "SPOOL_DIR": str(tmp_path / "spool")}
    # A provider call in a process of its own, while two job passes run one after the other as cron runs them
    # (a pass that starts while another runs leaves the work to it).
    send_one = ("from b24sms import http_client, providers; from b24sms.config import Settings; "
                "from b24sms.providers.base import Outgoing; "
                "providers.build('log', {}, None, Settings(), http_client.build())"
                ".send(Outgoing(key='k1', phone='+79161234567', text='hi'))")
    sender = subprocess.Popen([sys.executable, "-c", send_one], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "run-once"], env=env, cwd=ROOT,
                       check=True, capture_output=True, timeout=120)
    output, _ = sender.communicate(timeout=120)
    assert sender.returncode == 0, output.decode(errors="replace")
    assert len(list(multiproc_dir.glob("*.db"))) >= 3  # each process wrote its own files

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
    samples = scrape(client)  # duplicates fail inside scrape(): the database gauges come once

    assert value(samples, "b24sms_job_duty_seconds_count", duty="sent") == 2
    assert value(samples, "b24sms_job_duty_failures_total", duty="sent") == 0
    assert value(samples, "b24sms_provider_calls_total", provider="log", operation="send", outcome="ok") == 1
    assert value(samples, "b24sms_database_up") == 1
    assert value(samples, "b24sms_messages", state="received") == 0


def test_gunicorn_marks_an_exited_worker_dead(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    gunicorn_conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gunicorn_conf)
    live, kept = tmp_path / "gauge_livesum_4242.db", tmp_path / "counter_4242.db"
    live.write_bytes(b"")
    kept.write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    gunicorn_conf.child_exit(server=None, worker=SimpleNamespace(pid=4242))

    assert not live.exists() and kept.exists()  # a dead worker's counts still add up


# ---------------------------------------------------------------- production
@pytest.fixture
def production_app(database_url, tmp_path):
    """Makes the app with APP_ENV=production on the suite's database; its connections are closed after the test."""
    made = []

    def make(**settings):
        made.append(create_app({
            "APP_ENV": "production", "DATABASE_URL": database_url, "SECRET_KEY": "test-secret-key",
            "ENCRYPTION_KEYS": ENCRYPTION_KEY, "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET,
            "PUBLIC_URL": PUBLIC_URL, "SPOOL_DIR": str(tmp_path / "spool"), **settings,
        }))
        return made[-1]

    yield make
    for app in made:
        services_of(app).db.engine.dispose()


def test_in_production_without_a_token_metrics_is_off_and_start_up_says_so_once(production_app, caplog):
    caplog.set_level(logging.WARNING)
    client = production_app().test_client()

    answers = [client.get("/metrics"), client.get("/metrics", headers={"Authorization": "Bearer "}),
               client.get("/metrics", headers={"Authorization": "Bearer anything"})]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert answers[0].get_json()["error"] == "not_found"  # as any unknown path: nothing says it exists
    assert b"b24sms_" not in answers[0].get_data()
    said = [record for record in caplog.records if "METRICS_TOKEN" in record.getMessage()]
    assert [record.levelname for record in said] == ["WARNING"] and "/metrics" in said[0].getMessage()


def test_in_production_with_a_token_metrics_needs_it(production_app, caplog):
    caplog.set_level(logging.WARNING)
    client = production_app(METRICS_TOKEN=METRICS_TOKEN).test_client()

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    samples = scrape(client, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert value(samples, "b24sms_database_up") == 1
    assert "METRICS_TOKEN" not in caplog.text and METRICS_TOKEN not in caplog.text
