"""Someone opening the app in its Bitrix24 iframe (the install page or the settings page)."""
from b24sms.bitrix import admins, messageservice_senders
from b24sms.bitrix.handler_keys import ensure_handler_key
from b24sms.bitrix.installs import activate, is_admin, portal_for, store_tokens, verify_token
from b24sms.rules.errors import Unauthorized
from b24sms.rules.phones import region_for
from b24sms.services import Services
from b24sms.store.models import PortalState


def open_page(services: Services, session, form, query, *, installing):
    """Verify the visit; an admin's visit of the settings page also checks the portal's sender is still there
    (app updates delete senders). Returns (portal, user_id, is_admin)."""
    portal, user_id, admin = verify_visit(services, session, form, query, installing=installing)
    if admin and not installing and portal.state == PortalState.ACTIVE and portal.active_accounts:
        messageservice_senders.sync_sender(services, session, portal, check_first=True)
    return portal, user_id, admin


def verify_visit(services: Services, session, form, query, *, installing):
    """Verify the iframe's AUTH_ID with the OAuth server, then store or refresh the portal.

    Returns (portal, user_id, is_admin). Nothing is stored unless the token checks out; only an admin's visit
    stores tokens or pins the application token.
    """
    access_token = form.get("AUTH_ID", "")
    verified = verify_token(services, access_token, form.get("member_id", ""), refused=Unauthorized)
    admin = is_admin(services, verified, access_token)
    portal = portal_for(session, verified)
    portal.language = (query.get("LANG") or portal.language or "")[:8] or None
    portal.region = region_for(portal.domain, portal.language)
    if admin:
        admins.remember(portal, verified.user_id)  # who notices go to (b24sms/bitrix/notices.py)
        # Background calls (status updates, senders) need an admin's token: only an admin's visit stores one.
        store_tokens(portal, access_token, form.get("REFRESH_ID"), form.get("AUTH_EXPIRES"))
        if installing and portal.state == PortalState.UNINSTALLED:
            portal.application_token = None  # a reinstall issues a new one
        if form.get("APPLICATION_TOKEN"):
            portal.application_token = form["APPLICATION_TOKEN"]
        if portal.state != PortalState.ACTIVE:
            activate(portal)
        portal.refresh_interrupted_at = None
        ensure_handler_key(portal)
    session.commit()
    return portal, verified.user_id, admin
