"""The words every provider module speaks: the one status vocabulary, the error hierarchy (retry, fail over or
fail the message) and the declared settings and values that pass between providers and the flows."""
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from b24sms.rules.statuses import (  # noqa: F401 (the providers' words, spoken through this module)
    DELIVERED,
    FAILED,
    FINAL_STATUSES,
    QUEUED,
    SENT,
    STATUS_RANK,
    UNDELIVERED,
    UNKNOWN,
)


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


class NumberNotFound(ProviderError):
    """The number the admin gave for replies is not one of the account's (hook_replies): shown at that field."""

    kind = "number_not_found"


# ---- how receipts reach us ----
PER_MESSAGE = "per_message"
ACCOUNT = "account"
REGISTERED = "registered"  # one URL per account, which the provider's API takes on save (register_receipts)

# ---- how replies (SMS a client sends to one of our numbers) reach us; a provider may have several ways ----
REPLIES_HOOKED = "hooked"  # pushed to a URL that the provider's API sets on the number when the admin saves (Twilio)
REPLIES_PASTED = "pasted"  # pushed to a URL the admin pastes into the provider's cabinet (SMSC, Devino)
REPLIES_PULLED = "pulled"  # fetched by a job duty, from where the last fetch ended (SMSC, Exolve, Devino)

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
    # Optional settings naming the same group are filled in together or not at all (a second login and its
    # password); "" for none.
    together: str = ""


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
    """What a provider pushed to us (a delivery receipt, a reply) as it reached us, free of any web framework."""

    url: str  # the public URL the provider called (what we gave it), query string included
    method: str = "POST"
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
    # What the provider said the message cost (positive, in `currency`, ISO 4217); None: it did not say.
    cost: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class LookAlike:
    """A message a provider lists with the number and text of ours: ours, or another alike (a code sent twice)."""

    provider_id: str | None  # None where the provider lists it without an id
    created_at: datetime | None  # naive UTC, on the provider's clock; None where its date could not be read
    status: str = QUEUED
    raw: str = ""  # the provider's status word
    entry: dict = field(default_factory=dict, compare=False)  # the listed entry as it came


@dataclass(frozen=True)
class LookAlikes:
    """`find_sent`'s answer where a provider has no client id: every message it lists with our number and text.
    The list covers messages created from `since` on (naive UTC); which one, if any, is ours is decided by the
    reconciling flow (b24sms/flows/content_matching.py), alike for every such provider."""

    since: datetime
    entries: tuple = ()


@dataclass(frozen=True)
class StatusReport:
    provider_id: str
    status: str  # one of the vocabulary above
    raw: str  # the provider's own value
    error_code: str | None = None
    error_text: str | None = None
    cost: Decimal | None = None  # as on Accepted: where the status answer carries the price
    currency: str | None = None


@dataclass(frozen=True)
class Balance:
    amount: Decimal | None
    currency: str | None = None


@dataclass(frozen=True)
class Reply:
    """An SMS a client sent to one of our numbers, as the provider tells it (free of portals and the database)."""

    provider_id: str  # the provider's id of the incoming message: what makes taking it in idempotent
    sender: str  # the client's number, as the provider gives it
    receiver: str  # our number it came to, as the provider gives it
    text: str
    received_at: datetime | None = None  # naive UTC; None when the provider gave no time we can read
    raw: dict = field(default_factory=dict)  # the provider's fields as they came (unknown ones kept)


@dataclass(frozen=True)
class ReplyPage:
    """What one fetch of replies brought, and where the next fetch starts (the provider's id or a moment, as text;
    the same cursor again when nothing new came)."""

    replies: list[Reply]
    cursor: str | None
    more: bool = False  # the provider holds more than this fetch took: fetch again at once
