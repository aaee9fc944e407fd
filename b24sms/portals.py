"""A portal's life: verified iframe visits, install/uninstall events, tokens, settings and the sender."""
import logging
from datetime import timedelta

from sqlalchemy import exists, select

from . import callback_urls, providers
from .bitrix import oauth
from .bitrix.client import FixedToken, RestClient
from .bitrix.errors import AuthRevoked, BitrixError, BitrixUnavailable
from .crypto import same_secret
from .db import lock_rows
from .errors import BadRequest, Forbidden, NotFound, Unauthorized, UpstreamError
from .models import Portal, PortalState, ProviderAccount, utcnow
from .phones import region_for
from .providers.base import ACCOUNT, InvalidCredentials, ProviderError, RetryLater

logger = logging.getLogger(__name__)
MASK = "********"
SENDER_CHECK_INTERVAL = timedelta(hours=1)
TOKEN_EARLY_REFRESH = timedelta(seconds=60)


# ---------------------------------------------------------------- tokens
def lock_portal(session, portal_id):
    """The portal row, locked until the session's transaction ends."""
    rows = lock_rows(session, Portal, Portal.id == portal_id)
    return rows[0] if rows else None


class PortalTokens:
    """Token source for a portal's stored (admin) tokens, refreshing under the portal's row lock."""

    def __init__(self, db, portal_id, settings, http=None):
        self.db = db
        self.portal_id = portal_id
        self.settings = settings
        self.http = http
        self._token = self._expires_at = None  # what we last read or refreshed: a batch loop reads it once

    def access_token(self):
        if self._token and _still_fresh(self._expires_at):
            return self._token
        with self.db.session() as session:
            portal = session.get(Portal, self.portal_id)
            if portal is None or not portal.access_token:
                raise AuthRevoked("no_token", "the portal has no stored token")
            if portal.state == PortalState.NEEDS_REAUTH:
                raise AuthRevoked("needs_reauth", "the portal's admin must open the app again")
            token, expires_at = portal.access_token, portal.token_expires_at
        if not _still_fresh(expires_at):
            return self.refresh(token)
        return self._remember(token, expires_at)

    def refresh(self, stale_token):
        revoked = None
        with self.db.session() as session:
            portal = lock_portal(session, self.portal_id)
            if portal is None:
                raise AuthRevoked("portal_gone", "the portal was removed")
            # Someone refreshed while we waited for the lock: use theirs, never refresh twice.
            if portal.access_token and portal.access_token != stale_token and _still_fresh(portal.token_expires_at):
                return self._remember(portal.access_token, portal.token_expires_at)
            if portal.state == PortalState.NEEDS_REAUTH or not portal.refresh_token:
                raise AuthRevoked("needs_reauth", "the portal's admin must open the app again")
            try:
                pair = oauth.refresh(
                    self.settings["B24_OAUTH_URL"], self.settings["B24_CLIENT_ID"], self.settings["B24_CLIENT_SECRET"],
                    portal.refresh_token, http=self.http, timeout=self.settings["HTTP_TIMEOUT"], now=utcnow(),
                )
            except AuthRevoked as exc:
                portal.state = PortalState.NEEDS_REAUTH
                portal.state_reason = f"token refresh refused: {exc.code}"
                logger.warning("portal %s needs re-authorisation: %s", portal.domain, exc.code)
                revoked = exc
            else:
                portal.access_token = pair.access_token
                portal.refresh_token = pair.refresh_token
                portal.token_expires_at = pair.expires_at
                return self._remember(pair.access_token, pair.expires_at)
        self._token = None
        raise revoked

    def _remember(self, token, expires_at):
        self._token, self._expires_at = token, expires_at
        return token


def _still_fresh(expires_at):
    return expires_at is None or expires_at - TOKEN_EARLY_REFRESH > utcnow()


def rest_client(db, portal, settings, http=None) -> RestClient:
    return RestClient(portal.client_endpoint, PortalTokens(db, portal.id, settings, http),
                      timeout=settings["HTTP_TIMEOUT"], http=http)


# ---------------------------------------------------------------- verifying a token with the OAuth server
def verify_token(settings, access_token, member_id, http, *, refused):
    """The verified identity behind `access_token`, or `refused` (an AppError class) saying why not."""
    try:
        return oauth.verify(settings["B24_OAUTH_URL"], settings["B24_CLIENT_ID"], access_token, member_id,
                            http=http, timeout=settings["HTTP_TIMEOUT"])
    except oauth.AuthNotVerified as exc:
        raise refused(f"This request could not be verified with Bitrix24: {exc}.", "not_verified") from None
    except BitrixUnavailable:
        raise UpstreamError("Bitrix24 could not be reached to verify this request; try again.") from None


