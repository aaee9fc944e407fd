"""/api/...: the settings page's JSON API, authenticated by the page's signed session token."""
import secrets
from datetime import datetime, timezone

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from .. import intake, portals, providers, sending
from ..db import get_db, get_session
from ..errors import BadRequest, Forbidden, Unauthorized
from ..models import Message, MessageState, Portal, PortalState
from ..providers.base import ProviderError
from . import session_tokens
from .pages import portal_view
from .views import message_view

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_PAGE = 200


@bp.before_request
def authenticate():
    page = session_tokens.read(current_app.config["SECRET_KEY"], request.headers.get("Authorization"))
    portal = get_session().get(Portal, page.portal_id)
    if portal is None or portal.state == PortalState.UNINSTALLED:
        raise Unauthorized("This portal has no active installation: reopen the app in Bitrix24.", "no_portal")
    g.page, g.portal = page, portal


def require_admin():
    if not g.page.is_admin:
        raise Forbidden("Only the portal's administrators can change b24sms settings.", "admin_only")


def json_body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.", "invalid_json")
    return body


def settings_view(portal):
    return {"portal": portal_view(portal), "providers": portals.describe_accounts(portal, current_app.config)}


@bp.get("/settings")
def read_settings():
    return jsonify(settings_view(g.portal))


@bp.put("/settings")
def save_settings():
    require_admin()
    body = json_body()
    session, settings = get_session(), current_app.config
    portals.save_settings(session, settings, g.portal, body.get("providers"))
    portals.sync_sender(get_db(), session, settings, g.portal, check_first=False)
    return jsonify(settings_view(g.portal))


@bp.post("/test-sms")
def test_sms():
    require_admin()
    body = json_body()
    to, text = body.get("to"), body.get("text") or "b24sms test message"
    if not isinstance(to, str) or not to.strip():
        raise BadRequest("`to` is required.", "missing_field")
    if not isinstance(text, str):
        raise BadRequest("`text` must be a string.", "invalid_field")
    # The limits of a handler call: longer values do not fit the stored columns.
    if len(to) > intake.MAX_PHONE or len(text) > intake.MAX_BODY:
        raise BadRequest(f"`to` may have at most {intake.MAX_PHONE} characters and `text` at most "
                         f"{intake.MAX_BODY}.", "invalid_field")
    if not g.portal.active_accounts:
        raise BadRequest("Save a provider first.", "no_provider")
    incoming = intake.Incoming(message_id="test-" + secrets.token_hex(12), phone=to.strip(), text=text,
                                origin={"module_id": "b24sms-test", "user_id": g.page.user_id})
    session = get_session()
    message, _ = intake.receive(session, g.portal, incoming, report_to_bitrix=False)
    if message.state == MessageState.RECEIVED:
        message = sending.send(session, current_app.config, message.id)
    return jsonify(message_view(message))


@bp.get("/messages")
def list_messages():
    limit = _int_arg("limit", 50, 1, MAX_PAGE)
    query = select(Message).where(Message.portal_id == g.portal.id)
    before = request.args.get("before")
    if before:
        query = query.where(_before_clause(before))
    query = query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    return jsonify([message_view(message) for message in get_session().scalars(query)])


@bp.get("/balance")
def balance():
    answer = []
    for account in g.portal.active_accounts:
        provider = providers.for_account(account, current_app.config)
        entry = {"provider": account.kind, "balance": None, "currency": None}
        try:
            result = provider.balance()
        except ProviderError as exc:
            entry["error"] = {"code": exc.kind, "message": exc.text}
        else:
            entry["balance"] = None if result.amount is None else float(result.amount)
            entry["currency"] = result.currency
        answer.append(entry)
    return jsonify(answer)


def _int_arg(name, default, low, high):
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"`{name}` must be a whole number.", "invalid_parameter") from None
    if not low <= value <= high:
        raise BadRequest(f"`{name}` must be between {low} and {high}.", "invalid_parameter")
    return value


def _before_clause(before):
    """`before` is a message's `id` (exclusive) or an ISO time."""
    if before.isascii() and before.isdigit():  # not str.isdigit alone: it takes "²", which int() refuses
        if len(before) > 18:  # beyond any id the database can hold (and int() refuses over 4300 digits)
            raise BadRequest("`before` is out of range.", "invalid_parameter")
        return Message.id < int(before)
    try:
        moment = datetime.fromisoformat(before.removesuffix("Z"))
        if moment.tzinfo is not None:  # may overflow: 0001-01-01T00:00+01:00 is before year 1 in UTC
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise BadRequest("`before` must be a message id or an ISO 8601 time.", "invalid_parameter") from None
    return Message.created_at < moment
