"""SMS Aero v2 (providers.md): JSON POSTs with HTTP Basic auth, answers `{"success", "data", "message"}`."""
import json
import re

from tests.fakes.service import Answer, FakeService, Request, basic_auth, reply

SMSAERO = "https://gate.smsaero.ru/v2/"


class FakeSmsAero(FakeService):
    def __init__(self, base=SMSAERO):
        super().__init__()
        self.email, self.api_key, self.balance = "shop@example.com", "aero-key", 337.03
        self.sent = {}  # id -> request body
        self.statuses = {}  # id -> numeric status
        self.requests = []  # (path, body)
        self.refuse_next = []  # answers to give instead of accepting the next sends
        # sign/list's entries: status 1 "approve" may be sent with; 0 "moderation", 2 "reject" may not.
        self.signs = [sign(1, "SHOP")]
        self.signs_per_page = 25
        self.counter = 500
        self.routes = [("POST", re.compile(re.escape(base) + r"[\w/]+"))]

    def answer(self, request: Request) -> Answer:
        path = request.path.split("/v2/", 1)[-1]
        body = json.loads(request.body or "{}")
        self.requests.append((path, body))
        if request.headers.get("Authorization") != basic_auth(self.email, self.api_key):
            return reply(401, {"success": False, "data": None,
                               "message": "Your request was made with invalid credentials."})
        if path == "sms/send":
            return self._send(body)
        if path == "sms/status":
            return self._status(body)
        if path == "balance":
            return reply(200, {"success": True, "data": {"balance": self.balance}, "message": None})
        if path == "sign/list":
            return self._signs(int(request.query.get("page", 1)))
        return reply(404, {"success": False, "data": None, "message": "Page not found."})

    def _signs(self, page):
        """A page of signs the way SMS Aero pages its lists: entries keyed "0", "1"..., links, totalCount."""
        size = self.signs_per_page
        last = max(1, -(-len(self.signs) // size))
        data = {str(n): entry for n, entry in enumerate(self.signs[(page - 1) * size:page * size])}
        links = {"self": f"/v2/sign/list?page={page}", "first": "/v2/sign/list?page=1",
                 "last": f"/v2/sign/list?page={last}"}
        if page < last:
            links["next"] = f"/v2/sign/list?page={page + 1}"
        return reply(200, {"success": True, "data": {**data, "links": links, "totalCount": str(len(self.signs))},
                           "message": None})

    def _send(self, body):
        if self.refuse_next:
            return reply(200, self.refuse_next.pop(0))
        if not isinstance(body.get("number"), int) or len(str(body["number"])) < 11:
            return reply(200, {"success": False, "data": {"number": ["incorrect"]},
                               "message": "Validation error."})
        self.counter += 1
        self.sent[self.counter] = body
        self.statuses[self.counter] = 8
        return reply(200, {"success": True, "data": self._item(self.counter), "message": None})

    def _status(self, body):
        if body.get("id") not in self.sent:
            return reply(200, {"success": False, "data": None, "message": "Sms not found."})
        return reply(200, {"success": True, "data": self._item(body["id"]), "message": None})

    def _item(self, id_):
        sent = self.sent[id_]
        status = self.statuses[id_]
        return {"id": id_, "from": sent.get("sign"), "number": str(sent["number"]), "text": sent["text"],
                "status": status, "extendStatus": SMSAERO_WORDS.get(status, "unknown"), "channel": "DIRECT",
                "cost": 4.49, "dateCreate": 1763888000, "dateSend": 1763888000}


def sign(id_, name, status=1):
    """An SMS Aero sign as sign/list shows it."""
    words = {0: "moderation", 1: "approve", 2: "reject"}
    return {"id": id_, "name": name, "status": status, "extendStatus": words[status],
            "statusOperators": {"1": {"operator": 1, "extendOperator": "MEGAFON", "status": status,
                                      "extendStatus": words[status]}}}


SMSAERO_WORDS = {0: "queue", 1: "delivery", 2: "no delivery", 3: "transmitted", 4: "wait status", 6: "rejected",
                 8: "moderation"}
