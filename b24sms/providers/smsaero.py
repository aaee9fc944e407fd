"""SMS Aero API v2: JSON POSTs, HTTP Basic auth (account email + API key), answers `{"success", "data", "message"}`.

Statuses are mapped by the numeric `status`, never by `extendStatus`. The receipt's shape is not documented:
it is read leniently (form or JSON, flat or under `data`), and what cannot be read is polled instead.
"""
from b24sms.providers.base import (
    DELIVERED,
    FAILED,
    PER_MESSAGE,
    QUEUED,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    Accepted,
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
    approved_names,
    digits_only,
)
from b24sms.rules.errors import N_
from b24sms.rules.sender_names import ALPHA_NAME_OR_NUMBER


class SmsAero(Provider):
    kind = "smsaero"
    title = "SMS Aero"
    cabinet_url = "https://smsaero.ru/cabinet/"
    keys_help = N_("Your SMS Aero email and the API key from Settings → API; signs are under “Signs”.")
    credential_settings = (
        Setting("email", N_("Account email"), input="email"),
        Setting("api_key", N_("API key"), secret=True, input="password",
                help=N_("Settings → API in the SMS Aero cabinet.")),
    )
    sender_setting = Setting("sender", N_("Sign"), help=N_("A sign (sender name) approved in your SMS Aero account."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://gate.smsaero.ru/v2/"  # SMSAERO_API_URL overrides it
    offer_rank = 4
    statuses_per_request = 1
    receipts = PER_MESSAGE

    status_table = {
        "0": QUEUED,  # in the queue
        "8": QUEUED,  # on moderation
        "3": SENT,  # handed to the operator
        "4": SENT,  # waiting for the operator's status
        "1": DELIVERED,
        "2": UNDELIVERED,
        "6": FAILED,  # rejected
    }
    error_table = {
        "your request was made with invalid credentials.": InvalidCredentials,
        "no credits": NoMoney,
    }
    # A validation error names the field at fault: {"data": {"number": ["incorrect"]}}.
    field_errors = {"number": InvalidRecipient, "text": RejectedContent, "sign": SenderRejected}

    def _post(self, path, payload=None):
        auth = (self.credentials.get("email", ""), self.credentials.get("api_key", ""))
        response = self.request("POST", path, json=payload or {}, auth=auth)
        if response.status_code == 401:
            raise InvalidCredentials(_message_of(response) or "invalid credentials", "http_401")
        answer = self.json_of(response)
        if not isinstance(answer, dict):
            raise ProviderError(f"{self.title} answered with an unexpected shape", f"http_{response.status_code}")
        if answer.get("success") is True:
            return answer.get("data")
        raise self._refusal(answer)

    def _refusal(self, answer):
        """The error for `success: false` (or the older `{"result": "no credits"}` shape)."""
        message = str(answer.get("message") or answer.get("reason") or answer.get("result") or "request refused")
        invalid = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        for field, problems in invalid.items():
            if field in self.field_errors:
                return self.field_errors[field](f"{message} {field}: {problems}", field)
        return self.error(text=message)

    def send(self, message):
        payload = {"number": int(digits_only(message.phone) or 0), "text": message.text, "sign": message.sender or ""}
        if message.callback_url:
            payload["callbackUrl"] = message.callback_url
        data = self._post("sms/send", payload)
        item = data[0] if isinstance(data, list) and data else data
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            raise ProviderError(f"{self.title} accepted the message but gave no id")
        report = self._report(item)
        return Accepted(provider_id=report.provider_id, status=QUEUED if report.status == UNKNOWN else report.status,
                        raw=report.raw, cost=report.cost, currency=report.currency)

    def statuses(self, messages):
        reports = []
        for message in messages:  # one id per request: that is all SMS Aero offers
            id_ = int(message.provider_id) if message.provider_id.isdigit() else message.provider_id
            data = self._post("sms/status", {"id": id_})
            item = data[0] if isinstance(data, list) and data else data
            if isinstance(item, dict):
                reports.append(self._report({**item, "id": message.provider_id}))  # the id we asked about
        return reports

    def balance(self):
        data = self._post("balance")
        amount = data.get("balance") if isinstance(data, dict) else None
        return Balance(self.decimal(amount), "RUB")

    def sender_names(self):
        # `sign/list` pages like SMS Aero's other lists: {"0": {"id", "name", "status": 1,
        # "extendStatus": "approve", "statusOperators": {...}}, ..., "links": {"next": ...}, "totalCount": "3"}.
        signs = []
        for page in range(1, MAX_SIGN_PAGES + 1):
            data = self._post(f"sign/list?page={page}" if page > 1 else "sign/list")
            found = _signs_of(data)
            if found is None:
                return None  # a page we cannot read: the names cannot be checked
            signs += found
            links = data.get("links") if isinstance(data, dict) else None
            if not isinstance(links, dict) or not links.get("next") or links.get("next") == links.get("self"):
                break
        return approved_names(signs, lambda sign: (sign.get("name"), _approved(sign)) if isinstance(sign, dict)
                              else None)

    def read_receipt(self, receipt):
        fields = receipt.fields
        if isinstance(fields.get("data"), dict):
            fields = {**fields, **fields["data"]}
        if fields.get("id") in (None, ""):
            raise ProviderError("the receipt names no message id", "bad_receipt")
        return [self._report(fields)]

    def _report(self, item):
        raw = str(item.get("status", "")).strip()
        extended = str(item.get("extendStatus") or "").strip()
        cost = self.cost(item.get("cost"))  # per message, in roubles
        return StatusReport(provider_id=str(item["id"]).strip(), status=self.map_status(raw),
                            raw=f"{raw} {extended}".strip(), cost=cost, currency="RUB" if cost is not None else None)


MAX_SIGN_PAGES = 20


def _signs_of(data):
    """A page's signs: a list, or the entries keyed "0", "1"... beside `links` and `totalCount`; None when the
    page is neither (or names a count but no entry)."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    signs = [value for key, value in data.items() if str(key).isdigit()]
    return signs if signs or str(data.get("totalCount", "0")).strip() == "0" else None


def _approved(sign):
    """A sign SMS Aero lets the account send with: status 1 ("approve"; "active" in some answers)."""
    return str(sign.get("status", "")).strip() == "1" or str(sign.get("extendStatus", "")).lower() in ("approve",
                                                                                                     "active")


def _message_of(response):
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer.get("message") if isinstance(answer, dict) else None
