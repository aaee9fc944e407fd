"""The demo portal: a real Portal row whose REST endpoint is the stand-in, so the product's own flows serve it.

Created on the first visit of /demo and refreshed on every one (idempotent): its address, a token pair of the
stand-in's valid for years (no refresh is ever needed), the pinned application token, and its senders checked
with the stand-in, which forgets them when the development server restarts.
"""
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from b24sms.bitrix import messageservice_senders
from b24sms.bitrix.handler_keys import ensure_handler_key
from b24sms.bitrix.installs import activate
from b24sms.demo import ADMIN_USER, DEMO_DOMAIN, DEMO_MEMBER_ID, rest_base, tokens
from b24sms.rules.phones import region_for
from b24sms.store.models import Portal, PortalState, utcnow

# A stored token that runs out sooner than this is replaced (one from the stand-in's install page lasts an hour).
TOKEN_MUST_LAST = timedelta(days=30)


def find(session):
    return session.scalars(select(Portal).where(Portal.member_id == DEMO_MEMBER_ID)).one_or_none()


def ensure(services, session, language):
    """The demo portal, created or brought up to date, its senders checked. Returns the portal."""
    settings = services.settings
    portal = find(session)
    if portal is None:
        portal = Portal(member_id=DEMO_MEMBER_ID, state=PortalState.ACTIVE)
        session.add(portal)
    portal.domain = DEMO_DOMAIN
    portal.client_endpoint = rest_base(settings)
    if not _lasts(settings, portal.access_token):
        access, refresh, expires = tokens.issue_pair(settings, ADMIN_USER, True, lifetime=tokens.LONG_LIFETIME)
        portal.access_token, portal.refresh_token = access, refresh
        portal.token_expires_at = datetime.fromtimestamp(expires, UTC).replace(tzinfo=None)
    if portal.application_token != tokens.application_token(settings):
        portal.application_token = tokens.application_token(settings)
    if portal.state != PortalState.ACTIVE:
        activate(portal)
    portal.refresh_interrupted_at = None
    portal.language = language
    portal.region = region_for(DEMO_DOMAIN, language)
    ensure_handler_key(portal)
    session.commit()  # before any call to the stand-in: no transaction stays open across HTTP
    if portal.active_accounts:
        messageservice_senders.sync_sender(services, session, portal, check_first=True)
    return portal


def _lasts(settings, access_token):
    """Whether the stored token is an admin's token of the stand-in's that outlasts TOKEN_MUST_LAST."""
    try:
        token = tokens.read(settings, access_token)
    except tokens.TokenRefused:
        return False
    expires = datetime.fromtimestamp(token.expires, UTC).replace(tzinfo=None)
    return token.admin and expires - utcnow() > TOKEN_MUST_LAST
