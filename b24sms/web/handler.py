"""POST /handler/<key> (and the legacy POST /handler): Bitrix24 hands us one SMS."""
from flask import Blueprint, current_app, jsonify

from .. import messaging
from ..db import get_session
from .forms import auth_block, posted_data
from .views import message_view

bp = Blueprint("handler", __name__)


@bp.post("/handler/<handler_key>")
def handle_keyed_sms(handler_key):
    return _handle(handler_key)


@bp.post("/handler")
def handle_sms():
    return _handle(None)


def _handle(handler_key):
    data = posted_data()
    message, created = messaging.take_handler_call(get_session(), current_app.config, data, auth_block(data),
                                                   handler_key)
    return jsonify(message_view(message, created=created))
