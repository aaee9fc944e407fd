"""SMS Traffic (api.smstraffic.ru): one script, `multi.php`, form POSTs with `login` and `password`, XML `<reply>`
answers. The reserve host api2.smstraffic.ru is tried when the main one cannot be reached at all (nothing was
sent), and only while the public base is in use (SMSTRAFFIC_API_URL replaces both).

- Send: one message per request (`phones`, `message`, `originator`, `rus=5` for UTF-8, `want_sms_ids=1`).
  `individual_messages` could carry several texts, but how its answer names each message and how a text holding
  the delimiter is sent are not documented, so messages go one by one.
- No client id and no idempotency, and no way to look a message up other than by its `sms_id`: after a lost
  answer SMS Traffic cannot be asked (`find_sent` raises CannotTell; the failover chain decides).
- Statuses: `operation=status` with up to 15 comma-separated ids (one client's limit); one id answers a flat
  `<reply>`, several one `<sms>` each. `Lost Notification` and `Unknown status` are final there but say nothing:
  they count as sent, and polling stops at the app's general cut-off.
- No delivery reports are pushed (none documented): statuses are polled. No sender name list call is known.
- Balance `operation=account` (the check on save). Error codes are documented only in part (`1000`: try again
  later; `401`: the login is missing): other refusals are classified by the words of `<description>`, and the
  provider's code and words stay on the message.

Answers are parsed with the standard library, bounded in size, and refused outright when they declare a DTD or
entities (no external or expanding entities can be resolved).
"""
import copy
import pyexpat
import xml.etree.ElementTree as ElementTree

from b24sms.providers.base import (
    DELIVERED,
    FAILED,
    QUEUED,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    Accepted,
    AnswerLost,
    Balance,
    InvalidCredentials,
    InvalidRecipient,
    NoMoney,
    Provider,
    ProviderError,
    RetryLater,
    SenderRejected,
    Setting,
    StatusReport,
    Unreachable,
    digits_only,
)
from b24sms.rules.errors import N_
from b24sms.rules.sender_names import ALPHA_NAME_OR_NUMBER

RESERVE_BASE_URL = "https://api2.smstraffic.ru/"
SCRIPT = "multi.php"


