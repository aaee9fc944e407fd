"""Fakes answering through `responses`: the app's real HTTP code runs against them, nothing of ours is mocked."""
from typing import TypeVar

import responses
from requests import PreparedRequest

from tests.fakes.service import Answer, FakeService, Request

Fake = TypeVar("Fake", bound=FakeService)


def mocked(rsps: responses.RequestsMock, fake: Fake) -> Fake:
    """`fake` answers its routes in `rsps`; returns it."""
    def callback(prepared: PreparedRequest) -> Answer:
        return fake.handle(as_request(prepared))

    for method, url in fake.routes:
        rsps.add_callback(method, url, callback=callback)
    return fake


def as_request(prepared: PreparedRequest) -> Request:
    body = prepared.body
    if isinstance(body, bytes):
        body = body.decode()
    return Request(str(prepared.method), str(prepared.url), prepared.headers, body or "")
