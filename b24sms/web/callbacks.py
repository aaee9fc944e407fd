"""POST /callbacks/<provider>/<secret>: delivery receipts pushed by SMS providers."""
import logging

from flask import Blueprint, Response, jsonify, request

from b24sms import providers
from b24sms.flows import receipts
from b24sms.providers.base import ProviderError
from b24sms.rules.errors import N_, BadRequest, Forbidden, NotFound
from b24sms.store import callback_urls
from b24sms.store.models import utcnow
from b24sms.web.context import db_session, services
from b24sms.web.forms import pushed_request

bp = Blueprint("callbacks", __name__)
logger = logging.getLogger(__name__)


@bp.post("/callbacks/<kind>/<secret>")
def receive_receipt(kind, secret):
    session, app_services = db_session(), services()
    account = callback_urls.account_for(session, kind, secret)
    if account is None:
        raise NotFound(N_("No receipt address like this one."), "unknown_callback")
    provider = providers.for_account(account, app_services.settings, app_services.http)
    receipt = pushed_request(app_services.settings.public_url)
    if not provider.verify_receipt(receipt):
        logger.warning("%s receipt with a bad signature refused", kind)
        raise Forbidden(N_("The receipt's signature does not match."), "bad_signature")
    try:
        reports = provider.read_receipt(receipt)
    except ProviderError as exc:
        raise BadRequest(N_("The receipt could not be read: %(words)s"), "bad_receipt", words=exc.text) from None
    matched, changed = receipts.apply_receipts(session, account, reports, utcnow(), request.args.get("m"))
    if provider.receipt_reply is not None:  # the answer the provider counts as "received" (SMS.RU: 100)
        return Response(provider.receipt_reply, mimetype="text/plain")
    return jsonify(ok=True, received=len(reports), matched=matched, changed=changed)
