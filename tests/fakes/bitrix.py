"""Bitrix24 as the app meets it: the OAuth server (app.info, token refresh) and portals' REST, in Bitrix24's
shapes. Tokens are plain strings a portal hands out (`issue`); each belongs to its portal."""
import re
import time
from collections import defaultdict
from urllib.parse import parse_qsl

import requests

from b24sms.bitrix import forms
from tests.fakes.service import Answer, FakeService, Request, reply

OAUTH = "https://oauth.bitrix.info"
CLIENT_ID = "app.5f0b2c1d9e8a71.12345678"
CLIENT_SECRET = "client-secret-value"
SENDER_CODE = "b24sms"
STATUSES = ("queued", "sent", "delivered", "undelivered", "failed")
BATCH_LIMIT = 50
NOTIFY = "im.notify.system.add"
IMCONNECTOR_LINE_METHODS = ("imconnector.activate", "imconnector.connector.data.set", "imconnector.status")


def refusal(status: int, code: str, description: str) -> Answer:
    return reply(status, {"error": code, "error_description": description})


class FakeOAuthServer(FakeService):
    """oauth.bitrix.info for every portal made on it (`portal`): it asks each portal whose token it is."""

    def __init__(self, url: str = OAUTH):
        super().__init__()
        self.url = url.rstrip("/")
        self.portals: list[FakePortal] = []
        self.routes = [("GET", f"{self.url}/rest/app.info"), ("GET", f"{self.url}/oauth/token/")]

    def portal(self, domain: str, member_id: str, endpoint: str | None = None) -> "FakePortal":
        """A new portal whose tokens this server knows; its REST at `endpoint` (https://<domain>/rest/ unless
        served elsewhere)."""
        portal = FakePortal(self, domain, member_id, endpoint or f"https://{domain}/rest/")
        self.portals.append(portal)
        return portal

    def arrived(self, request: Request) -> None:
        if request.path.endswith("/oauth/token/"):
            hook = self._owner(request.query.get("refresh_token")).before_refresh
            if hook:
                hook()

    def answer(self, request: Request) -> Answer:
        query = request.query
        if request.path.endswith("/rest/app.info"):
            return self._owner(query.get("auth")).app_info(query.get("auth"))
        if (query.get("client_id"), query.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return refusal(401, "invalid_client", "Invalid client credentials")
        return self._owner(query.get("refresh_token")).refresh(query.get("refresh_token"))

    def _owner(self, token: str | None) -> "FakePortal":
        """The portal that issued `token` (the first one when none did)."""
        return next((portal for portal in self.portals if token in portal.tokens or token in portal.refresh_tokens),
                    self.portals[0])


class FakePortal(FakeService):
    """One portal's REST (messageservice senders and statuses, event.bind, im.notify, user.admin, batch) and its
    side of OAuth, with what a test can change and read."""

    def __init__(self, oauth: FakeOAuthServer, domain: str, member_id: str, endpoint: str):
        super().__init__(lock=oauth.lock)  # one Bitrix24: the OAuth server and its portals change state together
        self.oauth, self.domain, self.member_id, self.endpoint = oauth, domain, member_id, endpoint
        self.routes = [("POST", re.compile(re.escape(endpoint) + r"[\w.]+"))]
        self.tokens: dict[str, str] = {}  # access token -> user id
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user id
        self.admins = {"1"}
        self.expired: set[str] = set()
        self.refresh_count = 0
        self.token_counter = 0
        self.senders: dict[str, dict] = {}  # code -> params
        self.events: dict[str, str] = {}
        self.statuses: dict[str, str] = {}  # MESSAGE_ID -> the latest STATUS
        self.status_updates: defaultdict[str, list[str]] = defaultdict(list)  # MESSAGE_ID -> every STATUS, in order
        self.last_status_at: float | None = None  # time.monotonic() of the latest status update
        self.sent_through: dict[str, str] = {}  # MESSAGE_ID -> the CODE of the sender whose HANDLER got it (hand())
        self.unknown_messages: set[str] = set()
        self.calls: list[tuple[str, dict]] = []  # (method, params) of every REST call, batch commands included
        self.http_requests: list[tuple[str, dict]] = []  # REST requests as they went over the wire
        self.rate_limited = 0  # answer QUERY_LIMIT_EXCEEDED this many times
        self.missing_methods: set[str] = set()  # methods this portal does not have (older on-premise versions)
        self.missing_scopes: set[str] = set()  # scopes the app was not granted on this portal ("im": no notifications)
        self.notifications: list[dict] = []  # im.notify.system.add params, as the portal took them
        self.notify_delay = 0.0  # seconds each im.notify.system.add takes (runners racing for one notice)
        self.before_notify = None  # called as each im.notify.system.add arrives (another runner at work meanwhile)
        self.lose_refresh_answers = 0  # rotate the refresh token, then lose the answer this many times
        self.before_refresh = None  # called as each refresh request arrives (a slow OAuth server)

    # -- what a test or a script does as Bitrix24 --
    def issue(self, user_id: str = "1") -> tuple[str, str]:
        """A fresh (access, refresh) pair for a user."""
        with self.lock:
            self.token_counter += 1
            tag = f"{self.domain.split('.')[0]}-{self.token_counter}-{user_id}"
            access, refresh = f"at-{tag}", f"rt-{tag}"
            self.tokens[access] = user_id
            self.refresh_tokens[refresh] = user_id
            return access, refresh

    def expire(self, access_token: str) -> None:
        self.expired.add(access_token)

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()

    def hand(self, message_id: str, code: str) -> None:
        """The portal hands a message to the HANDLER of the sender `code`: its statuses are taken under that CODE
        only."""
        with self.lock:
            self.sent_through[message_id] = code

    def handler_form(self, message_id: str, phone: str, text: str, access_token: str, application_token: str,
                     module: str = "crm", **extra: str) -> dict[str, str]:
        """What Bitrix24 posts to a sender's HANDLER for one SMS, PHP-style keys and all (`extra` on top); the
        message is handed to the sender the form's `code` names."""
        now = int(time.time())
        form = {
            "type": "SMS", "code": SENDER_CODE, "message_id": message_id, "message_to": phone, "message_body": text,
            "ts": str(now), "properties[phone_number]": phone, "properties[message_text]": text,
            "auth[access_token]": access_token, "auth[expires]": str(now + 3600), "auth[expires_in]": "3600",
            "auth[scope]": "crm,messageservice", "auth[domain]": self.domain,
            "auth[server_endpoint]": f"{self.oauth.url}/rest/", "auth[status]": "L",
            "auth[client_endpoint]": self.endpoint, "auth[member_id]": self.member_id, "auth[user_id]": "1",
            "auth[application_token]": application_token,
        }
        if module == "crm":
            form.update({"module_id": "crm", "bindings[0][OWNER_TYPE_ID]": "3", "bindings[0][OWNER_ID]": "42"})
        else:
            form.update({"module_id": "bizproc", "workflow_id": "5f9a1b2c3d4e5f60.12345678",
                         "document_id[0]": "crm", "document_id[1]": "CCrmDocumentDeal", "document_id[2]": "DEAL_7",
                         "document_type[0]": "crm", "document_type[1]": "CCrmDocumentDeal",
                         "document_type[2]": "DEAL"})
        form.update(extra)
        self.hand(message_id, form["code"])
        return form

    def rest_requests(self, method: str | None = None) -> list[dict]:
        return [params for name, params in self.http_requests if method is None or name == method]

    @property
    def handler_url(self) -> str | None:
        """The HANDLER the app registered with messageservice.sender.add (its keyed URL), or None."""
        return (self.senders.get(SENDER_CODE) or {}).get("HANDLER")

    # -- its side of OAuth (FakeOAuthServer asks) --
    def app_info(self, token: str | None) -> Answer:
        if token not in self.tokens:
            return refusal(401, "invalid_token", "The access token provided is invalid.")
        if token in self.expired:
            return refusal(401, "expired_token", "The access token provided has expired.")
        return reply(200, {"result": {
            "scope": "crm,messageservice,user",
            "client_id": CLIENT_ID,
            "expires": 1800000000,
            "user_id": int(self.tokens[token]),
            "install": {
                "installed": True, "version": 1, "status": "L", "scope": "crm,messageservice,user",
                "domain": self.domain, "uri": f"https://{self.domain}",
                "client_endpoint": self.endpoint, "member_id": self.member_id, "member_type": "PORTAL",
            },
        }})

    def refresh(self, refresh_token: str | None) -> Answer:
        user = self.refresh_tokens.pop(refresh_token, None)  # refresh tokens rotate
        if user is None:
            return refusal(400, "invalid_grant", "Invalid refresh token")
        self.refresh_count += 1
        access, refresh = self.issue(user)
        if self.lose_refresh_answers:
            self.lose_refresh_answers -= 1
            raise requests.ReadTimeout("the OAuth server rotated the token; its answer was lost")
        return reply(200, {
            "access_token": access, "expires": 1800000000, "expires_in": 3600, "scope": "app",
            "domain": "oauth.bitrix.info", "server_endpoint": f"{self.oauth.url}/rest/", "status": "L",
            "client_endpoint": self.endpoint, "member_id": self.member_id, "user_id": int(user),
            "refresh_token": refresh,
        })

    # -- REST --
    def arrived(self, request: Request) -> None:
        if not (self.notify_delay or self.before_notify):
            return
        method, params = _rest_call(request)
        commands = (params.get("cmd") or {}).values() if method == "batch" else [method]
        for _ in [command for command in commands if command.partition("?")[0] == NOTIFY]:
            time.sleep(self.notify_delay)
            if self.before_notify:
                self.before_notify()

    def answer(self, request: Request) -> Answer:
        method, params = _rest_call(request)
        token = params.pop("auth", None)
        self.http_requests.append((method, params))
        if token not in self.tokens:
            return refusal(401, "invalid_token", "The access token provided is invalid.")
        if token in self.expired:
            return refusal(401, "expired_token", "The access token provided has expired.")
        if self.rate_limited:
            self.rate_limited -= 1
            return refusal(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        user = self.tokens[token]
        if method == "batch":
            return self._batch(user, params.get("cmd") or {})
        return reply(*self._method(user, method, params))

    def _batch(self, user: str, commands: dict[str, str]) -> Answer:
        if len(commands) > BATCH_LIMIT:
            return refusal(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        results, errors = {}, {}
        for key, command in commands.items():
            method, _, query = command.partition("?")
            _, body = self._method(user, method, forms.parse(parse_qsl(query, keep_blank_values=True)))
            if "error" in body:
                errors[key] = body
            else:
                results[key] = body["result"]
        return reply(200, {"result": {
            "result": results or [], "result_error": errors or [], "result_total": [], "result_next": [],
            "result_time": {},
        }, "time": {}})

    def _method(self, user: str, method: str, params: dict) -> tuple[int, dict]:
        self.calls.append((method, params))
        params = {key.upper(): value for key, value in params.items()}
        if method in self.missing_methods:
            return _not_found()
        admin = user in self.admins
        if method == "user.admin":
            return 200, {"result": admin}
        if method.startswith("messageservice.") and method != "messageservice.message.status.update" and not admin:
            return 403, {"error": "ACCESS_DENIED", "error_description": "Access denied!"}
        if method.startswith("messageservice.sender."):
            return self._sender_method(method, params)
        if method == "messageservice.message.status.update":
            return self._status_update(params)
        if method.split(".")[0] in self.missing_scopes:
            return 401, {"error": "insufficient_scope", "error_description":
                         "The request requires higher privileges than provided by the access token"}
        if method == NOTIFY:
            return self._notify(params)
        if method == "event.bind":
            if params.get("EVENT") in self.events:
                return 400, {"error": "", "error_description": "Handler already binded"}
            self.events[params["EVENT"]] = params.get("HANDLER")
            return 200, {"result": True}
        if method in IMCONNECTOR_LINE_METHODS:
            return self._imconnector_line(method, params)
        return _not_found()

    def _sender_method(self, method: str, params: dict) -> tuple[int, dict]:
        if method == "messageservice.sender.list":
            return 200, {"result": list(self.senders)}
        # Bitrix's messageservice RestService: CODE checked against ^[a-z0-9.\-_]+$ (any case) and looked up
        # without regard to case, per app.
        code = str(params.get("CODE") or "")
        if not code:
            return 400, {"error": "ERROR_SENDER_VALIDATION_FAILURE", "error_description": "Empty sender code!"}
        if not re.fullmatch(r"[a-z0-9.\-_]+", code, re.IGNORECASE):
            return 400, {"error": "ERROR_SENDER_VALIDATION_FAILURE", "error_description": "Wrong sender code!"}
        installed = next((known for known in self.senders if known.lower() == code.lower()), None)
        if method == "messageservice.sender.add":
            return self._add_sender(code, installed, params)
        if method not in ("messageservice.sender.update", "messageservice.sender.delete"):
            return _not_found()
        if installed is None:
            return 400, {"error": "ERROR_SENDER_NOT_FOUND", "error_description": "Sender not found!"}
        if method == "messageservice.sender.update":
            self.senders[installed].update({k: v for k, v in params.items() if k != "CODE"})
        else:
            del self.senders[installed]
        return 200, {"result": True}

    def _add_sender(self, code: str, installed: str | None, params: dict) -> tuple[int, dict]:
        if installed is not None:
            return 400, {"error": "ERROR_SENDER_ALREADY_INSTALLED", "error_description": "Sender already installed!"}
        if not str(params.get("HANDLER", "")).startswith(("http://", "https://")):
            return 400, {"error": "ERROR_WRONG_HANDLER_URL", "error_description": "Wrong handler URL"}
        if not params.get("NAME"):
            return 400, {"error": "ERROR_SENDER_VALIDATION_FAILURE", "error_description": "Empty sender NAME!"}
        if params.get("TYPE") != "SMS":
            return 400, {"error": "ERROR_SENDER_VALIDATION_FAILURE",
                         "error_description": "Unknown sender message TYPE!"}
        self.senders[code] = params
        return 200, {"result": True}

    def _status_update(self, params: dict) -> tuple[int, dict]:
        if params.get("MESSAGE_ID") in self.unknown_messages or not self._sent_through(params):
            return 400, {"error": "ERROR_MESSAGE_NOT_FOUND", "error_description": "Message not found!"}
        if params.get("STATUS") not in STATUSES:
            return 400, {"error": "ERROR_MESSAGE_STATUS_INCORRECT", "error_description": "Message status incorrect!"}
        self.statuses[params["MESSAGE_ID"]] = params["STATUS"]
        self.status_updates[params["MESSAGE_ID"]].append(params["STATUS"])
        self.last_status_at = time.monotonic()
        return 200, {"result": True}

    def _sent_through(self, params: dict) -> bool:
        """Whether a status update names the sender the message went through, as Bitrix24 looks the message up
        (codes without regard to case). A message this fake never handed out (built by a test in the database)
        is taken under any CODE."""
        code = self.sent_through.get(params.get("MESSAGE_ID"))
        return code is None or str(params.get("CODE") or "").lower() == code.lower()

    def _notify(self, params: dict) -> tuple[int, dict]:
        if not str(params.get("USER_ID") or "").isdigit() or int(params["USER_ID"]) <= 0:
            return 400, {"error": "USER_ID_EMPTY", "error_description": "User ID can't be empty"}
        if not str(params.get("MESSAGE") or "").strip():
            return 400, {"error": "MESSAGE_EMPTY", "error_description": "Message can't be empty"}
        self.notifications.append(params)
        return 200, {"result": 12000 + len(self.notifications)}  # the notification's id

    # -- imconnector: connecting an Open Line (activate, connector.data.set, status) --
    # State kept lazily so that this block stands alone: `connector_lines` {(CONNECTOR, LINE): {"active", "data"}};
    # `connector_refusal` (code, description): every such call is refused with it, inside a 200 as Bitrix24 does.
    def _imconnector_line(self, method: str, params: dict) -> tuple[int, dict]:
        lines = self.__dict__.setdefault("connector_lines", {})
        refusal = getattr(self, "connector_refusal", None)
        if refusal:
            return 200, {"result": {"result": False, "error": refusal[0], "error_description": refusal[1]}}
        if not params.get("CONNECTOR") or not str(params.get("LINE") or "").isdigit():
            return 400, {"error": "ERROR_ARGUMENT", "error_description": "Empty CONNECTOR or LINE"}
        state = lines.setdefault((params["CONNECTOR"], int(params["LINE"])), {"active": False, "data": None})
        if method == "imconnector.activate":
            state["active"] = str(params.get("ACTIVE")) == "1"
            return 200, {"result": True}
        if method == "imconnector.connector.data.set":
            state["data"] = params.get("DATA")
            return 200, {"result": {"result": True}}
        return 200, {"result": {"LINE": int(params["LINE"]), "CONNECTOR": params["CONNECTOR"], "ERROR": False,
                                "CONFIGURED": state["data"] is not None, "STATUS": state["active"]}}
    # -- end of imconnector --


def _rest_call(request: Request) -> tuple[str, dict]:
    """(method, params) of a REST request: JSON-bodied, as the app posts it."""
    method = request.last_segment.removesuffix(".json")
    return method, request.json() if request.body else {}


def _not_found() -> tuple[int, dict]:
    return 400, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}

