"""Fakes at the HTTP boundary, answering the way Bitrix24 and its OAuth server answer.

They are `responses` callbacks: the app's real HTTP code runs against them, nothing of ours is mocked.
"""
import json
import re
import time
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests
import responses

OAUTH = "https://oauth.bitrix.info"
CLIENT_ID = "app.5f0b2c1d9e8a71.12345678"
CLIENT_SECRET = "client-secret-value"


def reply(status, body):
    return status, {"Content-Type": "application/json"}, json.dumps(body)


class FakeBitrix:
    """One portal plus the OAuth server. Tokens are plain strings the test hands out."""

    def __init__(self, rsps, domain="example.bitrix24.ru", member_id="a1b2c3d4e5f60718293a4b5c6d7e8f90"):
        self.rsps = rsps
        self.domain = domain
        self.member_id = member_id
        self.endpoint = f"https://{domain}/rest/"
        self.tokens = {}  # access token -> user id
        self.admins = {"1"}
        self.refresh_tokens = {}  # refresh token -> user id
        self.expired = set()
        self.refresh_count = 0
        self.senders = {}  # code -> params
        self.events = {}
        self.statuses = {}  # MESSAGE_ID -> STATUS
        self.sent_through = {}  # MESSAGE_ID -> the CODE of the sender whose HANDLER got the message (hand())
        self.unknown_messages = set()
        self.calls = []  # (method, params) of every REST call, batch commands included
        self.http_requests = []  # REST requests as they went over the wire: (method, params)
        self.rate_limited = 0  # answer QUERY_LIMIT_EXCEEDED this many times
        self.missing_methods = set()  # methods this portal does not have (older on-premise versions)
        self.missing_scopes = set()  # scopes the app was not granted on this portal ("im": no notifications)
        self.notifications = []  # im.notify.system.add params, as the portal took them
        self.notify_delay = 0  # seconds each im.notify.system.add takes (runners racing for one notice)
        self.before_notify = None  # called inside each im.notify.system.add (another runner at work meanwhile)
        self.lose_refresh_answers = 0  # rotate the refresh token, then lose the answer this many times
        self.before_refresh = None  # called inside each refresh request (a slow OAuth server)
        self.token_counter = 0
        # One OAuth server for every fake portal of a test: it asks each portal whose token it is.
        portals = getattr(rsps, "fake_portals", None)
        if portals is None:
            portals = rsps.fake_portals = []
            rsps.add_callback(responses.GET, f"{OAUTH}/rest/app.info",
                              callback=lambda request: _owner(portals, request, "auth")._app_info(request))
            rsps.add_callback(responses.GET, f"{OAUTH}/oauth/token/",
                              callback=lambda request: _owner(portals, request, "refresh_token")._oauth_token(request))
        portals.append(self)
        rsps.add_callback(responses.POST, re.compile(re.escape(self.endpoint) + r"[\w.]+"), callback=self._rest)

    # -- test helpers --
    def issue(self, user_id="1"):
        """A fresh (access, refresh) pair for a user."""
        self.token_counter += 1
        tag = f"{self.domain.split('.')[0]}-{self.token_counter}-{user_id}"
        access, refresh = f"at-{tag}", f"rt-{tag}"
        self.tokens[access] = user_id
        self.refresh_tokens[refresh] = user_id
        return access, refresh

    def expire(self, access_token):
        self.expired.add(access_token)

    def revoke_refresh_tokens(self):
        self.refresh_tokens.clear()

    def hand(self, message_id, code):
        """The portal hands a message to the HANDLER of the sender `code`: its statuses are taken under that CODE
        only (tests/helpers.py handler_form calls this)."""
        self.sent_through[message_id] = code

    def rest_requests(self, method=None):
        return [params for name, params in self.http_requests if method is None or name == method]

    # -- OAuth server --
    def _app_info(self, request):
        token = dict(parse_qsl(urlsplit(request.url).query)).get("auth")
        if token not in self.tokens:
            return reply(401, {"error": "invalid_token", "error_description": "The access token provided is invalid."})
        if token in self.expired:
            return reply(401, {"error": "expired_token", "error_description": "The access token provided has expired."})
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

    def _oauth_token(self, request):
        query = dict(parse_qsl(urlsplit(request.url).query))
        if query.get("client_id") != CLIENT_ID or query.get("client_secret") != CLIENT_SECRET:
            return reply(401, {"error": "invalid_client", "error_description": "Invalid client credentials"})
        if self.before_refresh:
            self.before_refresh()
        user = self.refresh_tokens.pop(query.get("refresh_token"), None)  # refresh tokens rotate
        if user is None:
            return reply(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
        self.refresh_count += 1
        access, refresh = self.issue(user)
        if self.lose_refresh_answers:
            self.lose_refresh_answers -= 1
            raise requests.ReadTimeout("the OAuth server rotated the token; its answer was lost")
        return reply(200, {
            "access_token": access, "expires": 1800000000, "expires_in": 3600, "scope": "app",
            "domain": "oauth.bitrix.info", "server_endpoint": f"{OAUTH}/rest/", "status": "L",
            "client_endpoint": self.endpoint, "member_id": self.member_id, "user_id": int(user),
            "refresh_token": refresh,
        })

    # -- the portal's REST --
    def _rest(self, request):
        method = urlsplit(request.url).path.rsplit("/", 1)[-1].removesuffix(".json")
        params = json.loads(request.body) if request.body else {}
        token = params.pop("auth", None)
        self.http_requests.append((method, params))
        if token not in self.tokens:
            return reply(401, {"error": "invalid_token", "error_description": "The access token provided is invalid."})
        if token in self.expired:
            return reply(401, {"error": "expired_token", "error_description": "The access token provided has expired."})
        if self.rate_limited:
            self.rate_limited -= 1
            return reply(503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
        user = self.tokens[token]
        if method == "batch":
            return self._batch(user, params)
        status, body = self._method(user, method, params)
        return reply(status, body)

    def _batch(self, user, params):
        cmd = params.get("cmd") or {}
        if len(cmd) > 50:
            return reply(400, {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                               "error_description": "Max batch length exceeded"})
        results, errors = {}, {}
        for key, command in cmd.items():
            method, _, query = command.partition("?")
            status, body = self._method(user, method, _php_parse(query))
            if "error" in body:
                errors[key] = body
            else:
                results[key] = body["result"]
        return reply(200, {"result": {
            "result": results or [], "result_error": errors or [], "result_total": [], "result_next": [],
            "result_time": {},
        }, "time": {}})

    def _method(self, user, method, params):
        self.calls.append((method, params))
        params = {key.upper(): value for key, value in params.items()}
        if method in self.missing_methods:
            return 400, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
        admin = user in self.admins
        if method == "user.admin":
            return 200, {"result": admin}
        if method.startswith("messageservice.") and method != "messageservice.message.status.update" and not admin:
            return 403, {"error": "ACCESS_DENIED", "error_description": "Access denied!"}
        if method.startswith("messageservice.sender.") and method != "messageservice.sender.list":
            # Bitrix's messageservice RestService: CODE checked against ^[a-z0-9.\-_]+$ (any case) and looked
            # up without regard to case, per app.
            code = str(params.get("CODE") or "")
            if not code:
                return 400, {"error": "ERROR_SENDER_VALIDATION_FAILURE", "error_description": "Empty sender code!"}
            if not re.fullmatch(r"[a-z0-9.\-_]+", code, re.IGNORECASE):
                return 400, {"error": "ERROR_SENDER_VALIDATION_FAILURE", "error_description": "Wrong sender code!"}
            installed = next((known for known in self.senders if known.lower() == code.lower()), None)
        if method == "messageservice.sender.add":
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
        if method == "messageservice.sender.update":
            if installed is None:
                return 400, {"error": "ERROR_SENDER_NOT_FOUND", "error_description": "Sender not found!"}
            self.senders[installed].update({k: v for k, v in params.items() if k != "CODE"})
            return 200, {"result": True}
        if method == "messageservice.sender.list":
            return 200, {"result": list(self.senders)}
        if method == "messageservice.sender.delete":
            if installed is None:
                return 400, {"error": "ERROR_SENDER_NOT_FOUND", "error_description": "Sender not found!"}
            del self.senders[installed]
            return 200, {"result": True}
        if method == "messageservice.message.status.update":
            if params.get("MESSAGE_ID") in self.unknown_messages or not self._sent_through(params):
                return 400, {"error": "ERROR_MESSAGE_NOT_FOUND", "error_description": "Message not found!"}
            if params.get("STATUS") not in ("queued", "sent", "delivered", "undelivered", "failed"):
                return 400, {"error": "ERROR_MESSAGE_STATUS_INCORRECT",
                             "error_description": "Message status incorrect!"}
            self.statuses[params["MESSAGE_ID"]] = params["STATUS"]
            return 200, {"result": True}
        if method.split(".")[0] in self.missing_scopes:
            return 401, {"error": "insufficient_scope", "error_description":
                         "The request requires higher privileges than provided by the access token"}
        if method == "im.notify.system.add":
            if not str(params.get("USER_ID") or "").isdigit() or int(params["USER_ID"]) <= 0:
                return 400, {"error": "USER_ID_EMPTY", "error_description": "User ID can't be empty"}
            if not str(params.get("MESSAGE") or "").strip():
                return 400, {"error": "MESSAGE_EMPTY", "error_description": "Message can't be empty"}
            time.sleep(self.notify_delay)
            if self.before_notify:
                self.before_notify()
            self.notifications.append(params)
            return 200, {"result": 12000 + len(self.notifications)}  # the notification's id
        if method == "event.bind":
            if params.get("EVENT") in self.events:
                return 400, {"error": "", "error_description": "Handler already binded"}
            self.events[params["EVENT"]] = params.get("HANDLER")
            return 200, {"result": True}
        return 400, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}


    def _sent_through(self, params):
        """Whether a status update names the sender the message went through, as Bitrix24 looks the message up
        (codes without regard to case). A message this fake never handed out (built by a test in the database)
        is taken under any CODE."""
        code = self.sent_through.get(params.get("MESSAGE_ID"))
        return code is None or str(params.get("CODE") or "").lower() == code.lower()


def _owner(portals, request, param):
    """The fake portal that issued the token named in the request (the first one when none did)."""
    token = dict(parse_qsl(urlsplit(request.url).query)).get(param)
    for portal in portals:
        if token in portal.tokens or token in portal.refresh_tokens:
            return portal
    return portals[0]


def _php_parse(query):
    """Enough of PHP's parse_str for batch commands: flat keys plus one level of `NAME[ru]`."""
    parsed = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        match = re.fullmatch(r"(\w+)\[(\w*)\]", key)
        if match:
            parsed.setdefault(match.group(1), {})[match.group(2)] = values[-1]
        else:
            parsed[key] = values[-1]
    return parsed
