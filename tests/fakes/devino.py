"""Devino Telecom (devino.online) faked at the HTTP boundary, in its REST API's shapes (providers.md,
docs.devino.online): `POST sms/messages` answers `{"result": [...]}`, one entry per message in order, a refused
one `{"code": "REJECTED", "description", "reasons": [{"key", "ref"}]}` inside the HTTP 200; the account is
`GET billing-api/companies/current/account`. No client id: a repeated send is a second message.

Its older platform too (integrationapi.net/rest, where incoming SMS are listed): `GET user/sessionId?login=
&password=` answers the session id as a JSON string; `GET Sms/In?sessionId=&minDateUTC=&maxDateUTC=` (UTC,
`YYYY-MM-DDTHH:MM:SS`, both ends taken) lists `[{Data, SourceAddress, DestinationAddress, ID, CreatedDateUtc:
"/Date(<ms>)/"}]`; errors are a 4xx `{"Code", "Desc"}` (1 an empty argument, 2 an invalid one, 3 an invalid
session, 4 unauthorized), an unknown or expired session a 401. Paths are matched without regard to case, as
Devino's own clients write them both ways."""
import itertools
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from tests.fakes.service import Answer, FakeService, Request, failure, reply

DEVINO = "https://api.devino.online/"
LEGACY = "https://integrationapi.net/rest/"  # the older platform, while the public base is in use
API_KEY = "0f6c2b47-3a97-4134-98d7-dd21a5223ea6"
LOGIN, PASSWORD = "shop-devino", "older-platform-pass"  # the older platform's account
MOMENT = "%Y-%m-%dT%H:%M:%S"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        self.received_at = {}  # messageId -> when it came (aware UTC, whole milliseconds)
        self.login, self.password = LOGIN, PASSWORD
        self.sessions = set()  # the older platform's live session ids
        self.legacy_requests = []  # (path, query) of the older platform's calls
        self.listed_answer = None  # (HTTP status, body) Sms/In answers instead of its list, once
        self.base, self.legacy_base = base, LEGACY if base == DEVINO else base + "rest/"
        pattern = re.compile(re.escape(base) + r"(sms/messages|billing-api/.+)")
        legacy = re.compile(re.escape(self.legacy_base) + r"(user/sessionid|sms/in)\b", re.IGNORECASE)
        self.routes = [("GET", pattern), ("POST", pattern), ("GET", legacy)]

    @property
    def sent(self):
        return list(self.messages.values())

    @property
    def send_requests(self):
        return [body for method, path, body in self.requests if path == "sms/messages"]

    def answer(self, request: Request) -> Answer:
        if request.url.lower().startswith(self.legacy_base.lower()):
            return self._legacy(request)
        path = urlsplit(request.url).path.removeprefix(urlsplit(self.base).path)  # the base may have a path
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

    # -- the older platform --
    def _legacy(self, request):
        path, query = request.path.rsplit("/", 2)[-2:], request.query
        self.legacy_requests.append(("/".join(path), query))
        if self.fail_next:
            return failure(self.fail_next.pop(0))
        if path[-1].lower() == "sessionid":
            if not query.get("login") or not query.get("password"):
                return reply(400, {"Code": 1, "Desc": "Argument can not be null or empty"})
            if (query["login"], query["password"]) != (self.login, self.password):
                return reply(401, {"Code": 4, "Desc": "Unauthorized access"})
            session = str(uuid.uuid4())
            self.sessions.add(session)
            return reply(200, session)
        if query.get("sessionId") not in self.sessions:
            return reply(401, {"Code": 3, "Desc": "Invalid session ID"})
        try:
            since, until = (datetime.strptime(query[name], MOMENT).replace(tzinfo=UTC)
                            for name in ("minDateUTC", "maxDateUTC"))
        except KeyError:
            return reply(400, {"Code": 1, "Desc": "Argument can not be null or empty"})
        except ValueError:
            return reply(400, {"Code": 2, "Desc": "Invalid argument"})
        if self.listed_answer is not None:
            answer, self.listed_answer = self.listed_answer, None
            return reply(*answer)
        listed = sorted((at, message_id) for message_id, at in self.received_at.items() if since <= at <= until)
        return reply(200, [self.listed(message_id) for _, message_id in listed])

    def listed(self, message_id):
        """An incoming SMS as Sms/In lists it."""
        message, at = self.incoming[message_id], self.received_at[message_id]
        return {"Data": message["text"], "SourceAddress": message["sourcePhone"],
                "DestinationAddress": message["number"], "ID": message_id,
                "CreatedDateUtc": f"/Date({(at - EPOCH) // timedelta(milliseconds=1)})/"}

    def expire_sessions(self):
        self.sessions.clear()

    @property
    def listings(self):
        """The query of each Sms/In call."""
        return [query for path, query in self.legacy_requests if path.lower() == "sms/in"]

    @property
    def session_requests(self):
        return [query for path, query in self.legacy_requests if path.lower() == "user/sessionid"]

    # -- clients' SMS --
    def receive(self, sender, receiver, text, prefix="", at=None):
        """A client's SMS to the account's incoming number (`at`: aware, now by default): its messageId."""
        message_id = str(next(self.incoming_ids))
        self.incoming[message_id] = {"sourcePhone": sender, "number": receiver, "prefix": prefix, "text": text,
                                     "messageId": message_id}
        at = (at or datetime.now(UTC)).astimezone(UTC)
        self.received_at[message_id] = at.replace(microsecond=at.microsecond // 1000 * 1000)
        return message_id

    def pushed_reply(self, message_id):
        """The parameters Devino sends the number's external handler for an incoming SMS (in the query of a GET,
        or as the form of a POST: the docs do not say which)."""
        return dict(self.incoming[message_id])

    def callback(self, message_id, status, **extra):
        """(callback URL, JSON body) of a status notification for a message sent with a callbackUrl: the
        message's id and status, and the `options` it was sent with (the documented echo)."""
        message = self.messages[message_id]
        body = {"messageId": message_id, "status": status, "to": message["to"],
                "options": message.get("options") or {}, **extra}
        return message["callbackUrl"], body
