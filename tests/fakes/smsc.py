"""SMSC.ru (providers.md): form POSTs to send.php / status.php / balance.php / senders.php, `fmt=3` JSON answers,
HTTP 200 for errors. Like SMSC it keeps the id we assign; a repeated id is sent again (SMSC promises no
deduplication)."""
import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from b24sms.rules.segments import segments
from tests.fakes.service import Answer, FakeService, Request, failure, reply

SMSC = "https://smsc.ru/sys/"
SMSC_ERRORS = {1: "parameters error", 2: "authorise error", 3: "no money", 4: "IP is blocked",
               5: "invalid date format", 6: "message is denied", 7: "invalid number",
               8: "can't deliver", 9: "duplicate request, wait a minute"}
MOSCOW_OFFSET = timedelta(hours=3)


class FakeSmsc(FakeService):
    def __init__(self, login="smsc-user", password="smsc-pass", base=SMSC):
        super().__init__()
        self.login, self.password, self.balance = login, password, "98.60"
        self.price = Decimal("1.40")  # roubles a segment
        self.sent = []  # every message that went out: {"id", "phones", "mes", "sender"}
        self.statuses = {}  # our id -> (status code, err)
        self.initial_status = (-1, 0)  # a message's (status, err) once taken ((1, 0): delivered at once)
        self.requests = []  # (script, form without credentials)
        self.send_errors = []  # error codes to answer instead of accepting the next sends
        self.fail_next = []  # HTTP statuses (or exceptions such as requests.Timeout) instead of an answer
        self.senders = ["SHOP"]  # the names SMSC's moderator approved (senders.php?get=1 lists them)
        self.answers = []  # incoming SMS on the account's receiving numbers, oldest first (get_answers lists them)
        self.answer_ids = iter(range(28_000_001, 10**9))
        self.routes = [("POST", re.compile(re.escape(base) + r"\w+\.php"))]

    @property
    def status_requests(self):
        return [form for script, form in self.requests if script == "status.php"]

    def answer(self, request: Request) -> Answer:
        script = request.last_segment
        form = request.form()
        login, password = form.pop("login", None), form.pop("psw", None)
        self.requests.append((script, form))
        if self.fail_next:
            return failure(self.fail_next.pop(0))
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
        if script == "get.php" and form.get("get_answers") == "1":
            return self._answers(form)
        if script == "senders.php" and form.get("get") == "1":
            return reply(200, [{"id": 100 + n, "sender": name} for n, name in enumerate(self.senders)])
        return reply(200, {"error": "parameters error", "error_code": 1})

    def _send(self, form):
        if self.send_errors:
            code = self.send_errors.pop(0)
            return reply(200, {"error": SMSC_ERRORS[code], "error_code": code, "id": smsc_id(form["id"])})
        if not form.get("phones", "").isdigit() or not form.get("id"):
            return reply(200, {"error": "invalid number", "error_code": 7})
        self.sent.append({k: form.get(k) for k in ("id", "phones", "mes", "sender")})
        self.statuses[form["id"]] = self.initial_status
        if form.get("cost") != "3":  # the answer names the price only when asked to
            return reply(200, {"id": smsc_id(form["id"]), "cnt": segments(form.get("mes", ""))})
        parts = segments(form.get("mes", ""))  # `cost` is the whole request's: `cnt` segments at the price
        return reply(200, {"id": smsc_id(form["id"]), "cnt": parts, "cost": f"{self.price * parts:.2f}",
                           "balance": self.balance})

    def _status(self, form):
        ids, phones = form.get("id", "").split(","), form.get("phone", "").split(",")
        if len(ids) != len(phones):
            return reply(200, {"error": "parameters error", "error_code": 1})
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


    def receive(self, sender, receiver, text, at=None):
        """A client's SMS to a receiving number (`at`: naive UTC, now by default): its id."""
        at = at or datetime.now(UTC).replace(tzinfo=None)
        self.answers.append({"id": next(self.answer_ids), "phone": sender, "message": text, "to_phone": receiver,
                             "sent": (at + MOSCOW_OFFSET).strftime("%d.%m.%Y %H:%M:%S"), "utc": at})
        return str(self.answers[-1]["id"])

    def _answers(self, form):
        """get_answers: after `after_id`, else within `hour` hours; `cnt` at most; in windows-1251 (SMSC's
        default) unless `charset=utf-8` was asked."""
        rows = self.answers
        if form.get("after_id"):
            rows = [row for row in rows if row["id"] > int(form["after_id"])]
        else:
            since = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=int(form.get("hour") or 1))
            rows = [row for row in rows if row["utc"] >= since]
        if form.get("to_phone"):
            rows = [row for row in rows if row["to_phone"] == form["to_phone"]]
        rows = [{k: v for k, v in row.items() if k != "utc"} for row in rows[: int(form.get("cnt") or 1000)]]
        return self.encoded(form, json.dumps(rows, ensure_ascii=False))

    def encoded(self, form, body):
        if form.get("charset") == "utf-8":
            return 200, {"Content-Type": "application/json; charset=utf-8"}, body.encode()
        return 200, {"Content-Type": "application/json"}, body.encode("cp1251", errors="replace")

    def pushed_reply(self, answer_id, charset=None):
        """(fields, body) of the POST SMSC makes to the account's handler URL for an incoming SMS: the body in
        windows-1251 unless the URL asked `charset=utf-8`."""
        row = next(row for row in self.answers if str(row["id"]) == str(answer_id))
        fields = {"id": str(row["id"]), "phone": row["phone"], "mes": row["message"], "to": row["to_phone"],
                  "sent": row["sent"], "time": str(int(row["utc"].replace(tzinfo=UTC).timestamp()))}
        return fields, urlencode(fields, encoding=charset or "cp1251").encode("ascii")


def smsc_id(value):
    """SMSC answers an id the way it was given: a number, or the text id."""
    return int(value) if value.isdigit() else value
