"""/api/...: the settings page's JSON API, authenticated by the page's signed session token."""
from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from b24sms.bitrix import sender_names
from b24sms.flows import balances, guard_settings, line_settings, messaging, pausing, provider_settings, resending
from b24sms.flows.reply_numbers import HOOK_FAILED
from b24sms.providers import approved_names
from b24sms.rules import handler_call, segments
from b24sms.rules.errors import N_, BadRequest, Forbidden
from b24sms.store import log_filters, message_log, statistics
from b24sms.web import csv_export, message_words, session_tokens
from b24sms.web.context import db_session, services
from b24sms.web.i18n import translate
from b24sms.web.pages import portal_view
from b24sms.web.views import log_view, message_view

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_PAGE = 200
MAX_STATS_DAYS = 366
TEST_TEXT = N_("b24sms test message")  # a test SMS's text when the page sends none: in the admin's language


# What a connector page's token (POST /connector, one Open Line) may call: its line, nothing else.
LINE_ENDPOINTS = {"api.read_lines", "api.change_line"}


@bp.before_request
def authenticate():
    g.page, g.portal = session_tokens.open_session(services().settings.secret_key,
                                                   request.headers.get("Authorization"), db_session())
    if g.page.line is not None and request.endpoint not in LINE_ENDPOINTS:
        raise Forbidden(N_("This page may change only its own Open Line."), "line_only")


def require_admin():
    if not g.page.is_admin:
        raise Forbidden(N_("Only the portal's administrators can change b24sms settings."), "admin_only")


def json_body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(N_("The body must be a JSON object."), "invalid_json")
    return body


def settings_view(portal):
    settings = services().settings
    return {"portal": portal_view(portal),
            "providers": [_translated_replies(entry) for entry in
                          provider_settings.describe_accounts(portal, settings, full=g.page.is_admin)],
            "senders": sender_names.describe(settings, portal),
            "guards": guard_settings.describe(portal)}


def _translated_replies(entry):
    """An entry's words about replies in the page's language (a provider's own words stay as it said them)."""
    if entry.get("replies_help"):
        entry["replies_help"] = translate(entry["replies_help"])
    for hook in entry.get("reply_hooks", ()):
        if hook["error"] == HOOK_FAILED:
            hook["error"] = translate(HOOK_FAILED)
    return entry


@bp.get("/settings")
def read_settings():
    return jsonify(settings_view(g.portal))


@bp.put("/settings")
def save_settings():
    require_admin()
    guard_settings.save_settings(services(), db_session(), g.portal, json_body())
    return jsonify(settings_view(g.portal))


@bp.get("/lines")
def read_lines():
    """The portal's Open Lines connected to our connector (a connector page's token: its own line only)."""
    require_admin()
    lines = line_settings.describe_lines(db_session(), g.portal)
    return jsonify([line for line in lines if g.page.line in (None, line["line"])])


@bp.put("/lines/<line>")
def change_line(line):
    """Connect (`"active": true`) or disconnect an Open Line, fed by the portal's reply numbers it names."""
    require_admin()
    if g.page.line is not None and g.page.line != line:
        raise Forbidden(N_("This page may change only its own Open Line."), "line_only")
    return jsonify(line_settings.change_line(services(), db_session(), g.portal, line, json_body()))


@bp.get("/stop-list")
def read_stop_list():
    require_admin()  # the numbers are the portal's customers': for its administrators
    return jsonify(guard_settings.stop_list_page(db_session(), g.portal, request.args.get("q"),
                                                 request.args.get("before")))


@bp.put("/stop-list")
def change_stop_list():
    require_admin()
    return jsonify(guard_settings.change_stop_list(db_session(), g.portal, json_body()))


@bp.get("/sender-names")
def provider_sender_names():
    """The sender names a saved provider account has approved (`{"names": null}` where it cannot list them)."""
    require_admin()
    app_services = services()
    return jsonify(approved_names.names_at(g.portal, app_services.settings, app_services.http,
                                           request.args.get("kind")))


@bp.put("/pause")
def pause():
    """Pause (`{"paused": true}`) or resume the portal's sending; answers as GET /api/settings."""
    require_admin()
    paused = pausing.parse_paused(json_body())
    pausing.set_paused(services(), db_session(), g.portal, paused)
    return jsonify(settings_view(g.portal))


