"""SMS.RU HTTP API: form POSTs with `api_id` and `json=1`; every answer is HTTP 200 with `status` OK/ERROR and a
numeric `status_code`, per message inside `sms` as well.

What SMS.RU cannot do, and what we do instead:
- No client id and no idempotency key: our key cannot go with a message, and after a lost answer SMS.RU cannot be
  asked whether it has it (`find_sent` raises CannotTell; reconciliation waits, then moves along the chain).
- `from` is one per request and `sms` is keyed by number: one request carries messages of one sender to distinct
  numbers, so a batch may take several requests. A whole request refused for one message's sake (SMS.RU refuses
  the list when one number is bad) is sent again message by message.
- Receipts: one callback URL list per account, no per-message URL. The admin's save registers ours through
  `callback/add` (after `callback/get`, so never twice); SMS.RU signs the POST with sha256(api_id + entries) and
  wants the body `100` back. A removed account's URL is left in the customer's list (it is not ours to prune).
- Message status -1 (not found yet) is polled again; the poll gives up on it after the usual cut-off.
- Request rates are not published: no poll interval is declared.
"""
import hashlib
import hmac
import re

from b24sms.providers.base import (
    DELIVERED,
    QUEUED,
    REGISTERED,
    SENT,
    UNDELIVERED,
    Accepted,
    AnswerLost,
    Balance,
    InvalidCredentials,
    InvalidRecipient,
    NoMoney,
    Provider,
    ProviderError,
    RejectedContent,
    RetryLater,
    SenderRejected,
    Setting,
    StatusReport,
    approved_names,
    digits_only,
)
from b24sms.rules.errors import N_
from b24sms.rules.sender_names import ALPHA_NAME_OR_NUMBER

MAX_PER_REQUEST = 100  # numbers per sms/send and ids per sms/status
NOT_TRIED = "not_tried"
DATA_FIELD = re.compile(r"data\[(\d*)\]")


