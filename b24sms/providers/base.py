"""What every SMS provider shares: the base class that owns HTTP, and (from vocabulary.py) the status
vocabulary, the error hierarchy and the declared settings.

A provider module only declares its settings and its two tables (statuses, errors), builds its payloads and
parses its answers. This base owns the HTTP session, the timeout and the classification of transport failures,
so that a new provider is one module. Providers know nothing of portals, Flask or the database.
"""
import logging
import unicodedata
from dataclasses import asdict
from decimal import Decimal, InvalidOperation

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from b24sms import counters
from b24sms.http_client import AnswerTooLarge
from b24sms.providers import transport
from b24sms.providers.vocabulary import (  # noqa: F401  (provider modules import these from here)
    ACCOUNT,
    DELIVERED,
    FAILED,
    FINAL_STATUSES,
    PER_MESSAGE,
    QUEUED,
    REGISTERED,
    REPLIES_HOOKED,
    REPLIES_PASTED,
    REPLIES_PULLED,
    SENT,
    STATUS_RANK,
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
    NumberNotFound,
    Outgoing,
    ProviderError,
    Receipt,
    RejectedContent,
    Reply,
    ReplyPage,
    RetryLater,
    SenderRejected,
    Setting,
    StatusReport,
    Tracked,
    Unreachable,
)

logger = logging.getLogger(__name__)
MAX_COST = Decimal("99999999")  # what messages.cost (NUMERIC(14, 6)) holds
COST_PLACES = Decimal("0.000001")


def currency_code(value, default=None) -> str | None:
    """An ISO 4217 code from a provider's answer (`usd` -> USD), else `default`."""
    code = str(value or "").strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else default


