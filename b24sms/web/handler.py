"""POST /handler: Bitrix24 hands us one SMS. Authenticate, store, send, answer 200."""
import logging

from flask import Blueprint, current_app, jsonify

from .. import intake, portals, sending
from ..db import get_session
from ..errors import Forbidden
from ..models import Message, MessageState, PortalState
from .forms import auth_block, posted_data
from .views import message_view

bp = Blueprint("handler", __name__)
logger = logging.getLogger(__name__)


@bp.post("/handler")
def handle_sms():
    data = posted_data()
    session = get_session()
    settings = current_app.config
    if "auth" not in data:
        # System sends come without an author and so without any token: there is nothing to check them by.
        logger.warning("handler call without auth (code=%r, message_id=%r) rejected",
                       str(data.get("code"))[:40], str(data.get("message_id"))[:40])
    portal = portals.authenticate_call(session, settings, auth_block(data))
    if portal.state == PortalState.UNINSTALLED:
        raise Forbidden("The app is uninstalled on this portal.", "uninstalled")
    incoming = intake.Incoming.from_payload(data)
    message, created = intake.receive(session, portal, incoming)
    if created and message.state == MessageState.RECEIVED:
        try:
            message = sending.send(session, settings, message.id)
        except Exception:  # the message is stored: the job will pick it up
            logger.exception("inline send of message %s failed; left for the job", message.id)
            session.rollback()
            message = session.get(Message, message.id, populate_existing=True)
    return jsonify(message_view(message, created=created))