class SmsRu(Provider):
    kind = "smsru"
    title = "SMS.RU"
    cabinet_url = "https://sms.ru/"
    keys_help = N_("The API key (api_id) is in the SMS.RU cabinet under “For programmers”; sender names are "
                   "under “Senders”.")
    credential_settings = (
        Setting("api_id", N_("API key (api_id)"), secret=True, input="password",
                help=N_("In the SMS.RU cabinet: “For programmers”, your API key.")),
    )
    sender_setting = Setting("sender", N_("Sender name"), required=False,
                             help=N_("A sender name approved in your SMS.RU account; empty for SMS.RU's default."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://sms.ru/"  # SMSRU_API_URL overrides it
    offer_rank = 1
    statuses_per_request = MAX_PER_REQUEST
    sends_per_request = MAX_PER_REQUEST
    receipts = REGISTERED
    receipt_reply = "100"  # anything else and SMS.RU counts the receipt as not delivered

    status_table = {
        "100": QUEUED,  # in SMS.RU's queue
        "101": SENT,  # being handed to the operator
        "102": SENT,  # sent, on its way
        "103": DELIVERED,
        "110": DELIVERED,  # read (Viber)
        "104": UNDELIVERED,  # its lifetime ran out
        "105": UNDELIVERED,  # deleted by the operator
        "106": UNDELIVERED,  # the phone failed
        "107": UNDELIVERED,  # unknown reason
        "108": UNDELIVERED,  # rejected
        "150": UNDELIVERED,  # no route to the number
        # -1, not found (yet): unknown, so polled again
    }
    error_table = {
        "200": InvalidCredentials, "301": InvalidCredentials,  # wrong api_id (or login/password)
        "300": InvalidCredentials,  # wrong token (expired, or the IP changed)
        "302": InvalidCredentials, "303": InvalidCredentials,  # account not confirmed; wrong confirmation code
        "201": NoMoney,
        "202": InvalidRecipient,  # wrong number
        "209": InvalidRecipient,  # in the account's own stop list
        "215": InvalidRecipient,  # in SMS.RU's stop list (the recipient complained of spam)
        "230": InvalidRecipient,  # this number's daily limit is spent
        "203": RejectedContent, "205": RejectedContent,  # no text; longer than 8 parts
        "216": RejectedContent,  # a forbidden word
        "231": RejectedContent, "232": RejectedContent,  # the same text to this number within a minute / a day
        "233": RejectedContent,  # repeated codes to this number (anti-fraud)
        "204": SenderRejected,  # the sender name is not approved (for this operator)
        "206": RetryLater,  # the account's daily limit
        "220": RetryLater, "500": RetryLater,  # unavailable for a while; server error, repeat
        "304": RetryLater, "305": RetryLater,  # too many confirmation codes / wrong codes
        "501": RetryLater, "502": RetryLater, "503": RetryLater, "504": RetryLater, "505": RetryLater,
        "506": RetryLater, "508": RetryLater,  # anti-fraud limits by IP, country, hosting, calls
        # Plain ProviderErrors, so another provider of the chain may send it: 207 (SMS.RU has no route to the
        # number), 214 (the account sends to Russian numbers only), 208 (bad time), 210 (GET for POST),
        # 211 (unknown method), 212 (not UTF-8), 213 (too many numbers), 507 (bad IP), 901/902 (callback URL).
    }
    # Codes about one message of a request: a list refused with one of them is sent again message by message.
    message_codes = {"202", "203", "205", "207", "209", "214", "215", "216", "230", "231", "232", "233"}

    # -- HTTP --
    def _post(self, path, params=None):
        form = {"api_id": self.credentials.get("api_id", ""), "json": "1", **(params or {})}
        response = self.request("POST", path, data=form)
        try:
            answer = response.json()
        except ValueError:
            answer = self._plain(response)
        if not isinstance(answer, dict):
            raise ProviderError(f"{self.title} answered with an unexpected shape", f"http_{response.status_code}")
        if str(answer.get("status", "")).upper() != "OK":
            raise self._refusal(answer)
        return answer

    def _plain(self, response):
        """The answer without json=1 (a proxy dropped it?): the code on the first line."""
        lines = (response.text or "").strip().splitlines()
        code = lines[0].strip() if lines else ""
        if not re.fullmatch(r"-?\d+", code):
            raise ProviderError(f"{self.title} answered HTTP {response.status_code} with a body that is not JSON",
                                f"http_{response.status_code}")
        if code != "100":
            return {"status": "ERROR", "status_code": code, "status_text": " ".join(lines[1:2])}
        # It did the work, but its answer cannot be read: for a send, asking is the only way to know.
        raise AnswerLost(f"{self.title} answered in plain text, not JSON", "plain_answer")

    def _refusal(self, answer):
        errors = answer.get("errors")
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        code = answer.get("status_code", first.get("status_code"))
        return self._error_of(code, answer.get("status_text") or first.get("status_text"))

    def _error_of(self, code, text):
        code = None if code in (None, "") else str(code).strip()
        return self.error(code=code, text=str(text or "").strip() or f"{self.title} error {code or '(no code)'}")

    # -- sending --
    def send(self, message):
        return self.send_as_batch(message)

    def send_many(self, messages):
        groups = _groups(messages)
        if len(groups) == 1:
            return self._send_group(messages)
        results, down = [None] * len(messages), None
        for group in groups:
            if down is not None:  # it is down or hangs: the rest waits, and nothing of it was sent
                answers = [RetryLater(f"{self.title} was not asked: {down.text}", NOT_TRIED)] * len(group)
            else:
                try:
                    answers = self._send_group([messages[i] for i in group])
                except ProviderError as exc:
                    answers, down = [exc] * len(group), exc if isinstance(exc, RetryLater) else None
            for index, answer in zip(group, answers):
                results[index] = answer
        # Refused alike throughout (bad api_id, no money, cannot connect): as a single request would raise.
        failures = {(type(r), r.code) for r in results if isinstance(r, ProviderError) and r.code != NOT_TRIED}
        if all(isinstance(r, ProviderError) for r in results) and len(failures) == 1 and \
                not isinstance(results[0], AnswerLost):
            raise results[0]
        return results

    def _send_group(self, messages):
        """One request for messages of one sender to distinct numbers."""
        try:
            answer = self._post("sms/send", _send_form(messages))
        except ProviderError as exc:
            if len(messages) > 1 and exc.code in self.message_codes:  # refused for one of them: each alone
                return [self._send_alone(message) for message in messages]
            raise
        return self._read_sent(messages, answer.get("sms"))

    def _send_alone(self, message):
        try:
            return self._send_group([message])[0]
        except ProviderError as exc:
            return exc

    def _read_sent(self, messages, sms):
        entries = list(sms.items()) if isinstance(sms, dict) else list(enumerate(sms or []))
        entries = [(str(key), value) for key, value in entries if isinstance(value, dict)]
        phones = [digits_only(message.phone) for message in messages]
        by_phone = {digits_only(key): value for key, value in entries}
        if len(messages) == 1 and len(entries) == 1:  # keys are numbers as SMS.RU normalised them
            found = [entries[0][1]]
        elif all(phone in by_phone for phone in phones):
            found = [by_phone[phone] for phone in phones]
        elif len(entries) == len(messages):  # renumbered: the answer keeps our order
            found = [value for _, value in entries]
        else:
            found = [by_phone.get(phone) for phone in phones]
        return [self._accepted(entry) for entry in found]

    def _accepted(self, entry):
        if entry is None:  # not named in the answer: it may have been taken
            return AnswerLost(f"{self.title} answered without this message", "missing_in_answer")
        if str(entry.get("status", "")).upper() == "OK" and entry.get("sms_id") not in (None, ""):
            cost = self.cost(entry.get("cost"))  # per number, in roubles
            return Accepted(provider_id=str(entry["sms_id"]), status=QUEUED, raw=str(entry.get("status_code", "")),
                            cost=cost, currency="RUB" if cost is not None else None)
        return self._error_of(entry.get("status_code"), entry.get("status_text"))

    # -- statuses, balance, senders --
    def statuses(self, messages):
        try:
            answer = self._post("sms/status", {"sms_id": ",".join(m.provider_id for m in messages)})
        except ProviderError as exc:
            if exc.code == "-1":  # the request's way of saying none of them is known (yet): polled again
                return [self._report(m.provider_id, "-1", exc.text) for m in messages]
            raise
        sms = answer.get("sms")
        if not isinstance(sms, dict):
            return []  # nothing readable: each message is polled again later
        return [self._report(sms_id, entry.get("status_code"), entry.get("status_text"), entry.get("cost"))
                for sms_id, entry in sms.items() if isinstance(entry, dict)]

    def balance(self):
        return Balance(self.decimal(self._post("my/balance").get("balance")), "RUB")

    def sender_names(self):
        senders = self._post("my/senders").get("senders")  # a list of names (or, seen too, a dict of them)
        return approved_names(list(senders.values()) if isinstance(senders, dict) else senders, _read_sender)

    # -- receipts --
    def register_receipts(self, callback_url):
        if callback_url in _urls(self._post("callback/get").get("callback")):
            return
        self._post("callback/add", {"url": callback_url})

    def verify_receipt(self, receipt):
        api_id = self.credentials.get("api_id", "")
        given = str(receipt.fields.get("hash") or "").strip().lower()
        entries = _entries(receipt)
        expected = hashlib.sha256((api_id + "".join(entries)).encode()).hexdigest()
        return bool(api_id and entries and given) and hmac.compare_digest(given.encode(), expected.encode())

    def read_receipt(self, receipt):
        entries = _entries(receipt)
        if not entries:
            raise ProviderError("the receipt has no data entries", "bad_receipt")
        reports = []
        for entry in entries:
            lines = [line.strip() for line in entry.splitlines()]
            # sms_status / <sms_id> / <status code> / <unix time>; test and callcheck_status entries are skipped
            if len(lines) >= 3 and lines[0] == "sms_status" and lines[1]:
                reports.append(self._report(lines[1], lines[2], None))
        return reports

    def _report(self, sms_id, code, text, cost=None):
        raw = str(code if code is not None else "").strip()
        status = self.map_status(raw)
        failed = status == UNDELIVERED
        words = str(text or "").strip()
        cost = self.cost(cost)
        return StatusReport(provider_id=str(sms_id).strip(), status=status, raw=raw,
                            error_code=f"smsru:{raw}" if failed else None,
                            error_text=(words or f"SMS.RU status {raw}") if failed else None,
                            cost=cost, currency="RUB" if cost is not None else None)


def _groups(messages):
    """Indexes of `messages` in requests SMS.RU can carry: one sender each, each number once, at most 100."""
    groups = []  # [sender, phones, indexes]
    for index, message in enumerate(messages):
        phone = digits_only(message.phone)
        group = next((g for g in groups if g[0] == (message.sender or "") and phone not in g[1]
                      and len(g[2]) < MAX_PER_REQUEST), None)
        if group is None:
            group = [message.sender or "", set(), []]
            groups.append(group)
        group[1].add(phone)
        group[2].append(index)
    return [indexes for _, _, indexes in groups]


def _send_form(messages):
    """One text to every number: `to` and `msg`; different texts: `to[<number>]=<text>`."""
    form = {}
    if len({m.text for m in messages}) == 1:
        form["to"] = ",".join(digits_only(m.phone) for m in messages)
        form["msg"] = messages[0].text
    else:
        form.update({f"to[{digits_only(m.phone)}]": m.text for m in messages})
    if messages[0].sender:
        form["from"] = messages[0].sender
    return form


def _entries(receipt):
    """The `data[]` (or `data[N]`) entries of a receipt, in SMS.RU's order."""
    found = [(match.group(1), str(value)) for name, value in receipt.params
             if (match := DATA_FIELD.fullmatch(str(name)))]
    if found and all(index.isdigit() for index, _ in found):
        found.sort(key=lambda item: int(item[0]))
    return [value for _, value in found]


def _read_sender(entry):
    """A name of `my/senders`: a string (a number too), or an object with its `name`."""
    if isinstance(entry, dict):
        return entry.get("name"), True
    return (str(entry), True) if isinstance(entry, (str, int)) and not isinstance(entry, bool) else None


def _urls(callbacks):
    values = callbacks.values() if isinstance(callbacks, dict) else callbacks if isinstance(callbacks, list) else []
    return {str(url).strip() for url in values}
