"""What can go wrong talking to Bitrix24, sorted by what the caller should do about it."""


class BitrixError(Exception):
    """Bitrix24 answered with an error. `code` is Bitrix's own (`ERROR_MESSAGE_NOT_FOUND`, ...)."""

    def __init__(self, code, description="", http_status=None):
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.http_status = http_status


class TokenExpired(BitrixError):
    """The access token is expired or unusable: refresh it and try once more."""


class RateLimited(BitrixError):
    """QUERY_LIMIT_EXCEEDED / OVERLOAD_LIMIT / OPERATION_TIME_LIMIT: back off and continue later."""


class AuthRevoked(BitrixError):
    """The refresh token no longer works (invalid_grant, ...): the portal's admin must open the app again."""


class BitrixUnavailable(BitrixError):
    """Network trouble, a timeout, or a 5xx without an error body."""


TOKEN_ERRORS = {"expired_token", "invalid_token", "no_auth_found"}
RATE_ERRORS = {"query_limit_exceeded", "overload_limit", "operation_time_limit"}
REVOKED_ERRORS = {"invalid_grant", "invalid_client", "payment_required", "wrong_client", "application_not_found"}


def classify(code, description="", http_status=None) -> BitrixError:
    key = str(code).lower()
    if key in TOKEN_ERRORS:
        return TokenExpired(code, description, http_status)
    if key in RATE_ERRORS:
        return RateLimited(code, description, http_status)
    if key in REVOKED_ERRORS:
        return AuthRevoked(code, description, http_status)
    return BitrixError(code, description, http_status)
