"""The message log as the settings page reads it: the SMS the portal sent (`messages`) and its clients' replies
(`incoming_messages`) in one list, newest first, paged by `before`, filtered by way, state, dates, provider, a
search of the number or the text, or one client's number (a conversation). A non-admin sees only the messages
they authored, so no replies.

Each page is two indexed queries, one per table, each with the page's LIMIT and ordered by (created_at, id), merged
here. The log's order is (created_at, kind, id) newest first, a reply placed before an outgoing SMS of the same
moment in time order (it is what the SMS answered): that order is total, so paging from any entry neither skips
nor repeats one, ties in created_at included."""
from datetime import UTC, datetime

from sqlalchemy import Select, and_, or_, select

from b24sms.rules.errors import N_, BadRequest
from b24sms.store.log_filters import Filters
from b24sms.store.models import Message
from b24sms.store.reply_models import IncomingMessage

EXPORT_PAGE = 1000  # rows an export reads at a time
MAX_ID = 2**63  # past any id the database can hold: such an id names no message
INCOMING_PREFIX = "in-"  # a reply's log id: "in-<n>", never an outgoing message's number
OUT_RANK, IN_RANK = 1, 0  # at one moment, newest first: the SMS sent, then the reply it answered
EVERYTHING = Filters()


def entry_id(entry):
    """An entry's id in the log (and `before`): an outgoing message's number, or "in-<n>" for a reply."""
    return f"{INCOMING_PREFIX}{entry.id}" if isinstance(entry, IncomingMessage) else entry.id


def page_of_messages(session, portal, viewer, *, limit, before=None, filters=EVERYTHING):
    """Up to `limit` entries (Message or IncomingMessage) after `before`, newest first."""
    sides: list[tuple[type[Message] | type[IncomingMessage], int, Select]] = []
    if filters.outgoing:
        sides.append((Message, OUT_RANK, _outgoing(portal, viewer, filters)))
    if filters.incoming and viewer.is_admin:
        sides.append((IncomingMessage, IN_RANK, _incoming(portal, filters)))
    anchor = _anchor(session, portal, before) if before else None
    entries = []
    for model, rank, query in sides:
        if anchor is not None:
            query = query.where(anchor.after(model, rank))
        entries += session.scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(limit)).all()
    entries.sort(key=_position, reverse=True)
    return entries[:limit]


def visible_message(session, portal, viewer, message_id):
    """One outgoing message of the log by its `id`, or None where there is none the viewer may see."""
    if not 0 < message_id < MAX_ID:
        return None
    return session.scalars(_outgoing(portal, viewer, EVERYTHING).where(Message.id == message_id)).one_or_none()


def every_message(open_session, portal, viewer, filters=EVERYTHING):
    """Every matching entry, newest first, read a page at a time (an export of months of messages). Each page
    is read in a short transaction of its own (`open_session()`, e.g. Database.session), ended before its
    entries are handed on: a download the client stalls holds no transaction open. What was handed on is not
    kept: memory stays flat."""
    before = None
    while True:
        with open_session() as session:
            page = page_of_messages(session, portal, viewer, limit=EXPORT_PAGE, before=before, filters=filters)
        yield from page
        if len(page) < EXPORT_PAGE:
            return
        before = str(entry_id(page[-1]))


def _position(entry):
    """Where an entry stands in the log's order (compared newest first)."""
    return entry.created_at, IN_RANK if isinstance(entry, IncomingMessage) else OUT_RANK, entry.id


def _outgoing(portal, viewer, filters):
    query = select(Message).where(Message.portal_id == portal.id)
    if not viewer.is_admin:
        query = query.where(Message.author_id == str(viewer.user_id or ""))
    return _filtered(query, Message, filters, number=Message.recipient,
                     searched=(Message.body, Message.recipient_raw))


def _incoming(portal, filters):
    query = select(IncomingMessage).where(IncomingMessage.portal_id == portal.id)
    return _filtered(query, IncomingMessage, filters, number=IncomingMessage.sender,
                     searched=(IncomingMessage.body, IncomingMessage.sender))


