"""Who may trust what: verified iframe visits, install/uninstall events, and the handler calls' portal.

- `application_token` is pinned only from an admin-verified source: an iframe visit or an ONAPPINSTALL whose
  access token app.info verifies AND whose user `user.admin` says is an admin. Never from a non-admin's visit,
  never from a handler call.
- A handler call names its portal by the random key in its URL (`/handler/<key>`); when it also carries
  `auth[application_token]` and one is pinned, they must match.
"""
import logging
from datetime import timedelta

from sqlalchemy import select

from b24sms.bitrix import admins, oauth
from b24sms.bitrix.client import FixedToken, RestClient
from b24sms.bitrix.errors import BitrixError, BitrixUnavailable
from b24sms.bitrix.handler_keys import ensure_handler_key, portal_by_key
from b24sms.rules.errors import N_, BadRequest, Forbidden, NotFound, Unauthorized, UpstreamError
from b24sms.rules.phones import region_for
from b24sms.services import Services
from b24sms.store.crypto import same_secret
from b24sms.store.models import Portal, PortalState, new_install_id, utcnow

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- verifying a token with the OAuth server
def verify_token(services: Services, access_token, member_id, *, refused):
    """The verified identity behind `access_token`, or `refused` (an AppError class) saying why not."""
    settings = services.settings
    try:
        return oauth.verify(settings.b24_oauth_url, settings.b24_client_id, access_token, member_id,
                            http=services.http, timeout=settings.http_timeout)
    except oauth.AuthNotVerified as exc:
        raise refused(N_("This request could not be verified with Bitrix24: %(reason)s."), "not_verified",
                      reason=str(exc)) from None
    except BitrixUnavailable:
        raise UpstreamError(N_("Bitrix24 could not be reached to verify this request; try again.")) from None


def is_admin(services: Services, verified, access_token):
    """Whether the user behind a verified token is a portal admin (`user.admin`); False when unsure."""
    client = RestClient.of(services, verified.client_endpoint, FixedToken(access_token))
    try:
        return client.call("user.admin") is True
    except BitrixError as exc:
        logger.info("user.admin failed on %s: %s", verified.domain, exc.code)
        return False


def portal_for(session, verified):
    """The portal a verified token belongs to, created if new, its address taken from the verified answer."""
    portal = session.scalars(select(Portal).where(Portal.member_id == verified.member_id)).one_or_none()
    if portal is None:
        portal = Portal(member_id=verified.member_id, state=PortalState.ACTIVE)
        session.add(portal)
    portal.domain = verified.domain
    portal.client_endpoint = verified.client_endpoint
    return portal


def activate(portal):
    """The app is installed and working on `portal`. Coming back from an uninstall is a new install: it gets a new
    install id, so that the page tokens of the earlier one open nothing."""
    if portal.state == PortalState.UNINSTALLED:
        portal.install_id = new_install_id()
    portal.state, portal.state_reason = PortalState.ACTIVE, None


def installed_portal(session, portal_id, install_id):
    """The portal a page token was minted for, while that install of the app lasts: not after an uninstall
    (a reinstall is another install), nor once the row is gone or its id belongs to another portal."""
    portal = session.get(Portal, portal_id)
    if portal is None or portal.state == PortalState.UNINSTALLED or portal.install_id != install_id:
        raise Unauthorized(N_("This portal has no active installation: reopen the app in Bitrix24."), "no_portal")
    return portal


def store_tokens(portal, access_token, refresh_token, expires_in):
    portal.access_token = access_token
    if refresh_token:
        portal.refresh_token = refresh_token
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        seconds = 3600
    portal.token_expires_at = utcnow() + timedelta(seconds=max(0, min(seconds, 3600)))


