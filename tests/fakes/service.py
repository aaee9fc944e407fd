"""What every fake shares: a request as a fake reads it, its answers, and the ways a service lets a caller down.

A fake is a `FakeService`: `routes` say which URLs it answers, `handle(request)` answers one request. The same
`handle` serves the tests (through `responses`, tests/fakes/mocking.py) and the scripts and browser tests (over
real loopback HTTP, tests/fakes/serving.py), so a fake's state and answers exist once.
"""
import base64
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

Answer = tuple[int, dict[str, str], "str | bytes"]  # HTTP status, headers, body (bytes: already encoded)
Route = tuple[str, "str | re.Pattern[str]"]  # HTTP method, a URL (its query ignored) or a pattern it starts with

# What `FakeService.trouble` may decide for a request (the chaos script draws them).
HTTP_500 = "http_500"  # answered 500, not processed
ANSWER_LOST = "answer_lost"  # processed, then the answer is lost on the way back
UNANSWERED = "unanswered"  # never processed nor answered: the caller times out


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]  # looked up without regard to case
    body: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def last_segment(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body, keep_blank_values=True))


def reply(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def failure(trouble: int | Exception) -> Answer:
    """An HTTP error page, or a transport failure raised as the HTTP client would raise it."""
    if isinstance(trouble, Exception):
        raise trouble
    return trouble, {"Content-Type": "text/html"}, "<html>Service Unavailable</html>"


def basic_auth(user: str, password: str) -> str:
    """An HTTP Basic `Authorization` header's value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def matches(route: Route, method: str, url: str) -> bool:
    """Whether a request goes to `route`, compared the way `responses` compares."""
    route_method, target = route
    if route_method != method:
        return False
    if isinstance(target, str):
        return target.split("?", 1)[0] == url.split("?", 1)[0].split("#", 1)[0]
    return target.match(url) is not None


class FakeService:
    """One fake HTTP service: its state under `lock`, and what can go wrong between it and its caller. Its
    `routes` hang off the base URL it was made with (the real service's, unless it is served on loopback).

    `latency`: seconds every request takes (a round trip; parallel requests overlap, `max_in_flight` counts them).
    `lose_answers = n`: the next n requests are processed, then their answer is lost on the way back (the caller
    sees a read timeout although the service did the work).
    `hangs = True`: the service takes calls and never answers; every request times out unprocessed and is counted
    in `calls_while_hanging`.
    `slow_answers = threading.Event()`: requests are processed, then answered only once the event is set
    (`answers_waiting` counts those held back).
    `trouble`: a function of the request deciding HTTP_500, ANSWER_LOST or UNANSWERED for it, or None.
    """

    routes: list[Route]

    def __init__(self, lock: "threading.RLock | None" = None):
        self.lock = lock or threading.RLock()
        self.latency = 0.0
        self.lose_answers = 0
        self.hangs = False
        self.calls_while_hanging: list[str] = []
        self.slow_answers: threading.Event | None = None
        self.answers_waiting = 0
        self.in_flight = self.max_in_flight = 0
        self.trouble: Callable[[Request], str | None] | None = None

    def answer(self, request: Request) -> Answer:
        """The fake's own answer to a request; runs under `lock`."""
        raise NotImplementedError

    def arrived(self, request: Request) -> None:
        """Runs as a request arrives, outside `lock`: where a test's hooks wait (another runner at work meanwhile)."""

    def handle(self, request: Request) -> Answer:
        trouble = self.trouble(request) if self.trouble else None
        if self.hangs:
            self.calls_while_hanging.append(request.last_segment)
        if self.hangs or trouble == UNANSWERED:
            raise requests.ReadTimeout("the service took the call and never answered")
        self._count_in_flight(+1)
        try:
            time.sleep(self.latency)
            if trouble == HTTP_500:
                return failure(500)
            self.arrived(request)
            with self.lock:
                answer = self.answer(request)
        finally:
            self._count_in_flight(-1)
        self._hold_if_slow()
        if trouble == ANSWER_LOST or self._lose_this_answer():
            raise requests.ReadTimeout("the answer was lost on the way back")
        return answer

    def _count_in_flight(self, change: int) -> None:
        with self.lock:
            self.in_flight += change
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _hold_if_slow(self) -> None:
        event = self.slow_answers
        if event is None:
            return
        with self.lock:
            self.answers_waiting += 1
        assert event.wait(30), "a slow answer was never let go"
        with self.lock:
            self.answers_waiting -= 1

    def _lose_this_answer(self) -> bool:
        with self.lock:
            if self.lose_answers:
                self.lose_answers -= 1
                return True
            return False