# ---------------------------------------------------------------- iframe visits (install page, settings page)
def verify_visit(session, settings, form, query, *, installing, http=None):
    """Verify the iframe's AUTH_ID with the OAuth server, then store or refresh the portal.

    Returns (portal, user_id, is_admin). Nothing is stored unless the token checks out.
    """
    access_token = form.get("AUTH_ID", "")
    member_id = form.get("member_id", "")
    verified = verify_token(settings, access_token, member_id, http, refused=Unauthorized)

    user_client = RestClient(verified.client_endpoint, FixedToken(access_token),
                             timeout=settings["HTTP_TIMEOUT"], http=http)
    try:
        is_admin = user_client.call("user.admin") is True
    except BitrixError as exc:
        logger.info("user.admin failed on %s: %s", verified.domain, exc.code)
        is_admin = False

    portal = session.scalars(select(Portal).where(Portal.member_id == verified.member_id)).one_or_none()
    if portal is None:
        portal = Portal(member_id=verified.member_id, state=PortalState.ACTIVE)
        session.add(portal)
    portal.domain = verified.domain
    portal.client_endpoint = verified.client_endpoint
    portal.language = (query.get("LANG") or portal.language or "")[:8] or None
    portal.region = region_for(portal.domain, portal.language)

    if is_admin:
        # Background calls (status updates, sender) need an admin's token: only an admin's visit stores one.
        _store_tokens(portal, access_token, form.get("REFRESH_ID"), form.get("AUTH_EXPIRES"))
        if installing and portal.state == PortalState.UNINSTALLED:
            portal.application_token = None  # a reinstall issues a new one
        if portal.state != PortalState.ACTIVE:
            portal.state, portal.state_reason = PortalState.ACTIVE, None
    application_token = form.get("APPLICATION_TOKEN")
    if application_token and (installing and is_admin or not portal.application_token):
        portal.application_token = application_token
    session.commit()
    return portal, verified.user_id, is_admin


def _store_tokens(portal, access_token, refresh_token, expires_in):
    portal.access_token = access_token
    if refresh_token:
        portal.refresh_token = refresh_token
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        seconds = 3600
    portal.token_expires_at = utcnow() + timedelta(seconds=max(0, min(seconds, 3600)))


# ---------------------------------------------------------------- authenticating Bitrix24's own calls
def authenticate_call(session, settings, auth, http=None):
    """The portal a handler call or event comes from, checked by its pinned application_token.

    With no token pinned yet, the call's access_token is verified with app.info and its application_token
    pinned. Raises Unauthorized/Forbidden; never calls a URL taken from the request.
    """
    if not isinstance(auth, dict) or not auth.get("member_id"):
        raise Unauthorized("The call carries no auth[member_id].", "no_auth")
    portal = session.scalars(select(Portal).where(Portal.member_id == str(auth["member_id"]))).one_or_none()
    if portal is None:
        raise Forbidden("This portal has not installed the app.", "unknown_portal")
    given = auth.get("application_token")
    if portal.application_token:
        if not same_secret(given, portal.application_token):
            raise Forbidden("auth[application_token] does not match this portal's installation.", "bad_token")
        return portal
    verify_token(settings, auth.get("access_token"), portal.member_id, http, refused=Forbidden)
    if not given:
        raise Forbidden("The call carries no auth[application_token].", "no_token")
    portal.application_token = given
    session.commit()
    return portal


def on_install_event(session, settings, auth, http=None):
    """ONAPPINSTALL: verify its access token, pin application_token, store the installer's tokens."""
    if not isinstance(auth, dict):
        raise Unauthorized("The event carries no auth block.", "no_auth")
    verified = verify_token(settings, auth.get("access_token"), auth.get("member_id"), http, refused=Forbidden)
    if not auth.get("application_token"):
        raise BadRequest("The event carries no auth[application_token].", "no_token")
    portal = session.scalars(select(Portal).where(Portal.member_id == verified.member_id)).one_or_none()
    if portal is None:
        portal = Portal(member_id=verified.member_id)
        session.add(portal)
    portal.domain = verified.domain
    portal.client_endpoint = verified.client_endpoint
    portal.region = region_for(portal.domain, portal.language)
    portal.application_token = auth["application_token"]
    portal.state, portal.state_reason = PortalState.ACTIVE, None
    _store_tokens(portal, auth["access_token"], auth.get("refresh_token"), auth.get("expires_in"))
    session.commit()
    return portal


