"""GET /demo (development only): the settings page of the local demo portal, served by the built-in Bitrix24
stand-in (b24sms/demo/), with a panel that simulates a CRM send and the two-way loop of an Open Line, and shows
what the stand-in was told.

    GET  /demo?lang=ru|en&admin=0      the page (language from Accept-Language by default; admin=0: user 2's view)
    POST /demo/simulate-send           {"to", "text", "code", "origin": "crm"|"robot"} -> the stand-in's record
    GET  /demo/bitrix-state            the stand-in's senders, the SMS it handed over and the statuses it was told,
                                       its Open Lines and their chats
    POST /demo/connect-line            (admins) the demo reply number on the `log` provider, Open Line 1 connected
    POST /demo/simulate-reply          (admins) {"from", "text"}: a client's SMS pushed as a provider pushes it
    POST /demo/simulate-answer         (admins) {"chat", "text"}: an operator's answer, posted as Bitrix24 does

The JSON calls take the page's session token like /api/...; none of this exists with APP_ENV=production
(`init_app` is called by create_app only outside production).
"""
from datetime import UTC, datetime

from flask import Blueprint, current_app, g, jsonify, request, url_for

from b24sms import demo
from b24sms.demo import crm, demo_portal, opening, stand_in, two_way
from b24sms.demo.state import state_of
from b24sms.i18n import LANGUAGES
from b24sms.rules.errors import N_, BadRequest, Forbidden
from b24sms.rules.handler_call import MAX_BODY, MAX_PHONE
from b24sms.web import answer_errors_as_pages, pages, session_tokens
from b24sms.web.context import db_session, services
from b24sms.web.i18n import use_language

bp = Blueprint("demo", __name__)
api = Blueprint("demo_api", __name__, url_prefix="/demo")
SAMPLE_PHONE = "+7 900 123-45-67"


def init_app(app):
    """The demo's page, its stand-in of Bitrix24 and its portal's copy of Bitrix24's JS library."""
    for blueprint in (bp, api, stand_in.bp, opening.bp):
        app.register_blueprint(blueprint)
    answer_errors_as_pages(app, bp, opening.bp)
    pages.use_local_bx24_script(app, demo.DEMO_MEMBER_ID, "demo/bx24.js")


@bp.get("/demo")
def demo_page():
    language = _language()
    use_language(language)  # before anything is said, errors included
    is_admin = request.args.get("admin") != "0"
    user_id = demo.ADMIN_USER if is_admin else demo.NON_ADMIN_USER
    portal = demo_portal.ensure(services(), db_session(), language)
    two_way.restore_lines(state_of(current_app), services(), db_session(), portal)
    return pages.render_settings(portal, user_id, is_admin, installing=False, language=language,
                                 demo=_panel(services().settings, language, is_admin,
                                             two_way.panel_view(db_session(), portal)))


def _language():
    chosen = (request.args.get("lang") or request.args.get("LANG") or "").lower()[:2]
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def _panel(settings, language, is_admin, two_way_view):
    """What demo_panel.html and static/demo/demo.js need."""
    views = {"ru": url_for("demo.demo_page", lang="ru", **({} if is_admin else {"admin": 0})),
             "en": url_for("demo.demo_page", lang="en", **({} if is_admin else {"admin": 0})),
             "admin": url_for("demo.demo_page", lang=language),
             "non_admin": url_for("demo.demo_page", lang=language, admin=0)}
    opens = None
    if demo.verifies_visits(settings):
        opens = {"install": url_for("demo_opening.open_app", LANG=language, install=1),
                 "settings": url_for("demo_opening.open_app", LANG=language),
                 "non_admin": url_for("demo_opening.open_app", LANG=language, user=demo.NON_ADMIN_USER, admin=0)}
    return {
        "domain": demo.DEMO_DOMAIN,
        "is_admin": is_admin,
        "language": language,
        "simulate_url": url_for("demo_api.simulate_send"),
        "state_url": url_for("demo_api.stand_in_state"),
        "senders": state_of(current_app).snapshot(language)["senders"],
        "phone": SAMPLE_PHONE,
        "two_way": {**two_way_view, "connect_url": url_for("demo_api.connect_line"),
                    "reply_url": url_for("demo_api.simulate_reply"),
                    "answer_url": url_for("demo_api.simulate_answer")},
        "views": views,
        "opens": opens,
        "needed": {"B24_OAUTH_URL": demo.oauth_base(settings), "B24_CLIENT_ID": demo.DEMO_CLIENT_ID,
                   "B24_CLIENT_SECRET": demo.DEMO_CLIENT_SECRET},
    }


