"""Outside text in the log: a request path, a receipt's fields or an exception's message never start a line of
their own nor carry control characters to the reader's terminal; one record is one line (a traceback's own lines
aside), in the app's log, the development server's request log and gunicorn's error log alike."""
import io
import logging
import threading

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from b24sms import log_lines
from b24sms.store.models import ProviderAccount
from tests.helpers import SMSC_SETTINGS, install_with_chain

FORGED = "2026-01-01 00:00:00,000 ERROR b24sms: FORGED"


@pytest.fixture
def log_output(caplog):
    """The text a handler writes that was on the root logger when the app was made (as a deployment's is), set
    up before the `app` fixture when named first; caplog sees the same records."""
    caplog.set_level(logging.INFO)
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter(log_lines.FORMAT))
    logging.getLogger().addHandler(handler)
    yield output
    logging.getLogger().removeHandler(handler)


def one_line_each(output, caplog):
    """The handler's lines, after checking that each record it got became exactly one line."""
    lines = output.getvalue().splitlines()  # splitlines: also at \u2028, \x85... as some log viewers do
    assert len(lines) == len(caplog.records), lines
    assert not [line for line in lines if line.startswith("2026-01-01")]
    return lines


def test_a_forged_request_path_is_one_escaped_line(log_output, client, caplog):
    path = "/handler/abc%0D%0A" + FORGED.replace(" ", "%20") + "%E2%80%A8%E2%80%AE%1B[2J"

    assert client.post(path, data={}).status_code == 404

    [record] = [record for record in caplog.records if "FORGED" in record.getMessage()]
    assert record.name == "b24sms.web"
    [line] = [line for line in one_line_each(log_output, caplog) if "FORGED" in line]
    assert line.endswith(f"POST /handler/***\\r\\n{FORGED}\\u2028\\u202e\\x1b[2J -> 404 unknown_handler")


def test_a_forged_receipt_is_one_escaped_line(log_output, client, db, bitrix, smsc, caplog):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    with db.session() as session:
        secret = session.scalars(select(ProviderAccount.callback_secret)).one()
    caplog.clear()
    log_output.seek(0)
    log_output.truncate()

    answer = client.post(f"/callbacks/smsc/{secret}", data={"id": f"77\n{FORGED}\r\n{FORGED}", "status": "1"})

    assert answer.status_code == 200 and answer.get_json()["matched"] == 0
    [line] = one_line_each(log_output, caplog)
    assert line.endswith(f"b24sms.flows.receipts: receipt for unknown smsc message 77\\n{FORGED}\\r\\n{FORGED} ignored")


def test_the_development_servers_request_line_is_one_line(log_output, app, caplog):
    # Its request lines at INFO, as under `flask run` (a loopback fake of another test may have quieted them).
    caplog.set_level(logging.INFO, logger="werkzeug")
    server = make_server("127.0.0.1", 0, app, threaded=True)  # what `flask run` serves with
    # shutdown() waits for the loop's next look at it: every 50 ms, not the default half second.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        forged = FORGED.replace(" ", "%20")  # werkzeug decodes the path but for what a URL must keep encoded
        url = f"http://127.0.0.1:{server.server_port}/no-such-page%E2%80%A8{forged}%E2%80%8F"
        assert requests.get(url, timeout=5).status_code == 404
    finally:
        server.shutdown()
        thread.join(5)

    [line] = [line for line in one_line_each(log_output, caplog) if "no-such-page" in line]
    assert "INFO werkzeug: " in line and f'"GET /no-such-page\\u2028{forged}\\u200f HTTP/1.1" 404' in line
    assert "\x1b" not in line and "\\x1b" not in line  # werkzeug's own colours are left out, not shown as text


def test_gunicorns_error_log_keeps_its_layout_and_escapes():
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    gunicorn_log = Logger(Config())  # as a gunicorn worker has it when the app is made there
    [handler] = gunicorn_log.error_log.handlers
    output = io.StringIO()
    handler.setStream(output)
    try:
        log_lines.configure("INFO")
        gunicorn_log.error("Error handling request %s", f"/x\n{FORGED}")
    finally:
        gunicorn_log.error_log.removeHandler(handler)

    [line] = output.getvalue().splitlines()
    assert "[ERROR] Error handling request /x\\n" + FORGED in line


def test_a_traceback_keeps_its_lines_and_escapes_the_exception_words():
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(log_lines.OneLineFormatter(logging.Formatter(log_lines.FORMAT)))
    logger = logging.getLogger("b24sms.test_log_lines")
    logger.addHandler(handler)
    try:
        try:
            try:
                int(f"12\n{FORGED}")
            except ValueError as exc:
                exc.add_note(f"a note\n{FORGED}")
                raise KeyError(f"k\u2029{FORGED}") from exc
        except KeyError:
            logger.exception("failed for %s", f"x\n{FORGED}")
    finally:
        logger.removeHandler(handler)

    lines = output.getvalue().splitlines()
    assert lines[0].endswith(f"ERROR b24sms.test_log_lines: failed for x\\n{FORGED}")
    assert "Traceback (most recent call last):" in lines
    assert any(line.startswith('  File "') and "test_log_lines.py" in line for line in lines)
    assert "The above exception was the direct cause of the following exception:" in lines
    assert f"ValueError: invalid literal for int() with base 10: '12\\n{FORGED}'\\na note\\n{FORGED}" in lines
    assert f"KeyError: 'k\\u2029{FORGED}'" in lines
    assert not [line for line in lines if line.startswith("2026-01-01")]


def test_escape_leaves_text_alone_and_writes_every_control_character_visibly():
    assert log_lines.escape("Ваш заказ +7 916 \\ готов") == "Ваш заказ +7 916 \\ готов"
    assert log_lines.escape("a\tb\x00c\x7fd\x85e\u2028f\u202eg\u2066h") == \
        "a\\tb\\x00c\\x7fd\\x85e\\u2028f\\u202eg\\u2066h"
