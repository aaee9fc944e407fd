"""Prostor SMS, JSON API v2 (providers.md): one account, messages keyed by clientId (a repeated clientId is not
sent again: it is answered with its first smscId)."""
import re
import time
from collections.abc import Iterable

from tests.fakes.service import Answer, FakeService, Request, failure, reply

PROSTOR = "https://api.prostor-sms.ru/messages/v2/"


class FakeProstor(FakeService):
    def __init__(self, login="user", password="secret", base=PROSTOR):
        super().__init__()
        self.login, self.password, self.balance = login, password, 120.5
        self.sent = {}  # str(smscId) -> message
        self.by_client_id = {}
        self.first_arrival = {}  # clientId -> time.monotonic() of the first send of it
        self.statuses = {}  # str(smscId) -> status word
        self.initial_status = "queued"  # a message's status once taken ("delivered": delivered at once)
        self.requests = []  # (path, body without credentials)
        self.next_send_status = []  # per-message status words to answer instead of "accepted"
        self.fail_next = []  # HTTP statuses (or exceptions such as requests.Timeout) instead of an answer
        self.canned = {}  # path -> JSON body to answer instead (odd shapes)
        # senders.json's entries: status active/default (may be sent with), new, pending or blocked.
        self.senders = [{"name": "SHOP", "status": "default", "info": ""}]
        self.counter = 1000
        self.routes = [("POST", re.compile(re.escape(base) + r"\w+\.json"))]

    def answer(self, request: Request) -> Answer:
        path = request.last_segment
        body = request.json()
        login, password = body.pop("login", None), body.pop("password", None)
        self.requests.append((path, body))
        if self.fail_next:
            return failure(self.fail_next.pop(0))
        if (login, password) != (self.login, self.password):
            return reply(200, {"status": "error", "description": "error authorization"})
        if path in self.canned:
            return reply(200, self.canned[path])
        if path == "send.json":
            return reply(200, {"status": "ok", "messages": [self._send(m) for m in body["messages"]]})
        if path == "status.json":
            return reply(200, {"status": "ok", "messages": [
                {"smscId": m.get("smscId"), "clientId": self.sent.get(str(m.get("smscId")), {}).get("clientId"),
                 "status": self.statuses.get(str(m.get("smscId")), "incorrect id")}
                for m in body["messages"] if isinstance(m, dict)]})
        if path == "balance.json":
            return reply(200, {"status": "ok", "balance": [{"type": "RUB", "balance": self.balance, "credit": 0}]})
        if path == "senders.json":
            return reply(200, {"status": "ok", "senders": self.senders})
        return reply(404, {"status": "error", "description": "unknown method"})

    def sent_before(self, client_ids: Iterable[str]) -> list[str]:
        """As if an earlier database had sent messages with these clientIds through this account; their smscIds."""
        with self.lock:
            return [str(self._send({"clientId": str(client_id), "phone": "+79160000000", "text": "sent long ago"})
                        ["smscId"]) for client_id in client_ids]

    def _send(self, message):
        if self.next_send_status:
            return {"clientId": message["clientId"], "status": self.next_send_status.pop(0)}
        if not message.get("phone"):
            return {"clientId": message["clientId"], "status": "invalid mobile phone"}
        if message["clientId"] in self.by_client_id:
            smsc_id = self.by_client_id[message["clientId"]]
        else:
            self.counter += 1
            smsc_id = self.counter
            self.by_client_id[message["clientId"]] = smsc_id
            self.first_arrival[message["clientId"]] = time.monotonic()
            self.sent[str(smsc_id)] = message
            self.statuses[str(smsc_id)] = self.initial_status
        return {"clientId": message["clientId"], "smscId": smsc_id, "status": "accepted"}
