"""Our Open Lines connector on a portal (two-way SMS): registered with its event bindings, lines switched on and
off, a client's SMS handed to a line, an operator's answer confirmed. A thin client over RestClient.

Bitrix24 answers these methods as `{"result": {"result": true}}` or `{"result": true}`, and reports some errors
INSIDE a 200 (`result.result` false with `error` and `error_description`): both shapes are read here, and an
error inside a 200 raises BitrixError like any other.
"""
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from b24sms.bitrix.errors import BitrixError
from b24sms.rules.replies import LINE_GAVE_NO_REASON, LINE_SAID_NOTHING

# Events bound to /events (Bitrix24 keeps event names upper-case and lists them so in event.get).
CONNECTOR_EVENTS = ("OnImConnectorMessageAdd", "OnImConnectorLineDelete", "OnImConnectorStatusDelete")
NAME = "SMS"
COLOR = "#2fc6f6"
ICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 70 70">'
            '<path fill="#fff" d="M14 16h42a6 6 0 0 1 6 6v22a6 6 0 0 1-6 6H30l-11 9v-9h-5a6 6 0 0 1-6-6V22a6 6 0 0 1 '
            '6-6z"/><text x="35" y="39" font-family="Arial,sans-serif" font-size="14" font-weight="bold" '
            'text-anchor="middle" fill="#2fc6f6">SMS</text></svg>')
NAME_LIMIT = 25  # user.name / last_name in imconnector.send.messages
LINE_GONE_CODES = {"NOT_ACTIVE_LINE"}


class LineGone(BitrixError):
    """NOT_ACTIVE_LINE: the Open Line is inactive or deleted; what was meant for it cannot go there now."""


@dataclass
class LineStatus:
    configured: bool
    active: bool  # Bitrix24's STATUS: configured and without an error, so the line takes messages
    error: str | None = None


@dataclass
class ClientMessage:
    """One SMS from a client, as a line is handed it: `id` our incoming message's id, `phone` the client's number
    (E.164; our user and chat id), `date` unix seconds."""

    id: str
    phone: str
    text: str
    date: int
    name: str | None = None  # a person's name when we know one (never the number)
    skip_phone_validate: bool = False


@dataclass
class LineResult:
    """What the line did with one message: taken (`success`) into the session and chat Bitrix24 names, or not,
    with Bitrix24's words (ours, rules/replies.py, where it gave none)."""

    message_id: str
    success: bool
    session_id: str | None = None
    chat_id: str | None = None  # Bitrix24's own chat (im) id
    error: str | None = None


@dataclass
class Delivered:
    """An operator's answer we sent as SMS: its im chat and message, the ids we gave it, our chat id."""

    im_chat_id: str
    im_message_id: str
    chat_id: str
    message_ids: list[str] = field(default_factory=list)
    date: int | None = None


def connector_id(settings) -> str:
    """Our connector's ID: SENDER_CODE lower-cased, only [a-z0-9_] (a `.` is an error for Bitrix24), "_sms" on."""
    code = re.sub(r"[^a-z0-9_]", "_", settings.sender_code.lower()).strip("_") or "b24sms"
    return f"{code}_sms"


def icon_data_url(svg=ICON_SVG) -> str:
    return "data:image/svg+xml," + quote(svg, safe="")


def register_params(settings) -> dict:
    """imconnector.register's parameters: operators may not edit or delete what went out as SMS, no newsletters,
    no system messages, no signature (an SMS is paid by the segment), one chat per client (the CRM tracker on)."""
    return {
        "ID": connector_id(settings),
        "NAME": NAME,
        "ICON": {"DATA_IMAGE": icon_data_url(), "COLOR": COLOR, "SIZE": "90%", "POSITION": "center"},
        "PLACEMENT_HANDLER": settings.public_url + "/connector",
        "DEL_EXTERNAL_MESSAGES": False,
        "EDIT_INTERNAL_MESSAGES": False,
        "DEL_INTERNAL_MESSAGES": False,
        "NEWSLETTER": False,
        "NEED_SYSTEM_MESSAGES": False,
        "NEED_SIGNATURE": False,
        "CHAT_GROUP": False,
    }