def on_uninstall_event(session, settings, auth, clean):
    """ONAPPUNINSTALL: the pinned application_token is the only proof there is."""
    portal = authenticate_pinned(session, auth)
    if clean:
        session.delete(portal)
        logger.info("portal %s uninstalled with CLEAN: all its data deleted", portal.domain)
    else:
        portal.state, portal.state_reason = PortalState.UNINSTALLED, "the app was uninstalled"
        portal.access_token = portal.refresh_token = None
        portal.sender_registered = False
        logger.info("portal %s uninstalled: kept, disabled", portal.domain)
    session.commit()
    return portal


def authenticate_pinned(session, auth):
    if not isinstance(auth, dict) or not auth.get("member_id"):
        raise Unauthorized("The event carries no auth[member_id].", "no_auth")
    portal = session.scalars(select(Portal).where(Portal.member_id == str(auth["member_id"]))).one_or_none()
    if portal is None:
        raise NotFound("This portal is not known.", "unknown_portal")
    if not same_secret(auth.get("application_token"), portal.application_token):
        raise Forbidden("auth[application_token] does not match this portal's installation.", "bad_token")
    return portal


# ---------------------------------------------------------------- provider settings
def describe_accounts(portal, settings):
    """Settings as the page sees them: secrets masked, never echoed back. Providers whose receipt URL the admin
    pastes into the provider's cabinet also get that URL."""
    described = []
    for account in portal.active_accounts:
        cls = providers.PROVIDERS.get(account.kind)
        secret_names = {s.name for s in cls.credential_settings if s.secret} if cls else set(account.credentials)
        entry = {
            "kind": account.kind,
            "sender": account.sender or "",
            "credentials": {name: (MASK if name in secret_names and value else value)
                            for name, value in (account.credentials or {}).items()},
        }
        if cls is not None and cls.receipts == ACCOUNT:
            entry["callback_url"] = callback_urls.url_for(settings, account)
        described.append(entry)
    return described


def save_settings(session, settings, portal, entries, http=None):
    """Replace the portal's failover chain with `entries`, each checked against its provider first."""
    if not isinstance(entries, list) or not entries:
        raise BadRequest("`providers` must be a non-empty list.", "invalid_settings")
    existing = {account.kind: account for account in portal.accounts}
    cleaned = [_clean_entry(index, entry, existing) for index, entry in enumerate(entries)]
    kinds = [kind for kind, _, _ in cleaned]
    if len(set(kinds)) != len(kinds):
        raise BadRequest("Each provider may appear once in the chain.", "invalid_settings")

    for kind, sender, credentials in cleaned:
        provider = providers.build(kind, credentials, sender, settings, http=http)
        try:
            provider.check_credentials()
        except InvalidCredentials as exc:
            raise BadRequest(f"{provider.title}: {exc.text}", "invalid_credentials") from None
        except RetryLater as exc:
            raise UpstreamError(f"{provider.title} could not be reached: {exc.text}", "provider_unavailable") from None
        except ProviderError as exc:
            raise BadRequest(f"{provider.title}: {exc}", "invalid_credentials") from None

    for account in portal.accounts:
        account.position = None  # retired unless named again below; kept for polling its messages
    for position, (kind, sender, credentials) in enumerate(cleaned):
        account = existing.get(kind)
        if account is None:
            account = ProviderAccount(kind=kind, portal=portal)
            session.add(account)
        account.position = position
        account.sender = sender or None
        account.credentials = credentials
        if providers.PROVIDERS[kind].receipts:
            callback_urls.assign_secret(account)
    session.commit()
    session.expire(portal, ["accounts"])  # the relationship is ordered by position: read it again