def _filtered(query, model, filters, *, number, searched):
    """The filters on either kind: `number` is the client's number (normalized), `searched` what `q` matches."""
    if filters.number:
        query = query.where(number == filters.number)
    if filters.states:
        query = query.where(model.state.in_(filters.states))
    if filters.provider:
        query = query.where(model.provider == filters.provider)
    query = _dates(query, model, filters)
    if filters.text:
        matches = [column.ilike(_pattern(filters.text), escape="\\") for column in searched]
        query = query.where(or_(*matches, *_digits_match(number, filters.text)))
    return query


def _dates(query, model, filters):
    if filters.since:
        query = query.where(model.created_at >= filters.since)
    if filters.until:
        query = query.where(model.created_at < filters.until)
    return query


def _pattern(text):
    """`text` anywhere, a LIKE wildcard in it matched as itself."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _digits_match(column, text):
    """A number typed with or without its +, spaces or dashes matches the stored E.164 one."""
    digits = "".join(char for char in text if char.isdigit())
    return [column.like(f"%{digits}%")] if digits else []


class _Anchor:
    """The entry a page goes on after: its place in the log's order, or a moment (`before` as a time)."""

    def __init__(self, created_at, rank=None, id_=None):
        self.created_at, self.rank, self.id = created_at, rank, id_

    def after(self, model, rank):
        """The rows of `model` (its kind's rank) that come after the anchor, newest first."""
        if self.rank is None:
            return model.created_at < self.created_at
        if rank == self.rank:
            return or_(model.created_at < self.created_at,
                       and_(model.created_at == self.created_at, model.id < self.id))
        if rank < self.rank:  # the other kind, placed after the anchor's at the same moment
            return model.created_at <= self.created_at
        return model.created_at < self.created_at


class _Vanished:
    """An anchor deleted meanwhile (retention): its own kind still pages by id. Its moment is unknown, but not
    past the nearest newer entry of its kind that is left: the other kind goes on from there, so that nothing is
    skipped (an entry or two may come again; the page drops an id it already shows)."""

    def __init__(self, model, id_, newer):
        self.model, self.id, self.newer = model, id_, newer

    def after(self, model, rank):
        if model is self.model:
            return model.id < self.id
        return model.created_at <= self.newer if self.newer is not None else model.created_at.is_not(None)


def _anchor(session, portal, before):
    """`before` is an entry's `id` (exclusive: an outgoing message's number, or "in-<n>" for a reply) or an ISO
    time. By id, the page goes on after that entry in the log's own order, so that the (portal, created_at)
    indexes serve deep pages too."""
    model, rank, number = ((IncomingMessage, IN_RANK, before[len(INCOMING_PREFIX):])
                           if before.startswith(INCOMING_PREFIX) else (Message, OUT_RANK, before))
    if number.isascii() and number.isdigit():  # not str.isdigit alone: it takes "²", which int() refuses
        if len(number) > 18:  # beyond any id the database can hold (and int() refuses over 4300 digits)
            raise BadRequest(N_("`before` is out of range."), "invalid_parameter", field_path="before")
        anchor_id = int(number)
        mine = (model.portal_id == portal.id,)
        created_at = session.scalar(select(model.created_at).where(model.id == anchor_id, *mine))
        if created_at is None:
            newer = session.scalar(select(model.created_at).where(model.id > anchor_id, *mine)
                                   .order_by(model.id).limit(1))
            return _Vanished(model, anchor_id, newer)
        return _Anchor(created_at, rank, anchor_id)
    if model is IncomingMessage:
        raise BadRequest(N_("`before` must be a message id or an ISO 8601 time."), "invalid_parameter",
                         field_path="before")
    try:
        moment = datetime.fromisoformat(before.removesuffix("Z"))
        if moment.tzinfo is not None:  # may overflow: 0001-01-01T00:00+01:00 is before year 1 in UTC
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise BadRequest(N_("`before` must be a message id or an ISO 8601 time."), "invalid_parameter",
                         field_path="before") from None
    return _Anchor(moment)
