"""P1SMS (admin.p1sms.ru; admin.p1sms.kz in Kazakhstan): JSON POSTs and GETs, the API key as `apiKey` in the body of
a POST and in the query of a GET; every answer `{"status": "success" | "error", "data": ...}`, read whatever the
HTTP status (the status of a refusal is not documented).

- Send: `apiSms/create`, up to 1000 messages per call, channel `char` (an approved sender name). The `digit`
  channel (no sender, delivery not guaranteed) and the messengers are not offered. The answer has one entry per
  message in order, a refused one with its status word (`error`, `low_balance`, `low_partner_balance`,
  `rejected`) and `errorDescription`. One client saw `sent` at once for messages moderation held a moment later,
  so a send reports `queued` and the first poll tells.
- No client id and no idempotency: after a lost answer `find_sent` looks the message up in the account's list
  (`getSmsList`, by the number over the last days) and hands back every entry with the number and the text, with
  its `createdAt` (unix seconds); which one is ours, if any, the reconciling flow decides
  (b24sms/flows/content_matching.py): an earlier SMS alike is never taken for it. A list it cannot read whole is
  CannotTell (it waits for a receipt, then moves on along the chain). The list's path differs between the
  documentation's heading and its example: the example's is tried first.
- Statuses: `apiSms/get`, up to 1000 ids per call; an id P1SMS does not name is polled again later.
- Receipts: the send's `webhookUrl` (one per request) is our receipt URL; its payload and any signature are not
  documented, so the secret in the URL is the proof and the receipt is read leniently; polling goes on.
- Balance `apiUsers/getUserBalanceInfo` (the check on save), senders `apiUsers/getUserSenders`.
"""
import time
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from b24sms.providers.base import (
    DELIVERED,
    FAILED,
    PER_MESSAGE,
    QUEUED,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    Accepted,
    AnswerLost,
    Balance,
    CannotTell,
    InvalidCredentials,
    InvalidRecipient,
    LookAlike,
    LookAlikes,
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

REFUSED = {"error", "low_balance", "low_partner_balance", "rejected"}  # a send's per-message refusals
LIST_PATHS = ("apiUsers/getSmsList", "apiSms/getSmsList")
LIST_DAYS = 3  # how far back a lost send is looked for (a call before that: the reconciling flow cannot tell)
LIST_PAGE = 500  # the most entries getSmsList gives per page
LIST_PAGES = 4
SECONDS_RANGE = (1_000_000_000, 10_000_000_000)  # 2001..2286: a `createdAt` outside it is not unix seconds
NOT_SENDABLE = {"rejected", "blocked", "moderation", "new", "pending", "declined", "disabled", "deleted"}


class P1sms(Provider):
    kind = "p1sms"
    title = "P1SMS"
    cabinet_url = "https://admin.p1sms.ru/"
    keys_help = N_("The API key is in the P1SMS cabinet under “API instructions” (or “Request emulator”); sender "
                   "names are approved there too.")
    credential_settings = (
        Setting("api_key", N_("API key"), secret=True, input="password"),
    )
    sender_setting = Setting("sender", N_("Sender name"), help=N_("A sender name approved in your P1SMS account."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://admin.p1sms.ru/"  # P1SMS_API_URL overrides it (admin.p1sms.kz)
    offer_rank = 7
    statuses_per_request = 1000
    sends_per_request = 1000
    receipts = PER_MESSAGE

    status_table = {
        "created": QUEUED,
        "moderation": QUEUED,
        "planned": QUEUED,
        "sent": SENT,
        "delivered": DELIVERED,
        "read": DELIVERED,
        "not_delivered": UNDELIVERED,
        "error": FAILED,
        "rejected": FAILED,
        "low_balance": FAILED,
        "low_partner_balance": FAILED,
    }
    # Status words and HTTP codes exactly; the other keys are also looked for inside a description (first wins).
    error_table = {
        "low_balance": NoMoney,
        "low_partner_balance": NoMoney,  # the reseller's balance ("error 592"): another provider may send it
        "rejected": RejectedContent,  # refused by moderation
        "error": ProviderError,  # "error in the system"
        "http_401": InvalidCredentials,
        "http_403": InvalidCredentials,
        "unauthenticated": InvalidCredentials,
        "unauthorized": InvalidCredentials,
        "apikey": InvalidCredentials,
        "api key": InvalidCredentials,
        "api-ключ": InvalidCredentials,
        "api ключ": InvalidCredentials,
        "too many": RetryLater,
        "слишком много": RetryLater,
        "sender": SenderRejected,
        "отправител": SenderRejected,
        "balance": NoMoney,
        "баланс": NoMoney,
        "phone": InvalidRecipient,
        "телефон": InvalidRecipient,
        "номер": InvalidRecipient,
    }

    def _call(self, method, path, payload=None):
        """One API call; the answer's `data` when `status` is `success`, else the refusal raised."""
        auth = {"apiKey": self.credentials.get("api_key", "")}
        where = {"json": {**auth, **(payload or {})}} if method == "POST" else {"params": {**auth, **(payload or {})}}
        response = self.request(method, path, **where)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        status = response.status_code
        if status in (401, 403):
            raise InvalidCredentials(_words(answer) or f"HTTP {status}", f"http_{status}")
        if status == 404:  # the path, not the request: said so whatever the body
            raise ProviderError(_words(answer) or f"{self.title} answered HTTP 404", "http_404")
        if not isinstance(answer, dict):
            shape = "a body that is not JSON" if answer is None else "an unexpected shape"
            raise ProviderError(f"{self.title} answered HTTP {status} with {shape}", f"http_{status}")
        if answer.get("status") != "success":
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            code = data.get("exception") or answer.get("status") or f"http_{status}"
            raise self._refusal(str(code), _words(answer) or "no status in the answer")
        return answer.get("data")

    def _refusal(self, code, text):
        """The words of the description and code first (the table's non-status keys), then the code or the words
        exactly; the provider's code and words go on the error as they came."""
        words = f"{text or ''} {code or ''}".lower()
        for key, error_class in self.error_table.items():
            if key not in self.status_table and not key.startswith("http_") and key in words:
                return error_class(text or code, code)
        return self.error(code=code, text=text)

    # -- sending --
    def send(self, message):
        return self.send_as_batch(message)

    def send_many(self, messages):
        items = [{"phone": digits_only(m.phone), "text": m.text, "channel": "char", "sender": m.sender or ""}
                 for m in messages]
        payload = {"sms": items}
        webhook = _webhook(messages)
        if webhook:
            payload["webhookUrl"] = webhook
        data = self._call("POST", "apiSms/create", payload)
        results = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
        if len(results) != len(messages):  # not one entry per message in order: match what the numbers allow
            results = _by_phone([item["phone"] for item in items], results)
        return [self._accepted(result) for result in results]

    def _accepted(self, result):
        if result is None:  # the answer does not name it: it may have been taken (find_sent asks)
            return AnswerLost(f"{self.title} answered without this message", "missing_in_answer")
        word = str(result.get("status") or "").strip()
        if word.lower() in REFUSED:
            return self._refusal(word, str(result.get("errorDescription") or "").strip() or word)
        if result.get("id") in (None, ""):  # taken, but with no id to poll: the account's list has it
            return AnswerLost(f"{self.title} took the message but gave no id", "no_id")
        return Accepted(provider_id=str(result["id"]), status=QUEUED, raw=word)

    def find_sent(self, message):
        phone, text = digits_only(message.phone), message.text.strip()
        now = int(time.time())
        since = now - LIST_DAYS * 86400
        query = {"search": phone, "from": since, "to": now + 3600, "pageCapacity": LIST_PAGE}
        alike = []
        for page in range(1, LIST_PAGES + 1):
            entries, more = self._list_page({**query, "page": page})
            alike += [self._look_alike(e) for e in entries if digits_only(str(e.get("phone", ""))) == phone
                      and str(e.get("text", "")).strip() == text]
            if not more:
                return LookAlikes(since=_utc(since), entries=tuple(alike))
        raise CannotTell(f"{self.title} lists too many messages to this number", "too_many")

    def _look_alike(self, entry):
        pid = entry.get("smsId") or entry.get("id")
        pid = None if pid in (None, "") else str(pid).strip()
        report = self._report(pid or "", entry)
        return LookAlike(provider_id=pid, created_at=_created_at(entry.get("createdAt")),
                         status=QUEUED if report.status == UNKNOWN else report.status, raw=report.raw, entry=entry)

    def _list_page(self, query):
        """(entries, whether more pages follow) of getSmsList; its path is tried as the example, then the heading."""
        for path in LIST_PATHS:
            try:
                data = self._call("GET", path, query)
                break
            except ProviderError as exc:
                if exc.code != "http_404" or path == LIST_PATHS[-1]:
                    raise
        pages = data if isinstance(data, dict) else {}
        entries = pages.get("data") if isinstance(pages.get("data"), list) else data
        if not isinstance(entries, list):  # a shape not known: "it is not there" would be a guess
            raise CannotTell(f"{self.title} listed the messages in a shape not known", "list_shape")
        entries = [e for e in entries if isinstance(e, dict)]
        total, per_page, current = (_number(pages.get(k)) for k in ("total", "perPage", "currentPage"))
        more = bool(total and per_page and current and current * per_page < total)
        return entries, more or (not total and len(entries) >= LIST_PAGE)

    # -- statuses, balance, senders --
    def statuses(self, messages):
        ids = [int(m.provider_id) if m.provider_id.isdigit() else m.provider_id for m in messages]
        data = self._call("POST", "apiSms/get", {"apiSmsIdList": ids})
        items = data if isinstance(data, list) else []
        return [self._priced(self._report(item.get("id"), item), item) for item in items
                if isinstance(item, dict) and item.get("id") not in (None, "")]

    def _priced(self, report, item):
        """apiSms/get's `cost` (its meaning is not documented): a positive amount is the price, in the account's
        currency; 0 (not billed yet) or anything unreadable is unknown."""
        cost = self.cost(item.get("cost"))
        return replace(report, cost=cost, currency=self.account_currency()) if cost and cost > 0 else report

    def account_currency(self):
        return "KZT" if ".kz" in urlsplit(self.base_url).netloc else "RUB"

    def balance(self):
        data = self._call("GET", "apiUsers/getUserBalanceInfo")
        amount = data.get("balance") if isinstance(data, dict) else data
        return Balance(self.decimal(amount), self.account_currency())

    def sender_names(self):
        # {"data": [{"senderName": "SHOP", "status": null}]}: what status means is not documented, so only the
        # words that plainly say "not approved" leave a name out.
        return approved_names(self._call("GET", "apiUsers/getUserSenders"), _read_sender)

    # -- receipts --
    def read_receipt(self, receipt):
        body = receipt.json if isinstance(receipt.json, list) else receipt.fields
        if isinstance(body, dict) and isinstance(body.get("data"), (dict, list)):
            body = body["data"]
        entries = body if isinstance(body, list) else [body]
        reports = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            pid = next((entry[k] for k in ("id", "smsId", "sms_id") if entry.get(k) not in (None, "")), None)
            if pid is not None:
                reports.append(self._report(pid, entry))
        if not reports:
            raise ProviderError("the receipt names no message id", "bad_receipt")
        return reports

    def _report(self, pid, item):
        raw = str(item.get("status") or item.get("sms_status") or "").strip()
        status = self.map_status(raw)
        words = str(item.get("errorDescription") or "").strip()
        failed = status in (UNDELIVERED, FAILED)
        return StatusReport(provider_id=str(pid).strip(), status=status, raw=raw,
                            error_code=f"p1sms:{raw}" if failed else None,
                            error_text=(words or f"P1SMS status {raw}") if failed else None)


def _read_sender(entry):
    """A getUserSenders entry: its name, approved unless its status plainly says otherwise."""
    if not isinstance(entry, dict):
        return None
    return entry.get("senderName") or entry.get("name"), str(entry.get("status") or "").strip().lower() \
        not in NOT_SENDABLE


def _words(answer):
    """A refusal's description: `data.message` (or `data` itself when it is text), else a top-level `message`."""
    if not isinstance(answer, dict):
        return ""
    data = answer.get("data")
    if isinstance(data, dict):
        words = data.get("message") or data.get("error") or data.get("errorDescription")
    else:
        words = data if isinstance(data, str) else None
    return str(words or answer.get("message") or "").strip()


def _webhook(messages):
    """The receipt URL for a request: a message's own for one message; the account's, without the message key,
    for several (P1SMS takes one URL per request)."""
    url = messages[0].callback_url if messages else None
    if not url or len(messages) == 1:
        return url
    return urlunsplit(urlsplit(url)._replace(query=""))


def _by_phone(phones, results):
    """The answer's entries matched to the messages by number, where a number occurs once on both sides."""
    answered = [digits_only(str(result.get("phone", ""))) for result in results]
    return [results[answered.index(phone)] if phones.count(phone) == 1 and answered.count(phone) == 1 else None
            for phone in phones]


def _created_at(value):
    """`createdAt` (unix seconds) as naive UTC; None for anything else: a date in words names no time zone, and
    a number out of range (milliseconds?) is not guessed at."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not SECONDS_RANGE[0] <= value < SECONDS_RANGE[1]:
        return None
    return _utc(value)


def _utc(seconds):
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _number(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
