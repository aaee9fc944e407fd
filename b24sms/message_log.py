"""The message log as the settings page reads it: newest first, paged by `before`; a non-admin sees only the
messages they authored."""
from datetime import datetime, timezone

from sqlalchemy import and_, or_, select

from .errors import BadRequest
from .models import Message


def page_of_messages(session, portal, viewer, *, limit, before=None):
    query = select(Message).where(Message.portal_id == portal.id)
    if not viewer.is_admin:
        query = query.where(Message.author_id == str(viewer.user_id or ""))
    if before:
        query = query.where(_before_clause(session, before))
    return session.scalars(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)).all()


def _before_clause(session, before):
    """`before` is a message's `id` (exclusive) or an ISO time. By id, the page goes on after that message in
    the log's own order (created_at, id), so that the (portal, created_at) index serves deep pages too."""
    if before.isascii() and before.isdigit():  # not str.isdigit alone: it takes "²", which int() refuses
        if len(before) > 18:  # beyond any id the database can hold (and int() refuses over 4300 digits)
            raise BadRequest("`before` is out of range.", "invalid_parameter")
        anchor_id = int(before)
        anchor = session.scalar(select(Message.created_at).where(Message.id == anchor_id))
        if anchor is None:  # a message deleted meanwhile (retention): ids still give an order
            return Message.id < anchor_id
        return or_(Message.created_at < anchor, and_(Message.created_at == anchor, Message.id < anchor_id))
    try:
        moment = datetime.fromisoformat(before.removesuffix("Z"))
        if moment.tzinfo is not None:  # may overflow: 0001-01-01T00:00+01:00 is before year 1 in UTC
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise BadRequest("`before` must be a message id or an ISO 8601 time.", "invalid_parameter") from None
    return Message.created_at < moment