def _clean_entry(index, entry, existing_accounts):
    """(kind, sender, credentials) of one chain entry, validated against the provider's declared settings."""
    if not isinstance(entry, dict):
        raise BadRequest(f"providers[{index}] must be an object.", "invalid_settings")
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in providers.PROVIDERS:
        raise BadRequest(f"providers[{index}].kind: unknown provider {str(kind)[:40]!r}.", "invalid_settings")
    cls = providers.PROVIDERS[kind]
    existing = existing_accounts.get(kind)
    given = entry.get("credentials") or {}
    if not isinstance(given, dict):
        raise BadRequest(f"providers[{index}].credentials must be an object.", "invalid_settings")
    credentials = {}
    for setting in cls.credential_settings:
        value = given.get(setting.name, "")
        if not isinstance(value, str):
            raise BadRequest(f"providers[{index}].credentials.{setting.name} must be a string.", "invalid_settings")
        value = value.strip()
        if setting.secret and value == MASK:
            value = (existing.credentials or {}).get(setting.name, "") if existing else ""
        if setting.required and not value:
            raise BadRequest(f"providers[{index}].credentials.{setting.name} is required.", "invalid_settings")
        credentials[setting.name] = value
    sender = entry.get("sender") or ""
    if not isinstance(sender, str) or len(sender) > 64:
        raise BadRequest(f"providers[{index}].sender must be a string of at most 64 characters.", "invalid_settings")
    if cls.sender_setting and cls.sender_setting.required and not sender.strip():
        raise BadRequest(f"providers[{index}].sender is required.", "invalid_settings")
    return kind, sender.strip() if cls.sender_setting else "", credentials


# ---------------------------------------------------------------- the sender (messageservice)
def sender_params(settings):
    return {
        "CODE": settings["SENDER_CODE"],
        "TYPE": "SMS",
        "HANDLER": settings["PUBLIC_URL"] + "/handler",
        "NAME": {"ru": "b24sms: SMS", "en": "b24sms: SMS"},
        "DESCRIPTION": {
            "ru": "Отправка SMS через вашего SMS-провайдера (b24sms)",
            "en": "SMS through your own SMS provider (b24sms)",
        },
    }


def register_sender(client, portal, settings):
    """Register (or update) our sender and bind ONAPPUNINSTALL, server-side with the portal's token."""
    params = sender_params(settings)
    try:
        client.call("messageservice.sender.add", params)
    except BitrixError as exc:
        if exc.code != "ERROR_SENDER_ALREADY_INSTALLED":
            raise
        _update_sender(client, params)
    try:
        client.call("event.bind", {"event": "ONAPPUNINSTALL", "handler": settings["PUBLIC_URL"] + "/events"})
    except BitrixError as exc:
        if "already" not in (exc.description or "").lower() and exc.code != "ERROR_EVENT_ALREADY_BINDED":
            raise
    portal.sender_registered = True
    portal.sender_checked_at = utcnow()


def _update_sender(client, params):
    try:
        client.call("messageservice.sender.update", {k: params[k] for k in ("CODE", "HANDLER", "NAME", "DESCRIPTION")})
    except BitrixError as exc:
        if exc.code not in ("ERROR_METHOD_NOT_FOUND", "METHOD_NOT_FOUND"):
            raise
        # Older on-premise portals have no sender.update: delete and add again.
        client.call("messageservice.sender.delete", {"CODE": params["CODE"]})
        client.call("messageservice.sender.add", params)


def ensure_sender(client, portal, settings):
    """Register the sender again if the portal lost it (an app update deletes senders)."""
    codes = client.call("messageservice.sender.list") or []
    if isinstance(codes, dict):
        codes = list(codes.values())
    if settings["SENDER_CODE"].lower() in {str(code).lower() for code in codes}:
        portal.sender_registered = True
        portal.sender_checked_at = utcnow()
    else:
        logger.info("portal %s lost its sender: registering again", portal.domain)
        register_sender(client, portal, settings)


def sync_sender(db, session, settings, portal, *, check_first, http=None):
    """Register or check the sender and keep the outcome on the portal; Bitrix trouble is logged, not raised."""
    client = rest_client(db, portal, settings, http)
    try:
        if check_first:
            ensure_sender(client, portal, settings)
        else:
            register_sender(client, portal, settings)
    except AuthRevoked:
        session.refresh(portal)  # the refresh marked the portal needs_reauth in its own transaction
    except BitrixError as exc:
        logger.warning("sender registration on %s failed: %s", portal.domain, exc)
        if not check_first:
            portal.sender_registered = False
    session.commit()
    return portal.sender_registered


def portals_due_sender_check(session, now):
    """Active portals whose sender was not checked within the hour, claimed so no other runner checks them."""
    rows = session.scalars(
        select(Portal).where(
            Portal.state == PortalState.ACTIVE,
            Portal.sender_checked_at.is_(None) | (Portal.sender_checked_at < now - SENDER_CHECK_INTERVAL),
            exists().where(ProviderAccount.portal_id == Portal.id, ProviderAccount.position.is_not(None)),
        ).limit(200).with_for_update(skip_locked=True)
    ).all()
    for portal in rows:
        portal.sender_checked_at = now
    session.commit()
    return rows
