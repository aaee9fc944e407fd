"""MTS Exolve SMS API: JSON POSTs to `messaging/v1/<Method>`, `Authorization: Bearer <the application's API key>`.

What Exolve cannot do, and what we do instead:
- No client id and no idempotency key: after a lost answer Exolve cannot be asked whether it took the message
  (`find_sent` raises CannotTell). GetList filters by sender, direction and time only; matching by recipient and
  text would take an earlier identical message (a code, an order notice) for this one and lose it.
- One message per SendSMS request, and one message per status request (GetList names a single `message_id`).
- Delivery reports go to one URL set in the application's settings (ACCOUNT receipts); their payload and any
  signature are not documented, so the secret in the URL is the proof, the body is read leniently and polling
  goes on until a final status.
- The enum values of `delivery_status` / `status` are not published (one client reads them as numbers): the
  enum names are mapped, anything else is kept raw and polled again.
- GetBalance (`finance/v1/GetBalance`) is known from one third-party client only: the credential check on save
  is GetCount, documented, and the balance is added when it answers.
- Errors come as non-2xx with `{"error": {"message"}}` (Exolve's own example); codes and words are not
  published: 401/403 and gRPC's UNAUTHENTICATED/PERMISSION_DENIED are bad credentials, 429/5xx and
  RESOURCE_EXHAUSTED/UNAVAILABLE retry later, anything else fails over with Exolve's words kept.
"""
import logging
import re
from datetime import UTC, datetime, timedelta

from b24sms.providers.base import (
    ACCOUNT,
    DELIVERED,
    FAILED,
    QUEUED,
    REPLIES_PULLED,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    Accepted,
    Balance,
    InvalidCredentials,
    NoMoney,
    Provider,
    ProviderError,
    ReplyPage,
    RetryLater,
    Setting,
    StatusReport,
    approved_names,
    digits_only,
)
from b24sms.rules.errors import N_
from b24sms.rules.sender_names import ALPHA_NAME_OR_NUMBER

logger = logging.getLogger(__name__)
PHONE_SENDER = re.compile(r"\+?\d{10,15}")
ENUM_PREFIXES = ("delivery_status_", "billing_status_", "status_")
# Sender-name states that may not be sent with (the list's own states are not published: anything else is kept).
NOT_SENDABLE = {"rejected", "blocked", "declined", "deleted", "moderation", "on_moderation", "pending", "new",
                "inactive", "disabled"}

# GetList's `direction` of a message that came in. Unconfirmed: the docs name the enum (a list of them in the newer
# docs) without its values; one community script asks 1, and sent messages list as 2. Rows that still say they
# went out are skipped, whatever the filter did.
INCOMING = 1
OUTGOING = {"2", "outgoing", "direction_outgoing", "out", "mt"}
FIRST_WINDOW = timedelta(hours=1)  # the first fetch (no cursor yet) looks this far back
AT_OFFSET = "#"  # a cursor "<date_gte>#<offset>": the same query goes on where the last fetch stopped
FRACTION = re.compile(r"(\.\d{6})\d+")  # RFC 3339 allows nanoseconds; Python reads microseconds


