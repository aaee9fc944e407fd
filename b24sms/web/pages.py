"""The pages Bitrix24 opens in its iframe: POST /install and POST / (settings), in the portal's language."""

from flask import Blueprint, current_app, render_template, request, url_for

from b24sms import providers
from b24sms.bitrix import visits
from b24sms.flows import line_settings
from b24sms.i18n import language_for
from b24sms.rules.errors import N_, Unauthorized
from b24sms.web import cost_words, page_strings, session_tokens
from b24sms.web.context import db_session, services
from b24sms.web.i18n import translate, use_language

bp = Blueprint("pages", __name__)
BX24_SCRIPT = "https://api.bitrix24.com/api/v1/"
# app.extensions key: {member_id: static file} for portals whose pages load a local copy of Bitrix24's JS library
# instead (the local demo portal's stand-in, registered by b24sms/demo/ outside production).
LOCAL_BX24_SCRIPTS = "b24sms.local_bx24_scripts"


@bp.route("/install", methods=["GET", "POST"])
def install():
    return _page(installing=True)


@bp.route("/", methods=["GET", "POST"])
def settings_page():
    return _page(installing=False)


def _page(installing):
    use_language(language_for(request.args.get("LANG")))  # before anything is said, errors included
    if not request.form.get("AUTH_ID"):
        raise Unauthorized(N_("Open b24sms from your Bitrix24 portal: this page works only inside it."),
                           "not_in_bitrix")
    portal, user_id, is_admin = visits.open_page(services(), db_session(), request.form, request.args,
                                                 installing=installing)
    return render_settings(portal, user_id, is_admin, installing=installing,
                           language=language_for(request.args.get("LANG") or portal.language))


@bp.route("/connector", methods=["POST"])
def connector_page():
    """The PLACEMENT_HANDLER of our Open Lines connector (SETTING_CONNECTOR), opened in the Contact Center's
    slider for one line: verified as the settings page is, for admins; its token opens that line's calls only."""
    use_language(language_for(request.args.get("LANG")))
    if not request.form.get("AUTH_ID"):
        raise Unauthorized(N_("Open b24sms from your Bitrix24 portal: this page works only inside it."),
                           "not_in_bitrix")
    portal, user_id, line, shown = line_settings.open_connector_page(services(), db_session(), request.form,
                                                                     request.args)
    language = language_for(request.args.get("LANG") or portal.language)
    use_language(language)
    request.portal_domain = portal.domain  # the slider's frame is the portal's
    token = session_tokens.mint(services().settings.secret_key, session_tokens.PageSession(
        portal.id, portal.install_id, user_id, True, language, line=line))
    page_data = {"is_admin": True, "language": language, "catalog": [], "strings": page_strings.translated(),
                 **shown}
    return render_template("connector.html", token=token, page_data=page_data, language=language, line=line,
                           bx24_script=_bx24_script(portal))


def use_local_bx24_script(app, member_id, static_filename):
    """The pages of portal `member_id` load `static_filename` for Bitrix24's JS library (nothing leaves the
    machine)."""
    app.extensions.setdefault(LOCAL_BX24_SCRIPTS, {})[member_id] = static_filename


def _bx24_script(portal):
    local = current_app.extensions.get(LOCAL_BX24_SCRIPTS, {}).get(portal.member_id)
    return url_for("static", filename=local) if local else BX24_SCRIPT


def render_settings(portal, user_id, is_admin, *, installing, language, demo=None):
    """The settings page of `portal` for one verified visitor; `demo` adds the local demo's panel."""
    settings = services().settings
    use_language(language)
    request.portal_domain = portal.domain
    token = session_tokens.mint(settings.secret_key,
                                session_tokens.PageSession(portal.id, portal.install_id, user_id, is_admin, language))
    page_data = {
        "installing": installing,
        "is_admin": is_admin,
        "language": language,
        "portal": portal_view(portal),
        "catalog": [_translated(cls.describe()) for cls in providers.offered(settings).values()],
        "strings": page_strings.translated(),
        "costs": cost_words.page_data(),  # the length counter's rule and the spend's words (static/costs.js)
        "demo": demo,
        # The provider whose form a first run opens with: the most used, or on the local demo the one that works
        # without an account anywhere.
        "first_choice": "log" if demo and "log" in providers.offered(settings) else None,
    }
    return render_template("settings.html", token=token, installing=installing, is_admin=is_admin,
                           portal=portal, page_data=page_data, language=language, bx24_script=_bx24_script(portal),
                           demo=demo)


def _translated(described):
    """A provider's declaration with its labels and help in the page's language (brand names stay)."""
    def words(setting):
        return setting and {**setting, "label": translate(setting["label"]),
                            "help": translate(setting["help"]) if setting.get("help") else ""}
    return {**described, "title": translate(described["title"]),
            "credentials": [words(s) for s in described["credentials"]],
            "sender": words(described["sender"]), "keys_help": translate(described["keys_help"])
            if described.get("keys_help") else ""}


def portal_view(portal):
    return {"domain": portal.domain, "state": portal.state, "sender_registered": portal.sender_registered,
            "state_reason": portal.state_reason, "language": portal.language, "paused": portal.paused}
