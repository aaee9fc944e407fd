"""A Bitrix24 REST client for one portal: calls, batches, one refresh-and-retry on an expired token."""
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from b24sms.bitrix.errors import BitrixError, TokenExpired
from b24sms.bitrix.forms import build_query
from b24sms.bitrix.http import Redirected, request_json
from b24sms.bitrix.rate_limit import TokenBucket

logger = logging.getLogger(__name__)
BATCH_LIMIT = 50


class FixedToken:
    """A token source for a token we may use but not refresh (the iframe's AUTH_ID)."""

    def __init__(self, token):
        self.token = token

    def access_token(self):
        return self.token

    def refresh(self, stale_token):
        raise TokenExpired("expired_token", "this token cannot be refreshed")


@dataclass
class BatchResult:
    results: dict  # key -> result
    errors: dict  # key -> BitrixError


class RestClient:
    """`tokens` provides `access_token()` and `refresh(stale_token) -> new token` (see portal_tokens.PortalTokens);
    `http` is the process's one HTTP client and `rate_limit` its one TokenBucket (every call waits for a token of
    its portal's bucket)."""

    def __init__(self, endpoint, tokens, *, http, timeout, rate_limit: TokenBucket):
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.tokens = tokens
        self.http = http
        self.timeout = timeout
        self.rate_limit = rate_limit

    @classmethod
    def of(cls, services, endpoint, tokens) -> "RestClient":
        """A client on the services' HTTP client, timeout and rate limit."""
        return cls(endpoint, tokens, http=services.http, timeout=services.settings.http_timeout,
                   rate_limit=services.bitrix_rate_limit)

    def call(self, method, params=None):
        """The `result` of one method; raises BitrixError (or a subclass) on an error answer."""
        return self._call(method, dict(params or {}))["result"]

    def batch(self, commands, halt=False) -> BatchResult:
        """Up to 50 commands `{key: (method, params)}` in one request; per-command errors come back, not raised."""
        if len(commands) > BATCH_LIMIT:
            raise ValueError(f"a batch takes at most {BATCH_LIMIT} commands, got {len(commands)}")
        cmd = {key: f"{method}?{build_query(params)}" if params else method
               for key, (method, params) in commands.items()}
        answer = self._call("batch", {"halt": 1 if halt else 0, "cmd": cmd})["result"]
        return BatchResult(
            results=_as_mapping(answer.get("result"), commands),
            errors={key: _batch_error(error) for key, error in _as_mapping(answer.get("result_error"),
                                                                           commands).items()},
        )

    def _call(self, method, params):
        token = self.tokens.access_token()
        try:
            return self._post(method, params, token)
        except TokenExpired:
            token = self.tokens.refresh(token)
            return self._post(method, params, token)

    def _post(self, method, params, token):
        url = self.endpoint + method
        for _ in range(2):
            self.rate_limit.wait(self.endpoint)  # the portal's REST endpoint: its own bucket
            try:
                return request_json(self.http, "POST", url, json={**params, "auth": token}, timeout=self.timeout)
            except Redirected as moved:
                # A portal that changed its domain redirects REST calls: follow once, to the same method only.
                target = moved.location
                if not target.startswith("https://") or urlsplit(target).path != urlsplit(url).path:
                    raise BitrixError("redirect_refused", f"REST redirected to {target!r}") from None
                logger.info("REST %s moved from %s to %s", method, urlsplit(url).hostname, urlsplit(target).hostname)
                url = target
        raise BitrixError("too_many_redirects", f"REST {method} kept redirecting")


def _as_mapping(value, commands):
    """PHP sends an empty array as `[]` and 0..n-1 keys as a list: accept both."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        keys = list(commands)
        return {keys[index]: item for index, item in enumerate(value) if index < len(keys)}
    return {}


def _batch_error(error):
    if isinstance(error, dict):
        return BitrixError(str(error.get("error", "unknown")), str(error.get("error_description", "")))
    return BitrixError("unknown", str(error))