class Provider:
    """Base of every provider. Subclasses set the class attributes and implement the three calls."""

    kind = ""
    title = ""  # the brand name, the same in every language
    cabinet_url = ""  # the provider's web cabinet, where an admin finds the keys (the settings page links it)
    keys_help = ""  # where in that cabinet the credentials are (marked with N_: shown translated)
    credential_settings = ()  # Setting, ...
    sender_setting = None  # Setting, or None when the provider takes no sender
    # Whether the portal's sender names (alpha names, b24sms/bitrix/sender_names.py) go out as this provider's sender;
    # False where the sender is something else (a from number): the account's own sender is used then.
    takes_sender_names = True
    # Whether what it sends from must be one of the account's own numbers (Twilio's `From`): an operator's answer
    # then goes from the reply number that received the client's last reply, where that is the account's.
    needs_from_number = False
    # What the provider takes as a sender (sender_name_rules.SenderLimits: length, alphabet), checked on save at the
    # field; None where its rules are not known (the provider refuses a wrong sender when sending).
    sender_name_limits = None
    default_base_url = ""  # the public API base; the setting <KIND>_API_URL overrides it
    offer_rank = 50  # the settings page offers providers in this order: the most used first
    reports_balance = True  # whether balance() tells an amount (the page then offers a warning threshold)
    statuses_per_request = 1
    # Messages one send request may carry; above 1 the provider implements `send_many` and messages due for the
    # same account at the same moment go together (a campaign is not one request per SMS).
    sends_per_request = 1
    poll_interval = None  # timedelta: at most one status request per account this often (SMSC's bulk limit)
    # How receipts reach us: None (poll only), PER_MESSAGE (a callback URL on each send), ACCOUNT (one URL the
    # admin pastes into the provider's cabinet; the settings page shows it) or REGISTERED (one URL that
    # `register_receipts` hands the provider's API when the admin saves).
    receipts = None
    # Whether the price of a message may come only after its status (Twilio): a final message whose receipt came
    # before its price is asked again for it (b24sms/flows/prices.py).
    prices_after_sending = False
    receipt_reply = None  # the text body a provider wants in answer to a receipt (SMS.RU: "100"); None: JSON
    # The request headers (lower case) its check of a pushed receipt or reply reads (Twilio's signature): a reply
    # pushed while the database is away is spooled with them, and checked when it is replayed.
    signed_headers: tuple[str, ...] = ()
    # How replies to our numbers can reach us (REPLIES_HOOKED, REPLIES_PASTED, REPLIES_PULLED); empty where the
    # provider cannot receive (whether one account's replies are fetched: `pulls_replies()`). `reply_answer`:
    # (body, content type) the provider wants in answer to a pushed reply (Twilio: an empty TwiML), None: JSON.
    # `replies_help`: where in the cabinet the admin pastes our URL (N_).
    reply_ways: frozenset = frozenset()
    reply_answer: tuple[str, str] | None = None
    replies_help = ""
    pasted_url_query = ""  # what the URL to paste must end in (SMSC: its default charset is windows-1251)
    status_table = {}  # the provider's value (lower-case) -> one of the vocabulary
    error_table = {}  # the provider's code or words (lower-case) -> ProviderError subclass

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every call to a provider is counted by kind and outcome for /metrics; here, so no provider module can
        # forget it. The outcome is known only once the answer is parsed, so the calls are wrapped, not request().
        for operation in counters.PROVIDER_OPERATIONS:
            if operation in cls.__dict__:
                setattr(cls, operation, counters.counted_provider_call(operation, cls.__dict__[operation]))

    def __init__(self, credentials, sender, *, base_url, timeout, http):
        self.credentials = dict(credentials or {})
        self.sender = sender
        self.base_url = base_url
        self.timeout = timeout
        self.http = http  # the process's one HTTP client (b24sms.http_client), handed down

    def __repr__(self):  # never the credentials
        return f"<{type(self).__name__} sender={self.sender!r}>"

    # -- the three things a provider does --
    @classmethod
    def sends_with_sender_names(cls) -> bool:
        """Whether the portal's sender names go to this provider (it takes a sender, and an alpha name as one)."""
        return cls.takes_sender_names and cls.sender_setting is not None

    def send(self, message: Outgoing) -> Accepted:
        raise NotImplementedError

    def send_many(self, messages: list[Outgoing]) -> list["Accepted | ProviderError"]:
        """Up to `sends_per_request` messages in one request: one result per message, in order (a ProviderError
        for a message the provider refused). A failure of the whole request raises, as `send` does."""
        raise NotImplementedError

    def send_as_batch(self, message: Outgoing) -> Accepted:
        """`send` for a provider whose one request format is the batch: a batch of one, its refusal raised."""
        result = self.send_many([message])[0]
        if isinstance(result, ProviderError):
            raise result
        return result

    def statuses(self, messages: list[Tracked]) -> list[StatusReport]:
        raise NotImplementedError

    def balance(self) -> Balance:
        raise NotImplementedError

    def sender_names(self) -> list[str] | None:
        """The sender names the account may send with (approved by the provider), or None where the provider
        offers no way to list them."""
        return None

    @property
    def can_be_asked(self) -> bool:
        """Whether `find_sent` asks the provider (a subclass implements it) rather than raising CannotTell."""
        return type(self).find_sent is not Provider.find_sent

    def find_sent(self, message: Outgoing) -> Accepted | LookAlikes | None:
        """After a lost answer: the provider's record of `message` (by our key), or None when it has none. A
        provider without a client id answers LookAlikes (what it lists with the number and text) and never
        decides itself which is ours. Raises CannotTell where the provider offers no way to ask."""
        raise CannotTell(f"{self.title} cannot be asked whether it has a message")

    def check_credentials(self) -> Balance | None:
        """Raises InvalidCredentials (or another ProviderError) when the account cannot be used. By default the
        balance call is the check, and its answer is returned."""
        return self.balance()

    # -- receipts, for providers that push them --
    def verify_receipt(self, receipt: Receipt) -> bool:
        """Whether the receipt is the provider's own. By default the secret in the URL is the only proof."""
        return True

    def read_receipt(self, receipt: Receipt) -> list[StatusReport]:
        raise ProviderError(f"{self.title} does not push receipts", "no_receipts")

    def register_receipts(self, callback_url) -> None:
        """Where the provider's API takes the account's receipt URL (SMS.RU), see that `callback_url` is
        registered there, once. Called after the admin saved; by default nothing."""

    # -- replies, for providers that receive SMS on our numbers --
    @classmethod
    def receives_replies(cls) -> bool:
        return bool(cls.reply_ways)

    def pulls_replies(self) -> bool:
        """Whether this account's replies are fetched (`fetch_replies`). `reply_ways` says what the provider can
        do; a provider whose fetching needs credentials of its own (Devino's older login) tells it per account."""
        return REPLIES_PULLED in self.reply_ways

    def verify_reply(self, pushed: Receipt) -> bool:
        """Whether a pushed reply is the provider's own. By default the secret in the URL is the only proof."""
        return True

    def read_replies(self, pushed: Receipt) -> list[Reply]:
        """The replies a push carries (REPLIES_HOOKED, REPLIES_PASTED)."""
        raise ProviderError(f"{self.title} does not push replies", "no_replies")

    def fetch_replies(self, cursor: str | None) -> ReplyPage:
        """Replies that came after `cursor` (None: the first fetch, which starts from now or the provider's
        shortest window), oldest first (REPLIES_PULLED)."""
        raise ProviderError(f"{self.title} keeps no replies to fetch", "no_replies")

    def hook_replies(self, number: str, url: str) -> None:
        """Where the provider's API sets a number's incoming URL (REPLIES_HOOKED), point `number` at `url`."""

    # -- helpers for subclasses --
    def reply(self, raw, provider_id, sender, receiver, text, received_at=None) -> Reply | None:
        """A Reply from one item a provider pushed or listed, or None (logged: the caller skips it) where the item
        names no id or no sender. Every field of the item is kept in `raw`."""
        provider_id, sender = _plain(provider_id), _plain(sender)
        if not provider_id or not sender:
            logger.warning("%s: a reply naming no id or no sender was skipped: %.300r", self.title, raw)
            return None
        text = "" if text is None or isinstance(text, (dict, list)) else str(text).replace("\x00", "")
        return Reply(provider_id=provider_id, sender=sender, receiver=_plain(receiver), text=text,
                     received_at=received_at, raw=dict(raw) if isinstance(raw, dict) else {"item": raw})

    def map_status(self, raw) -> str:
        return self.status_table.get(_table_key(raw), UNKNOWN)

    def error(self, code=None, text=None) -> ProviderError:
        """The exception for a provider error, looked up by code, then by text, in the provider's table."""
        for key in (code, text):
            error_class = self.error_table.get(_table_key(key)) if key is not None else None
            if error_class:
                return error_class(text or code, code)
        return ProviderError(text or code or "unknown provider error", code)

    def request(self, method, path, **kwargs) -> requests.Response:
        """One HTTP call with our timeout; transport trouble and 5xx/429 become RetryLater, an answer longer than
        the HTTP client reads (b24sms/http_client.py) AnswerLost."""
        url = self.base_url.rstrip("/") + "/" + path.lstrip("/") if path else self.base_url
        try:
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        except AnswerTooLarge as exc:  # it took the request; what it answered cannot be told, as if lost
            raise AnswerLost(f"{self.title} answered with more than {exc.limit} bytes", transport.TOO_LARGE) from None
        except requests.exceptions.SSLError:  # the handshake failed: nothing of the request was sent
            raise Unreachable(f"{self.title}: the TLS connection could not be set up", transport.TLS) from None
        except requests.RequestException as exc:
            if _never_left(exc):
                raise Unreachable(f"{self.title} could not be reached ({type(exc).__name__})",
                                  transport.NETWORK) from None
            raise AnswerLost(f"{self.title} did not answer within {self.timeout} s or dropped the connection "
                             f"({type(exc).__name__})", transport.TIMEOUT) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(f"{self.title} answered HTTP {response.status_code}",
                             f"{transport.HTTP}_{response.status_code}")
        return response

    def json_of(self, response) -> dict | list:
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{self.title} answered HTTP {response.status_code} with a body that is not JSON",
                f"http_{response.status_code}",
            ) from None

    def cost(self, value) -> Decimal | None:
        """A price from a provider's answer, defensively: a number (or its text) of at most MAX_COST, as a positive
        amount (Twilio states prices as negative); anything else (missing, garbled, not finite) is None, never 0
        by mistake. A stated 0 stays 0 (a free message)."""
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            return None
        amount = self.decimal(str(value).strip().replace(",", "."))
        if amount is None or not amount.is_finite() or abs(amount) > MAX_COST:
            return None
        return abs(amount).quantize(COST_PLACES)

    def decimal(self, value) -> Decimal | None:
        try:
            return Decimal(str(value))
        except (InvalidOperation, TypeError, ValueError):
            return None

    @classmethod
    def describe(cls) -> dict:
        """The declaration the settings page builds its form from."""
        fields = [asdict(setting) for setting in cls.credential_settings]
        return {
            "kind": cls.kind,
            "title": cls.title,
            "credentials": fields,
            "sender": asdict(cls.sender_setting) if cls.sender_setting else None,
            "receipts": cls.receipts,
            "replies": sorted(cls.reply_ways),
            "cabinet_url": cls.cabinet_url,
            "reports_balance": cls.reports_balance,
            "keys_help": cls.keys_help,
        }


