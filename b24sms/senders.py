"""The portal's messageservice sender: registered server-side with the keyed HANDLER, checked and healed.

Portals registered before keyed handler URLs (`sender_keyed` false) are moved to the keyed URL on their next
check, with `messageservice.sender.update` (or delete and add where update is missing).
"""
import logging
from datetime import timedelta

from sqlalchemy import exists, select

from .bitrix.errors import AuthRevoked, BitrixError
from .handler_keys import ensure_handler_key, handler_url
from .models import Portal, PortalState, ProviderAccount, utcnow
from .portal_tokens import rest_client

logger = logging.getLogger(__name__)
SENDER_CHECK_INTERVAL = timedelta(hours=1)
# A portal still on the keyless HANDLER is checked again this soon, not after the hour.
UNKEYED_CHECK_INTERVAL = timedelta(minutes=5)


def sender_params(settings, portal):
    return {
        "CODE": settings["SENDER_CODE"],
        "TYPE": "SMS",
        "HANDLER": handler_url(settings, portal),
        "NAME": {"ru": "b24sms: SMS", "en": "b24sms: SMS"},
        "DESCRIPTION": {
            "ru": "Отправка SMS через вашего SMS-провайдера (b24sms)",
            "en": "SMS through your own SMS provider (b24sms)",
        },
    }


def register_sender(client, portal, settings):
    """Register (or update) our sender and bind ONAPPUNINSTALL, server-side with the portal's token."""
    ensure_handler_key(portal)
    params = sender_params(settings, portal)
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
    portal.sender_registered = portal.sender_keyed = True
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
    """Register the sender again if the portal lost it (an app update deletes senders), and move a sender
    registered with the keyless HANDLER to the portal's keyed one."""
    codes = client.call("messageservice.sender.list") or []
    if isinstance(codes, dict):
        codes = list(codes.values())
    if settings["SENDER_CODE"].lower() not in {str(code).lower() for code in codes}:
        logger.info("portal %s lost its sender: registering again", portal.domain)
        register_sender(client, portal, settings)
    elif not portal.sender_keyed or not portal.handler_key:
        logger.info("portal %s: moving its sender to the keyed handler URL", portal.domain)
        ensure_handler_key(portal)
        _update_sender(client, sender_params(settings, portal))
        portal.sender_registered = portal.sender_keyed = True
        portal.sender_checked_at = utcnow()
    else:
        portal.sender_registered = True
        portal.sender_checked_at = utcnow()


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
    """Active portals whose sender was not checked within the hour (or, still on the keyless HANDLER, within
    minutes), claimed so that no other runner checks them."""
    rows = session.scalars(
        select(Portal).where(
            Portal.state == PortalState.ACTIVE,
            Portal.sender_checked_at.is_(None)
            | (Portal.sender_checked_at < now - SENDER_CHECK_INTERVAL)
            | (Portal.sender_keyed.is_(False) & (Portal.sender_checked_at < now - UNKEYED_CHECK_INTERVAL)),
            exists().where(ProviderAccount.portal_id == Portal.id, ProviderAccount.position.is_not(None)),
        ).limit(200).with_for_update(skip_locked=True)
    ).all()
    for portal in rows:
        portal.sender_checked_at = now
    session.commit()
    return rows
