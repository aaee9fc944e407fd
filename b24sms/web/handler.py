"""POST /handler/<key> (and the legacy POST /handler): Bitrix24 hands us one SMS (see b24sms/flows/handler_calls.py)."""
from flask import Blueprint, jsonify, request

from b24sms.flows import handler_calls
from b24sms.web.context import db_session, services
from b24sms.web.forms import auth_block, posted_data
from b24sms.web.views import message_view

bp = Blueprint("handler", __name__)


@bp.post("/handler/<handler_key>")
def handle_keyed_sms(handler_key):
    return _handle(handler_key)


@bp.post("/handler")
def handle_sms():
    return _handle(None)


def _handle(handler_key):
    data = posted_data()
    outcome = handler_calls.take(services(), db_session(), data, auth_block(data), request.form.items(multi=True),
                                 handler_key)
    if outcome.message is None:
        return jsonify(spooled=True, message_id=outcome.spooled_message_id)
    return jsonify(message_view(outcome.message, created=outcome.created))