def _never_left(exc):
    """Whether a failed request certainly never reached the provider (no connection was made); anything else,
    a read timeout or a dropped connection, may have been processed."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.Timeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def approved_names(entries, read_entry) -> list[str] | None:
    """The names a provider's list of sender names lets the account send with. `read_entry(entry)` gives
    (name, approved) or None for an entry it cannot read. An answer in a shape we cannot read means "cannot check"
    (None: the names are not checked, the provider refuses a wrong one when sending), never "none approved": so
    None when `entries` is not a list, or has entries of which none can be read. Names come in NFC, as ours are."""
    if not isinstance(entries, list):
        return None
    names, readable = [], False
    for entry in entries:
        found = read_entry(entry)
        if found is None or not isinstance(found[0], str) or not found[0].strip():
            continue
        readable = True
        name = unicodedata.normalize("NFC", found[0].strip())
        if found[1] and name not in names:
            names.append(name)
    return names if readable or not entries else None


def first_of(fields, names):
    """The value of the first of `names` that `fields` holds (neither missing, None nor empty), else None: where a
    provider's field names are not certain, every plausible one is read."""
    return next((fields[name] for name in names if fields.get(name) not in (None, "")), None)


def _plain(value) -> str:
    """An id or a number from a provider's item, as one line of text ("" for nothing, or for a nested value)."""
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value).replace("\x00", "").strip()


def digits_only(phone):
    """E.164 without the plus (what SMSC and SMS Aero take)."""
    return "".join(char for char in phone or "" if char.isdigit())


def _table_key(value):
    return str(value).strip().lower()
