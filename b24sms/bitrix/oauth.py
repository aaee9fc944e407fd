"""The Bitrix24 OAuth server: who is this token (app.info), and a new token pair (refresh)."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from b24sms.bitrix.errors import BitrixError, BitrixUnavailable
from b24sms.bitrix.http import Redirected, request_json


class AuthNotVerified(Exception):
    """The token is not one of ours, or belongs to another portal, or could not be checked."""


@dataclass(frozen=True)
class VerifiedAuth:
    member_id: str
    domain: str
    client_endpoint: str
    user_id: str | None
    scope: str


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: datetime
    client_endpoint: str | None
    member_id: str | None


def app_info(oauth_url, access_token, *, http, timeout) -> dict:
    try:
        answer = request_json(http, "GET", f"{oauth_url}/rest/app.info", params={"auth": access_token},
                              timeout=timeout)
    except Redirected:
        raise AuthNotVerified("the OAuth server answered with a redirect") from None
    # The OAuth server wraps the answer in {"result": ...} as REST does; read both shapes.
    info = answer.get("result", answer)
    if not isinstance(info, dict):
        raise AuthNotVerified("app.info answered with an unexpected shape")
    return info


def verify(oauth_url, client_id, access_token, member_id, *, http, timeout) -> VerifiedAuth:
    """Accept `access_token` only when the OAuth server says it is our app's, on portal `member_id`."""
    if not access_token or not member_id:
        raise AuthNotVerified("the request carries no access token or member_id")
    try:
        info = _lower_keys(app_info(oauth_url, access_token, http=http, timeout=timeout))
    except BitrixUnavailable:
        raise  # not a verdict on the token: the caller answers "try again"
    except BitrixError as exc:
        raise AuthNotVerified(f"the OAuth server refused the token ({exc.code})") from None
    install = _lower_keys(info.get("install") or {})
    if not client_id or str(info.get("client_id", "")) != client_id:
        raise AuthNotVerified("the token was issued to another application")
    if str(install.get("member_id", "")) != str(member_id):
        raise AuthNotVerified("the token belongs to another portal")
    domain = str(install.get("domain") or "")
    endpoint = str(install.get("client_endpoint") or (f"https://{domain}/rest/" if domain else ""))
    if not endpoint.startswith(("https://", "http://")):
        raise AuthNotVerified("app.info named no portal endpoint")
    if not domain:
        domain = urlsplit(endpoint).hostname or ""
    return VerifiedAuth(
        member_id=str(member_id),
        domain=domain,
        client_endpoint=endpoint if endpoint.endswith("/") else endpoint + "/",
        user_id=str(info["user_id"]) if info.get("user_id") is not None else None,
        scope=str(info.get("scope") or install.get("scope") or ""),
    )


def refresh(oauth_url, client_id, client_secret, refresh_token, *, http, timeout, now) -> TokenPair:
    """A new token pair. The old refresh token stops working: the caller must store the new one."""
    answer = request_json(
        http, "GET", f"{oauth_url}/oauth/token/", timeout=timeout,
        params={"grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
                "refresh_token": refresh_token},
    )
    if not answer.get("access_token") or not answer.get("refresh_token"):
        raise BitrixError("bad_refresh_answer", "the OAuth server answered without a token pair")
    return TokenPair(
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
        expires_at=now + timedelta(seconds=_int(answer.get("expires_in"), 3600)),
        client_endpoint=answer.get("client_endpoint"),
        member_id=answer.get("member_id"),
    )


def _lower_keys(data):
    return {str(key).lower(): value for key, value in data.items()} if isinstance(data, dict) else {}


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
