"""SMS providers faked at the HTTP boundary, each answering in its API's documented shapes (providers.md).

Each keeps what was sent and every request it saw, lets a test set statuses, and can be told to fail.
"""
import base64
import hashlib
import hmac
import json
import re
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import requests
import responses

from tests.fakes import reply

PROSTOR = "https://api.prostor-sms.ru/messages/v2/"
SMSC = "https://smsc.ru/sys/"
SMSAERO = "https://gate.smsaero.ru/v2/"
TWILIO = "https://api.twilio.com/2010-04-01/"

_in_flight_lock = threading.Lock()


class LosesAnswers:
    """`lose_answers = n`: the next n requests are processed, then their answer is lost on the way back (the
    app sees a read timeout although the provider did the work).
    `hangs = True`: the provider takes calls and never answers; every request times out unprocessed and is
    counted in `calls_while_hanging`.
    `slow_answers = threading.Event()`: requests are processed, then answered only once the event is set (a slow
    provider; `answers_waiting` counts those held back)."""

    lose_answers = 0
    hangs = False
    slow_answers = None
    answers_waiting = 0
    answer_delay = 0  # seconds every request takes (a round trip), so that parallel requests overlap
    max_in_flight = 0  # the most requests under way at once

    def _enter(self):
        with _in_flight_lock:
            self.in_flight = getattr(self, "in_flight", 0) + 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self):
        with _in_flight_lock:
            self.in_flight -= 1

    def answering(self, handle):
        self.calls_while_hanging = []

        def callback(request):
            if self.hangs:
                self.calls_while_hanging.append(urlsplit(request.url).path.rsplit("/", 1)[-1])
                raise requests.ReadTimeout("the provider took the call and never answered")
            self._enter()
            try:
                time.sleep(self.answer_delay)
                answer = handle(request)
            finally:
                self._leave()
            if self.slow_answers is not None:
                self.answers_waiting += 1
                assert self.slow_answers.wait(30), "a slow answer was never let go"
                self.answers_waiting -= 1
            if self.lose_answers:
                self.lose_answers -= 1
                raise requests.ReadTimeout("the answer was lost on the way back")
            return answer
        return callback


class FakeProstor(LosesAnswers):
    """Prostor SMS JSON v2: one account, messages keyed by clientId (a repeated clientId is not sent again)."""

    def __init__(self, rsps, login="user", password="secret", balance=120.5, base=PROSTOR):
        self.login, self.password, self.balance = login, password, balance
        self.sent = {}  # str(smscId) -> message
        self.by_client_id = {}
        self.statuses = {}  # str(smscId) -> status word
        self.requests = []  # (path, body without credentials)
        self.next_send_status = []  # per-message status words to answer instead of "accepted"
        self.fail_next = []  # HTTP statuses (or exceptions such as requests.Timeout) instead of an answer
        self.canned = {}  # path -> JSON body to answer instead (odd shapes)
        # senders.json's entries: status active/default (may be sent with), new, pending or blocked.
        self.senders = [{"name": "SHOP", "status": "default", "info": ""}]
        self.counter = 1000
        rsps.add_callback(responses.POST, re.compile(re.escape(base) + r"\w+\.json"),
                          callback=self.answering(self._handle))

    def _handle(self, request):
        path = urlsplit(request.url).path.rsplit("/", 1)[-1]
        body = json.loads(request.body)
        login, password = body.pop("login", None), body.pop("password", None)
        self.requests.append((path, body))
        if self.fail_next:
            return _failure(self.fail_next.pop(0))
        if (login, password) != (self.login, self.password):
            return reply(200, {"status": "error", "description": "error authorization"})
        if path in self.canned:
            return reply(200, self.canned[path])
        if path == "send.json":
            return reply(200, {"status": "ok", "messages": [self._send(m) for m in body["messages"]]})
        if path == "status.json":
            return reply(200, {"status": "ok", "messages": [
                {"smscId": m.get("smscId"), "clientId": self.sent.get(str(m.get("smscId")), {}).get("clientId"),
                 "status": self.statuses.get(str(m.get("smscId")), "incorrect id")} for m in body["messages"]]})
        if path == "balance.json":
            return reply(200, {"status": "ok", "balance": [{"type": "RUB", "balance": self.balance, "credit": 0}]})
        if path == "senders.json":
            return reply(200, {"status": "ok", "senders": self.senders})
        return reply(404, {"status": "error", "description": "unknown method"})

    def sent_before(self, client_ids):
        """As if an earlier database had sent messages with these clientIds through this account."""
        for client_id in client_ids:
            self._send({"clientId": str(client_id), "phone": "+79160000000", "text": "sent long ago"})

    def _send(self, message):
        if self.next_send_status:
            return {"clientId": message["clientId"], "status": self.next_send_status.pop(0)}
        if message["clientId"] in self.by_client_id:
            smsc_id = self.by_client_id[message["clientId"]]
        else:
            self.counter += 1
            smsc_id = self.counter
            self.by_client_id[message["clientId"]] = smsc_id
            self.sent[str(smsc_id)] = message
            self.statuses[str(smsc_id)] = "queued"
        return {"clientId": message["clientId"], "smscId": smsc_id, "status": "accepted"}


