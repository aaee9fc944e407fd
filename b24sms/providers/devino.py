"""Devino Telecom, the devino.online REST API: JSON, `Authorization: Key <api_key>`.

One `POST sms/messages` carries many messages (up to 32 000 documented; we send at most SENDS_PER_REQUEST) and
answers `{"result": [...]}`, one entry per message in order: `{"code": "OK", "messageId"}` or
`{"code": "REJECTED", "reasons": [{"key", "ref"}]}` (a refused message inside an HTTP 200). Every reason key is
mapped by the field it names (`ref`), Devino's key and words kept on the message.

What Devino cannot do, and what we do instead:
- No client id and no idempotency: after a lost answer Devino cannot be asked (`find_sent` raises CannotTell);
  each message carries its own receipt URL naming our key (`?m=`), so a receipt settles it when one comes, and
  our key also goes in `options`, which Devino echoes in its callbacks.
- No status query is documented for devino.online (one client names `sms-stat/statuses/get-by-ids`, with no
  shape): statuses come by the per-message receipts only; `statuses` asks nothing and reports nothing.
- The receipts' payload, status words and any signature are not documented: the secret in the URL is the proof,
  the body is read leniently (flat, under `result`, or a list), an unknown word is kept raw.
- No call lists the approved sender names (`sender_names` is None): Devino refuses a wrong one when sending.
- The limits on request rates are not published.
- Replies: devino.online documents no incoming SMS. The previous platform connects an incoming number on request,
  with a URL that it calls for each SMS (`sourcePhone`, `number`, `prefix`, `text`, `messageId`; GET or POST not
  stated: both are read); that is REPLIES_PASTED. No signature: the secret in the URL is the proof. Its list of
  incoming SMS (REPLIES_PULLED) needs a session from that platform's login and password, which an API key does
  not give: where the admin fills them in (optional settings), replies are fetched too (devino_legacy.py).
"""
from b24sms.providers import devino_legacy
from b24sms.providers.base import (
    DELIVERED,
    FAILED,
    PER_MESSAGE,
    QUEUED,
    REPLIES_PASTED,
    REPLIES_PULLED,
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
    RejectedContent,
    SenderRejected,
    Setting,
    StatusReport,
    digits_only,
    first_of,
)
from b24sms.rules.errors import N_
from b24sms.rules.sender_names import ALPHA_NAME_OR_NUMBER

VALIDITY = 172_800  # seconds (two days): inside every documented range (1..259200); the doc versions'
#                     defaults disagree (0 or 172800), so it is always sent
SENDS_PER_REQUEST = 200  # a lost answer leaves at most this many unsettled; the documented cap is 32 000
KEY_OPTION = "b24sms_key"
CURRENCIES = {"643": "RUB", "840": "USD", "978": "EUR", "398": "KZT"}


