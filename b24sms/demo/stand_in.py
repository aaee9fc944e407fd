"""The stand-in's HTTP surface (development only): Bitrix24's OAuth server and the demo portal's REST API.

    GET  /demo/bitrix/oauth/rest/app.info?auth=<token>     who a token is (the OAuth server's shape)
    GET  /demo/bitrix/oauth/oauth/token/?grant_type=refresh_token&client_id=&client_secret=&refresh_token=
    POST /demo/bitrix/rest/<method>                        the portal's REST (JSON, form or query params)

Our own client (b24sms/bitrix/) calls these over HTTP at PUBLIC_URL, as it calls a real portal.
"""
from flask import Blueprint, current_app, jsonify, request

from b24sms.bitrix.forms import FormError, parse
from b24sms.demo import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DOMAIN,
    DEMO_MEMBER_ID,
    STAND_IN_PATH,
    oauth_base,
    rest,
    rest_base,
    tokens,
)
from b24sms.demo.state import state_of
from b24sms.web.context import services

bp = Blueprint("demo_bitrix", __name__, url_prefix=STAND_IN_PATH)
SCOPE = "crm,messageservice,user,im,imopenlines,imconnector"


def _answer(status, body):
    return jsonify(body), status


def _refused(exc):
    return _answer(401, {"error": exc.code, "error_description": exc.description})


# ---------------------------------------------------------------- the OAuth server
@bp.route("/oauth/rest/app.info", methods=["GET", "POST"])
def oauth_app_info():
    settings = services().settings
    try:
        token = tokens.read(settings, request.values.get("auth"))
    except tokens.TokenRefused as exc:
        return _refused(exc)
    return _answer(200, {"result": {
        "scope": SCOPE,
        "client_id": DEMO_CLIENT_ID,
        "expires": token.expires,
        "user_id": _user_number(token.user_id),
        "install": {
            "installed": True, "version": 1, "status": "L", "scope": SCOPE, "domain": DEMO_DOMAIN,
            "uri": f"https://{DEMO_DOMAIN}", "client_endpoint": rest_base(settings), "member_id": DEMO_MEMBER_ID,
            "member_type": "PORTAL",
        },
    }})


@bp.get("/oauth/oauth/token/")
def oauth_token():
    settings, query = services().settings, request.args
    if query.get("grant_type") != "refresh_token":
        return _answer(400, {"error": "unsupported_grant_type", "error_description": "Only refresh_token is served"})
    if query.get("client_id") != DEMO_CLIENT_ID or query.get("client_secret") != DEMO_CLIENT_SECRET:
        return _answer(401, {"error": "invalid_client", "error_description": "Invalid client credentials"})
    state = state_of(current_app)
    try:
        used = tokens.read(settings, query.get("refresh_token"), tokens.REFRESH)
    except tokens.TokenRefused:
        return _answer(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
    with state.lock:  # refresh tokens rotate: the one used stops working
        if used.nonce in state.used_refresh_tokens:
            return _answer(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
        state.used_refresh_tokens.add(used.nonce)
    access, refresh, expires = tokens.issue_pair(settings, used.user_id, used.admin)
    return _answer(200, {
        "access_token": access, "refresh_token": refresh, "expires": expires, "expires_in": tokens.ACCESS_LIFETIME,
        "scope": "app", "domain": "oauth.bitrix.info", "server_endpoint": oauth_base(settings) + "/rest/",
        "client_endpoint": rest_base(settings), "member_id": DEMO_MEMBER_ID, "status": "L",
        "user_id": _user_number(used.user_id),
    })


# ---------------------------------------------------------------- the portal's REST
@bp.route("/rest/<path:method>", methods=["GET", "POST"])
def rest_call(method):
    try:
        params = _params()
    except FormError as exc:
        return _answer(400, {"error": "INVALID_ARG_VALUE", "error_description": str(exc)})
    try:
        token = tokens.read(services().settings, params.pop("auth", None))
    except tokens.TokenRefused as exc:
        return _refused(exc)
    status, body = rest.call(state_of(current_app), token, method.removesuffix(".json"), params)
    return _answer(status, body)


def _params():
    """A call's params as a portal reads them: the query string, a PHP-style form, or a JSON body."""
    params = parse(request.args.items(multi=True))
    params.update(parse(request.form.items(multi=True)))
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        params.update(body)
    return params


def _user_number(user_id):
    return int(user_id) if str(user_id).isdigit() else user_id
