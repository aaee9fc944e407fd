"""The stand-in portal opening the app (development only): `GET /demo/bitrix/portal` issues a token for a user
and posts the iframe form to /install (`?install=1`) or / in the same window, as Bitrix24 does in its iframe,
so that the app's whole verify path (app.info against B24_OAUTH_URL, user.admin) runs.

    /demo/bitrix/portal?LANG=ru&install=1     an admin (user 1) installs the app
    /demo/bitrix/portal?LANG=en&user=2&admin=0  a non-admin (user 2) opens the settings page

It works only when the app verifies visits with the stand-in (B24_OAUTH_URL=<PUBLIC_URL>/demo/bitrix/oauth and
B24_CLIENT_ID=DEMO_CLIENT_ID, set in `.env`; never the defaults); otherwise the page says what to set and posts
nothing, so that no stand-in token ever goes to a real OAuth server.
"""
import secrets

from flask import Blueprint, make_response, render_template, request, url_for

from b24sms.demo import (
    ADMIN_USER,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DOMAIN,
    DEMO_MEMBER_ID,
    NON_ADMIN_USER,
    STAND_IN_PATH,
    oauth_base,
    tokens,
    verifies_visits,
)
from b24sms.demo.stand_in import SCOPE
from b24sms.i18n import language_for
from b24sms.rules.errors import N_, BadRequest
from b24sms.web.context import services
from b24sms.web.i18n import use_language

bp = Blueprint("demo_opening", __name__, url_prefix=STAND_IN_PATH)


@bp.get("/portal")
def open_app():
    settings, args = services().settings, request.args
    lang = (args.get("LANG") or args.get("lang") or "ru")[:8]
    use_language(language_for(lang))
    installing = args.get("install") in ("1", "Y", "true")
    admin = args.get("admin", "1") != "0"
    user_id = args.get("user") or (ADMIN_USER if admin else NON_ADMIN_USER)
    if not user_id.isdigit() or len(user_id) > 9:
        raise BadRequest(N_("`user` must be a Bitrix24 user id (a number)."), "invalid_parameter")
    fields = action = None
    if verifies_visits(settings):
        fields = iframe_fields(settings, user_id, admin)
        action = url_for("pages.install" if installing else "pages.settings_page", DOMAIN=DEMO_DOMAIN,
                         PROTOCOL="1" if settings.public_url.startswith("https://") else "0", LANG=lang,
                         APP_SID=secrets.token_hex(16))
    response = make_response(render_template(
        "demo_portal.html", fields=fields, action=action, installing=installing, user_id=user_id, admin=admin,
        domain=DEMO_DOMAIN, language=language_for(lang),
        needed={"B24_OAUTH_URL": oauth_base(settings), "B24_CLIENT_ID": DEMO_CLIENT_ID,
                "B24_CLIENT_SECRET": DEMO_CLIENT_SECRET}))
    response.headers["Cache-Control"] = "no-store"  # it carries a fresh token
    return response


def iframe_fields(settings, user_id, admin):
    """The body of Bitrix24's iframe POST, with a fresh token pair of the stand-in's for the user."""
    access, refresh, _ = tokens.issue_pair(settings, user_id, admin)
    return {
        "AUTH_ID": access, "AUTH_EXPIRES": str(tokens.ACCESS_LIFETIME), "REFRESH_ID": refresh,
        "member_id": DEMO_MEMBER_ID, "status": "L", "PLACEMENT": "DEFAULT", "PLACEMENT_OPTIONS": "{}",
        "SERVER_ENDPOINT": oauth_base(settings) + "/rest/", "APPLICATION_TOKEN": tokens.application_token(settings),
        "APPLICATION_SCOPE": SCOPE,
    }