class Exolve(Provider):
    kind = "exolve"
    title = "MTS Exolve"
    cabinet_url = "https://dev.exolve.ru/"
    keys_help = N_("The API key of your application in the Exolve cabinet (the application's page, “API key”); "
                   "sender names are under SMS in the cabinet.")
    credential_settings = (
        Setting("api_key", N_("API key"), secret=True, input="password",
                help=N_("The key of an Exolve application (a long token).")),
    )
    sender_setting = Setting("sender", N_("Sender name or number"),
                             help=N_("A sender name approved in Exolve, or the application's mobile number "
                                     "(79XXXXXXXXX)."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://api.exolve.ru/"  # EXOLVE_API_URL overrides it
    offer_rank = 5
    statuses_per_request = 1
    receipts = ACCOUNT
    reply_ways = frozenset({REPLIES_PULLED})  # GetList lists incoming SMS too; no push of them is documented
    replies_help = N_("Nothing to paste: the app fetches the SMS sent to the application's mobile number from "
                      "Exolve.")
    reply_page_size = 1000  # GetList's `limit` (at most 2000)
    reply_pages = 5  # GetList calls one fetch makes at most; beyond, the page says `more`

    status_table = {  # enum names, as proto3 JSON writes them (the values are unpublished: see the docstring)
        "queued": QUEUED, "new": QUEUED, "pending": QUEUED, "accepted": QUEUED, "in_progress": QUEUED,
        "processing": QUEUED, "enroute": QUEUED,
        "sent": SENT, "submitted": SENT,
        "delivered": DELIVERED, "read": DELIVERED,
        "undelivered": UNDELIVERED, "not_delivered": UNDELIVERED, "expired": UNDELIVERED,
        "failed": FAILED, "rejected": FAILED, "error": FAILED,
    }
    error_table = {
        "http_401": InvalidCredentials,
        "http_403": InvalidCredentials,
        "http_402": NoMoney,
        "16": InvalidCredentials,  # gRPC UNAUTHENTICATED
        "7": InvalidCredentials,  # gRPC PERMISSION_DENIED
        "8": RetryLater,  # gRPC RESOURCE_EXHAUSTED (a rate limit)
        "14": RetryLater,  # gRPC UNAVAILABLE
    }

    # -- HTTP --
    def _post(self, method, payload, shapes=(dict,)):
        headers = {"Authorization": f"Bearer {self.credentials.get('api_key', '')}"}
        response = self.request("POST", f"messaging/v1/{method}" if "/" not in method else method,
                                json=payload, headers=headers)
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if status >= 400 or (isinstance(answer, dict) and answer.get("error")):
            raise self._refusal(answer if isinstance(answer, dict) else {}, status)
        if not isinstance(answer, shapes):
            raise ProviderError(f"{self.title} answered HTTP {status} with a body that is not a JSON object",
                                f"http_{status}")
        return answer

    def _refusal(self, answer, status):
        """The error for a refused request: Exolve's code and words kept, mapped by code, words, then HTTP."""
        error = answer.get("error")
        details = error if isinstance(error, dict) else {}
        words = str(details.get("message") or (error if isinstance(error, str) else "") or answer.get("message")
                    or f"HTTP {status}")
        code = details.get("code", answer.get("code"))
        for key in (code, words, f"http_{status}"):
            error_class = self.error_table.get(str(key).strip().lower()) if key not in (None, "") else None
            if error_class:
                return error_class(words, str(code) if code not in (None, "") else f"http_{status}")
        return ProviderError(words, str(code) if code not in (None, "") else f"http_{status}")

    # -- the provider's calls --
    def send(self, message):
        payload = {"number": _sender(message.sender or self.sender), "destination": digits_only(message.phone),
                   "text": message.text}
        answer = self._post("SendSMS", payload)
        if answer.get("message_id") in (None, ""):
            raise ProviderError(f"{self.title} answered without a message_id", "no_message_id")
        return Accepted(provider_id=str(answer["message_id"]), status=QUEUED, raw="accepted")

    def statuses(self, messages):
        reports = []
        for message in messages:  # GetList names one message_id per request
            answer = self._post("GetList", {"message_id": message.provider_id})
            entries = [e for e in answer.get("messages") or [] if isinstance(e, dict)]
            entry = next((e for e in entries if str(e.get("message_id")) == message.provider_id), None)
            if entry is None and len(entries) == 1 and entries[0].get("message_id") in (None, ""):
                entry = entries[0]
            if entry is not None:  # not listed (yet): polled again later
                reports.append(self._report({**entry, "message_id": message.provider_id}))
        return reports

    def balance(self):
        answer = self._post("finance/v1/GetBalance", {})
        value = answer.get("balance", answer.get("amount"))
        if isinstance(value, dict):
            value = value.get("amount", value.get("value", value.get("balance")))
        return Balance(self.decimal(value) if value is not None else None, answer.get("currency") or "RUB")

    def check_credentials(self):
        self._post("GetCount", {})  # documented and cheap: a wrong key is refused here
        try:
            return self.balance()
        except ProviderError:  # GetBalance is unconfirmed, or the key may not see finances: the key is good
            return None

    def sender_names(self):
        """The application's sender names (GetAlphaNames; its answer's shape is unpublished, so it is read
        leniently and an unreadable one is None, "cannot list", never "none approved"). A mobile number set as
        the account's sender is listed too: it is the application's own, not an alpha name."""
        answer = self._post("GetAlphaNames", {}, shapes=(dict, list))
        names = approved_names(_first_list(answer, ("alpha_names", "alphanames", "names", "items", "result",
                                                    "senders")), _read_alpha_name)
        own = (self.sender or "").strip()
        if names is not None and own and PHONE_SENDER.fullmatch(own) and own not in names:
            names.append(own)
        return names

    # -- replies --
    def fetch_replies(self, cursor):
        """Incoming SMS from the moment `cursor` on (date_gte, inclusive), paged by offset. The next fetch starts
        at the latest moment seen: replies of exactly that moment come again, which is harmless (the store takes a
        provider_id once). Where the pages ran out before the list did, the cursor keeps the query and its offset
        (`more`): that holds whichever order Exolve lists in, at worst bringing a row twice."""
        since, offset = _reply_cursor(cursor)
        if since is None:
            since = (datetime.now(UTC) - FIRST_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
        replies, latest, full = [], None, False
        for _ in range(self.reply_pages):
            answer = self._post("GetList", {"direction": [INCOMING], "date_gte": since,
                                            "limit": self.reply_page_size, "offset": offset})
            rows = answer.get("messages") if isinstance(answer.get("messages"), list) else []
            offset += len(rows)
            for row in rows:
                reply = self._reply(row)
                if reply is not None:
                    replies.append(reply)
                    if reply.received_at and (latest is None or reply.received_at > latest[0]):
                        latest = (reply.received_at, str(row["date"]).strip())
            full = len(rows) >= self.reply_page_size
            if not full:
                break
        replies.sort(key=lambda reply: reply.received_at or datetime.min)
        if full:
            return ReplyPage(replies, f"{since}{AT_OFFSET}{offset}", more=True)
        return ReplyPage(replies, latest[1] if latest else since)

    def _reply(self, row):
        if not isinstance(row, dict):
            logger.warning("Exolve: an incoming message that is not an object was skipped: %.300r", row)
            return None
        if str(row.get("direction", "")).strip().lower() in OUTGOING:
            return None  # one we sent
        return self.reply(row, row.get("message_id"), row.get("sender"), row.get("receiver") or row.get("number"),
                          row.get("text"), rfc3339(row.get("date")))

    # -- receipts --
    def read_receipt(self, receipt):
        body = receipt.json if receipt.json is not None else receipt.fields
        entries = _first_list(body, ("messages", "events", "data")) if isinstance(body, dict) else body
        if entries is None:
            entries = [body.get("data") if isinstance(body.get("data"), dict) else body]
        reports = [self._report(e) for e in entries or [] if isinstance(e, dict)
                   and (e.get("message_id") or e.get("id")) not in (None, "")]
        if not reports:
            raise ProviderError("the receipt names no message_id", "bad_receipt")
        return reports

    def _report(self, entry):
        delivery, overall = entry.get("delivery_status"), entry.get("status")
        raw = "/".join(str(value) for value in (delivery, overall) if value not in (None, ""))
        status = self.map_status(delivery) if delivery not in (None, "") else UNKNOWN
        if status == UNKNOWN and overall not in (None, ""):
            status = self.map_status(overall)
        failed = status in (UNDELIVERED, FAILED)
        return StatusReport(provider_id=str(entry.get("message_id") or entry.get("id")).strip(), status=status,
                            raw=raw, error_code=f"exolve:{raw}" if failed else None,
                            error_text=f"Exolve status {raw}" if failed else None)

    def map_status(self, raw):
        key = str(raw).strip().lower()
        for prefix in ENUM_PREFIXES:
            key = key.removeprefix(prefix)
        return self.status_table.get(key, UNKNOWN)


def rfc3339(value):
    """An RFC 3339 moment ("2026-11-23T10:00:00Z", "...T13:00:00.123456789+03:00") as naive UTC, else None."""
    text = FRACTION.sub(r"\1", str(value or "").strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).replace(tzinfo=None)


def _reply_cursor(cursor):
    """(date_gte, offset) from a cursor `fetch_replies` gave; (None, 0) for none, or one it cannot read."""
    since, _, offset = str(cursor or "").partition(AT_OFFSET)
    if not cursor or rfc3339(since) is None or (offset and not offset.isdigit()):
        if cursor:
            logger.warning("Exolve: the replies cursor %.60r cannot be read: fetching the last hour", cursor)
        return None, 0
    return since.strip(), int(offset or 0)


def _sender(value):
    """A mobile number goes as digits (as the destination does); a sender name as it is."""
    value = (value or "").strip()
    return digits_only(value) if PHONE_SENDER.fullmatch(value) else value


def _first_list(answer, keys):
    if isinstance(answer, list):
        return answer
    if not isinstance(answer, dict):
        return None
    for key in keys:
        if isinstance(answer.get(key), list):
            return answer[key]
    return None


def _read_alpha_name(entry):
    """A GetAlphaNames entry: a bare name, or an object whose state, where it has one, is not a refusal."""
    if isinstance(entry, str):
        return entry, True
    if not isinstance(entry, dict):
        return None
    name, state = _name_of(entry)
    return name, state not in NOT_SENDABLE


def _name_of(entry):
    """(name, lower-case state) of a sender-name entry in whichever of the likely shapes it comes."""
    name = next((entry[key] for key in ("name", "alpha_name", "alphaname", "value", "sender") if entry.get(key)),
                "")
    state = next((entry[key] for key in ("status", "state") if entry.get(key) not in (None, "")), "")
    key = str(state).strip().lower()
    for prefix in ("alpha_name_status_", "status_"):
        key = key.removeprefix(prefix)
    return str(name).strip(), key
