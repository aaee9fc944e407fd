"""Devino Telecom (devino.online) faked at the HTTP boundary, in its REST API's shapes (providers.md,
docs.devino.online): `POST sms/messages` answers `{"result": [...]}`, one entry per message in order, a refused
one `{"code": "REJECTED", "description", "reasons": [{"key", "ref"}]}` inside the HTTP 200; the account is
`GET billing-api/companies/current/account`. No client id: a repeated send is a second message."""
import itertools
import json
import re
from urllib.parse import urlsplit

from tests.fakes.service import Answer, FakeService, Request, failure, reply

DEVINO = "https://api.devino.online/"
API_KEY = "0f6c2b47-3a97-4134-98d7-dd21a5223ea6"


class FakeDevino(FakeService):
    def __init__(self, base=DEVINO):
        super().__init__()
        self.api_key, self.balance = API_KEY, 1500.5
        self.messages = {}  # messageId -> the message as sent
        self.requests = []  # (method, path, body)
        self.fail_next = []  # HTTP statuses (or exceptions) instead of an answer
        self.reject_next = []  # [(key, ref), ...] per message: refuse the next messages with these reasons
        self.senders = {"SHOP"}  # the approved sender names
        self.blocked = False
        self.ids = itertools.count(3_482_512_350_952_730_368)
        self.incoming = {}  # messageId -> an SMS a client sent to the account's incoming number
        self.incoming_ids = itertools.count(235_515)
        pattern = re.compile(re.escape(base) + r"(sms/messages|billing-api/.+)")
        self.routes = [("GET", pattern), ("POST", pattern)]

    @property
    def sent(self):
        return list(self.messages.values())

    @property
    def send_requests(self):
        return [body for method, path, body in self.requests if path == "sms/messages"]

    def answer(self, request: Request) -> Answer:
        path = urlsplit(request.url).path.lstrip("/")
        body = json.loads(request.body) if request.body else None
        self.requests.append((request.method, path, body))
        if self.fail_next:
            return failure(self.fail_next.pop(0))
        if request.headers.get("Authorization") != f"Key {self.api_key}":
            return reply(401, {"code": "UNAUTHORIZED", "description": "Invalid API key"})
        if request.method == "POST" and path == "sms/messages":
            return reply(200, {"result": [self._send(message) for message in body["messages"]]})
        if path == "billing-api/companies/current/account":
            return reply(200, {"result": {"account": {
                "companyId": 70123, "accountType": "PREPAID", "balance": self.balance, "credit": 0.0,
                "reserve": 0.0, "currencyId": "RUB", "isBlocked": self.blocked}}})
        return reply(404, {"code": "NOT_FOUND", "description": "Not found"})

    def _send(self, message):
        reasons = self.reject_next.pop(0) if self.reject_next else self._problems(message)
        if reasons:
            return {"code": "REJECTED", "description": "Message rejected",
                    "reasons": [{"key": key, "ref": ref} for key, ref in reasons]}
        message_id = str(next(self.ids))
        self.messages[message_id] = message
        return {"code": "OK", "messageId": message_id}

    def _problems(self, message):
        if not re.fullmatch(r"\d{11,15}", str(message.get("to", ""))):
            return [("invalid", "to")]
        if not message.get("text"):
            return [("must.be.not.null", "text")]
        if message.get("from") not in self.senders:
            return [("invalid", "from")]
        if self.balance <= 0:
            return [("billing.error", "")]
        return []

    def receive(self, sender, receiver, text, prefix=""):
        """A client's SMS to the account's incoming number: its messageId."""
        message_id = str(next(self.incoming_ids))
        self.incoming[message_id] = {"sourcePhone": sender, "number": receiver, "prefix": prefix, "text": text,
                                     "messageId": message_id}
        return message_id

    def pushed_reply(self, message_id):
        """The parameters Devino sends the number's external handler for an incoming SMS (in the query of a GET,
        or as the form of a POST: the docs do not say which). Its pull API needs a session from a login and
        password (integrationapi.net), which the app does not use: not faked."""
        return dict(self.incoming[message_id])

    def callback(self, message_id, status, **extra):
        """(callback URL, JSON body) of a status notification for a message sent with a callbackUrl: the
        message's id and status, and the `options` it was sent with (the documented echo)."""
        message = self.messages[message_id]
        body = {"messageId": message_id, "status": status, "to": message["to"],
                "options": message.get("options") or {}, **extra}
        return message["callbackUrl"], body
