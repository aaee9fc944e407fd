"""The pages Bitrix24 opens in its iframe: POST /install and POST / (settings)."""

from flask import Blueprint, current_app, render_template, request

from .. import provider_settings, providers, visits
from ..db import get_db, get_session
from ..errors import Unauthorized
from . import outgoing, session_tokens

bp = Blueprint("pages", __name__)


@bp.route("/install", methods=["GET", "POST"])
def install():
    return _page(installing=True)


@bp.route("/", methods=["GET", "POST"])
def settings_page():
    return _page(installing=False)


def _page(installing):
    if not request.form.get("AUTH_ID"):
        raise Unauthorized("Open b24sms from your Bitrix24 portal: this page works only inside it.", "not_in_bitrix")
    settings = current_app.config
    session = get_session()
    portal, user_id, is_admin = visits.open_page(get_db(), session, settings, request.form, request.args,
                                                 installing=installing, http=outgoing.http())
    request.portal_domain = portal.domain
    token = session_tokens.mint(settings["SECRET_KEY"], session_tokens.PageSession(portal.id, user_id, is_admin))
    page_data = {
        "installing": installing,
        "is_admin": is_admin,
        "portal": portal_view(portal),
        "providers": provider_settings.describe_accounts(portal, settings, full=is_admin),
        "catalog": [cls.describe() for cls in providers.offered(settings).values()],
    }
    return render_template("settings.html", token=token, installing=installing, is_admin=is_admin,
                           portal=portal, page_data=page_data)


def portal_view(portal):
    return {"domain": portal.domain, "state": portal.state, "sender_registered": portal.sender_registered,
            "state_reason": portal.state_reason, "language": portal.language}
