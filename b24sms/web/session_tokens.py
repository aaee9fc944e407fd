"""The settings page's session: a signed, short-lived token minted after the iframe POST was verified.

No cookies: third-party cookies are blocked inside the Bitrix24 iframe, so the page carries the token in a
<meta> tag and sends it as `Authorization: Bearer ...`. A token names the install of the app it was minted for
(`Portal.install_id`), so that it opens nothing once that install is gone (b24sms/bitrix/installs.py,
`installed_portal`).
"""
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from b24sms.bitrix import installs
from b24sms.i18n import LANGUAGES
from b24sms.rules.errors import N_, Unauthorized
from b24sms.store.models import Portal
from b24sms.web.i18n import use_language

SALT = "b24sms.page-session"
LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class PageSession:
    portal_id: int
    install_id: str  # the portal's install the token was minted for
    user_id: str | None
    is_admin: bool
    language: str = "en"  # the portal's language as the iframe's LANG gave it: ru or en
    # The Open Line a connector page (POST /connector) was opened for: such a token opens only that line's calls
    # (GET /api/lines, PUT /api/lines/<line>); None for the settings page's.
    line: str | None = None


def mint(secret_key, session: PageSession) -> str:
    return URLSafeTimedSerializer(secret_key, salt=SALT).dumps(
        {"p": session.portal_id, "i": session.install_id, "u": session.user_id, "a": session.is_admin,
         "l": session.language, **({"o": session.line} if session.line is not None else {})}
    )


def read(secret_key, header_value) -> PageSession:
    scheme, _, token = (header_value or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(N_("Send the page's session token as `Authorization: Bearer <token>`."), "no_session")
    try:
        data = URLSafeTimedSerializer(secret_key, salt=SALT).loads(token.strip(), max_age=LIFETIME_SECONDS)
    except SignatureExpired:
        raise Unauthorized(N_("The session expired: reopen the app in Bitrix24."), "session_expired") from None
    except BadSignature:
        raise Unauthorized(N_("The session token is not valid."), "bad_session") from None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int) or not isinstance(data.get("i"), str):
        raise Unauthorized(N_("The session token is not valid."), "bad_session")
    language = data.get("l") if data.get("l") in LANGUAGES else "en"
    line = data.get("o")
    if line is not None and not isinstance(line, str):
        raise Unauthorized(N_("The session token is not valid."), "bad_session")
    return PageSession(portal_id=data["p"], install_id=data["i"], user_id=data.get("u"), is_admin=bool(data.get("a")),
                       language=language, line=line)


def open_session(secret_key, header_value, db_session) -> tuple[PageSession, Portal]:
    """The page's session and the portal it acts for, still the install it was minted for; from here on the
    request speaks the token's language (its refusals included). Raises Unauthorized."""
    page = read(secret_key, header_value)
    use_language(page.language)
    return page, installs.installed_portal(db_session, page.portal_id, page.install_id)
