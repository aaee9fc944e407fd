"""The message log as the settings page reads it: newest first, paged by `before`, filtered by state, dates and
a search of the number or the text; a non-admin sees only the messages they authored."""
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select

from b24sms.rules.errors import N_, BadRequest
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message

STATES = (MessageState.RECEIVED, MessageState.SENDING, MessageState.RETRY_WAIT, MessageState.RECONCILING,
          MessageState.ACCEPTED, *MessageState.POLLED[1:], *MessageState.FINAL)
MAX_QUERY = 100
EXPORT_PAGE = 1000  # rows an export reads at a time
MAX_ID = 2**63  # past any id the database can hold: such an id names no message


@dataclass(frozen=True)
class Filters:
    states: tuple = ()
    text: str = ""  # matches the number (as received or normalized) or the text
    since: datetime | None = None  # created at or after (UTC)
    until: datetime | None = None  # created before (UTC)
    provider: str = ""  # the provider kind that sent it (or, failing, was tried last)

    @classmethod
    def parse(cls, status=None, q=None, from_=None, to=None, provider=None):
        """From the query string's values; a bad value is a 400 naming the parameter."""
        states = tuple(part.strip() for part in (status or "").split(",") if part.strip())
        unknown = [state for state in states if state not in STATES]
        if unknown:
            raise BadRequest(N_("`status` must be one of %(states)s."), "invalid_parameter", states=", ".join(STATES))
        text = (q or "").strip()
        if len(text) > MAX_QUERY or "\x00" in text:
            raise BadRequest(N_("`q` may have at most %(limit)s characters, none of them NUL."), "invalid_parameter",
                             limit=MAX_QUERY)
        since = _moment("from", from_)
        until = _moment("to", to, end_of_day=True)
        provider = (provider or "").strip()
        if len(provider) > 32 or not all(char.isalnum() or char == "_" for char in provider):
            raise BadRequest(N_("`provider` must be a provider kind, such as prostor."), "invalid_parameter")
        return cls(states=states, text=text, since=since, until=until, provider=provider)


def page_of_messages(session, portal, viewer, *, limit, before=None, filters=Filters()):
    query = _visible(portal, viewer, filters)
    if before:
        query = query.where(_before_clause(session, before))
    return session.scalars(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)).all()


def visible_message(session, portal, viewer, message_id):
    """One message of the log by its `id`, or None where there is none the viewer may see."""
    if not 0 < message_id < MAX_ID:
        return None
    return session.scalars(_visible(portal, viewer, Filters()).where(Message.id == message_id)).one_or_none()


def every_message(open_session, portal, viewer, filters=Filters()):
    """Every matching message, newest first, read a page at a time (an export of months of messages). Each page
    is read in a short transaction of its own (`open_session()`, e.g. Database.session), ended before its
    messages are handed on: a download the client stalls holds no transaction open. What was handed on is not
    kept: memory stays flat."""
    before = None
    while True:
        with open_session() as session:
            page = page_of_messages(session, portal, viewer, limit=EXPORT_PAGE, before=before, filters=filters)
        yield from page
        if len(page) < EXPORT_PAGE:
            return
        before = str(page[-1].id)


def _visible(portal, viewer, filters):
    query = select(Message).where(Message.portal_id == portal.id)
    if not viewer.is_admin:
        query = query.where(Message.author_id == str(viewer.user_id or ""))
    if filters.states:
        query = query.where(Message.state.in_(filters.states))
    if filters.provider:
        query = query.where(Message.provider == filters.provider)
    if filters.since:
        query = query.where(Message.created_at >= filters.since)
    if filters.until:
        query = query.where(Message.created_at < filters.until)
    if filters.text:
        pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        digits = "".join(char for char in filters.text if char.isdigit())
        matches = [Message.body.ilike(pattern, escape="\\"), Message.recipient_raw.ilike(pattern, escape="\\")]
        if digits:
            matches.append(Message.recipient.like(f"%{digits}%"))
        query = query.where(or_(*matches))
    return query


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
                         name=name) from None


def _before_clause(session, before):
    """`before` is a message's `id` (exclusive) or an ISO time. By id, the page goes on after that message in
    the log's own order (created_at, id), so that the (portal, created_at) index serves deep pages too."""
    if before.isascii() and before.isdigit():  # not str.isdigit alone: it takes "²", which int() refuses
        if len(before) > 18:  # beyond any id the database can hold (and int() refuses over 4300 digits)
            raise BadRequest(N_("`before` is out of range."), "invalid_parameter")
        anchor_id = int(before)
        anchor = session.scalar(select(Message.created_at).where(Message.id == anchor_id))
        if anchor is None:  # a message deleted meanwhile (retention): ids still give an order
            return Message.id < anchor_id
        return or_(Message.created_at < anchor, and_(Message.created_at == anchor, Message.id < anchor_id))
    try:
        moment = datetime.fromisoformat(before.removesuffix("Z"))
        if moment.tzinfo is not None:  # may overflow: 0001-01-01T00:00+01:00 is before year 1 in UTC
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise BadRequest(N_("`before` must be a message id or an ISO 8601 time."), "invalid_parameter") from None
    return Message.created_at < moment
