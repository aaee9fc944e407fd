"""Twilio Programmable Messaging. Basic auth AccountSid:AuthToken; receipts signed with X-Twilio-Signature."""
import base64
import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

from b24sms.providers.base import (
    DELIVERED,
    FAILED,
    PER_MESSAGE,
    QUEUED,
    REPLIES_HOOKED,
    SENT,
    UNDELIVERED,
    Accepted,
    Balance,
    InvalidCredentials,
    InvalidRecipient,
    NoMoney,
    NumberNotFound,
    Provider,
    ProviderError,
    RejectedContent,
    RetryLater,
    SenderRejected,
    Setting,
    StatusReport,
    currency_code,
    digits_only,
    first_of,
)
from b24sms.rules.errors import N_

MESSAGING_SERVICE_PREFIX = "MG"
SIGNATURE_HEADER = "x-twilio-signature"


class Twilio(Provider):
    kind = "twilio"
    title = "Twilio"
    cabinet_url = "https://console.twilio.com/"
    keys_help = N_("Account SID and Auth token are on the Twilio console's front page.")
    credential_settings = (
        Setting("account_sid", N_("Account SID"), help=N_("Starts with AC; on the Twilio console's front page.")),
        Setting("auth_token", N_("Auth token"), secret=True, input="password"),
    )
    sender_setting = Setting("sender", N_("From number or Messaging Service SID"),
                             help=N_("A Twilio number in E.164 (+15017122661) or a Messaging Service SID (MG...)."))
    default_base_url = "https://api.twilio.com/2010-04-01/"  # TWILIO_API_URL overrides it
    offer_rank = 20
    takes_sender_names = False  # the sender is a number or a Messaging Service, not an alpha name
    needs_from_number = True  # `From` must be one of the account's numbers
    statuses_per_request = 1
    prices_after_sending = True  # `price` is null until the message has left
    receipts = PER_MESSAGE
    signed_headers = (SIGNATURE_HEADER,)
    # Replies: `hook_replies` sets the number's SmsUrl by API when the admin saves; Twilio then posts each incoming
    # SMS there, signed as receipts are, and wants TwiML back (an empty body is its error 11200).
    reply_ways = frozenset({REPLIES_HOOKED})
    reply_answer = ("<Response/>", "text/xml")
    replies_help = N_("Nothing to paste: on saving, the app sets the number's “A message comes in” webhook in "
                      "Twilio to its own URL.")

    status_table = {
        "accepted": QUEUED,
        "scheduled": QUEUED,
        "queued": QUEUED,
        "sending": SENT,
        "sent": SENT,
        "delivered": DELIVERED,
        "read": DELIVERED,
        "undelivered": UNDELIVERED,
        "failed": FAILED,
        "canceled": FAILED,
    }
    error_table = {
        "20003": InvalidCredentials,  # authentication failed
        "20005": NoMoney,  # account not active
        "10001": NoMoney,  # account not active / out of funds
        "20429": RetryLater,  # too many requests
        "30001": RetryLater,  # queue overflow
        "21611": RetryLater,  # the From number has too many queued messages
        "21211": InvalidRecipient,  # invalid To number
        "21614": InvalidRecipient,  # To is not a mobile number
        "21610": InvalidRecipient,  # the recipient unsubscribed (STOP)
        "21612": InvalidRecipient,  # To cannot be reached from this From
        "21602": RejectedContent,  # body required
        "21617": RejectedContent,  # body over 1600 characters
        "21212": SenderRejected,  # invalid From number
        "21606": SenderRejected,  # From is not a valid, SMS-capable number of this account
        "21660": SenderRejected,  # From does not belong to the account
        "21703": SenderRejected,  # invalid Messaging Service SID
        # 21608 (trial account, unverified To) and 21408 (region not enabled) are the account's limits:
        # another provider may well send it, so they stay plain ProviderErrors (fail over).
    }

    # -- HTTP --
    def _call(self, method, suffix, **kwargs):
        """A call under the account's own path: `Accounts/{sid}` + suffix."""
        account_sid = self.credentials.get("account_sid", "")
        auth = (account_sid, self.credentials.get("auth_token", ""))
        response = self.request(method, f"Accounts/{account_sid}{suffix}", auth=auth, **kwargs)
        answer = self.json_of(response)
        if not isinstance(answer, dict):
            raise ProviderError(f"{self.title} answered with an unexpected shape", f"http_{response.status_code}")
        if response.status_code >= 400:
            code = answer.get("code") or (20003 if response.status_code == 401 else f"http_{response.status_code}")
            raise self.error(code=code, text=answer.get("message") or f"HTTP {response.status_code}")
        return answer

    # -- the provider's calls --
    def send(self, message):
        form = {"To": message.phone, "Body": message.text}
        sender = (message.sender or "").strip()
        if sender.startswith(MESSAGING_SERVICE_PREFIX) and len(sender) == 34:
            form["MessagingServiceSid"] = sender
        else:
            form["From"] = sender
        if message.callback_url:
            form["StatusCallback"] = message.callback_url
        answer = self._call("POST", "/Messages.json", data=form)
        if not answer.get("sid"):
            raise ProviderError(f"{self.title} accepted the message but gave no sid")
        raw = str(answer.get("status") or "")
        cost, currency = self._price(answer)
        return Accepted(provider_id=str(answer["sid"]), status=self.map_status(raw) if raw else QUEUED, raw=raw,
                        cost=cost, currency=currency)

    def statuses(self, messages):
        reports = []
        for message in messages:  # one message per request: that is all Twilio offers
            answer = self._call("GET", f"/Messages/{message.provider_id}.json")
            reports.append(self._report(message.provider_id, answer.get("status"), answer.get("error_code"),
                                        answer.get("error_message"), *self._price(answer)))
        return reports

    def _price(self, resource):
        """The Message resource's `price` (negative, "-0.00750"; null until Twilio knows it, often only after
        sending) and `price_unit` (USD): (cost, currency), or (None, None)."""
        cost = self.cost(resource.get("price")) if isinstance(resource, dict) else None
        currency = currency_code(resource.get("price_unit")) if cost is not None else None
        return (cost, currency) if currency else (None, None)

    def balance(self):
        answer = self._call("GET", "/Balance.json")
        return Balance(self.decimal(answer.get("balance")), answer.get("currency"))

    def check_credentials(self):
        answer = self._call("GET", ".json")  # the account itself: says whether it is active
        if str(answer.get("status", "active")).lower() != "active":
            raise NoMoney(f"the Twilio account is {answer.get('status')}", "account_" + str(answer.get("status")))

    # -- receipts --
    def verify_receipt(self, receipt):
        given = receipt.headers.get(SIGNATURE_HEADER, "").encode()
        token = self.credentials.get("auth_token", "")
        # Twilio signs the URL sometimes with the default port and sometimes without: accept either.
        matches = [hmac.compare_digest(given, signature(token, url, receipt.params).encode())
                   for url in _with_and_without_port(receipt.url)]
        return bool(given) and any(matches)

    def read_receipt(self, receipt):
        fields = receipt.fields
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if not sid:
            raise ProviderError("the receipt names no MessageSid", "bad_receipt")
        status = fields.get("MessageStatus") or fields.get("SmsStatus")
        return [self._report(sid, status, fields.get("ErrorCode"), None)]

    # -- replies --
    def verify_reply(self, pushed):
        return self.verify_receipt(pushed)  # the same X-Twilio-Signature over the URL Twilio called

    def read_replies(self, pushed):
        fields = pushed.fields  # parameters Twilio adds later are kept in `raw`
        reply = self.reply(fields, first_of(fields, ("MessageSid", "SmsMessageSid", "SmsSid")), fields.get("From"),
                           fields.get("To"), fields.get("Body"))
        if reply is None:
            raise ProviderError("the pushed reply names no MessageSid or no From", "bad_reply")
        return [reply]

    def hook_replies(self, number, url):
        """Find the number's Sid on the account (IncomingPhoneNumbers, filtered by PhoneNumber), then point its
        SmsUrl at `url`. A number the account does not have raises NumberNotFound."""
        wanted = (number or "").strip()
        if wanted.isdigit():
            wanted = "+" + wanted
        listed = self._call("GET", "/IncomingPhoneNumbers.json", params={"PhoneNumber": wanted})
        entries = listed.get("incoming_phone_numbers")
        entry = next((entry for entry in entries if isinstance(entry, dict) and entry.get("sid")
                      and digits_only(str(entry.get("phone_number") or "")) == digits_only(wanted)), None) \
            if isinstance(entries, list) and digits_only(wanted) else None
        if entry is None:
            raise NumberNotFound(f"{wanted or number!r} is not a phone number of this Twilio account "
                                 "(Phone Numbers > Active numbers in the Twilio console)", "number_not_found")
        self._call("POST", f"/IncomingPhoneNumbers/{entry['sid']}.json", data={"SmsUrl": url, "SmsMethod": "POST"})

    def _report(self, sid, raw, error_code, error_message, cost=None, currency=None):
        raw = str(raw or "")
        status = self.map_status(raw)
        code = str(error_code) if error_code not in (None, "", 0, "0") else None
        return StatusReport(provider_id=str(sid), status=status, raw=raw,
                            error_code=f"twilio:{code}" if code else None,
                            error_text=error_message or (f"Twilio error {code}" if code else None),
                            cost=cost, currency=currency)


def signature(auth_token, url, params):
    """X-Twilio-Signature: base64 HMAC-SHA1 over the URL followed by every POST parameter's name and value,
    sorted by name; a repeated name contributes each of its distinct values, sorted (as Twilio signs)."""
    payload = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _with_and_without_port(url):
    parts = urlsplit(url)
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    if parts.port is None and default_port:
        other = parts._replace(netloc=f"{parts.netloc}:{default_port}")
    elif parts.port == default_port:
        other = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])
    else:
        return [url]
    return [url, urlunsplit(other)]
