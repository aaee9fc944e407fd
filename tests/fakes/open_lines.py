"""A portal's Open Lines as FakePortal answers them (imconnector.*, event.get/unbind), and the events Bitrix24
posts to the app about them (an operator's answer, a line deleted, a connector taken off a line).

Shapes as in the Bitrix24 REST docs (api-reference/imopenlines/imconnector/): connector methods answer
`{"result": {"result": true}}` (`connector_answers_nested`) or `{"result": true}`; with `errors_inside_200` a
refusal comes as a 200 whose `result.result` is false, with `error` and `error_description`.
"""
import re
import time
from collections import defaultdict

CONNECTOR_ID = re.compile(r"[a-z0-9_]+")
NAME_ALLOWED = re.compile(r"[^\W\d_]+(?:[ '\-]+[^\W\d_]+)*[ '\-]*")  # letters, spaces, hyphens, apostrophes
NAME_LIMIT = 25
LINE_SETUP = ("imconnector.activate", "imconnector.connector.data.set", "imconnector.status")
NOT_ACTIVE = ("NOT_ACTIVE_LINE", "Line with this ID is inactive or does not exist")
MISSING_DATA = ("IMCONNECTOR_NOT_ALL_THE_REQUIRED_DATA", "Not all required data has been provided")


class OpenLinesPortal:
    """Mixed into FakePortal: `self.lock`, `self.events`, `self.domain`, `self.endpoint`, `self.member_id` and
    `self.oauth` are the portal's."""

    def init_open_lines(self) -> None:
        self.connectors: dict[str, dict] = {}  # ID -> imconnector.register params
        self.lines: dict[str, dict] = {}  # line id ("3") -> {"connector", "active", "data", "error", "deleted"}
        self.line_messages: defaultdict[str, list[dict]] = defaultdict(list)  # line -> MESSAGES elements taken
        self.deliveries: list[dict] = []  # imconnector.send.status.delivery params, as taken
        self.refused_messages: set[str] = set()  # our message ids a line refuses (SUCCESS false for that one)
        self.refused_without_words: set[str] = set()  # ... refuses with an empty ERRORS
        self.connector_answers_nested = True  # {"result": {"result": true}}; False: {"result": true}
        self.errors_inside_200 = False  # refusals as a 200 with result.result false
        # (code, description): every call that connects a line (activate, connector.data.set, status) is refused
        # with it, inside a 200 as Bitrix24 does.
        self.connector_refusal: tuple[str, str] | None = None
        self.application_token: str | None = None  # what the event forms carry unless told otherwise
        self._sessions: dict[tuple[str, str], dict] = {}  # (line, our chat id) -> {"ID", "CHAT_ID"}

    # -- what a test does as Bitrix24 --
    def add_line(self, line: str | int, active: bool = False) -> None:
        """An Open Line exists on the portal (an admin made it); not connected to any connector yet."""
        with self.lock:
            self.lines[str(line)] = {"connector": None, "active": active, "data": {}, "error": False,
                                     "deleted": False}

    def operator_answer_form(self, line, chat_id: str, text: str, im_chat_id, im_message_id, user_id="1",
                             application_token: str | None = None, connector: str | None = None,
                             operator: str = "Anna Operator", **extra: str) -> dict[str, str]:
        """ONIMCONNECTORMESSAGEADD as Bitrix24 posts it when an operator answers in the line's chat `chat_id` (our
        chat id); with the connector's NEED_SIGNATURE on (Bitrix24's default), the text starts with the
        operator's name."""
        connector = connector or self._connector_id()
        signed = (self.connectors.get(connector) or {}).get("NEED_SIGNATURE", True) not in (False, "N", "0", 0)
        form = {
            "event": "ONIMCONNECTORMESSAGEADD", "event_handler_id": self._handler_id("ONIMCONNECTORMESSAGEADD"),
            "data[CONNECTOR]": connector, "data[LINE]": str(line),
            "data[MESSAGES][0][im][chat_id]": str(im_chat_id), "data[MESSAGES][0][im][message_id]": str(im_message_id),
            "data[MESSAGES][0][message][user_id]": str(user_id),
            "data[MESSAGES][0][message][text]": f"[b]{operator}:[/b] [br]{text}" if signed else text,
            "data[MESSAGES][0][chat][id]": chat_id,
            **self._event_auth(application_token),
        }
        form.update(extra)
        return form

    def line_deleted_form(self, line, application_token: str | None = None) -> dict[str, str]:
        """ONIMCONNECTORLINEDELETE (`data` the bare line id); the line is gone from the portal from now on."""
        with self.lock:
            if str(line) in self.lines:
                self.lines[str(line)].update(deleted=True, active=False)
        return {"event": "ONIMCONNECTORLINEDELETE", "event_handler_id": self._handler_id("ONIMCONNECTORLINEDELETE"),
                "data": str(line), **self._event_auth(application_token)}

    def status_deleted_form(self, line, application_token: str | None = None,
                            connector: str | None = None) -> dict[str, str]:
        """ONIMCONNECTORSTATUSDELETE (`data[connector]`, `data[line]`, lower case): the connector is taken off the
        line (the line itself stays)."""
        connector = connector or self._connector_id()
        with self.lock:
            if str(line) in self.lines:
                self.lines[str(line)].update(active=False, connector=None, data={})
        return {"event": "ONIMCONNECTORSTATUSDELETE",
                "event_handler_id": self._handler_id("ONIMCONNECTORSTATUSDELETE"),
                "data[connector]": connector, "data[line]": str(line), **self._event_auth(application_token)}

    # -- REST (FakePortal._method hands these over, params' top-level names upper-cased) --
    def open_lines_method(self, method: str, params: dict) -> tuple[int, dict]:
        handler = {
            "imconnector.register": self._register, "imconnector.unregister": self._unregister,
            "imconnector.activate": self._activate, "imconnector.connector.data.set": self._data_set,
            "imconnector.status": self._status, "imconnector.send.messages": self._send_messages,
            "imconnector.send.status.delivery": self._delivery, "event.get": self._event_get,
            "event.unbind": self._event_unbind,
        }.get(method)
        if handler is None:
            return 400, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
        if self.connector_refusal and method in LINE_SETUP:
            code, description = self.connector_refusal
            return 200, {"result": {"result": False, "error": code, "error_description": description}}
        with self.lock:
            return handler(params)

    def _register(self, params):
        connector_id = str(params.get("ID") or "").lower()  # the server lower-cases it
        if "." in connector_id:
            return self._refuse("APPLICATION_REGISTRATION_ERROR_POINT", "The connector ID contains a point")
        if not CONNECTOR_ID.fullmatch(connector_id) or not params.get("NAME"):
            return self._refuse("ERROR_ARGUMENT", "ID and NAME are required")
        icon = params.get("ICON") if isinstance(params.get("ICON"), dict) else {}
        if not str(icon.get("DATA_IMAGE", "")).startswith("data:image/svg+xml,"):
            return self._refuse("ERROR_ARGUMENT", "ICON[DATA_IMAGE] is required")
        if not str(params.get("PLACEMENT_HANDLER", "")).startswith(("http://", "https://")):
            return self._refuse("ERROR_ARGUMENT", "PLACEMENT_HANDLER is required")
        self.connectors[connector_id] = {**params, "ID": connector_id}  # again with the same ID: an update
        return self._ok()

    def _unregister(self, params):
        if self.connectors.pop(str(params.get("ID") or "").lower(), None) is None:
            return self._refuse("CONNECTOR_NOT_FOUND", "Connector not found")
        return self._ok()

    def _activate(self, params):
        refused = self._known_connector(params)
        if refused:
            return refused
        line = self.lines.get(str(params.get("LINE")))
        if line is None or line["deleted"]:
            return self._refuse(*NOT_ACTIVE)
        active = str(params.get("ACTIVE")) in ("1", "Y", "True", "true")
        line.update(connector=params["CONNECTOR"] if active else line["connector"], active=active)
        return self._ok()

    def _data_set(self, params):
        refused = self._known_connector(params)
        line = self.lines.get(str(params.get("LINE")))
        if refused or line is None or line["deleted"]:
            return refused or self._refuse(*NOT_ACTIVE)
        line["data"] = dict(params.get("DATA") or {})  # the whole object, overwritten
        return self._ok()

    def _status(self, params):
        refused = self._known_connector(params)
        if refused:
            return refused
        line = self.lines.get(str(params.get("LINE"))) or {}
        connected = bool(line) and not line["deleted"] and line["connector"] == params["CONNECTOR"]
        configured = connected and line["active"]
        return 200, {"result": {"LINE": int(params.get("LINE") or 0), "CONNECTOR": params["CONNECTOR"],
                                "ERROR": bool(line.get("error")), "CONFIGURED": configured,
                                "STATUS": configured and not line.get("error")}}

    def _send_messages(self, params):
        refused = self._known_connector(params)
        if refused:
            return refused
        line_id = str(params.get("LINE"))
        line = self.lines.get(line_id)
        if line is None or line["deleted"] or not line["active"] or line["connector"] != params["CONNECTOR"]:
            return self._refuse(*NOT_ACTIVE)
        messages = params.get("MESSAGES")
        if not isinstance(messages, list) or not messages:
            return self._refuse("MESSAGES", "Argument 'MESSAGES' is null or empty")
        results = [self._take(line_id, element) for element in messages]
        return 200, {"result": {"SUCCESS": all(element["SUCCESS"] for element in results),
                                "DATA": {"RESULT": results}}}

    def _take(self, line_id, element):
        user, message, chat = (element.get(key) if isinstance(element.get(key), dict) else {}
                               for key in ("user", "message", "chat"))
        answer = {"user": None, "message": message, "chat": chat,
                  "extra": {"skip_phone_validate": user.get("skip_phone_validate", "N")}}
        names_ok = all(_name_ok(user.get(key)) for key in ("name", "last_name"))
        if (not user.get("id") or not chat.get("id") or not message.get("id") or not message.get("text")
                or not names_ok or str(message.get("id")) in self.refused_messages):
            return {**answer, "SUCCESS": False, "ERRORS": [MISSING_DATA[0]]}
        if str(message.get("id")) in self.refused_without_words:
            return {**answer, "SUCCESS": False, "ERRORS": []}
        session = self._sessions.setdefault((line_id, str(chat["id"])), {
            "ID": str(3000 + len(self._sessions)), "CHAT_ID": str(9800 + len(self._sessions))})
        self.line_messages[line_id].append(element)
        return {**answer, "user": str(1600 + len(self._sessions)), "SUCCESS": True, "session": dict(session)}

    def _delivery(self, params):
        refused = self._known_connector(params)
        if refused:
            return refused
        line = self.lines.get(str(params.get("LINE")))
        if line is None or line["deleted"]:
            return self._refuse(*NOT_ACTIVE)
        self.deliveries.append(params)
        return 200, {"result": {"SUCCESS": True, "DATA": []}}

    def _event_get(self, params):
        return 200, {"result": [{"event": event, "handler": handler, "auth_type": "0", "offline": 0}
                                for event, handler in self.events.items()]}

    def _event_unbind(self, params):
        event = str(params.get("EVENT") or "").upper()
        removed = self.events.pop(event, None) is not None
        return 200, {"result": {"count": int(removed)}}

    # -- shapes --
    def _ok(self) -> tuple[int, dict]:
        return 200, {"result": {"result": True} if self.connector_answers_nested else True}

    def _refuse(self, code: str, description: str) -> tuple[int, dict]:
        if self.errors_inside_200:
            return 200, {"result": {"result": False, "error": code, "error_description": description}}
        return 400, {"error": code, "error_description": description}

    def _known_connector(self, params):
        if str(params.get("CONNECTOR") or "") not in self.connectors:
            return self._refuse("IMCONNECTOR_NO_CORRECT_PROVIDER",
                                "Could not find a suitable provider for the connector")
        return None

    def _connector_id(self) -> str:
        return next(iter(self.connectors), "b24sms_sms")

    def _handler_id(self, event: str) -> str:
        return str(list(self.events).index(event) + 1) if event in self.events else "0"

    def _event_auth(self, application_token: str | None) -> dict[str, str]:
        """An event's `auth[...]`: the application token, no access token (Bitrix24 may leave it out)."""
        return {"ts": str(int(time.time())), "auth[domain]": self.domain, "auth[client_endpoint]": self.endpoint,
                "auth[server_endpoint]": f"{self.oauth.url}/rest/", "auth[member_id]": self.member_id,
                "auth[status]": "L", "auth[application_token]": application_token or self.application_token or ""}


def _name_ok(name) -> bool:
    """user.name / last_name as Bitrix24 takes them: letters, spaces, hyphens, apostrophes; at most 25."""
    return name is None or (len(str(name)) <= NAME_LIMIT and NAME_ALLOWED.fullmatch(str(name)) is not None)
