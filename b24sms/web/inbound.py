"""POST /inbound/<provider>/<secret>: replies (SMS clients send to a portal's reply numbers) pushed by providers;
stored first (or spooled while the database is away) and answered at once, as each provider expects (Twilio: an
empty TwiML). See b24sms/flows/pushed_replies.py."""
from flask import Blueprint, Response, jsonify

from b24sms.flows import pushed_replies
from b24sms.web.context import db_session, services
from b24sms.web.forms import pushed_request

bp = Blueprint("inbound", __name__)


@bp.route("/inbound/<kind>/<secret>", methods=["POST", "GET"])  # Devino may call its push URL with GET
def receive_reply(kind, secret):
    app_services = services()
    answer = pushed_replies.take(app_services, db_session(), kind, secret,
                                 pushed_request(app_services.settings.public_url))
    if answer.body is not None:
        return Response(answer.body, mimetype=answer.content_type)
    return jsonify(ok=True, received=answer.received, stored=answer.stored, spooled=answer.spooled)
