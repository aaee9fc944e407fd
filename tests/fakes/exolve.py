"""MTS Exolve faked at the HTTP boundary, in the SMS API's shapes (providers.md, docs.exolve.ru): JSON POSTs to
`messaging/v1/<Method>` with `Authorization: Bearer <key>`, errors as non-2xx `{"error": {"message"}}`.

Like Exolve it has no client id: a repeated send is a second message. The delivery status of a message is
whatever a test sets (`set_status`): the enum values are unpublished, so tests choose numbers (what one client
reads) or the enum names."""
import itertools
import json
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from tests.fakes.service import Answer, FakeService, Request, failure, reply

EXOLVE = "https://api.exolve.ru/"
API_KEY = "eyJhbGciOiJSUzI1NiJ9.exolve-test-application-key.c2lnbmF0dXJl"
APPLICATION = "6f1c4d2e-0a7b-4c55-9c1e-2f6b3d8e9a10"
OWN_NUMBER = "79991234567"  # the application's mobile number
INCOMING, OUTGOING = 1, 2  # `direction` as this fake lists it (the real values are unconfirmed)


class FakeExolve(FakeService):
    def __init__(self, base=EXOLVE):
        super().__init__()
        self.api_key, self.balance = API_KEY, 512.75
        self.messages = {}  # message_id -> the GetList entry
        self.requests = []  # (method, body)
        self.fail_next = []  # HTTP statuses (or exceptions) instead of an answer
        self.refuse_next = []  # (HTTP status, body) to answer the next SendSMS with
        self.alpha_names = [{"name": "SHOP", "status": "ACTIVE"}]
        self.has_balance_method = True
        self.initial_status = 0  # a fresh message's delivery_status / status
        self.ids = itertools.count(4_611_686_018_427_400_000)
        pattern = re.compile(re.escape(base) + r"(messaging|finance)/v1/\w+")
        self.routes = [("POST", pattern)]

    @property
    def sent(self):
        return list(self.messages.values())

    def calls_of(self, method):
        return [body for name, body in self.requests if name == method]

    def answer(self, request: Request) -> Answer:
        method = urlsplit(request.url).path.rsplit("/", 1)[-1]
        body = json.loads(request.body or "{}")
        self.requests.append((method, body))
        if self.fail_next:
            return failure(self.fail_next.pop(0))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return reply(401, {"error": {"code": 16, "message": "unauthenticated: invalid token"}})
        if method == "SendSMS":
            return self._send(body)
        if method == "GetList":
            return self._list(body)
        if method == "GetCount":
            return reply(200, {"count": str(len(self.messages))})
        if method == "GetAlphaNames":
            return reply(200, {"alpha_names": self.alpha_names})
        if method == "GetBalance" and self.has_balance_method:
            return reply(200, {"balance": self.balance})
        return reply(404, {"error": {"code": 5, "message": "Not Found"}})

    def _send(self, body):
        if self.refuse_next:
            return reply(*self.refuse_next.pop(0))
        if not re.fullmatch(r"\d{11,15}", str(body.get("destination", ""))):
            return reply(400, {"error": {"code": 3, "message": "invalid destination number"}})
        names = {entry["name"] for entry in self.alpha_names}
        if body.get("number") not in names | {OWN_NUMBER}:
            return reply(400, {"error": {"code": 3, "message": "number is not allowed for this application"}})
        message_id = str(next(self.ids))
        self.messages[message_id] = {
            "message_id": message_id, "application_uuid": APPLICATION, "date": "2026-11-23T10:00:00Z",
            "number": body["number"], "sender": body["number"], "receiver": body["destination"],
            "text": body.get("text", ""), "direction": 2, "segments_count": 1, "billing_status": 0,
            "delivery_status": self.initial_status, "channel": 0, "status": self.initial_status,
        }
        return reply(200, {"message_id": message_id})

    def _list(self, body):
        if body.get("message_id") not in (None, ""):
            entry = self.messages.get(str(body["message_id"]))
            return reply(200, {"messages": [entry] if entry else []})
        limit = int(body.get("limit") or 100)
        if limit > 2000:
            return reply(400, {"error": {"code": 3, "message": "limit must be at most 2000"}})
        entries = list(self.messages.values())
        directions = body.get("direction")
        if directions not in (None, [], ""):
            wanted = directions if isinstance(directions, list) else [directions]
            entries = [entry for entry in entries if entry["direction"] in wanted]
        if body.get("date_gte"):
            since = moment(body["date_gte"])
            entries = [entry for entry in entries if moment(entry["date"]) >= since]
        offset = int(body.get("offset") or 0)
        return reply(200, {"messages": entries[offset: offset + limit]})

    def receive(self, sender, receiver=OWN_NUMBER, text="", at=None):
        """A client's SMS to the application's number (`at`: aware, now by default): its message_id."""
        message_id = str(next(self.ids))
        at = (at or datetime.now(UTC)).astimezone(UTC)
        self.messages[message_id] = {
            "message_id": message_id, "application_uuid": APPLICATION,
            "date": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}123Z", "number": receiver,
            "sender": sender, "receiver": receiver, "text": text, "direction": INCOMING, "segments_count": 1,
            "billing_status": 0, "delivery_status": 0, "channel": 0, "status": 0,
        }
        return message_id

    def pushed_reply(self, message_id):
        """Exolve pushes no incoming SMS (none documented): what GetList lists for it is all there is."""
        return dict(self.messages[message_id])

    def set_status(self, message_id, delivery_status, status=None):
        self.messages[message_id].update(delivery_status=delivery_status,
                                         status=delivery_status if status is None else status)

    def delivery_report(self, message_id):
        """What a delivery report to the application's URL is taken to carry: the message as GetList lists it."""
        return dict(self.messages[message_id])


def moment(text):
    """An RFC 3339 moment as this fake compares them (nanoseconds cut to microseconds)."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text)).astimezone(UTC)
