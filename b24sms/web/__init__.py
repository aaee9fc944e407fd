"""The HTTP surface: one blueprint per caller, JSON errors, and the headers every answer carries."""
import logging
import re

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from b24sms.rules.errors import N_, AppError, BadRequest
from b24sms.web import api, callbacks, context, events, handler, health, inbound, metrics, pages
from b24sms.web.i18n import translate

logger = logging.getLogger(__name__)

# Bitrix24 cloud portals live under these (not bitrix24.site/.shop/.online: those are customers' own web sites);
# an on-premise portal's own domain is added per page.
BITRIX_FRAME_ANCESTORS = " ".join(
    f"https://*.bitrix24.{tld}"
    for tld in ("ru", "com", "de", "eu", "es", "fr", "it", "pl", "uk", "in", "br", "com.br", "by", "kz", "ua",
                "cn", "jp", "id", "vn", "tr", "mx", "co")
)
# app.extensions key: the names of the blueprints whose errors are pages (error.html); the others answer in JSON.
PAGE_BLUEPRINTS = "b24sms.page_blueprints"
# Blueprints whose requests may be smaller than MAX_CONTENT_LENGTH, and the setting that says how much: Bitrix24's
# handler calls are a few KB, and whatever a handler call carries may have to be spooled (b24sms/flows/spool.py).
BODY_LIMITS = {"handler": lambda settings: settings.handler_max_bytes}
# Paths that carry a secret: a portal's handler key, a provider account's receipt (and inbound) secret.
SECRET_IN_PATH = re.compile(r"(/handler/|/callbacks/[^/\s?]+/|/inbound/[^/\s?]+/)[^/\s?\"]+")


def loggable(text):
    """`text` with the secrets of handler and receipt URLs masked: what may go into a log line."""
    return SECRET_IN_PATH.sub(r"\1***", str(text))


# The colours werkzeug gives its lines on a terminal: escaped like any control character (b24sms/log_lines.py),
# they would show as text. Werkzeug escapes a request path's own control characters, so these are its own.
WERKZEUG_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


class MaskSecretPaths(logging.Filter):
    """For the development server's request log (werkzeug writes every request line)."""

    def filter(self, record):
        record.msg = WERKZEUG_COLOURS.sub("", loggable(record.getMessage()))
        record.args = ()
        return True


def init_app(app):
    context.init_app(app)
    for module in (pages, handler, events, callbacks, inbound, api, health, metrics):
        app.register_blueprint(module.bp)
    answer_errors_as_pages(app, pages.bp)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_screen_request)
    app.after_request(_security_headers)
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, MaskSecretPaths) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(MaskSecretPaths())


def answer_errors_as_pages(app, *blueprints):
    """Errors under these blueprints are shown as a page in the iframe, not as JSON."""
    app.extensions.setdefault(PAGE_BLUEPRINTS, set()).update(blueprint.name for blueprint in blueprints)


def _screen_request():
    """Refuse up front what no endpoint can use: a body over MAX_CONTENT_LENGTH or its blueprint's own limit
    (413 even where the view would not read it), a nameless form field, JSON nested too deep to parse, and NUL
    characters, which no field has a use for and which PostgreSQL text cannot hold."""
    if request.blueprint in BODY_LIMITS:  # set before the body is read: a chunked body is cut off there too
        own_limit = BODY_LIMITS[request.blueprint](context.services().settings)
        request.max_content_length = min(own_limit, request.max_content_length or own_limit)
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    form = list(request.form.items(multi=True))
    if any(name is None for name, _ in form):  # a multipart part without a name: Werkzeug keys it None
        raise BadRequest(N_("A form field has no name."), "malformed_form")
    texts = [("The URL path", request.path)]  # (where, text): the answer names the field at fault
    for name, value in [*request.args.items(multi=True), *form]:
        texts += [(f"The field {name[:60]!r}", name), (f"The field {name[:60]!r}", value)]
    if request.is_json:
        try:
            texts += [("The JSON body", text) for text in _json_strings(request.get_json(silent=True))]
        except RecursionError:
            raise BadRequest(N_("The JSON body is nested too deeply."), "invalid_json") from None
    for where, text in texts:
        if "\x00" in text:
            raise BadRequest(N_("%(where)s contains a NUL character."), "invalid_characters", where=where)


def _json_strings(document):
    """Every string in a parsed JSON document, keys included; iterative, as documents may nest deep."""
    pending, found = [document], []
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _is_page():
    return request.blueprint in current_app.extensions[PAGE_BLUEPRINTS]


def error_response(status, code, message, **extra):
    """The error as the caller reads it: a page in the iframe, JSON elsewhere (`extra`: e.g. the field at fault)."""
    if _is_page():
        return render_template("error.html", status=status, code=code, message=message), status
    return jsonify(error=code, message=message, **extra), status


def _app_error(exc: AppError):
    logger.info("%s %s -> %s %s", request.method, loggable(request.path), exc.status, exc.code)
    params = {name: value for name, value in exc.params.items() if name != "field_path"}
    extra = {"field": exc.params["field_path"]} if "field_path" in exc.params else {}
    if "field" in params:  # a declared setting's label: shown in the page's language too
        params["field"] = translate(params["field"])
    return error_response(exc.status, exc.code, translate(exc.template, params), **extra)


# Werkzeug's own errors (404, 405, 413...), in words the page's reader can act on.
HTTP_ERROR_WORDS = {
    404: N_("There is no such page."),
    405: N_("This address does not take that method."),
    413: N_("The request is too large."),
}


def _http_error(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    words = HTTP_ERROR_WORDS.get(exc.code)
    return error_response(exc.code or 400, code, translate(words) if words else (exc.description or exc.name))


def _unexpected_error(exc):
    logger.exception("unhandled error on %s %s", request.method, loggable(request.path))
    return error_response(500, "internal_error", translate(N_("Something went wrong on our side; it has been logged.")))


def _security_headers(response):
    ancestors = "'self' " + BITRIX_FRAME_ANCESTORS
    portal_domain = getattr(request, "portal_domain", None)
    if portal_domain:
        ancestors += f" https://{portal_domain}"
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self' https://api.bitrix24.com; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; frame-ancestors {ancestors}; base-uri 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if not _is_page():
        response.headers.setdefault("Cache-Control", "no-store")
    return response
