"""POST /callbacks/<provider>/<secret>: delivery receipts pushed by SMS providers (b24sms/flows/receipts.py)."""
from flask import Blueprint, Response, jsonify, request

from b24sms.flows import receipts
from b24sms.web.context import db_session, services
from b24sms.web.forms import pushed_request

bp = Blueprint("callbacks", __name__)


@bp.post("/callbacks/<kind>/<secret>")
def receive_receipt(kind, secret):
    app_services = services()
    answer = receipts.take_pushed(app_services, db_session(), kind, secret,
                                  pushed_request(app_services.settings.public_url), request.args.get("m"))
    if answer.body is not None:  # the answer the provider counts as "received" (SMS.RU: 100)
        return Response(answer.body, mimetype="text/plain")
    return jsonify(ok=True, received=answer.received, matched=answer.matched, changed=answer.changed)