def ensure_connector(client, settings) -> None:
    """Register (or update) the connector and bind its events to /events; safe to call again."""
    _checked(client.call("imconnector.register", register_params(settings)))
    handler = settings.public_url + "/events"
    bound = _bound(client)
    for event in CONNECTOR_EVENTS:
        if (event.upper(), handler) not in bound:
            _bind(client, event, handler)


def activate(client, settings, line, active: bool) -> None:
    _checked(client.call("imconnector.activate", {"CONNECTOR": connector_id(settings), "LINE": _line(line),
                                                  "ACTIVE": "1" if active else "0"}))


def set_connector_data(client, settings, line, data: dict) -> None:
    """The line's channel data {ID, URL, URL_IM, NAME}; Bitrix24 overwrites the whole object."""
    unknown = set(data) - {"ID", "URL", "URL_IM", "NAME"}
    if unknown:
        raise ValueError(f"connector data takes ID, URL, URL_IM and NAME, not {sorted(unknown)}")
    _checked(client.call("imconnector.connector.data.set", {"CONNECTOR": connector_id(settings),
                                                            "LINE": _line(line), "DATA": dict(data)}))


def line_status(client, settings, line) -> LineStatus:
    answer = _checked(client.call("imconnector.status", {"CONNECTOR": connector_id(settings), "LINE": _line(line)}))
    answer = answer if isinstance(answer, dict) else {}
    return LineStatus(configured=_yes(answer.get("CONFIGURED")), active=_yes(answer.get("STATUS")),
                      error=_status_error(answer.get("ERROR")))


def send_messages(client, settings, line, messages: list[ClientMessage]) -> list[LineResult]:
    """Hand clients' SMS to a line: one LineResult per message, in order. LineGone when the line is inactive or
    deleted; BitrixError for any other refusal of the whole call."""
    if not messages:
        return []
    params = {"CONNECTOR": connector_id(settings), "LINE": _line(line),
              "MESSAGES": [_message_params(message) for message in messages]}
    try:
        answer = client.call("imconnector.send.messages", params)
    except BitrixError as exc:
        raise _line_gone(exc) from None
    elements = _elements(answer)
    if not elements:
        _checked(answer)  # a refusal of the whole call raises; an answer without results leaves each unconfirmed
    by_id = {str((element.get("message") or {}).get("id")): element for element in elements
             if isinstance(element, dict) and isinstance(element.get("message"), dict)}
    results = []
    for index, message in enumerate(messages):
        element = by_id.get(message.id) or (elements[index] if index < len(elements) else None)
        results.append(_result(message.id, element))
    return results


def confirm_delivery(client, settings, line, items: list[Delivered]) -> None:
    """Tell the line that operators' answers went out as SMS (marks them delivered and read)."""
    if not items:
        return
    _checked(client.call("imconnector.send.status.delivery", {
        "CONNECTOR": connector_id(settings), "LINE": _line(line),
        "MESSAGES": [{"im": {"chat_id": item.im_chat_id, "message_id": item.im_message_id},
                      "message": {"id": list(item.message_ids), **({"date": item.date} if item.date else {})},
                      "chat": {"id": item.chat_id}} for item in items],
    }))


def person_name(name) -> str | None:
    """A name Bitrix24 takes for a user: letters, spaces, hyphens and apostrophes, at most 25 characters (whole
    words where they fit); None for anything else (a number is never a name)."""
    words = " ".join(str(name or "").split())
    if not words or not all(char.isalpha() or char in " -'" for char in words) or not any(map(str.isalpha, words)):
        return None
    short = words[:NAME_LIMIT]
    if len(words) > NAME_LIMIT and words[NAME_LIMIT] != " " and " " in short:
        short = short.rsplit(" ", 1)[0]  # whole words where they fit
    return short.rstrip(" -'") or None