# ---------------------------------------------------------------- the panel's JSON calls
@api.before_request
def authenticate():
    page, portal = session_tokens.open_session(services().settings.secret_key,
                                               request.headers.get("Authorization"), db_session())
    if portal.member_id != demo.DEMO_MEMBER_ID:
        raise Forbidden(N_("This works on the demo portal only."), "not_demo")
    g.page, g.portal = page, portal


@api.post("/simulate-send")
def simulate_send():
    body, (to, text) = _body(), _phone_and_text("to", N_("Enter the phone number to send the SMS to."))
    code, origin = body.get("code"), body.get("origin") or crm.CRM
    if not isinstance(code, str) or origin not in (crm.CRM, crm.ROBOT):
        raise BadRequest(N_("Choose the sender and where the SMS comes from."), "invalid_field")
    db_session().close()  # the handler call below writes: hold no transaction across it
    record = crm.send(state_of(current_app), services(), code=code, to=to, text=text,
                      user_id=g.page.user_id or demo.ADMIN_USER, is_admin=g.page.is_admin, origin=origin,
                      language=g.page.language)
    return jsonify(_record_view(record))


@api.get("/bitrix-state")
def stand_in_state():
    snapshot = state_of(current_app).snapshot(g.page.language)
    return jsonify(senders=snapshot["senders"], events=sorted(snapshot["events"]),
                   messages=[_record_view(record) for record in snapshot["messages"]],
                   notifications=[{**note, "at": _iso(note["at"])} for note in snapshot["notifications"]],
                   lines=[_line_view(line) for line in snapshot["lines"]])


# ---------------------------------------------------------------- the two-way loop (admins)
@api.post("/connect-line")
def connect_line():
    _admin_only()
    return jsonify(two_way.connect_line(services(), db_session(), g.portal))


@api.post("/simulate-reply")
def simulate_reply():
    _admin_only()
    sender, text = _phone_and_text("from", N_("Enter the client's phone number."))
    return jsonify(two_way.simulate_reply(services(), db_session(), g.portal, sender, text))


@api.post("/simulate-answer")
def simulate_answer():
    _admin_only()
    chat, text = _phone_and_text("chat", N_("Enter the client's phone number."))
    db_session().close()  # the event posted below writes: hold no transaction across it
    return jsonify(two_way.simulate_answer(state_of(current_app), services(), chat, text,
                                           g.page.user_id or demo.ADMIN_USER))


def _admin_only():
    if not g.page.is_admin:
        raise Forbidden(N_("Only an administrator can try the two-way SMS: view the demo as an administrator."),
                        "admin_only")


def _body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(N_("The body must be a JSON object."), "invalid_json")
    return body


def _phone_and_text(phone_field, missing_phone):
    """The body's phone number (stripped) and text, each refused at its field when missing or too long."""
    body = _body()
    phone, text = body.get(phone_field), body.get("text")
    if not isinstance(phone, str) or not phone.strip():
        raise BadRequest(missing_phone, "missing_field", field_path=phone_field)
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(N_("Enter the text of the SMS."), "missing_field", field_path="text")
    if len(phone) > MAX_PHONE or len(text) > MAX_BODY:
        raise BadRequest(N_("The number may have at most %(phone)s characters and the text at most %(body)s."),
                         "invalid_field", phone=MAX_PHONE, body=MAX_BODY)
    return phone.strip(), text


def _line_view(line):
    return {**line, "messages": [{**message, "at": _iso(message["at"])} for message in line["messages"]],
            "chat": [{**entry, "at": _iso(entry["at"]), "delivered_at": _iso(entry.get("delivered_at"))}
                     for entry in line["chat"]]}


def _record_view(record):
    return {**record, "at": _iso(record["at"]),
            "statuses": [{"status": told["status"], "at": _iso(told["at"])} for told in record["statuses"]]}


def _iso(moment):
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds") if moment else None
