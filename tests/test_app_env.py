"""APP_ENV takes only its documented values, and the suite's app reads nothing of the developer's: no `.env`,
none of their environment (tests/conftest.py), no secrets in instance/."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from b24sms import create_app
from b24sms.config import ConfigError, is_setting, load_settings

ROOT = Path(__file__).resolve().parent.parent
# What README's demo section says to put in `.env` (its stand-in verifying visits).
DEMO_LINES = ("B24_OAUTH_URL=http://localhost:8000/demo/bitrix/oauth\n"
              "B24_CLIENT_ID=local.b24smsdemo00000.00000000\n"
              "B24_CLIENT_SECRET=b24sms-demo-client-secret\n")
# A developer's own settings: each would change or break the app under test if it got there.
DEVELOPERS_SETTINGS = {
    "APP_ENV": "production", "DATABASE_URL": "postgresql+psycopg://developer@127.0.0.1:1/b24sms",
    "B24_OAUTH_URL": "http://localhost:8000/demo/bitrix/oauth", "B24_CLIENT_ID": "local.b24smsdemo00000.00000000",
    "B24_CLIENT_SECRET": "b24sms-demo-client-secret", "B24_SOMETHING_NEW": "1", "PUBLIC_URL": "http://localhost:8000",
    "PROSTOR_API_URL": "http://127.0.0.1:9/", "METRICS_TOKEN": "developers-metrics-token",
    "ENABLE_LOG_PROVIDER": "0", "HTTP_TIMEOUT": "soon", "RETENTION_DAYS": "0", "SECRET_KEY": "developers-key",
    "ENCRYPTION_KEYS": "not-a-fernet-key", "PROMETHEUS_MULTIPROC_DIR": "/nonexistent/prometheus",
}
OFFICIAL_OAUTH = "https://oauth.bitrix.info"


@pytest.fixture
def environment_restored():
    """Development's `.env` goes into os.environ: whatever a test's loading put there is gone after it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize("misspelled", ["Production", "prod", "PRODUCTION", "develop", "test", ""])
def test_a_misspelled_app_env_stops_start_up_naming_the_values(monkeypatch, tmp_path, environment_restored,
                                                               misspelled):
    (tmp_path / ".env").write_text(DEMO_LINES)
    monkeypatch.setenv("APP_ENV", misspelled)

    with pytest.raises(ConfigError) as caught:
        create_app(instance_path=tmp_path / "instance")

    message = str(caught.value)
    assert "APP_ENV" in message and all(name in message for name in ("development", "production", "testing"))
    assert repr(misspelled) in message
    assert "B24_CLIENT_ID" not in os.environ and not (tmp_path / "instance").exists()  # no .env read, no keys made


@pytest.mark.parametrize("name, log_provider", [("development", True), ("production", False), ("testing", True)])
def test_the_documented_values_start(monkeypatch, tmp_path, environment_restored, name, log_provider):
    monkeypatch.setenv("APP_ENV", name)
    given = {key: "x" for key in ("SECRET_KEY", "ENCRYPTION_KEYS", "B24_CLIENT_ID", "B24_CLIENT_SECRET",
                                  "PUBLIC_URL")}
    settings = load_settings(str(tmp_path / "instance"), given)
    assert (settings.app_env, settings.enable_log_provider) == (name, log_provider)


def test_testing_reads_no_dotenv_and_keeps_no_secrets_in_instance(monkeypatch, tmp_path, environment_restored):
    """The `.env` of README's demo in the project root and in the working directory: testing reads neither."""
    (tmp_path / ".env").write_text(DEMO_LINES + "METRICS_TOKEN=from-dotenv\n")
    monkeypatch.chdir(tmp_path)

    settings = load_settings(str(tmp_path / "instance"))

    assert settings.app_env == "testing"
    assert (settings.b24_oauth_url, settings.b24_client_id, settings.metrics_token) == (OFFICIAL_OAUTH, "", "")
    assert "B24_CLIENT_ID" not in os.environ
    # Secrets of its own, made for this app alone: instance/ (the developer's, in a real checkout) is not touched.
    assert settings.secret_key and settings.encryption_keys and settings.development_secrets == ()
    assert not list(tmp_path.glob("instance/*"))
    assert load_settings(str(tmp_path / "instance")).secret_key != settings.secret_key


def test_development_reads_the_dotenv_beside_instance(monkeypatch, tmp_path, environment_restored):
    """What `make run` does: the project's `.env` (beside instance/), whatever the working directory."""
    for name in ("APP_ENV", "B24_OAUTH_URL", "B24_CLIENT_ID", "B24_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(DEMO_LINES)
    monkeypatch.chdir(ROOT)

    settings = load_settings(str(tmp_path / "instance"))

    assert settings.app_env == "development"
    assert settings.b24_oauth_url == "http://localhost:8000/demo/bitrix/oauth"
    assert settings.b24_client_id == "local.b24smsdemo00000.00000000"


def test_the_app_under_test_has_only_the_suites_settings(services, database_url):
    """Run on its own by the test below, in a developer's environment; here, in the suite's."""
    settings = services.settings
    assert settings.app_env == "testing"
    assert settings.database_url == database_url
    assert (settings.b24_oauth_url, settings.metrics_token) == (OFFICIAL_OAUTH, "")
    assert settings.http_timeout == 5 and settings.retention_days == 90
    assert settings.enable_log_provider is True
    assert not settings.api_urls
    assert [name for name in os.environ if is_setting(name) or name.startswith("B24_")] == ["APP_ENV"]


def test_the_developers_environment_and_dotenv_do_not_reach_the_app_under_test(tmp_path):
    """README's demo lines in `.env` and the developer's own settings exported: `make test` still tests the app
    with the suite's settings alone."""
    (tmp_path / ".env").write_text(DEMO_LINES + "METRICS_TOKEN=from-dotenv\nHTTP_TIMEOUT=soon\n")
    environment = {name: value for name, value in os.environ.items()
                   if name != "TEST_DATABASE_URL"}  # a database of its own: never the schema this run uses
    environment.update(DEVELOPERS_SETTINGS, PYTHONPATH=str(ROOT))
    node = f"{Path(__file__).resolve()}::test_the_app_under_test_has_only_the_suites_settings"

    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}", node],
                         cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout


def test_the_stand_ins_page_says_where_its_settings_go(client):
    page = client.get("/demo/bitrix/portal?LANG=en&install=1").get_data(as_text=True)

    assert ".env" in page and "restart make run" in page
    assert "development defaults" not in page  # they are not: the defaults are Bitrix24's own OAuth server


@pytest.mark.parametrize("misspelled", ["HTTP_TIMOUT", "SENDERCODE", "DEVELOPMENT_SECRETS", "B24_CLIENTID"])
def test_a_misspelled_setting_stops_start_up_naming_it(tmp_path, misspelled):
    with pytest.raises(ConfigError) as caught:
        create_app({misspelled: "5"}, instance_path=tmp_path / "instance")

    assert misspelled in str(caught.value)


def test_a_misspelled_b24_variable_in_the_environment_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("B24_CLIENT_SECRETS", "the-secret")

    with pytest.raises(ConfigError, match="B24_CLIENT_SECRETS"):
        load_settings(str(tmp_path / "instance"))


def test_flask_keeps_only_what_flask_reads(app):
    assert app.config["TESTING"] is True
    assert (app.config["SECRET_KEY"], app.config["MAX_CONTENT_LENGTH"]) == ("test-secret-key", 256 * 1024)
    assert not [name for name in app.config if name in ("APP_ENV", "DATABASE_URL", "SENDER_CODE", "HTTP_TIMEOUT")]
