"""P1SMS faked at the HTTP boundary, answering in the shapes of its API documentation (providers.md, P1SMS).

One account: messages keyed by P1SMS's integer id; a test sets statuses, reads what was sent and every request,
and can make the fake refuse or fail. What the documentation leaves open is marked so (the webhook's payload,
the HTTP status of a refusal): the fake answers as the module assumes, and the unit tests try the other shapes.
"""
import json
import re
import time
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.service import Answer, FakeService, Request, failure, reply

P1SMS = "https://admin.p1sms.ru/"
API_KEY = "p1-api-key-0123456789"


class FakeP1sms(FakeService):
    def __init__(self, base=P1SMS):
        super().__init__()
        self.api_key, self.balance = API_KEY, "15.0000"
        self.sent = {}  # id -> the sms entry as sent (plus "createdAt")
        self.statuses = {}  # id -> status word
        self.webhooks = {}  # id -> the request's webhookUrl
        self.requests = []  # (method, path, body or query without apiKey)
        self.refuse_next = []  # per-message (status, errorDescription) instead of accepting the next messages
        self.fail_next = []  # HTTP statuses (or exceptions such as requests.Timeout) instead of an answer
        self.senders = [{"senderName": "SHOP", "status": None}]
        self.list_path = "apiUsers/getSmsList"  # where getSmsList answers (the docs name two paths)
        self.listed_date = lambda seconds: seconds  # getSmsList's createdAt from unix seconds (a test tries others)
        self.counter = 12854726
        pattern = re.compile(re.escape(base) + r"(apiSms|apiUsers)/\w+")
        self.routes = [("GET", pattern), ("POST", pattern)]

    def answer(self, request: Request) -> Answer:
        url = urlsplit(request.url)
        path = url.path.lstrip("/")
        if request.method == "POST":
            body = json.loads(request.body or "{}")
        else:
            body = dict(parse_qsl(url.query, keep_blank_values=True))
        key = body.pop("apiKey", None)
        self.requests.append((request.method, path, body))
        if self.fail_next:
            return failure(self.fail_next.pop(0))
        if key != self.api_key:
            # The HTTP status of this refusal is not documented (the module reads the body whatever it is).
            return reply(200, {"status": "error", "data": {"message": "Пользователь с таким apiKey не найден",
                                                           "exception": "UnauthorizedException"}})
        route = (request.method, path)
        if route == ("POST", "apiSms/create"):
            return self._create(body)
        if route == ("POST", "apiSms/get"):
            return reply(200, {"status": "success", "data": [self._info(i) for i in body.get("apiSmsIdList", [])
                                                             if i in self.sent]})
        if route == ("GET", "apiUsers/getUserBalanceInfo"):
            return reply(200, {"status": "success", "data": self.balance})
        if route == ("GET", "apiUsers/getUserSenders"):
            return reply(200, {"status": "success", "data": self.senders})
        if route == ("GET", self.list_path):
            return self._list(body)
        return 404, {"Content-Type": "text/html"}, "<html>Not Found</html>"

    def _create(self, body):
        entries = body.get("sms")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 1000:
            return reply(200, {"status": "error", "data": {"message": "Максимальное количество СМС в одном "
                                                                      "запросе - 1000", "exception": "Exception"}})
        return reply(200, {"status": "success", "data": [self._one(sms, body.get("webhookUrl")) for sms in entries]})

    def _one(self, sms, webhook):
        self.counter += 1
        id_ = self.counter
        answer = {"id": id_, "phone": sms.get("phone"), "cost": "3.45", "smsCount": 1}
        if self.refuse_next:
            status, words = self.refuse_next.pop(0)
            return {**answer, "status": status, "errorDescription": words}
        if not re.fullmatch(r"\d{11}", str(sms.get("phone", ""))):
            return {**answer, "status": "error", "errorDescription": "Неверный формат номера телефона"}
        self.sent[id_] = {**sms, "createdAt": int(time.time())}
        self.statuses[id_] = "sent"  # as one client saw: "sent" at once, moderation a moment later
        self.webhooks[id_] = webhook
        return {**answer, "status": "sent", "errorDescription": None}

    def _info(self, id_):
        return {"id": id_, "errorDescription": None if self.statuses[id_] != "not_delivered" else "Абонент недоступен",
                "cost": "3.45", "createdAt": self.sent[id_]["createdAt"], "updatedAt": int(time.time()),
                "cascadeSmsId": None, "status": self.statuses[id_]}

    def _list(self, query):
        since, until = int(query.get("from", 0)), int(query.get("to", 2 ** 40))
        found = [{"smsId": id_, "createdAt": self.listed_date(sms["createdAt"]), "updatedAt": sms["createdAt"],
                  "sentAt": None,
                  "cost": "3.45", "phone": sms["phone"], "status": self.statuses[id_], "sender": sms.get("sender"),
                  "text": sms.get("text")}
                 for id_, sms in sorted(self.sent.items(), reverse=True)
                 if query.get("search", "") in sms["phone"] and since <= sms["createdAt"] <= until]
        size, page = int(query.get("pageCapacity", 20)), int(query.get("page", 1))
        return reply(200, {"status": "success", "data": {"data": found[(page - 1) * size:page * size],
                                                         "total": len(found), "currentPage": page, "perPage": size}})

    def sent_before(self, phone, text, ago=0):
        """As if an earlier attempt had reached P1SMS `ago` seconds ago and its answer was lost (or as if the
        account had sent it otherwise: from the cabinet, another program)."""
        self.counter += 1
        self.sent[self.counter] = {"phone": phone, "text": text, "channel": "char", "sender": "SHOP",
                                   "createdAt": int(time.time()) - ago}
        self.statuses[self.counter] = "sent"
        return self.counter

    def receipt(self, id_, status):
        """A webhook call as the module reads it (the payload is not documented: the entry apiSms/get shows)."""
        self.statuses[id_] = status
        return self._info(id_)