@bp.post("/test-sms")
def test_sms():
    require_admin()
    body = json_body()
    to, text = body.get("to"), body.get("text") or translate(TEST_TEXT)
    if not isinstance(to, str) or not to.strip():
        raise BadRequest(N_("Enter the phone number to send the test SMS to."), "missing_field", field_path="to")
    if not isinstance(text, str):
        raise BadRequest(N_("`text` must be a string."), "invalid_field")
    # The limits of a handler call: longer values do not fit the stored columns.
    if len(to) > handler_call.MAX_PHONE or len(text) > handler_call.MAX_BODY:
        raise BadRequest(N_("The number may have at most %(phone)s characters and the text at most %(body)s."),
                         "invalid_field", phone=handler_call.MAX_PHONE, body=handler_call.MAX_BODY)
    message = messaging.send_test_sms(services(), db_session(), g.portal, g.page.user_id, to.strip(), text,
                                      body.get("sender"))
    return jsonify(message_view(message))


@bp.route("/length", methods=["GET", "POST"])
def length():
    """`{"characters", "encoding", "segments"}` of `text` (GET ?text=, or POST {"text"} for a long one): the rule
    the providers bill by and the page counts with (b24sms/rules/segments.py)."""
    text = request.args.get("text") if request.method == "GET" else json_body().get("text")
    if not isinstance(text, str):
        raise BadRequest(N_("Give the text to measure as `text`."), "missing_field", field_path="text")
    if len(text) > handler_call.MAX_BODY:
        raise BadRequest(N_("The text may have at most %(body)s characters."), "invalid_field", field_path="text",
                         body=handler_call.MAX_BODY)
    return jsonify(segments.measure(text).as_json())


@bp.get("/messages")
def list_messages():
    """The log, newest first: the SMS sent and (for admins) the clients' replies; `number=` one conversation."""
    limit = _int_arg("limit", 50, 1, MAX_PAGE)
    entries = message_log.page_of_messages(db_session(), g.portal, g.page, limit=limit,
                                           before=request.args.get("before"), filters=_log_filters())
    return jsonify([log_view(entry) for entry in entries])


@bp.get("/messages/<int:message_id>")
def message_details(message_id):
    """One message of the log with its whole trail: every provider tried, the status changes, in words."""
    message = resending.message_of(db_session(), g.portal, g.page, message_id)
    view = message_view(message)
    return jsonify({**view, "trail": message_words.trail(message, view)})


@bp.post("/messages/<int:message_id>/resend")
def resend_message(message_id):
    """An administrator sends a failed message again: 201 with the new message, as the log shows it."""
    require_admin()
    return jsonify(message_view(resending.resend(services(), db_session(), g.portal, g.page, message_id))), 201


@bp.get("/messages.csv")
def export_messages():
    """The log with the same filters as CSV: UTF-8 with a BOM, so that spreadsheet programs read Cyrillic."""
    filters = _log_filters()
    # The answer streams as fast as the client reads it: the request's transaction (its portal read) ends now,
    # and the export reads each page in a transaction of its own.
    db_session().close()
    entries = message_log.every_message(services().db.session, g.portal, g.page, filters=filters)
    rows = (csv_export.row(log_view(entry)) for entry in entries)
    return Response(stream_with_context(csv_export.lines(rows)), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="b24sms-messages.csv"'})


def _log_filters():
    args = request.args
    return log_filters.Filters.parse(status=args.get("status"), q=args.get("q"), from_=args.get("from"),
                                     to=args.get("to"), provider=args.get("provider"),
                                     direction=args.get("direction"), number=args.get("number"),
                                     region=g.portal.region)


@bp.get("/stats")
def stats():
    require_admin()  # the portal's volumes, like its balance, are for its administrators
    days = _int_arg("days", 30, 1, MAX_STATS_DAYS)
    return jsonify(statistics.portal_statistics(db_session(), g.portal.id, days))


@bp.get("/balance")
def balance():
    require_admin()
    return jsonify(balances.portal_balances(services(), db_session(), g.portal))


def _int_arg(name, default, low, high):
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(N_("`%(name)s` must be a whole number."), "invalid_parameter", field_path=name,
                         name=name) from None
    if not low <= value <= high:
        raise BadRequest(N_("`%(name)s` must be between %(low)s and %(high)s."), "invalid_parameter",
                         field_path=name, name=name, low=low, high=high)
    return value