# ---------------------------------------------------------------- events
def on_install_event(services: Services, session, auth):
    """ONAPPINSTALL: pin application_token and store the tokens, only for an admin-verified access token."""
    if not isinstance(auth, dict):
        raise Unauthorized(N_("The event carries no auth block."), "no_auth")
    access_token = auth.get("access_token")
    verified = verify_token(services, access_token, auth.get("member_id"), refused=Forbidden)
    if not auth.get("application_token"):
        raise BadRequest(N_("The event carries no auth[application_token]."), "no_token")
    if not is_admin(services, verified, access_token):
        logger.warning("ONAPPINSTALL for %s with a non-admin's token refused", verified.domain)
        raise Forbidden(N_("Only a portal administrator's install event is accepted."), "not_admin")
    portal = portal_for(session, verified)
    portal.region = region_for(portal.domain, portal.language)
    portal.application_token = auth["application_token"]
    activate(portal)
    admins.remember(portal, verified.user_id)  # the installing admin: who notices go to
    store_tokens(portal, access_token, auth.get("refresh_token"), auth.get("expires_in"))
    ensure_handler_key(portal)
    session.commit()
    return portal


def on_uninstall_event(session, auth, clean):
    """ONAPPUNINSTALL: the pinned application_token is the only proof there is."""
    portal = pinned_portal(session, auth)
    if clean:
        session.delete(portal)
        logger.info("portal %s uninstalled with CLEAN: all its data deleted", portal.domain)
    else:
        portal.state, portal.state_reason = PortalState.UNINSTALLED, "the app was uninstalled"
        portal.access_token = portal.refresh_token = None
        portal.sender_registered = portal.sender_keyed = False
        logger.info("portal %s uninstalled: kept, disabled", portal.domain)
    session.commit()
    return portal


def pinned_portal(session, auth):
    """The portal an event names, proven by its pinned application_token (the only proof an event carries)."""
    if not isinstance(auth, dict) or not auth.get("member_id"):
        raise Unauthorized(N_("The event carries no auth[member_id]."), "no_auth")
    portal = session.scalars(select(Portal).where(Portal.member_id == str(auth["member_id"]))).one_or_none()
    if portal is None:
        raise NotFound(N_("This portal is not known."), "unknown_portal")
    if not same_secret(auth.get("application_token"), portal.application_token):
        raise Forbidden(N_("auth[application_token] does not match this portal's installation."), "bad_token")
    return portal


# ---------------------------------------------------------------- handler calls
def portal_for_handler_call(services: Services, session, auth, handler_key):
    """The portal a handler call comes from. With a key (`/handler/<key>`) the key is the proof, and a call
    without `auth` (a message with no author) is accepted; the legacy keyless URL needs the `auth` block.
    Nothing is ever pinned here. Raises NotFound/Unauthorized/Forbidden."""
    if handler_key is not None:
        portal = portal_by_key(session, handler_key)
        if isinstance(auth, dict):
            _check_auth_matches(portal, auth)
    else:
        portal = _portal_by_auth(services, session, auth)
    if portal.state == PortalState.UNINSTALLED:
        raise Forbidden(N_("The app is uninstalled on this portal."), "uninstalled")
    return portal


def _check_auth_matches(portal, auth):
    if auth.get("member_id") and str(auth["member_id"]) != portal.member_id:
        raise Forbidden(N_("auth[member_id] is not this handler address's portal."), "wrong_portal")
    given = auth.get("application_token")
    if given and portal.application_token and not same_secret(given, portal.application_token):
        raise Forbidden(N_("auth[application_token] does not match this portal's installation."), "bad_token")


def _portal_by_auth(services, session, auth):
    """Legacy `POST /handler`: the pinned application_token, or (none pinned yet) the call's access token
    verified with app.info. Either proves the call is the portal's; neither pins anything."""
    if not isinstance(auth, dict) or not auth.get("member_id"):
        raise Unauthorized(N_("The call carries no auth[member_id]."), "no_auth")
    portal = session.scalars(select(Portal).where(Portal.member_id == str(auth["member_id"]))).one_or_none()
    if portal is None:
        raise Forbidden(N_("This portal has not installed the app."), "unknown_portal")
    if portal.application_token:
        if not same_secret(auth.get("application_token"), portal.application_token):
            raise Forbidden(N_("auth[application_token] does not match this portal's installation."), "bad_token")
        return portal
    verify_token(services, auth.get("access_token"), portal.member_id, refused=Forbidden)
    return portal
