"""A portal's stored (admin) tokens, and refreshing them without holding a lock across the OAuth call.

Refresh tokens rotate: two refreshes of one portal at once invalidate each other. So one refresher at a time
holds a lease on the portal (a conditional UPDATE, committed at once), calls the OAuth server with no row lock
held, and writes the new pair. Handler inserts (which reference the portal row) never wait for a refresh.
"""
import logging
import secrets
from datetime import timedelta

from sqlalchemy import or_, update

from b24sms.bitrix import oauth
from b24sms.bitrix.client import RestClient
from b24sms.bitrix.errors import AuthRevoked, BitrixUnavailable
from b24sms.services import Services
from b24sms.store.models import Portal, PortalState, utcnow

logger = logging.getLogger(__name__)
TOKEN_EARLY_REFRESH = timedelta(seconds=60)
# The OAuth call gets a longer timeout of its own: giving up on an answer that then arrives loses the rotated
# refresh token, and with it the portal (its admin must open the app again).
REFRESH_TIMEOUT = 30
REFRESH_LEASE = timedelta(seconds=REFRESH_TIMEOUT + 15)
LEASE_POLL_SECONDS = 0.2


class PortalTokens:
    """Token source for a portal's stored tokens (see bitrix.client.RestClient)."""

    def __init__(self, services: Services, portal_id):
        self.services = services
        self.db, self.clock = services.db, services.clock
        self.portal_id = portal_id
        self._token = self._expires_at = None  # what we last read or refreshed: a batch loop reads it once

    def access_token(self):
        if self._token and _still_fresh(self._expires_at):
            return self._token
        with self.db.session() as session:
            portal = _usable_portal(session, self.portal_id)
            if not portal.access_token:
                raise AuthRevoked("no_token", "the portal has no stored token")
            token, expires_at = portal.access_token, portal.token_expires_at
        if not _still_fresh(expires_at):
            return self.refresh(token)
        return self._remember(token, expires_at)

    def refresh(self, stale_token):
        """A fresh access token: someone else's if they refreshed meanwhile, else one we get under the lease."""
        lease = secrets.token_hex(8)
        deadline = self.clock.monotonic() + REFRESH_LEASE.total_seconds() + 5
        while True:
            with self.db.session() as session:
                portal = _usable_portal(session, self.portal_id)
                if _refreshed_since(portal, stale_token):
                    return self._remember(portal.access_token, portal.token_expires_at)
                if not portal.refresh_token:
                    raise AuthRevoked("needs_reauth", "the portal has no refresh token: its admin must open the app")
                lapsed_lease = portal.refresh_lease_until  # still set after it lapsed: its refresher died
                if _take_lease(session, self.portal_id, lease):
                    session.refresh(portal)  # as it is now that the lease is ours
                    if _refreshed_since(portal, stale_token):  # finished between our read and our lease
                        portal.refresh_lease = portal.refresh_lease_until = None
                        return self._remember(portal.access_token, portal.token_expires_at)
                    if lapsed_lease is not None and portal.refresh_interrupted_at is None:
                        portal.refresh_interrupted_at = lapsed_lease
                    refresh_token = portal.refresh_token
                    break
            if self.clock.monotonic() > deadline:
                raise BitrixUnavailable("refresh_busy", "another runner is refreshing this portal's token")
            self.clock.sleep(LEASE_POLL_SECONDS)
        return self._refresh_under_lease(lease, refresh_token)

    def _refresh_under_lease(self, lease, refresh_token):
        settings = self.services.settings
        try:
            pair = oauth.refresh(settings.b24_oauth_url, settings.b24_client_id, settings.b24_client_secret,
                                 refresh_token, http=self.services.http, timeout=REFRESH_TIMEOUT, now=utcnow())
        except AuthRevoked as exc:
            self._token = None
            self._settle(lease, refresh_token, revoked=exc)
            raise
        except BitrixUnavailable:
            self._token = None
            self._settle(lease, refresh_token, interrupted=True)
            raise
        except BaseException:
            self._settle(lease, refresh_token, interrupted=True)
            raise
        with self.db.session() as session:
            # A successful rotation is the newest pair there is: the refresh token it used is dead for everyone.
            session.execute(update(Portal).where(Portal.id == self.portal_id).values(
                access_token=pair.access_token, refresh_token=pair.refresh_token, token_expires_at=pair.expires_at,
                refresh_lease=None, refresh_lease_until=None, refresh_interrupted_at=None,
            ).execution_options(synchronize_session=False))
        return self._remember(pair.access_token, pair.expires_at)

    def _settle(self, lease, used_refresh_token, *, revoked=None, interrupted=False):
        """End our lease after a failed refresh, keeping a trace of what happened."""
        with self.db.session() as session:
            portal = session.get(Portal, self.portal_id, populate_existing=True)
            if portal is None:
                return
            if portal.refresh_lease == lease:
                portal.refresh_lease = portal.refresh_lease_until = None
            if interrupted:
                portal.refresh_interrupted_at = utcnow()
                logger.warning("token refresh for portal %s got no answer: if the OAuth server rotated the token "
                               "meanwhile, an admin must open the app again", portal.domain)
            elif revoked is not None and portal.refresh_token == used_refresh_token:
                portal.state = PortalState.NEEDS_REAUTH
                portal.state_reason = _revoked_reason(portal, revoked)
                logger.warning("portal %s needs re-authorisation: %s", portal.domain, portal.state_reason)

    def _remember(self, token, expires_at):
        self._token, self._expires_at = token, expires_at
        return token


def _usable_portal(session, portal_id):
    portal = session.get(Portal, portal_id, populate_existing=True)
    if portal is None:
        raise AuthRevoked("portal_gone", "the portal was removed")
    if portal.state == PortalState.NEEDS_REAUTH:
        raise AuthRevoked("needs_reauth", "the portal's admin must open the app again")
    return portal


def _refreshed_since(portal, stale_token):
    return bool(portal.access_token) and portal.access_token != stale_token and _still_fresh(portal.token_expires_at)


def _take_lease(session, portal_id, lease):
    """Whether this refresher now holds the portal's refresh lease (free, or lapsed)."""
    now = utcnow()
    return session.execute(
        update(Portal)
        .where(Portal.id == portal_id, or_(Portal.refresh_lease_until.is_(None), Portal.refresh_lease_until <= now))
        .values(refresh_lease=lease, refresh_lease_until=now + REFRESH_LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def _revoked_reason(portal, exc):
    reason = f"token refresh refused: {exc.code}"
    if portal.refresh_interrupted_at is not None:
        reason += (f"; an earlier refresh at {portal.refresh_interrupted_at:%Y-%m-%d %H:%M} UTC got no answer, "
                   "so the token the OAuth server rotated then was never received")
    return reason


def _still_fresh(expires_at):
    return expires_at is None or expires_at - TOKEN_EARLY_REFRESH > utcnow()


def rest_client(services: Services, portal) -> RestClient:
    """The portal's REST client, on its stored tokens. `portal`: a Portal, or a record of its id, client_endpoint,
    access_token and token_expires_at (a job reads many portals' in one statement: none is read again)."""
    tokens = PortalTokens(services, portal.id)
    if portal.access_token and _still_fresh(portal.token_expires_at):
        tokens._remember(portal.access_token, portal.token_expires_at)
    return RestClient.of(services, portal.client_endpoint, tokens)
