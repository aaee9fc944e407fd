"""How the process writes its log: one line per record, whatever outside text the record carries.

A request path, a receipt's fields, a provider's words or a Bitrix24 answer reach log messages as they came; a
line break in one would start a forged line ("...\\n2026-01-01 ... ERROR b24sms: ..."), and terminal control
sequences or bidi controls would hide or reorder what an operator reads. The formatter installed here on every
handler the app writes through escapes them in the rendered message, and in a traceback's exception messages
and notes (outside text too), while the traceback's own lines, which come from our code, stay as they are.
"""
import logging
import traceback

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers with handlers of their own that do not hand records on to the root's: gunicorn's error and access logs.
OWN_HANDLER_LOGGERS = ("gunicorn.error", "gunicorn.access")
# Control characters (C0, DEL, C1 with NEL), the line and paragraph separators, and the bidi controls.
_ESCAPED = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
            *range(0x2066, 0x206A)]
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = str.maketrans({code: _NAMED.get(chr(code)) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
                          for code in _ESCAPED})


def escape(text) -> str:
    """`text` on one line, its control characters written as escapes (\\n, \\x1b, \\u2028...)."""
    return str(text).translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    """Formats as `inner` does (a handler's own formatter: its layout is kept), with the outside text of the
    record escaped."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record):
        safe = logging.makeLogRecord(record.__dict__)  # the record itself stays as other handlers expect it
        safe.msg, safe.args = escape(record.getMessage()), None
        if record.exc_info:
            safe.exc_info, safe.exc_text = None, self.formatException(record.exc_info)
        return self.inner.format(safe)

    def formatException(self, ei):
        return "".join(_traceback_lines(traceback.TracebackException(*ei))).rstrip("\n")


def _traceback_lines(exception, margin=""):
    """The lines of the traceback, chained exceptions first, as Python prints them; but each exception's
    message and notes (the part that may quote outside text) escaped onto one line."""
    if exception.__cause__ is not None:
        yield from _traceback_lines(exception.__cause__, margin)
        yield f"{margin}\n{margin}The above exception was the direct cause of the following exception:\n{margin}\n"
    elif exception.__context__ is not None and not exception.__suppress_context__:
        yield from _traceback_lines(exception.__context__, margin)
        yield f"{margin}\n{margin}During handling of the above exception, another exception occurred:\n{margin}\n"
    if exception.stack:
        yield f"{margin}Traceback (most recent call last):\n"
        for frame in exception.stack.format():  # file, line, function and source line: ours
            yield "".join(f"{margin}{line}\n" for line in frame.rstrip("\n").split("\n"))
    # "Type: message" and the notes, on one line: Python would split a message or note at its line breaks.
    words = "".join(exception.format_exception_only()).rstrip("\n")
    yield f"{margin}{escape(words)}\n"
    for number, member in enumerate(exception.exceptions or (), 1):  # an exception group's members
        yield f"{margin}+---- {number} ----\n"
        yield from _traceback_lines(member, margin + "| ")


def configure(level):
    """The app's logging: a stderr handler on the root logger when it has none yet (as logging.basicConfig
    would add), and every handler of the root's and of gunicorn's loggers writing one line per record."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    for logger in (root, *map(logging.getLogger, OWN_HANDLER_LOGGERS)):
        for handler in logger.handlers:
            if not isinstance(handler.formatter, OneLineFormatter):  # none: logging's default, the message alone
                handler.setFormatter(OneLineFormatter(handler.formatter or logging.Formatter()))