class Devino(Provider):
    kind = "devino"
    title = "Devino"
    cabinet_url = "https://my.devino.online/"
    keys_help = N_("An API key from the API keys section of your devino.online cabinet; sender names are approved "
                   "in the same cabinet.")
    credential_settings = (
        Setting("api_key", N_("API key"), secret=True, input="password",
                help=N_("A devino.online API key (not the cabinet password).")),
        # Only for fetching replies, from the older platform (integrationapi.net): optional, both or neither.
        Setting(devino_legacy.LOGIN, N_("Login for fetching replies"), required=False, together="legacy",
                help=N_("Only needed to fetch clients' replies: the login of Devino's older platform "
                        "(integrationapi.net), if your account has one. Without it, replies come only to the URL "
                        "shown under the reply numbers.")),
        Setting(devino_legacy.PASSWORD, N_("Password for fetching replies"), secret=True, required=False,
                input="password", together="legacy",
                help=N_("The password that goes with that login (not the API key).")),
    )
    sender_setting = Setting("sender", N_("Sender name"),
                             help=N_("A sender name approved in your Devino account."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://api.devino.online/"  # DEVINO_API_URL overrides it
    offer_rank = 6
    sends_per_request = SENDS_PER_REQUEST
    statuses_per_request = 1000  # nothing is asked (see the docstring): a claim's worth settles in no time
    receipts = PER_MESSAGE
    reply_ways = frozenset({REPLIES_PASTED, REPLIES_PULLED})  # pulled only with the older login: pulls_replies
    # Devino sends the text of an answer `{sms=<text>}` back to the client as an SMS: the answer says nothing.
    reply_answer = ("", "text/plain; charset=utf-8")
    replies_help = N_("Devino connects an incoming number on request (the cabinet or its support): give this URL "
                      "as the number's “URL for incoming SMS”. With the login and password for fetching replies "
                      "filled in, b24sms also fetches the replies itself every minute.")

    status_table = {  # the receipts' words (unpublished; CLICKED is documented for shortened links)
        "queued": QUEUED, "scheduled": QUEUED, "accepted": QUEUED, "enroute": QUEUED, "sending": QUEUED,
        "new": QUEUED, "in_progress": QUEUED,
        "sent": SENT, "submitted": SENT,
        "delivered": DELIVERED, "read": DELIVERED, "clicked": DELIVERED,
        "undelivered": UNDELIVERED, "undeliverable": UNDELIVERED, "expired": UNDELIVERED, "deleted": UNDELIVERED,
        "rejected": FAILED, "failed": FAILED, "error": FAILED, "blocked": FAILED, "cancelled": FAILED,
        "canceled": FAILED,
    }
    # Devino's reason keys; a field-specific one (below) wins over these.
    error_table = {
        "billing.error": NoMoney,
        "http_401": InvalidCredentials,
        "http_403": InvalidCredentials,
        "http_402": NoMoney,
    }
    # (reason key, the field its ref names) -> error; None as key: any key about that field.
    field_errors = {
        (None, "to"): InvalidRecipient,
        (None, "from"): SenderRejected,
        (None, "text"): RejectedContent,
    }

    # -- HTTP --
    def _call(self, method, path, payload=None):
        headers = {"Authorization": f"Key {self.credentials.get('api_key', '')}"}
        response = self.request(method, path, headers=headers, **({"json": payload} if payload is not None else {}))
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if status >= 400:
            body = answer if isinstance(answer, dict) else {}
            entries = body.get("result") if isinstance(body.get("result"), list) else None
            raise self._refusal(entries[0] if entries and isinstance(entries[0], dict) else body, status)
        if not isinstance(answer, dict):
            raise ProviderError(f"{self.title} answered HTTP {status} with a body that is not a JSON object",
                                f"http_{status}")
        return answer

    def _refusal(self, entry, status=200):
        """The error for one refused message (or request): the first reason mapped by its field, then its key;
        every reason kept in the words."""
        reasons = _reasons(entry.get("reasons"))
        words = str(entry.get("description") or entry.get("message") or entry.get("error")
                    or entry.get("code") or f"HTTP {status}")
        if reasons:
            words += " (" + "; ".join(f"{key} {ref}".strip() for key, ref in reasons) + ")"
        for key, ref in reasons:
            field = _field(ref)
            error_class = (self.field_errors.get((key, field)) or self.field_errors.get((None, field))
                           or self.error_table.get(key))
            if error_class:
                return error_class(words, key)
        code = reasons[0][0] if reasons else str(entry.get("code") or f"http_{status}")
        error_class = self.error_table.get(code.lower()) or self.error_table.get(f"http_{status}")
        return (error_class or ProviderError)(words, code)

    # -- the provider's calls --
    def send(self, message):
        return self.send_as_batch(message)

    def send_many(self, messages):
        items = [self._item(message) for message in messages]
        try:
            answer = self._call("POST", "sms/messages", {"messages": items})
        except ProviderError as exc:
            if len(messages) > 1 and not exc.fails_over:  # one message's field refused the whole request: the
                raise ProviderError(exc.text, exc.code) from None  # others are not the recipient's fault
            raise
        results = answer.get("result")
        if not isinstance(results, list):  # an older one-message shape: {"code", "messageId", ...} at the top
            results = [answer] if "code" in answer or "messageId" in answer else []
        return [self._accepted(results[n] if n < len(results) else None) for n in range(len(messages))]

    def _item(self, message):
        item = {"from": message.sender or self.sender or "", "to": digits_only(message.phone), "text": message.text,
                "validity": VALIDITY, "options": {KEY_OPTION: message.key}}
        if message.callback_url:
            item["callbackUrl"] = message.callback_url
        return item

    def _accepted(self, result):
        if not isinstance(result, dict):  # not answered for: it may have been taken (a receipt will tell)
            return AnswerLost(f"{self.title} answered without this message", "missing_in_answer")
        code = str(result.get("code") or "").strip()
        if code.upper() == "OK" and result.get("messageId") not in (None, ""):
            return Accepted(provider_id=str(result["messageId"]), status=QUEUED, raw="OK")
        if code.upper() == "OK":
            return ProviderError(f"{self.title} accepted the message but gave no messageId", "no_message_id")
        return self._refusal(result)

    def statuses(self, messages):
        return []  # no status query is documented: receipts bring every status (see the docstring)

    def balance(self):
        return self._balance_of(self._account())

    def check_credentials(self):
        account = self._account()  # a wrong key is refused here (401/403)
        if account.get("isBlocked") is True:
            raise ProviderError("the Devino account is blocked", "account_blocked")
        if self.pulls_replies():  # a wrong older login is refused on save, not found by the job a minute later
            devino_legacy.session_id(self)
        return self._balance_of(account)

    def _balance_of(self, account):
        currency = str(account.get("currencyId") or account.get("currency") or "").strip()
        amount = self.decimal(account["balance"]) if account.get("balance") is not None else None
        return Balance(amount, CURRENCIES.get(currency, currency.upper() if currency.isalpha() else "RUB"))

    def _account(self):
        answer = self._call("GET", "billing-api/companies/current/account")
        result = answer.get("result") if isinstance(answer.get("result"), dict) else answer
        return result.get("account") if isinstance(result.get("account"), dict) else result

    # -- receipts --
    def read_receipt(self, receipt):
        body = receipt.json if receipt.json is not None else receipt.fields
        if isinstance(body, dict) and isinstance(body.get("result"), (list, dict)):
            body = body["result"]
        if isinstance(body, dict) and isinstance(body.get("messages"), list):
            body = body["messages"]
        entries = body if isinstance(body, list) else [body]
        reports = [self._report(entry) for entry in entries if isinstance(entry, dict) and _id_of(entry)]
        if not reports:
            raise ProviderError("the receipt names no messageId", "bad_receipt")
        return reports

    # -- replies --
    def pulls_replies(self):
        return devino_legacy.configured(self.credentials)

    def fetch_replies(self, cursor):
        if not self.pulls_replies():
            raise ProviderError("fetching Devino replies needs the older platform's login and password",
                                "no_replies")
        return devino_legacy.fetch_replies(self, cursor)

    def read_replies(self, pushed):
        fields = pushed.fields  # the query of a GET, the form (or JSON) of a POST; `prefix` kept in `raw`
        reply = self.reply(fields, first_of(fields, ("messageId", "message_id", "id")),
                           first_of(fields, ("sourcePhone", "source_phone", "from")),
                           first_of(fields, ("number", "destination", "to")), fields.get("text"))
        if reply is None:
            raise ProviderError("the pushed reply names no messageId or no sourcePhone", "bad_reply")
        return [reply]

    def _report(self, entry):
        raw = str(entry.get("status") or entry.get("state") or "").strip()
        status = self.map_status(raw) if raw else UNKNOWN
        code = next((str(entry[key]) for key in ("errorCode", "error_code", "error", "reason")
                     if entry.get(key) not in (None, "", 0, "0")), None)
        failed = status in (UNDELIVERED, FAILED)
        words = entry.get("description") or entry.get("errorDescription")
        return StatusReport(provider_id=_id_of(entry), status=status, raw=raw,
                            error_code=f"devino:{code or raw}" if failed else None,
                            error_text=(words or f"Devino status {raw}" + (f", error {code}" if code else ""))
                            if failed else None)


def _id_of(entry):
    value = next((entry[key] for key in ("messageId", "message_id", "id") if entry.get(key) not in (None, "")), "")
    return str(value).strip()


def _reasons(value):
    """[(key, ref)] from `reasons` as a list of {"key", "ref"}, a list of words, or a {key: ref} mapping."""
    if isinstance(value, dict):
        return [(str(key).strip().lower(), str(ref or "").strip()) for key, ref in value.items()]
    pairs = []
    for reason in value if isinstance(value, list) else []:
        if isinstance(reason, dict):
            pairs.append((str(reason.get("key") or "unknown").strip().lower(), str(reason.get("ref") or "").strip()))
        elif reason not in (None, ""):
            pairs.append((str(reason).strip().lower(), ""))
    return pairs


def _field(ref):
    """The field a reason's ref names: `to`, `messages[0].from` and `messages.0.text` name to, from, text."""
    return ref.replace("]", ".").split(".")[-1].strip().lower() if ref else ""