class SmsTraffic(Provider):
    kind = "smstraffic"
    title = "SMS Traffic"
    cabinet_url = "https://www.smstraffic.ru/"
    keys_help = N_("The API login and password come from your SMS Traffic manager; sender names are registered "
                   "through them too.")
    credential_settings = (
        Setting("login", N_("Login")),
        Setting("password", N_("Password"), secret=True, input="password"),
    )
    sender_setting = Setting("sender", N_("Sender name"), required=False,
                             help=N_("A sender name registered for your SMS Traffic account; empty for the "
                                     "account's default."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://api.smstraffic.ru/"  # SMSTRAFFIC_API_URL overrides it
    offer_rank = 8
    statuses_per_request = 15

    status_table = {
        "": QUEUED,  # no status yet
        "acceptd": QUEUED,  # (sic)
        "accepted": QUEUED,
        "buffered smsc": SENT,
        "delivered": DELIVERED,
        "non delivered": UNDELIVERED,
        "expired": UNDELIVERED,
        "deleted": UNDELIVERED,
        "rejected": FAILED,
        "lost notification": SENT,  # final at SMS Traffic, but it says nothing of delivery
        "unknown status": SENT,
    }
    # Codes exactly; the other keys are looked for inside <description> (the first that occurs wins).
    error_table = {
        "1000": RetryLater,  # SMS Traffic's own client sends again for this code only
        "401": InvalidCredentials,  # "login param is missing"
        "login": InvalidCredentials,
        "password": InvalidCredentials,
        "auth": InvalidCredentials,
        "too many": RetryLater,
        "try again": RetryLater,
        "originator": SenderRejected,
        "sender": SenderRejected,
        "money": NoMoney,
        "balance": NoMoney,
        "credit": NoMoney,
        "phone": InvalidRecipient,
    }

    def _post(self, params):
        """One call to multi.php; the parsed <reply>, or the refusal it carries raised."""
        form = {"login": self.credentials.get("login", ""), "password": self.credentials.get("password", ""),
                **params}
        try:
            response = self.request("POST", SCRIPT, data=form)
        except Unreachable:
            if self.base_url.rstrip("/") != self.default_base_url.rstrip("/"):
                raise
            reserve = copy.copy(self)
            reserve.base_url = RESERVE_BASE_URL
            response = reserve.request("POST", SCRIPT, data=form)
        if response.status_code in (401, 403):
            raise InvalidCredentials(f"{self.title} answered HTTP {response.status_code}",
                                     f"http_{response.status_code}")
        reply = self._reply(response)
        result, code = _text(reply, "result"), _text(reply, "code")
        if (result and result.upper() != "OK") or (not result and code not in ("", "0")):
            raise self._refusal(code or result, _text(reply, "description") or "SMS Traffic reported an error")
        return reply

    def _reply(self, response):
        """The answer's <reply> element, parsed only when it declares no DTD or entity (the HTTP client has read
        no more of it than b24sms.http_client.MAX_ANSWER_BYTES)."""
        body, status = response.content or b"", response.status_code
        try:
            _refuse_declarations(body)
            root = ElementTree.fromstring(body)
        except (pyexpat.ExpatError, ElementTree.ParseError, ValueError):
            raise ProviderError(f"{self.title} answered HTTP {status} with a body that is not XML it can read",
                                f"http_{status}") from None
        if root.tag != "reply":
            raise ProviderError(f"{self.title} answered with an unexpected shape", f"http_{status}")
        return root

    def _refusal(self, code, text):
        """The description's words first (the table's non-code keys), then the code or the words exactly."""
        words = str(text or "").lower()
        for key, error_class in self.error_table.items():
            if not key.isdigit() and key in words:
                return error_class(text or code, code)
        return self.error(code=code, text=text)

    def send(self, message):
        phone = digits_only(message.phone)
        params = {"phones": phone, "message": message.text, "rus": "5", "want_sms_ids": "1", "max_parts": "255"}
        if message.sender:
            params["originator"] = message.sender
        reply = self._post(params)
        infos = [(digits_only(_text(i, "phone")), _text(i, "sms_id")) for i in reply.iter("message_info")]
        ids = [sms_id for number, sms_id in infos if sms_id and number == phone] or [
            sms_id for _, sms_id in infos if sms_id and len(infos) == 1]
        if not ids:  # taken, with nothing to poll or ask by: the lost-answer path decides, never a blind resend
            words = _text(reply, "description") or "no sms_id"
            raise AnswerLost(f"{self.title} took the message but named no sms_id ({words})", "no_id")
        return Accepted(provider_id=ids[0], status=QUEUED, raw=_text(reply, "result") or "OK")

    def statuses(self, messages):
        ids = [m.provider_id for m in messages]
        reply = self._post({"operation": "status", "sms_id": ",".join(ids)})
        entries = reply.findall("sms") or [reply]
        reports = []
        for entry in entries:
            sms_id = _text(entry, "sms_id") or (ids[0] if len(ids) == 1 and len(entries) == 1 else "")
            if sms_id:
                reports.append(self._report(sms_id, entry))
        return reports

    def balance(self):
        reply = self._post({"operation": "account"})
        return Balance(self.decimal(_text(reply, "account") or None), "RUB")

    def _report(self, sms_id, entry):
        raw, error = _text(entry, "status"), _text(entry, "error")
        if error and not raw:  # "no such message or this message does not belong to you": say nothing yet
            return StatusReport(provider_id=sms_id, status=UNKNOWN, raw=error)
        status = self.map_status(raw)
        failed = status in (UNDELIVERED, FAILED)
        return StatusReport(provider_id=sms_id, status=status, raw=raw,
                            error_code=f"smstraffic:{raw}" if failed else None,
                            error_text=(error or f"SMS Traffic status {raw}") if failed else None)


def _text(element, tag):
    return (element.findtext(tag) or "").strip()


def _refuse_declarations(body):
    """Raises ValueError for a document type declaration or an entity declaration (in any encoding the document
    declares), and pyexpat's error for anything that is not well-formed, before ElementTree sees it."""
    def refuse(*_):
        raise ValueError("a DTD or an entity declaration")

    scanner = pyexpat.ParserCreate()
    scanner.StartDoctypeDeclHandler = refuse
    scanner.EntityDeclHandler = refuse
    scanner.Parse(body, True)
