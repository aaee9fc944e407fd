"""One HTTP client per process: every outgoing call names the app, connections are kept alive and reused across
provider objects (no TLS handshake per SMS), and no cookie carries over from one call to the next."""
import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from b24sms import __version__, http_client, providers
from b24sms.config import Settings
from tests.helpers import handler_form, install_with_prostor, message_id
from tests.helpers.suite import PUBLIC_URL


def test_every_outgoing_call_names_the_app_and_its_version(client, rsps, bitrix, prostor):
    install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(1)))

    agents = {call.request.headers.get("User-Agent") for call in rsps.calls}

    assert len(rsps.calls) >= 5  # app.info, user.admin, balance, sender.add, event.bind, send
    assert agents == {f"b24sms/{__version__} (+{PUBLIC_URL})"}


class LoopbackProvider:
    """A Prostor-shaped balance endpoint on 127.0.0.1 (HTTP/1.1, keep-alive) that notes each request's client
    port and sets a cookie."""

    def __init__(self):
        self.client_ports = []
        client_ports = self.client_ports

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                client_ports.append(self.client_address[1])
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b'{"status": "ok", "balance": [{"type": "RUB", "balance": 10.5, "credit": 0}]}'
                self.send_response(200)
                for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                    ("Set-Cookie", "tracking=abc; Path=/")):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        # shutdown() waits for the loop's next look at it: every 50 ms, not the default half second.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def test_calls_of_different_provider_objects_share_one_kept_alive_connection():
    server = LoopbackProvider()
    http = http_client.build(PUBLIC_URL)
    settings = Settings(api_urls={"prostor": server.url}, http_timeout=5)
    try:
        for _ in range(3):  # as the flows do: a provider object per account and call
            provider = providers.build("prostor", {"login": "u", "password": "p"}, None, settings, http)
            assert provider.balance().amount == 10.5
    finally:
        server.server.shutdown()
        server.server.server_close()
        http.close()

    assert len(server.client_ports) == 3 and len(set(server.client_ports)) == 1  # one connection, reused
    assert len(http.cookies) == 0  # the provider's cookie was not kept for the next portal's call


def test_a_call_no_fake_answers_is_caught_by_the_suite_not_taken_for_a_lost_answer():
    import responses

    from b24sms.providers.base import AnswerLost
    from tests.helpers.suite import unanswered_calls

    settings = Settings(api_urls={"prostor": "https://api.prostor-sms.ru/messages/v2/"}, http_timeout=5)
    provider = providers.build("prostor", {"login": "u", "password": "p"}, None, settings, http_client.build())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        try:
            provider.balance()
        except AnswerLost:  # what the app makes of it: exactly why the fixture must fail such a test
            pass
        assert unanswered_calls(mock) == ["POST https://api.prostor-sms.ru/messages/v2/balance.json"]


def test_the_environment_is_read_once_a_proxy_in_it_is_honoured(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                 "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert http_client.build().trust_env is False  # nothing to look up per request (nor a ~/.netrc to send)

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    with_proxy = http_client.build()
    assert with_proxy.trust_env is True  # requests' own proxy handling, no_proxy included
    assert with_proxy.merge_environment_settings("https://api.prostor-sms.ru/", {}, None, None, None)["proxies"] \
        == {"https": "http://proxy.internal:3128"}


# ---------------------------------------------------------------- one cap on every answer's size
class EndlessBody(io.RawIOBase):
    """An answer body of `size` bytes, made as it is read; `pulled` counts what the client read of it."""

    def __init__(self, size, start=b""):
        self.size, self.start, self.pulled = size, start, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(len(buffer), self.size - self.pulled)
        head = self.start[self.pulled:self.pulled + count]
        buffer[:count] = head + b" " * (count - len(head))
        self.pulled += count
        return count


# Read ahead of the cap at most: the chunk that crosses it and the body's buffer.
SLACK = http_client.READ_CHUNK + io.DEFAULT_BUFFER_SIZE


def test_a_300_mb_provider_answer_is_refused_at_the_cap_not_read_whole():
    import responses

    from b24sms.providers.base import AnswerLost, RetryLater

    body = EndlessBody(300 * 1024 * 1024, start=b'<?xml version="1.0"?><reply><result>OK</result>')
    settings = Settings(api_urls={"smstraffic": "https://api.smstraffic.ru/"}, http_timeout=5)
    provider = providers.build("smstraffic", {"login": "u", "password": "p"}, "SHOP", settings,
                               http_client.build())
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://api.smstraffic.ru/multi.php", body=io.BufferedReader(body),
                 content_type="text/xml")
        with pytest.raises(AnswerLost) as caught:
            provider.balance()

    # A broken provider, as for a lost answer: tried again later, the chain goes on (a send is reconciled).
    assert isinstance(caught.value, RetryLater) and caught.value.code == "answer_too_large"
    assert f"more than {http_client.MAX_ANSWER_BYTES} bytes" in caught.value.text
    assert http_client.MAX_ANSWER_BYTES < body.pulled <= http_client.MAX_ANSWER_BYTES + SLACK


