"""POST /events: ONAPPINSTALL and ONAPPUNINSTALL from Bitrix24."""
from flask import Blueprint, jsonify

from b24sms.bitrix import installs
from b24sms.rules.errors import N_, BadRequest
from b24sms.web.context import db_session, services
from b24sms.web.forms import auth_block, posted_data

bp = Blueprint("events", __name__)


@bp.post("/events")
def receive_event():
    data = posted_data()
    event = str(data.get("event", "")).upper()
    session = db_session()
    auth = auth_block(data)
    if event == "ONAPPUNINSTALL":
        details = data.get("data") if isinstance(data.get("data"), dict) else {}
        clean = str(details.get("CLEAN", "0")) == "1"
        installs.on_uninstall_event(session, auth, clean=clean)
        return jsonify(ok=True, event=event, purged=clean)
    if event == "ONAPPINSTALL":
        installs.on_install_event(services(), session, auth)
        return jsonify(ok=True, event=event)
    raise BadRequest(N_("Unknown event %(event)r."), "unknown_event", event=event[:40])
