"""Twilio Programmable Messaging (providers.md): form POSTs, Basic auth AccountSid:AuthToken, JSON answers, and
the signed status callbacks Twilio posts."""
import base64
import hashlib
import hmac
import re

from tests.fakes.service import Answer, FakeService, Request, basic_auth, reply

TWILIO = "https://api.twilio.com/2010-04-01/"


class FakeTwilio(FakeService):
    def __init__(self, base=TWILIO):
        super().__init__()
        self.account_sid, self.auth_token = "AC" + "a" * 32, "twilio-auth-token"
        self.messages = {}  # sid -> message resource
        self.requests = []  # (method, path, form)
        self.refuse_next = []  # (HTTP status, error code, message) to answer instead of the next sends
        self.account_status = "active"
        self.counter = 0
        # The account's numbers (IncomingPhoneNumbers), by E.164: where each one's incoming SMS go (SmsUrl).
        self.numbers = {"+15017122661": {"sid": "PN" + "1" * 32, "phone_number": "+15017122661",
                                         "sms_url": "", "sms_method": "POST"}}
        pattern = re.compile(re.escape(base) + r"Accounts/.+")
        self.routes = [("GET", pattern), ("POST", pattern)]

    def answer(self, request: Request) -> Answer:
        path = request.path.split("/2010-04-01/", 1)[-1]
        form = request.form()
        self.requests.append((request.method, path, form))
        if request.headers.get("Authorization") != basic_auth(self.account_sid, self.auth_token):
            return self._error(401, 20003, "Authenticate")
        prefix = f"Accounts/{self.account_sid}"
        if request.method == "POST" and path == f"{prefix}/Messages.json":
            return self._create(form)
        if path == f"{prefix}/IncomingPhoneNumbers.json" and request.method == "GET":
            wanted = request.query.get("PhoneNumber")
            listed = [entry for number, entry in self.numbers.items() if wanted in (None, number)]
            return reply(200, {"incoming_phone_numbers": listed, "page": 0, "page_size": 50,
                               "next_page_uri": None})
        match = re.fullmatch(re.escape(prefix) + r"/IncomingPhoneNumbers/(\w+)\.json", path)
        entry = next((entry for entry in self.numbers.values() if match and entry["sid"] == match.group(1)), None)
        if entry is not None and request.method == "POST":
            entry.update(sms_url=form.get("SmsUrl", entry["sms_url"]),
                         sms_method=form.get("SmsMethod", entry["sms_method"]))
            return reply(200, entry)
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
            "error_message": None, "price": None, "price_unit": "USD", "status_callback": form.get("StatusCallback"),
        }
        return reply(201, self.messages[sid])

    def _error(self, status, code, message):
        return reply(status, {"code": code, "message": message,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})

    def set_status(self, sid, status, error_code=None, price="-0.00790"):
        """Move a message on; like Twilio, its price is known once it left (null before, negative: a debit)."""
        self.messages[sid].update(status=status, error_code=error_code)
        if status in ("sent", "delivered", "undelivered") and self.messages[sid]["price"] is None:
            self.messages[sid]["price"] = price

    def receive(self, sender, receiver, text):
        """A client's SMS to one of the account's numbers: its MessageSid."""
        self.counter += 1
        sid = f"SM{self.counter:032x}"
        self.messages[sid] = {"sid": sid, "account_sid": self.account_sid, "to": receiver, "from": sender,
                              "body": text, "status": "received", "num_segments": "1", "direction": "inbound",
                              "error_code": None, "error_message": None, "price": None, "price_unit": "USD"}
        return sid

    def pushed_reply(self, sid, url=None, **extra):
        """(form, headers) of the POST Twilio makes to the number's SmsUrl (or `url`) for an incoming SMS, signed
        with X-Twilio-Signature over that URL exactly as given; `extra` parameters are added (and signed)."""
        message = self.messages[sid]
        url = url or self.numbers[message["to"]]["sms_url"]
        form = {"ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
                "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
                "Body": message["body"], "FromCountry": "RU", "To": message["to"], "MessagingServiceSid": "",
                "ToZip": "", "NumSegments": "1", "MessageSid": sid, "AccountSid": self.account_sid,
                "From": message["from"], "ApiVersion": "2010-04-01", **extra}
        return form, {"X-Twilio-Signature": self.sign(url, form)}

    def sign(self, url, form):
        signed = url + "".join(k + form[k] for k in sorted(form))
        digest = hmac.new(self.auth_token.encode(), signed.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

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
