"""Fakes served over real HTTP on 127.0.0.1, for scripts/chaos.py, scripts/bench.py and the browser tests.

A `LoopbackSite` is one threaded server in this process; the fakes added to it answer their routes under its URL
with the same `handle` the tests reach through `responses`, so a script reads what they saw directly.
"""
import logging
import socket
import threading
import time
from http import HTTPStatus
from typing import TypeVar

import requests
from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wrappers import Request as WsgiRequest

from tests.fakes.service import FakeService, Request, matches

Fake = TypeVar("Fake", bound=FakeService)


class LoopbackServer(ThreadedWSGIServer):
    """A thread per connection, a deep accept queue: a burst of 100+ callers is neither refused nor queued
    behind a short backlog. Daemon threads, so a hung request never keeps the process alive."""
    request_queue_size = 1024
    daemon_threads = True


class LoopbackSite:
    """Fakes at one loopback URL (an ephemeral port), served from a daemon thread until `close()`.

    `lost_answer_seconds`: how long a request whose answer the fake loses (or never gives) is held before a 504;
    longer than the caller's timeout, the caller has given up by then (0: the caller reads the 504 at once)."""

    def __init__(self, lost_answer_seconds: float = 0.0):
        self.lost_answer_seconds = lost_answer_seconds
        self.fakes: list[FakeService] = []
        self._routed: dict[tuple[str, str], FakeService | None] = {}
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.server = LoopbackServer("127.0.0.1", 0, self.wsgi)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # shutdown() waits for the loop's next look at it: every 50 ms, not the default half second.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def add(self, fake: Fake) -> Fake:
        self.fakes.append(fake)
        self._routed.clear()
        return fake

    def _fake_for(self, request: Request) -> FakeService | None:
        """The fake whose routes take the request; remembered per method and URL path (a bench serves thousands
        of portals, and each request would otherwise be matched against every one of them)."""
        key = (request.method, request.url.split("?", 1)[0])
        if key not in self._routed:
            self._routed[key] = next((fake for fake in self.fakes
                                      if any(matches(route, request.method, request.url) for route in fake.routes)),
                                     None)
        return self._routed[key]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wsgi(self, environ, start_response):
        incoming = WsgiRequest(environ)
        request = Request(incoming.method, incoming.url, incoming.headers, incoming.get_data(as_text=True))
        fake = self._fake_for(request)
        if fake is None:
            status, headers, body = 404, {"Content-Type": "text/plain"}, "no fake answers this URL"
        else:
            try:
                status, headers, body = fake.handle(request)
            except requests.RequestException:  # what the caller would see: no answer in time
                time.sleep(self.lost_answer_seconds)
                status, headers, body = 504, {"Content-Type": "text/plain"}, "Gateway Timeout"
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body if isinstance(body, bytes) else body.encode()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
