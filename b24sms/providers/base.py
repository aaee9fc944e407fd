"""What every SMS provider shares: the status vocabulary, the error hierarchy, declared settings and HTTP.

A provider module only declares its settings and its two tables (statuses, errors), builds its payloads and
parses its answers. This base owns the HTTP session, the timeout and the classification of transport failures,
so that a new provider is one module. Providers know nothing of portals, Flask or the database.
"""
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .. import counters

# ---- the one status vocabulary (Bitrix24's five, plus "unknown: keep the raw word, poll again") ----
QUEUED = "queued"
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"
UNKNOWN = "unknown"
FINAL_STATUSES = frozenset({DELIVERED, UNDELIVERED, FAILED})
# Later statuses never give way to earlier ones (a late "sent" receipt after "delivered" changes nothing).
STATUS_RANK = {QUEUED: 0, SENT: 1, DELIVERED: 2, UNDELIVERED: 2, FAILED: 2}


# ---- errors: what the sending flow needs to know is whether to retry, fail over, or fail the message ----
class ProviderError(Exception):
    """A provider refused or could not be understood. `code` and `text` are the provider's own."""

    kind = "provider_error"
    retryable = False  # worth trying the same provider again later
    fails_over = True  # another provider in the chain could still send it (False: the recipient/text is the problem)

    def __init__(self, text, code=None):
        super().__init__(text)
        # A provider's words are stored as they came, but PostgreSQL text cannot hold NUL.
        self.text = str(text).replace("\x00", "")
        self.code = None if code is None else str(code).replace("\x00", "")

    def __str__(self):
        return f"{self.code}: {self.text}" if self.code else self.text


class RetryLater(ProviderError):
    """Rate limit, 5xx, timeout, connection trouble: nothing is wrong with the message."""

    kind = "retry_later"
    retryable = True


class Unreachable(RetryLater):
    """No connection could be made: the request never reached the provider, so nothing was sent."""


class AnswerLost(RetryLater):
    """The request reached the provider but its answer did not reach us (read timeout, connection dropped).
    For a send this means the provider may have the message: ask it before sending again."""

    kind = "answer_lost"


class CannotTell(ProviderError):
    """The provider offers no way to ask whether it has a message we sent."""

    kind = "cannot_tell"


class InvalidCredentials(ProviderError):
    kind = "invalid_credentials"


class NoMoney(ProviderError):
    kind = "no_money"


class SenderRejected(ProviderError):
    """The sender name / from number is not allowed on this account."""

    kind = "sender_rejected"


class InvalidRecipient(ProviderError):
    kind = "invalid_recipient"
    fails_over = False


class RejectedContent(ProviderError):
    kind = "rejected_content"
    fails_over = False


# ---- how receipts reach us ----
PER_MESSAGE = "per_message"
ACCOUNT = "account"
REGISTERED = "registered"  # one URL per account, which the provider's API takes on save (register_receipts)

# ---- declarations and values ----
@dataclass(frozen=True)
class Setting:
    """One field of a provider's settings form; the form and the validation are generated from these."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    input: str = "text"  # the HTML input type
    help: str = ""


@dataclass(frozen=True)
class Outgoing:
    key: str  # our id for the message, unique for ever: the provider's client id / idempotency key
    phone: str  # E.164
    text: str
    sender: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True)
class Tracked:
    """A message the provider took, as a status query names it (SMSC wants the phone beside the id)."""

    provider_id: str
    phone: str | None = None  # E.164


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt as it reached us, free of any web framework."""

    url: str  # the public URL the provider called (what we gave it), query string included
    params: tuple = ()  # (name, value) pairs of the form body, repeats kept
    query: tuple = ()  # (name, value) pairs of the query string
    json: dict | list | None = None
    headers: dict = field(default_factory=dict)  # lower-case names

    @property
    def fields(self) -> dict:
        """Query, then form values by name (the last of repeats), overlaid by a JSON object body's top level."""
        values = dict(self.query)
        values.update(self.params)
        if isinstance(self.json, dict):
            values.update(self.json)
        return values


