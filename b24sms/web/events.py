"""POST /events: ONAPPINSTALL and ONAPPUNINSTALL, and our Open Lines connector's events, from Bitrix24."""
from flask import Blueprint, jsonify

from b24sms.bitrix import installs
from b24sms.flows import operator_answers
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
    if event == "ONIMCONNECTORMESSAGEADD":
        answered = operator_answers.take_answers(services(), session, data, auth)
        return jsonify(ok=True, event=event, stored=answered.stored, skipped=answered.skipped)
    if event in ("ONIMCONNECTORLINEDELETE", "ONIMCONNECTORSTATUSDELETE"):
        details = data.get("data")
        # LINEDELETE: `data` is the bare line id; STATUSDELETE: data[line] (lower case).
        line = details.get("line", details.get("LINE", "")) if isinstance(details, dict) else details
        known = operator_answers.line_deleted(session, auth, line if isinstance(line, str) else "")
        return jsonify(ok=True, event=event, known=known)
    raise BadRequest(N_("Unknown event %(event)r."), "unknown_event", event=event[:40])