# ---------------------------------------------------------------- the answers
def _checked(answer):
    """The answer's inner value; an error inside a 200 raises BitrixError (LineGone for NOT_ACTIVE_LINE)."""
    if isinstance(answer, dict):
        failed = answer.get("result") is False or answer.get("SUCCESS") is False
        if failed or answer.get("error"):
            code, words = _error_of(answer)
            raise (LineGone if code in LINE_GONE_CODES else BitrixError)(code, words, 200)
    elif answer is False:
        raise BitrixError("ERROR", "Bitrix24 answered false", 200)
    return answer


def _error_of(answer):
    code = answer.get("error") or answer.get("ERROR")
    words = answer.get("error_description") or answer.get("ERROR_DESCRIPTION") or ""
    if not code and answer.get("ERRORS"):
        code, words = _first_error(answer["ERRORS"])
    return str(code or "ERROR"), str(words)


def _first_error(errors):
    """(code, words) of an ERRORS value: a list of codes, of {code, message} objects, or an object by code."""
    if isinstance(errors, dict):
        errors = [{"code": key, "message": value} if not isinstance(value, dict) else value
                  for key, value in errors.items()]
    if not isinstance(errors, list):
        errors = [errors]
    first = errors[0] if errors else ""
    if isinstance(first, dict):
        code = first.get("code") or first.get("CODE") or first.get("error") or "ERROR"
        return str(code), str(first.get("message") or first.get("MESSAGE") or first.get("error_description") or "")
    return str(first) or "ERROR", "; ".join(str(error) for error in errors)


def _elements(answer):
    data = answer.get("DATA") if isinstance(answer, dict) else None
    elements = data.get("RESULT") if isinstance(data, dict) else None
    return elements if isinstance(elements, list) else []


def _result(message_id, element) -> LineResult:
    if not isinstance(element, dict):
        return LineResult(message_id, False, error=LINE_SAID_NOTHING)
    session = element.get("session") if isinstance(element.get("session"), dict) else {}
    if _yes(element.get("SUCCESS")) and not element.get("ERRORS"):
        return LineResult(message_id, True, session_id=_text(session.get("ID")),
                          chat_id=_text(session.get("CHAT_ID")))
    if not element.get("ERRORS"):
        return LineResult(message_id, False, error=LINE_GAVE_NO_REASON)
    code, words = _first_error(element["ERRORS"])
    if code in LINE_GONE_CODES:
        raise LineGone(code, words, 200)
    return LineResult(message_id, False, error=f"{code}: {words}" if words and words != code else code)


def _line_gone(exc: BitrixError) -> BitrixError:
    if exc.code in LINE_GONE_CODES and not isinstance(exc, LineGone):
        return LineGone(exc.code, exc.description, exc.http_status)
    return exc


def _message_params(message: ClientMessage) -> dict:
    user = {"id": message.phone, "phone": message.phone}
    name = person_name(message.name)
    if name:
        user["name"] = name
    if message.skip_phone_validate:
        user["skip_phone_validate"] = "Y"
    return {"user": user, "message": {"id": message.id, "date": int(message.date), "text": message.text},
            "chat": {"id": message.phone}}


def _bound(client):
    """{(EVENT, handler)} the app has bound; empty when event.get cannot tell (binding again is harmless)."""
    try:
        rows = client.call("event.get") or []
    except BitrixError:
        return set()
    rows = rows.values() if isinstance(rows, dict) else rows
    return {(str(row.get("event", "")).upper(), row.get("handler")) for row in rows if isinstance(row, dict)}


def _bind(client, event, handler):
    try:
        client.call("event.bind", {"event": event, "handler": handler})
    except BitrixError as exc:
        if exc.code != "ERROR_EVENT_ALREADY_BINDED" and "already" not in (exc.description or "").lower():
            raise


def _line(line) -> int:
    return int(line)


def _yes(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("y", "1", "true", "yes")
    return bool(value)


def _status_error(value):
    """imconnector.status's ERROR: a flag or Bitrix24's words; None when there is no error."""
    if value is None or value is False or str(value).strip().lower() in ("", "n", "0", "false"):
        return None
    return "ERROR" if value is True or str(value).strip().lower() in ("y", "1", "true") else str(value)


def _text(value):
    return None if value is None else str(value)