def test_a_bitrix24_answer_is_capped_alike_and_a_declared_length_over_the_cap_is_not_read_at_all():
    import responses

    from b24sms.bitrix.errors import BitrixUnavailable
    from b24sms.bitrix.http import request_json

    http = http_client.build(max_answer_bytes=100_000)  # any cap: the client's own, for every call it makes
    streamed, declared = EndlessBody(10 * 1024 * 1024, start=b'{"result": "'), EndlessBody(10 * 1024 * 1024)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://portal.bitrix24.ru/rest/batch", body=io.BufferedReader(streamed),
                 content_type="application/json")
        mock.add(responses.GET, "https://oauth.bitrix.info/rest/app.info", body=io.BufferedReader(declared),
                 headers={"Content-Length": str(declared.size)}, content_type="application/json")
        with pytest.raises(BitrixUnavailable) as batch:
            request_json(http, "POST", "https://portal.bitrix24.ru/rest/batch", timeout=5, json={})
        with pytest.raises(BitrixUnavailable) as app_info:
            request_json(http, "GET", "https://oauth.bitrix.info/rest/app.info", timeout=5)

    assert batch.value.code == app_info.value.code == "answer_too_large"
    assert 100_000 < streamed.pulled <= 100_000 + SLACK
    assert declared.pulled == 0


def test_answers_under_the_cap_read_as_before_redirects_too():
    import responses

    http = http_client.build(max_answer_bytes=1000)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://example.com/old", status=301, headers={"Location": "https://example.com/new"})
        mock.add(responses.GET, "https://example.com/new", json={"answer": "x" * 900})
        answer = http.get("https://example.com/old", timeout=5)
        streamed = http.get("https://example.com/new", timeout=5, stream=True)

    assert answer.json() == {"answer": "x" * 900} and [hop.status_code for hop in answer.history] == [301]
    assert b"".join(streamed.iter_content(100)) == answer.content


def test_a_ca_bundle_named_in_the_environment_is_read_once_without_reading_the_rest_per_call(monkeypatch, tmp_path):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))

    client = http_client.build()

    assert client.trust_env is False  # no ~/.netrc, no environment lookups on every call
    assert client.verify == str(bundle)  # yet certificates are checked against the company's bundle


# ---------------------------------------------------------------- calls prepared directly
@pytest.mark.parametrize("method, url, call", [
    ("POST", "https://api.prostor-sms.ru/messages/v2/status.json", {"json": {"login": "u", "messages": [1, 2]}}),
    ("POST", "https://portal.bitrix24.ru/rest/batch", {"json": {"cmd": {"m1": "a?b=c"}}, "allow_redirects": False}),
    ("POST", "https://smsc.ru/sys/send.php", {"data": {"login": "u", "mes": "Привет & до встречи"}}),
    ("GET", "https://api.example.com/v1/status", {"params": {"id": "1 2", "fmt": 3}}),
    ("GET", "https://портал.рф/rest/app.info?x=1", {"headers": {"Accept": None, "X-Key": "k"}}),
])
def test_a_call_prepared_directly_goes_out_as_requests_would_send_it(method, url, call, monkeypatch):
    import requests
    import responses

    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    ours, plain = http_client.build(PUBLIC_URL), requests.Session()
    plain.headers["User-Agent"] = ours.headers["User-Agent"]
    plain.trust_env = False
    with responses.RequestsMock() as mock:
        mock.add(method, re.compile(r".*"), json={"ok": True})
        for client in (ours, plain):
            assert client.request(method, url, timeout=5, **call).json() == {"ok": True}
        sent_by_us, sent_by_requests = (c.request for c in mock.calls)

    assert sent_by_us.method == sent_by_requests.method
    assert sent_by_us.url == sent_by_requests.url
    assert dict(sent_by_us.headers) == dict(sent_by_requests.headers)
    assert sent_by_us.body == sent_by_requests.body


def test_a_header_that_would_split_the_request_is_refused_before_anything_is_sent():
    import requests
    import responses

    with responses.RequestsMock() as mock, pytest.raises(requests.exceptions.InvalidHeader):
        http_client.build().post("https://api.example.com/send", headers={"X-Key": "k\r\nX-Evil: 1"}, timeout=5)
    assert len(mock.calls) == 0
