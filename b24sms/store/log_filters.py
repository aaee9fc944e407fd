"""The message log's filters as the query string gives them (GET /api/messages, /api/messages.csv): checked once
here, so that a bad value is a 400 naming its parameter and the queries get only values they can use."""
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from b24sms.rules.errors import N_, BadRequest
from b24sms.rules.lifecycle import MessageState
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.store.reply_models import IncomingState

STATES = (MessageState.RECEIVED, MessageState.SENDING, MessageState.RETRY_WAIT, MessageState.RECONCILING,
          MessageState.ACCEPTED, *MessageState.POLLED[1:], *MessageState.FINAL)
INCOMING_STATES = (IncomingState.PENDING, IncomingState.DELIVERED, IncomingState.NO_LINE, IncomingState.LINE_GONE,
                   IncomingState.FAILED)
OUT, IN = "out", "in"
MAX_QUERY = 100
MAX_NUMBER = 32  # what the number columns hold


@dataclass(frozen=True)
class Filters:
    # Which way: "out" (sent by the portal), "in" (clients' replies) or "" for both. A `status` without a direction
    # names outgoing states, so it leaves the replies out.
    direction: str = ""
    states: tuple = ()
    text: str = ""  # matches the client's number (as received or normalized) or the text
    since: datetime | None = None  # created (received) at or after (UTC)
    until: datetime | None = None  # created (received) before (UTC)
    provider: str = ""  # the provider kind that sent it (or, failing, was tried last), or that received it
    number: str = ""  # one client's conversation: E.164, an outgoing SMS's recipient or a reply's sender

    @property
    def outgoing(self):
        return self.direction != IN

    @property
    def incoming(self):
        return self.direction == IN or (not self.direction and not self.states)

    @classmethod
    def parse(cls, status=None, q=None, from_=None, to=None, provider=None, direction=None, number=None,
              region="RU"):
        """From the query string's values; a bad value is a 400 naming the parameter (`field`)."""
        direction = (direction or "").strip()
        if direction not in ("", OUT, IN):
            raise BadRequest(N_("`direction` must be out or in."), "invalid_parameter", field_path="direction")
        states = tuple(part.strip() for part in (status or "").split(",") if part.strip())
        allowed = INCOMING_STATES if direction == IN else STATES
        if any(state not in allowed for state in states):
            raise BadRequest(N_("`status` must be one of %(states)s."), "invalid_parameter", field_path="status",
                             states=", ".join(allowed))
        text = (q or "").strip()
        if len(text) > MAX_QUERY or "\x00" in text:
            raise BadRequest(N_("`q` may have at most %(limit)s characters, none of them NUL."), "invalid_parameter",
                             field_path="q", limit=MAX_QUERY)
        since = _moment("from", from_)
        until = _moment("to", to, end_of_day=True)
        provider = (provider or "").strip()
        if len(provider) > 32 or not all(char.isalnum() or char == "_" for char in provider):
            raise BadRequest(N_("`provider` must be a provider kind, such as prostor."), "invalid_parameter",
                             field_path="provider")
        return cls(direction=direction, states=states, text=text, since=since, until=until, provider=provider,
                   number=_number(number, region))


def _number(value, region):
    """A conversation's number as the log stores it (E.164); "" for none."""
    if value is None or not value.strip():
        return ""
    try:
        if len(value) > MAX_NUMBER or "\x00" in value:
            raise InvalidPhone(value)
        return normalize(value, region)
    except InvalidPhone:
        raise BadRequest(N_("`number` must be a phone number, such as +79161234567."), "invalid_parameter",
                         field_path="number") from None


def _moment(name, value, end_of_day=False):
    """A date (a whole UTC day; `to` takes it in) or an ISO time, as naive UTC."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
        moment = datetime.fromisoformat(value.removesuffix("Z"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment
    except (ValueError, OverflowError):
        raise BadRequest(N_("`%(name)s` must be a date (YYYY-MM-DD) or an ISO 8601 time."), "invalid_parameter",
                         field_path=name, name=name) from None
