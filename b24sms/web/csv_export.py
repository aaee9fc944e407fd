"""The message log as CSV (GET /api/messages.csv): the columns the page's table shows, one row a message, headed
and worded in the page's language (the provider's own words kept)."""
import csv
import io

from b24sms import providers
from b24sms.rules.errors import N_
from b24sms.web.i18n import translate
from b24sms.web.page_strings import STRINGS

COLUMNS = (  # (the log view's field, the column's heading)
    ("message_id", N_("Bitrix24 message id")), ("created_at", N_("Created (UTC)")), ("to", N_("Recipient")),
    ("text", N_("Text")), ("segments", N_("SMS segments")), ("provider", N_("Provider")), ("sender", N_("Sender")),
    ("state", N_("Status")), ("status", N_("Bitrix24 status")), ("error", N_("Error")), ("reason", N_("Reason")),
    ("attempts", N_("Attempts")),
    ("tried", N_("Providers tried")), ("updated_at", N_("Updated (UTC)")),
    ("cost", N_("Cost")), ("currency", N_("Currency")),  # what the provider said it cost; empty: not known
)
BOM = "\ufeff"  # spreadsheet programs take the file for UTF-8 (Cyrillic texts) only with it
# What a spreadsheet takes for the start of a formula: = + - @, and a tab or carriage return before one (some
# programs skip them and run what follows).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def row(view):
    """A message's row from its log view (b24sms/web/views.py)."""
    error = view["error"]
    tried = " > ".join(f"{_title(t.get('provider'))}: {t.get('result')}" for t in view["tried"])
    state = STRINGS.get(f"state_words_{view['state']}")
    reason = STRINGS.get(f"reason_{view['reason']}") if view.get("reason") else None
    values = {**view, "reason": translate(reason) if reason else view.get("reason"),
              "error": f"{error['code']}: {error['message']}" if error else "", "tried": tried,
              "provider": _title(view["provider"]), "state": translate(state) if state else view["state"]}
    return [_cell(values.get(name)) for name, _ in COLUMNS]


def _title(kind):
    cls = providers.PROVIDERS.get(kind) if kind else None
    return translate(cls.title) if cls else (kind or "")


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