class FakeSmsc(LosesAnswers):
    """SMSC.ru: form POSTs to send.php / status.php / balance.php, `fmt=3` JSON answers, HTTP 200 for errors.
    Like SMSC it keeps the id we assign; a repeated id is sent again (SMSC promises no deduplication)."""

    def __init__(self, rsps, login="smsc-user", password="smsc-pass", balance="98.60", base=SMSC):
        self.login, self.password, self.balance = login, password, balance
        self.sent = []  # every message that went out: {"id", "phones", "mes", "sender"}
        self.statuses = {}  # our id -> (status code, err)
        self.requests = []  # (script, form without credentials)
        self.send_errors = []  # error codes to answer instead of accepting the next sends
        self.fail_next = []  # HTTP statuses (or exceptions such as requests.Timeout) instead of an answer
        self.senders = ["SHOP"]  # the names SMSC's moderator approved (senders.php?get=1 lists them)
        rsps.add_callback(responses.POST, re.compile(re.escape(base) + r"\w+\.php"),
                          callback=self.answering(self._handle))

    @property
    def status_requests(self):
        return [form for script, form in self.requests if script == "status.php"]

    def _handle(self, request):
        script = urlsplit(request.url).path.rsplit("/", 1)[-1]
        form = dict(parse_qsl(request.body or "", keep_blank_values=True))
        login, password = form.pop("login", None), form.pop("psw", None)
        self.requests.append((script, form))
        if self.fail_next:
            return _failure(self.fail_next.pop(0))
        if form.get("fmt") != "3":
            return 200, {"Content-Type": "text/plain"}, "ERROR = 1 (parameters error)"
        if (login, password) != (self.login, self.password):
            return reply(200, {"error": "authorise error", "error_code": 2})
        if script == "send.php":
            return self._send(form)
        if script == "status.php":
            return self._status(form)
        if script == "balance.php":
            return reply(200, {"balance": self.balance, "currency": "RUB"})
        if script == "senders.php" and form.get("get") == "1":
            return reply(200, [{"id": 100 + n, "sender": name} for n, name in enumerate(self.senders)])
        return reply(200, {"error": "parameters error", "error_code": 1})

    def _send(self, form):
        if self.send_errors:
            code = self.send_errors.pop(0)
            return reply(200, {"error": SMSC_ERRORS[code], "error_code": code, "id": smsc_id(form["id"])})
        if not form.get("phones", "").isdigit():
            return reply(200, {"error": "invalid number", "error_code": 7})
        self.sent.append({k: form.get(k) for k in ("id", "phones", "mes", "sender")})
        self.statuses[form["id"]] = (-1, 0)
        return reply(200, {"id": smsc_id(form["id"]), "cnt": 1, "cost": "1.40", "balance": self.balance})

    def _status(self, form):
        ids, phones = form["id"].split(","), form["phone"].split(",")
        if not form["id"].endswith(","):  # the single-message shape
            status, err = self.statuses.get(ids[0], (None, None))
            if status is None:
                return reply(200, {"error": "message not found", "error_code": 3})
            return reply(200, {"status": status, "last_date": "23.11.2026 10:00:00",
                                       "last_timestamp": int(time.time()), "err": err})
        answer = []
        for id_, phone in zip(ids[:-1], phones[:-1], strict=True):
            status, err = self.statuses.get(id_, (-3, 0))
            answer.append({"status": status, "last_date": "23.11.2026 10:00:00",
                           "last_timestamp": int(time.time()), "flag": 0, "err": err, "id": smsc_id(id_),
                           "phone": phone.lstrip("+")})
        return reply(200, answer)


SMSC_ERRORS = {1: "parameters error", 2: "authorise error", 3: "no money", 4: "IP is blocked",
               5: "invalid date format", 6: "message is denied", 7: "invalid number",
               8: "can't deliver", 9: "duplicate request, wait a minute"}


