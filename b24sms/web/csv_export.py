"""The message log as CSV (GET /api/messages.csv): the columns the page's table shows, one row a message, headed
and worded in the page's language (the provider's own words kept), each worded column followed by the code it
was worded from, so that a spreadsheet can still filter by it."""
import csv
import io

from b24sms.rules.errors import N_
from b24sms.web import message_words
from b24sms.web.i18n import translate

COLUMNS = (  # (the column's value, its heading)
    ("message_id", N_("Bitrix24 message id")), ("created_at", N_("Created (UTC)")), ("to", N_("Recipient")),
    ("text", N_("Text")), ("segments", N_("SMS segments")), ("provider", N_("Provider")), ("sender", N_("Sender")),
    ("state", N_("Status")), ("state_code", N_("Status code")),
    ("status", N_("Bitrix24 status")), ("status_code", N_("Bitrix24 status code")),
    ("error", N_("Error")), ("error_code", N_("Error code")),
    ("reason", N_("Reason")), ("reason_code", N_("Reason code")),
    ("attempts", N_("Attempts")), ("tried", N_("Providers tried")), ("updated_at", N_("Updated (UTC)")),
    ("cost", N_("Cost")), ("currency", N_("Currency")),  # what the provider said it cost; empty: not known
    # A client's reply is a row too: which way, who sent it (the recipient is then the portal's number), and the
    # Open Line it went to (an operator's answer's line for an outgoing one).
    ("direction", N_("Direction")), ("direction_code", N_("Direction code")), ("from", N_("From number")),
    ("line", N_("Open Line")),
)
BOM = "\ufeff"  # spreadsheet programs take the file for UTF-8 (Cyrillic texts) only with it
# What a spreadsheet takes for the start of a formula: = + - @, and a tab or carriage return before one (some
# programs skip them and run what follows).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def row(view):
    """An entry's row from its log view (b24sms/web/views.py log_view)."""
    error = view["error"] or {}
    values = {**view, "provider": message_words.provider_title(view["provider"]),
              "state": message_words.state_words(view), "state_code": view["state"],
              "status": message_words.status_words(view["status"]), "status_code": view["status"],
              "error": error.get("words") or "", "error_code": error.get("code"),
              "reason": message_words.reason_words(view), "reason_code": view.get("reason"),
              "tried": " > ".join(message_words.step_words(step) for step in view["tried"]),
              "direction": message_words.direction_words(view["direction"]), "direction_code": view["direction"]}
    return [_cell(values.get(name)) for name, _ in COLUMNS]


def lines(rows):
    """The CSV text, a line at a time, the BOM and the header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([translate(heading) for _, heading in COLUMNS])
    yield BOM + _take(buffer)
    for values in rows:
        writer.writerow(values)
        yield _take(buffer)


def _cell(value):
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is kept as text; a number (+7..., -5) stays a number.
    return "'" + text if text[:1] in FORMULA_STARTS and not _is_number(text) else text


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _take(buffer):
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
