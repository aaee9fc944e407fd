"""The stand-in portal's REST methods, answering in Bitrix24's shapes and with its error codes.

Each method takes the caller's token claims and the call's params (names upper-cased, as Bitrix24 does) and
returns (HTTP status, answer). Where Bitrix24 would refuse something only because the stand-in forgot it in a
restart (a status for a message it no longer remembers), the stand-in accepts it: it is a demo, not a judge.
"""
import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from b24sms.bitrix.forms import FormError, parse
from b24sms.demo import DEMO_CLIENT_ID, open_lines
from b24sms.demo.tokens import Token

BATCH_LIMIT = 50
STATUSES = ("queued", "sent", "delivered", "undelivered", "failed")
CODE_PATTERN = re.compile(r"^[a-z0-9.\-_]+$", re.IGNORECASE)
# Real portals refuse a HANDLER whose host has no dot; the stand-in lives on this machine, so it takes these too.
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def error(status, code, description):
    return status, {"error": code, "error_description": description}


def result(value, started):
    return 200, {"result": value, "time": timing(started)}


def timing(started):
    finished = time.time()
    return {"start": started, "finish": finished, "duration": finished - started, "processing": finished - started,
            "date_start": _iso(started), "date_finish": _iso(finished), "operating": 0}


def _iso(moment):
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def call(state, token: Token, method, params):
    """(status, answer) of one REST method as the portal answers it."""
    started = time.time()
    if method == "batch":
        return _batch(state, token, params, started)
    return _method(state, token, method, params, started)


def _method(state, token, method, params, started):
    handler = METHODS.get(method.lower())
    if handler is None:
        return error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    if method.lower() in ADMIN_ONLY and not token.admin:
        return error(403, "ACCESS_DENIED", "Access denied!")
    params = {str(name).upper(): value for name, value in (params or {}).items()}
    outcome = handler(state, token, params)
    if isinstance(outcome, tuple):  # an error answer
        return outcome
    return result(outcome, started)