class FakeSmsAero(LosesAnswers):
    """SMS Aero v2: JSON POSTs with HTTP Basic auth, answers `{"success", "data", "message"}`."""

    def __init__(self, rsps, email="shop@example.com", api_key="aero-key", balance=337.03, base=SMSAERO):
        self.email, self.api_key, self.balance = email, api_key, balance
        self.sent = {}  # id -> request body
        self.statuses = {}  # id -> numeric status
        self.requests = []  # (path, body)
        self.refuse_next = []  # answers to give instead of accepting the next sends
        # sign/list's entries: status 1 "approve" may be sent with; 0 "moderation", 2 "reject" may not.
        self.signs = [sign(1, "SHOP")]
        self.signs_per_page = 25
        self.counter = 500
        rsps.add_callback(responses.POST, re.compile(re.escape(base) + r"[\w/]+"),
                          callback=self.answering(self._handle))

    def _handle(self, request):
        path = urlsplit(request.url).path.split("/v2/", 1)[-1]
        body = json.loads(request.body or "{}")
        self.requests.append((path, body))
        if request.headers.get("Authorization") != _basic(self.email, self.api_key):
            return reply(401, {"success": False, "data": None,
                                       "message": "Your request was made with invalid credentials."})
        if path == "sms/send":
            return self._send(body)
        if path == "sms/status":
            return self._status(body)
        if path == "balance":
            return reply(200, {"success": True, "data": {"balance": self.balance}, "message": None})
        if path == "sign/list":
            return self._signs(int(dict(parse_qsl(urlsplit(request.url).query)).get("page", 1)))
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


class FakeTwilio(LosesAnswers):
    """Twilio Programmable Messaging: form POSTs, Basic auth AccountSid:AuthToken, JSON answers."""

    def __init__(self, rsps, account_sid="AC" + "a" * 32, auth_token="twilio-auth-token", base=TWILIO):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messages = {}  # sid -> message resource
        self.requests = []  # (method, path, form)
        self.refuse_next = []  # (HTTP status, error code, message) to answer instead of the next sends
        self.account_status = "active"
        self.counter = 0
        pattern = re.compile(re.escape(base) + r"Accounts/.+")
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, pattern, callback=self.answering(self._handle))

    def _handle(self, request):
        path = urlsplit(request.url).path.split("/2010-04-01/", 1)[-1]
        form = dict(parse_qsl(request.body or "", keep_blank_values=True))
        self.requests.append((request.method, path, form))
        if request.headers.get("Authorization") != _basic(self.account_sid, self.auth_token):
            return self._error(401, 20003, "Authenticate")
        prefix = f"Accounts/{self.account_sid}"
        if request.method == "POST" and path == f"{prefix}/Messages.json":
            return self._create(form)
        if path == f"{prefix}/Balance.json":
            return reply(200, {"account_sid": self.account_sid, "balance": "12.34", "currency": "USD"})
        if path == f"{prefix}.json":
            return reply(200, {"sid": self.account_sid, "friendly_name": "Shop",
                                       "status": self.account_status, "type": "Full"})
        match = re.fullmatch(re.escape(prefix) + r"/Messages/(\w+)\.json", path)
        if match and match.group(1) in self.messages:
            return reply(200, self.messages[match.group(1)])
        return self._error(404, 20404, f"The requested resource /2010-04-01/{path} was not found")

    def _create(self, form):
        if self.refuse_next:
            return self._error(*self.refuse_next.pop(0))
        if not re.fullmatch(r"\+\d{8,15}", form.get("To", "")):
            return self._error(400, 21211, f"The 'To' number {form.get('To')} is not a valid phone number.")
        self.counter += 1
        sid = f"SM{self.counter:032x}"
        self.messages[sid] = {
            "sid": sid, "account_sid": self.account_sid, "to": form["To"], "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
            "status": "queued", "num_segments": "1", "direction": "outbound-api", "error_code": None,
            "error_message": None, "price": None, "status_callback": form.get("StatusCallback"),
        }
        return reply(201, self.messages[sid])

    def _error(self, status, code, message):
        return reply(status, {"code": code, "message": message,
                                      "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})

    def set_status(self, sid, status, error_code=None):
        self.messages[sid].update(status=status, error_code=error_code)

    def status_callback(self, sid, status, error_code=None):
        """The form Twilio posts to a message's StatusCallback, with its X-Twilio-Signature header."""
        message = self.messages[sid]
        form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                "AccountSid": self.account_sid, "From": message["from"] or "", "To": message["to"],
                "ApiVersion": "2010-04-01"}
        if error_code:
            form["ErrorCode"] = str(error_code)
        signed = message["status_callback"] + "".join(k + form[k] for k in sorted(form))
        digest = hmac.new(self.auth_token.encode(), signed.encode(), hashlib.sha1).digest()
        return form, {"X-Twilio-Signature": base64.b64encode(digest).decode()}


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _failure(trouble):
    """An HTTP error page, or a transport failure raised as the HTTP client would raise it."""
    if isinstance(trouble, Exception):
        raise trouble
    return trouble, {"Content-Type": "text/html"}, "<html>Service Unavailable</html>"


def smsc_id(value):
    """SMSC answers an id the way it was given: a number, or the text id."""
    return int(value) if value.isdigit() else value
