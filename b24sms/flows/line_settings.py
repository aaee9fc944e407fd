"""The portal's Open Lines fed by its reply numbers: the connector's page (POST /connector, opened by Bitrix24's
Contact Center for one line), GET /api/lines and PUT /api/lines/<line> (connect or disconnect a line).

Store first: a line's choice is saved before Bitrix24 is asked, and Bitrix24's refusal is kept on the row with
its words."""
import json
import logging

from sqlalchemy import select

from b24sms.bitrix import open_lines, visits
from b24sms.bitrix.errors import BitrixError
from b24sms.bitrix.portal_tokens import rest_client
from b24sms.flows import reply_numbers
from b24sms.rules.errors import N_, BadRequest, Forbidden, UpstreamError
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.services import Services
from b24sms.store.reply_models import OpenLine

logger = logging.getLogger(__name__)
PLACEMENT = "SETTING_CONNECTOR"
MAX_LINE_ID = 10  # digits of a line id ("3")
MAX_ERROR = 500


def open_connector_page(services: Services, session, form, query):
    """Verify the Contact Center's visit as the settings page's (app.info, then user.admin), for admins only.
    Returns (portal, user_id, line, what the page shows)."""
    portal, user_id, admin = visits.verify_visit(services, session, form, query, installing=False)
    if not admin:
        raise Forbidden(N_("Only the portal's administrators can connect Open Lines to b24sms."), "admin_only")
    line = placement_line(form)
    return portal, user_id, line, page_data(session, portal, line)


def placement_line(form):
    """The line of a SETTING_CONNECTOR placement: PLACEMENT_OPTIONS is a JSON string whose LINE is a string."""
    try:
        options = json.loads(form.get("PLACEMENT_OPTIONS") or "")
    except ValueError:
        options = None
    line = str(options.get("LINE", "")) if isinstance(options, dict) else ""
    if form.get("PLACEMENT") != PLACEMENT or not valid_line(line):
        raise BadRequest(N_("Open this page from the Contact Center of your Bitrix24 portal: it connects one Open "
                            "Line."), "not_a_line")
    return line


def valid_line(line) -> bool:
    return isinstance(line, str) and line.isascii() and line.isdigit() and 0 < len(line) <= MAX_LINE_ID \
        and int(line) > 0


def page_data(session, portal, line):
    """What the connector page shows: the portal's reply numbers and how the line stands."""
    row = _row(session, portal, line)
    return {"line": line_view(row) if row else _unsaved(line),
            "numbers": reply_numbers.portal_numbers(session, portal)}


def describe_lines(session, portal):
    """GET /api/lines: the portal's lines, by line id."""
    rows = session.scalars(select(OpenLine).where(OpenLine.portal_id == portal.id)).all()
    return [line_view(row) for row in sorted(rows, key=lambda row: int(row.line) if row.line.isdigit() else 0)]


def line_view(row):
    view = {"line": row.line, "reply_numbers": list(row.reply_numbers or []), "active": bool(row.active),
            "status": {"configured": bool(row.configured), "error": row.error}}
    if row.name:
        view["name"] = row.name
    return view


def _unsaved(line):
    return {"line": line, "reply_numbers": [], "active": False, "status": {"configured": False, "error": None}}


def change_line(services: Services, session, portal, line, body):
    """PUT /api/lines/<line> {"reply_numbers": [...], "active": bool}: saved, then the line connected
    (imconnector.activate, imconnector.connector.data.set, then imconnector.status) or disconnected. Bitrix24's
    refusal is kept on the line and raised as an UpstreamError with its words."""
    if not valid_line(line):
        raise BadRequest(N_("There is no Open Line %(line)s."), "invalid_line", field_path="line", line=line[:20])
    numbers, active = _parse_change(session, portal, body)
    row = _row(session, portal, line)
    if row is None:
        row = OpenLine(portal_id=portal.id, line=line, active=False, configured=False)
        session.add(row)
    row.reply_numbers = numbers
    row.name = connector_name(numbers)
    session.commit()  # the choice is kept whatever Bitrix24 says

    settings = services.settings
    try:
        client = rest_client(services, portal)
        if active:
            open_lines.activate(client, settings, line, True)
            open_lines.set_connector_data(client, settings, line, {
                "ID": f"{open_lines.connector_id(settings)}_{line}", "URL": settings.public_url + "/",
                "URL_IM": settings.public_url + "/", "NAME": row.name})
            status = open_lines.line_status(client, settings, line)
            row.active, row.configured, row.error = status.active, status.configured, status.error
        else:
            open_lines.activate(client, settings, line, False)
            row.active, row.error = False, None
    except BitrixError as exc:
        words = (f"{exc.code}: {exc.description}" if exc.description else str(exc.code))[:MAX_ERROR]
        row.error = words
        session.commit()
        logger.info("Bitrix24 refused to %s Open Line %s: %s", "connect" if active else "disconnect", line, words)
        raise UpstreamError(N_("Bitrix24 refused: %(words)s"), "bitrix_error", words=words) from None
    session.commit()
    return line_view(row)


def connector_name(numbers):
    return ("SMS " + ", ".join(numbers))[:255] if numbers else "SMS"


def _parse_change(session, portal, body):
    active = body.get("active")
    if not isinstance(active, bool):
        raise BadRequest(N_("`active` must be true or false."), "invalid_field", field_path="active")
    raw = body.get("reply_numbers", [])
    if not isinstance(raw, list) or len(raw) > reply_numbers.MAX_NUMBERS * 10:
        raise BadRequest(N_("The reply numbers must be a list of phone numbers."), "invalid_field",
                         field_path="reply_numbers")
    own = set(reply_numbers.portal_numbers(session, portal))
    numbers = []
    for position, value in enumerate(raw):
        try:
            number = normalize(value if isinstance(value, str) else "", portal.region)
        except InvalidPhone:
            number = None
        if number not in own:
            raise BadRequest(N_("%(number)s is not one of this portal's reply numbers."), "unknown_number",
                             field_path=f"reply_numbers[{position}]", number=str(value)[:40])
        if number not in numbers:
            numbers.append(number)
    if active and not numbers:
        raise BadRequest(N_("Tick at least one reply number to connect the line."), "no_numbers",
                         field_path="reply_numbers")
    return numbers, active


def _row(session, portal, line):
    return session.scalars(select(OpenLine).where(OpenLine.portal_id == portal.id, OpenLine.line == line)).first()