def _batch(state, token, params, started):
    """`cmd[key]=method?query`; HTTP 200 even when commands failed, their errors under `result_error`."""
    commands = params.get("cmd") or {}
    if isinstance(commands, list):
        commands = {str(index): command for index, command in enumerate(commands)}
    if not isinstance(commands, dict):
        return error(400, "INVALID_ARG_VALUE", "cmd must be an array of commands")
    if len(commands) > BATCH_LIMIT:
        return error(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    halt = str(params.get("halt", "0")) in ("1", "true", "Y")
    results, errors, times = {}, {}, {}
    for key, command in commands.items():
        _, answer = _batch_command(state, token, str(command))
        if "error" in answer:
            errors[key] = {"error": answer["error"], "error_description": answer["error_description"]}
            if halt:
                break
        else:
            results[key], times[key] = answer["result"], answer["time"]
    return result({"result": _php_array(results), "result_error": _php_array(errors), "result_total": [],
                   "result_next": [], "result_time": _php_array(times)}, started)


def _batch_command(state, token, command):
    method, _, query = command.partition("?")
    if method.lower() == "batch":
        return error(400, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
    try:
        params = parse(parse_qsl(query, keep_blank_values=True))  # PHP-style keys: NAME[ru]=...
    except FormError as exc:
        return error(400, "INVALID_ARG_VALUE", str(exc))
    return _method(state, token, method, params, time.time())


def _php_array(mapping):
    """As PHP's json_encode writes an array: `[]` when empty, a list when keyed 0..n-1."""
    if not mapping:
        return []
    if list(mapping) == [str(index) for index in range(len(mapping))]:
        return list(mapping.values())
    return mapping


# ---------------------------------------------------------------- the methods
def _user_admin(state, token, params):
    return token.admin


def _profile(state, token, params):
    return {"ID": token.user_id, "ADMIN": token.admin, "NAME": "Demo", "LAST_NAME": f"User {token.user_id}",
            "PERSONAL_GENDER": "", "TIME_ZONE": ""}


def _app_info(state, token, params):
    return {"ID": state.app_id, "CODE": DEMO_CLIENT_ID, "VERSION": 1, "STATUS": "L", "INSTALLED": True,
            "PAYMENT_EXPIRED": "N", "DAYS": None, "LANGUAGE_ID": "ru", "LICENSE": "ru_project",
            "LICENSE_TYPE": "project", "LICENSE_FAMILY": "project"}


def _code_refused(code):
    """CODE as Bitrix24's messageservice checks it (and then looks it up without regard to case)."""
    if not code:
        return error(400, "ERROR_SENDER_VALIDATION_FAILURE", "Empty sender code!")
    if not CODE_PATTERN.match(code):
        return error(400, "ERROR_SENDER_VALIDATION_FAILURE", "Wrong sender code!")
    return None


def _sender_add(state, token, params):
    code = str(params.get("CODE") or "")
    refused = _code_refused(code) or _handler_refused(params.get("HANDLER"))
    if not refused and not params.get("NAME"):
        refused = error(400, "ERROR_SENDER_VALIDATION_FAILURE", "Empty sender NAME!")
    if not refused and params.get("TYPE") != "SMS":
        refused = error(400, "ERROR_SENDER_VALIDATION_FAILURE", "Unknown sender message TYPE!")
    if refused:
        return refused
    with state.lock:
        if code.lower() in state.senders:
            return error(400, "ERROR_SENDER_ALREADY_INSTALLED", "Sender already installed!")
        state.senders[code.lower()] = {name: params.get(name) for name in ("CODE", "TYPE", "HANDLER", "NAME",
                                                                           "DESCRIPTION")}
    return True


def _sender_update(state, token, params):
    code = str(params.get("CODE") or "").lower()
    if _code_refused(code):
        return _code_refused(code)
    changes = {name: params[name] for name in ("HANDLER", "NAME", "DESCRIPTION") if params.get(name)}
    if not changes:
        return error(400, "ERROR_SENDER_VALIDATION_FAILURE", "Nothing to update: give HANDLER, NAME or DESCRIPTION")
    if "HANDLER" in changes and _handler_refused(changes["HANDLER"]):
        return _handler_refused(changes["HANDLER"])
    with state.lock:
        if code not in state.senders:
            return error(400, "ERROR_SENDER_NOT_FOUND", "Sender not found!")
        state.senders[code].update(changes)
    return True


def _sender_delete(state, token, params):
    code = str(params.get("CODE") or "").lower()
    if _code_refused(code):
        return _code_refused(code)
    with state.lock:
        if state.senders.pop(code, None) is None:
            return error(400, "ERROR_SENDER_NOT_FOUND", "Sender not found!")
    return True


def _sender_list(state, token, params):
    with state.lock:
        return [sender["CODE"] for sender in state.senders.values()]


def _handler_refused(url):
    parts = urlsplit(str(url or ""))
    if parts.scheme not in ("http", "https"):
        return error(400, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported protocol of the handler URL")
    host = parts.hostname or ""
    if "." not in host and host not in LOCAL_HOSTS:
        return error(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    return None


def _status_update(state, token, params):
    message_id = str(params.get("MESSAGE_ID") or "")
    if not message_id:
        return error(400, "ERROR_MESSAGE_NOT_FOUND", "Message not found!")
    status = str(params.get("STATUS") or "").lower()
    if status not in STATUSES:
        return error(400, "ERROR_MESSAGE_STATUS_INCORRECT", "Message status incorrect!")
    if not state.record_status(message_id, str(params.get("CODE") or ""), status):
        return error(400, "ERROR_MESSAGE_NOT_FOUND", "Message not found!")
    return True


def _event_bind(state, token, params):
    event = str(params.get("EVENT") or "").upper()
    handler = str(params.get("HANDLER") or "")
    if not event or not handler.startswith(("http://", "https://")):
        return error(400, "ERROR_ARGUMENT", "EVENT and HANDLER are required")
    with state.lock:
        if event in state.events:
            return error(400, "", "Handler already binded")
        state.events[event] = handler
    return True


def _event_unbind(state, token, params):
    with state.lock:
        removed = state.events.pop(str(params.get("EVENT") or "").upper(), None)
    return {"count": 1 if removed else 0}


def _notify_system(state, token, params):
    if not params.get("USER_ID") or not params.get("MESSAGE"):
        return error(400, "USER_ID_EMPTY" if not params.get("USER_ID") else "MESSAGE_EMPTY",
                     "USER_ID and MESSAGE are required")
    return state.record_notification(str(params["USER_ID"]), str(params["MESSAGE"]), params.get("TAG"))


METHODS = {
    "user.admin": _user_admin,
    "profile": _profile,
    "app.info": _app_info,
    "messageservice.sender.add": _sender_add,
    "messageservice.sender.update": _sender_update,
    "messageservice.sender.delete": _sender_delete,
    "messageservice.sender.list": _sender_list,
    "messageservice.message.status.update": _status_update,
    "event.bind": _event_bind,
    "event.unbind": _event_unbind,
    "im.notify.system.add": _notify_system,
    **open_lines.METHODS,  # imconnector.* and event.get
}
# messageservice.* (but status updates) and event binding need an admin's token, as on a real portal.
ADMIN_ONLY = {"messageservice.sender.add", "messageservice.sender.update", "messageservice.sender.delete",
              "messageservice.sender.list", "event.bind", "event.unbind"}
