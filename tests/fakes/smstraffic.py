"""SMS Traffic faked at the HTTP boundary: form POSTs to multi.php, XML <reply> answers in the shapes its clients
and providers.md show. Only codes 0, 401 ("login param is missing") and 1000 (try again) are known: the fake's
other refusal codes are made up, worded as the module classifies them (by <description>), and the unit tests
try other words and codes."""
import re
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from tests.fakes.service import Answer, FakeService, Request, failure

SMSTRAFFIC = "https://api.smstraffic.ru/"
SMSTRAFFIC_RESERVE = "https://api2.smstraffic.ru/"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def xml_reply(inner, status=200):
    return status, {"Content-Type": "text/xml; charset=utf-8"}, f"{HEAD}<reply>{inner}</reply>"


def error_reply(code, description):
    return xml_reply(f"<result>ERROR</result><code>{code}</code><description>{escape(description)}</description>")


class FakeSmsTraffic(FakeService):
    def __init__(self, base=SMSTRAFFIC):
        super().__init__()
        self.login, self.password, self.balance = "traffic-user", "traffic-pass", "123.45"
        self.sent = {}  # sms_id -> the form as sent (without credentials)
        self.statuses = {}  # sms_id -> status words ("" until SMS Traffic has one)
        self.requests = []  # forms without credentials
        self.refuse_next = []  # (code, description) instead of accepting the next sends
        self.fail_next = []  # HTTP statuses (or exceptions such as requests.Timeout) instead of an answer
        self.counter = 1000472890
        self.routes = [("POST", base + "multi.php")]

    @property
    def status_requests(self):
        return [form for form in self.requests if form.get("operation") == "status"]

    def answer(self, request: Request) -> Answer:
        form = dict(parse_qsl(request.body or "", keep_blank_values=True))
        login, password = form.pop("login", None), form.pop("password", None)
        self.requests.append(form)
        if self.fail_next:
            return failure(self.fail_next.pop(0))
        if not login:
            return error_reply(401, "login param is missing")
        if (login, password) != (self.login, self.password):
            return error_reply(402, "wrong login or password")
        operation = form.get("operation")
        if operation == "account":
            return xml_reply(f"<account>{self.balance}</account>")
        if operation == "status":
            return self._status(form.get("sms_id", "").split(","))
        return self._send(form)

    def _send(self, form):
        if self.refuse_next:
            return error_reply(*self.refuse_next.pop(0))
        phones = form.get("phones", "")
        if not re.fullmatch(r"\d{10,15}", phones):
            return error_reply(403, f"bad phone number: {phones}")
        if form.get("rus") != "5" or form.get("want_sms_ids") != "1":
            return error_reply(400, "test fake: send rus=5 and want_sms_ids=1")
        self.counter += 1
        sms_id = f"{self.counter}{self.counter}"  # long: SMS Traffic's ids outgrow 64 bits
        self.sent[sms_id] = form
        self.statuses[sms_id] = ""
        return xml_reply("<result>OK</result><code>0</code><description>queued 1 messages</description>"
                         f"<message_infos><message_info><phone>{phones}</phone><sms_id>{sms_id}</sms_id>"
                         "</message_info></message_infos>")

    def _status(self, ids):
        entries = [self._entry(sms_id) for sms_id in ids]
        if len(entries) == 1:  # one id: a flat reply
            return xml_reply(entries[0])
        return xml_reply("".join(f"<sms>{entry}</sms>" for entry in entries))

    def _entry(self, sms_id):
        if sms_id not in self.statuses:
            return ("<error>no such message or this message does not belong to you</error><submition_date/>"
                    f"<send_date/><last_status_change_date/><sms_id>{escape(sms_id)}</sms_id><status/>")
        return ("<error></error><submition_date>2026-11-23 10:00:00</submition_date>"
                "<send_date>2026-11-23 10:00:01</send_date>"
                "<last_status_change_date>2026-11-23 10:00:05</last_status_change_date>"
                f"<sms_id>{sms_id}</sms_id><status>{escape(self.statuses[sms_id])}</status>")