@dataclass(frozen=True)
class Accepted:
    provider_id: str
    status: str = QUEUED
    raw: str = ""


@dataclass(frozen=True)
class StatusReport:
    provider_id: str
    status: str  # one of the vocabulary above
    raw: str  # the provider's own value
    error_code: str | None = None
    error_text: str | None = None


@dataclass(frozen=True)
class Balance:
    amount: Decimal | None
    currency: str | None = None


class Provider:
    """Base of every provider. Subclasses set the class attributes and implement the three calls."""

    kind = ""
    title = ""  # the brand name, the same in every language
    cabinet_url = ""  # the provider's web cabinet, where an admin finds the keys (the settings page links it)
    keys_help = ""  # where in that cabinet the credentials are (marked with N_: shown translated)
    credential_settings = ()  # Setting, ...
    sender_setting = None  # Setting, or None when the provider takes no sender
    # Whether the portal's sender names (alpha names, b24sms/sender_names.py) go out as this provider's sender;
    # False where the sender is something else (a from number): the account's own sender is used then.
    takes_sender_names = True
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
    receipt_reply = None  # the text body a provider wants in answer to a receipt (SMS.RU: "100"); None: JSON
    status_table = {}  # the provider's value (lower-case) -> one of the vocabulary
    error_table = {}  # the provider's code or words (lower-case) -> ProviderError subclass

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every call to a provider is counted by kind and outcome for /metrics; here, so no provider module can
        # forget it. The outcome is known only once the answer is parsed, so the calls are wrapped, not request().
        for operation in counters.PROVIDER_OPERATIONS:
            if operation in cls.__dict__:
                setattr(cls, operation, counters.counted_provider_call(operation, cls.__dict__[operation]))

    def __init__(self, credentials, sender=None, *, base_url="", timeout=10, http=None):
        self.credentials = dict(credentials or {})
        self.sender = sender
        self.base_url = base_url
        self.timeout = timeout
        self.http = http  # the process's one HTTP client (b24sms.http_client), handed down

    def __repr__(self):  # never the credentials
        return f"<{type(self).__name__} sender={self.sender!r}>"

    # -- the three things a provider does --
    def send(self, message: Outgoing) -> Accepted:
        raise NotImplementedError

    def send_many(self, messages: list[Outgoing]) -> list["Accepted | ProviderError"]:
        """Up to `sends_per_request` messages in one request: one result per message, in order (a ProviderError
        for a message the provider refused). A failure of the whole request raises, as `send` does."""
        raise NotImplementedError

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

    def find_sent(self, message: Outgoing) -> Accepted | None:
        """After a lost answer: the provider's record of `message` (by our key), or None when it has none.
        Raises CannotTell where the provider offers no way to ask."""
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

    # -- helpers for subclasses --
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
        """One HTTP call with our timeout; transport trouble and 5xx/429 become RetryLater."""
        url = self.base_url.rstrip("/") + "/" + path.lstrip("/") if path else self.base_url
        try:
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            if _never_left(exc):
                raise Unreachable(f"{self.title} could not be reached ({type(exc).__name__})", "network") from None
            raise AnswerLost(f"{self.title} did not answer within {self.timeout} s or dropped the connection "
                             f"({type(exc).__name__})", "timeout") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(f"{self.title} answered HTTP {response.status_code}", f"http_{response.status_code}")
        return response

    def json_of(self, response) -> dict | list:
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{self.title} answered HTTP {response.status_code} with a body that is not JSON",
                f"http_{response.status_code}",
            ) from None

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


def digits_only(phone):
    """E.164 without the plus (what SMSC and SMS Aero take)."""
    return "".join(char for char in phone or "" if char.isdigit())


def _table_key(value):
    return str(value).strip().lower()
