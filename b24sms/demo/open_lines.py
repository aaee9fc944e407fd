"""The stand-in portal's Open Lines: our connector registered, lines switched on and off, the clients' SMS each
line took, and the operators' answers confirmed, in Bitrix24's shapes (imconnector.*, event.get). An operator's
answer is written into a line's chat by `operator_answer` (the demo's panel), which gives the element of the event
ONIMCONNECTORMESSAGEADD that Bitrix24 posts for it (b24sms/demo/two_way.py posts it).

Lenient where the demo has no Contact Center: activating a line the stand-in never heard of creates it. A line
that is off (or was never on) answers NOT_ACTIVE_LINE, as a real portal does.
"""
import re
import time

CONNECTOR_ID = re.compile(r"^[a-z0-9_]+$")
KEEP_LINE_MESSAGES = 100
OPERATOR_NAME = "Demo Operator"  # the signature Bitrix24 puts first when the connector asks for one


NO = (False, "N", "0", 0, "false")  # a flag turned off, as JSON or a PHP-style form gives it


def _error(code, description):
    return 400, {"error": code, "error_description": description}


def _not_active():
    return _error("NOT_ACTIVE_LINE", "Line with this ID is inactive or does not exist")


def _register(state, token, params):
    connector = str(params.get("ID") or "").lower()
    if "." in connector:
        return _error("APPLICATION_REGISTRATION_ERROR_POINT", "The connector ID may not contain a point")
    icon = params.get("ICON") if isinstance(params.get("ICON"), dict) else {}
    if not CONNECTOR_ID.match(connector) or not params.get("NAME") or not icon.get("DATA_IMAGE"):
        return _error("ERROR_ARGUMENT", "ID, NAME and ICON[DATA_IMAGE] are required")
    with state.lock:
        state.connectors[connector] = {name: params.get(name)
                                       for name in ("ID", "NAME", "PLACEMENT_HANDLER", "NEED_SIGNATURE")}
    return {"result": True}


def _unregister(state, token, params):
    with state.lock:
        state.connectors.pop(str(params.get("ID") or "").lower(), None)
    return {"result": True}


def _known(state, params):
    """The line's entry (None when unknown), or an error answer when our connector is not registered."""
    if str(params.get("CONNECTOR") or "") not in state.connectors:
        return _error("IMCONNECTOR_NO_CORRECT_PROVIDER", "Could not find a suitable provider for the connector")
    return state.lines.get(str(params.get("LINE") or ""))


def _activate(state, token, params):
    line_id = str(params.get("LINE") or "")
    if not line_id.isdigit():
        return _error("LINE", "Argument 'LINE' is null or empty")
    with state.lock:
        line = _known(state, params)
        if isinstance(line, tuple):
            return line
        line = line or state.lines.setdefault(line_id, {"line": line_id, "data": {}, "messages": [],
                                                        "delivered": [], "answers": []})
        line.update(active=str(params.get("ACTIVE")) in ("1", "Y"), connector=params["CONNECTOR"])
    return True


def _data_set(state, token, params):
    with state.lock:
        line = _known(state, params)
        if isinstance(line, tuple):
            return line
        if line is None:
            return _not_active()
        line["data"] = dict(params.get("DATA") or {})
    return {"result": True}


def _status(state, token, params):
    with state.lock:
        line = _known(state, params)
        if isinstance(line, tuple):
            return line
        on = bool(line and line.get("active"))
        return {"LINE": int(params.get("LINE") or 0), "CONNECTOR": params.get("CONNECTOR"), "ERROR": False,
                "CONFIGURED": on, "STATUS": on}


def _send_messages(state, token, params):
    messages = params.get("MESSAGES")
    with state.lock:
        line = _known(state, params)
        if isinstance(line, tuple):
            return line
        if not line or not line.get("active"):
            return _not_active()
        if not isinstance(messages, list) or not messages:
            return _error("MESSAGES", "Argument 'MESSAGES' is null or empty")
        results = []
        for element in messages:
            user, message, chat = (element.get(key) or {} for key in ("user", "message", "chat"))
            if not user.get("id") or not chat.get("id") or not message.get("text"):
                results.append({"message": message, "chat": chat, "SUCCESS": False,
                                "ERRORS": ["IMCONNECTOR_NOT_ALL_THE_REQUIRED_DATA"]})
                continue
            chat_number = state.chat_of(line["line"], str(chat["id"]))
            line["messages"].append({"from": user.get("phone") or user["id"], "name": user.get("name"),
                                     "chat": str(chat["id"]), "id": message.get("id"), "text": message["text"],
                                     "at": time.time()})
            del line["messages"][:-KEEP_LINE_MESSAGES]
            results.append({"user": str(user["id"]), "message": message, "chat": chat, "SUCCESS": True,
                            "session": {"ID": str(chat_number), "CHAT_ID": str(chat_number)}})
    return {"SUCCESS": all(result["SUCCESS"] for result in results), "DATA": {"RESULT": results}}


def _delivery(state, token, params):
    with state.lock:
        line = _known(state, params)
        if isinstance(line, tuple):
            return line
        if line is None:
            return _not_active()
        confirmed = [item for item in params.get("MESSAGES") or [] if isinstance(item, dict)]
        line["delivered"].extend(confirmed)
        del line["delivered"][:-KEEP_LINE_MESSAGES]
        im_ids = {str((item.get("im") or {}).get("message_id")) for item in confirmed
                  if isinstance(item.get("im"), dict)}
        for answer in line.get("answers", []):
            if answer["im"]["message_id"] in im_ids and answer["delivered_at"] is None:
                answer["delivered_at"] = time.time()  # the chat marks it delivered (and read)
    return {"SUCCESS": True, "DATA": []}


def operator_answer(state, line_id, chat_id, text, user_id):
    """An operator writes `text` in the chat of line `line_id` with the client `chat_id` (our chat id: the client's
    number): kept in the line's chat, and returned as (connector, the MESSAGES element of ONIMCONNECTORMESSAGEADD).
    None when the line is off or has no such chat (an operator answers in a chat a client started)."""
    with state.lock:
        line = state.lines.get(str(line_id))
        if not line or not line.get("active") or (line["line"], chat_id) not in state.chats:
            return None
        connector = line["connector"]
        state.im_message_id += 1
        im = {"chat_id": str(state.chats[(line["line"], chat_id)]), "message_id": str(state.im_message_id)}
        answers = line.setdefault("answers", [])
        answers.append({"im": im, "chat": chat_id, "text": text, "at": time.time(), "delivered_at": None})
        del answers[:-KEEP_LINE_MESSAGES]
        signed = (state.connectors.get(connector) or {}).get("NEED_SIGNATURE", True) not in NO
    body = f"[b]{OPERATOR_NAME}:[/b] [br]{text}" if signed else text
    return connector, {"im": im, "message": {"user_id": str(user_id), "text": body}, "chat": {"id": chat_id}}


def _event_get(state, token, params):
    with state.lock:
        return [{"event": event, "handler": handler, "auth_type": "0", "offline": 0}
                for event, handler in state.events.items()]


METHODS = {
    "imconnector.register": _register,
    "imconnector.unregister": _unregister,
    "imconnector.activate": _activate,
    "imconnector.connector.data.set": _data_set,
    "imconnector.status": _status,
    "imconnector.send.messages": _send_messages,
    "imconnector.send.status.delivery": _delivery,
    "event.get": _event_get,
}
