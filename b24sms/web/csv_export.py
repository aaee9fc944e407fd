"""The message log as CSV (GET /api/messages.csv): the columns the page's table shows, one row a message."""
import csv
import io

COLUMNS = ("message_id", "created_at", "to", "text", "segments", "provider", "sender", "state", "status", "error",
           "attempts", "tried", "updated_at")
BOM = "\ufeff"  # spreadsheet programs take the file for UTF-8 (Cyrillic texts) only with it


def row(view):
    """A message's row from its log view (b24sms/web/views.py)."""
    error = view["error"]
    tried = " > ".join(f"{t.get('provider')}: {t.get('result')}" for t in view["tried"])
    values = {**view, "error": f"{error['code']}: {error['message']}" if error else "", "tried": tried}
    return [_cell(values.get(name)) for name in COLUMNS]


def lines(rows):
    """The CSV text, a line at a time, the BOM and the header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield BOM + _take(buffer)
    for values in rows:
        writer.writerow(values)
        yield _take(buffer)


def _cell(value):
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula (a text starting with = + - @) is kept as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


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
