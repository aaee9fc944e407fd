"""The portal's messageservice senders: one per sender name (b24sms/bitrix/sender_names.py), or one under
SENDER_CODE when the portal has no names; registered server-side with the keyed HANDLER, checked and healed.

Portals registered before keyed handler URLs (`sender_keyed` false) are moved to the keyed URL on their next
check, with `messageservice.sender.update` (or delete and add where update is missing).
"""
import logging
import re
from datetime import timedelta

from sqlalchemy import exists, select

from b24sms.bitrix import open_lines, sender_names
from b24sms.bitrix.errors import AuthRevoked, BitrixError
from b24sms.bitrix.handler_keys import ensure_handler_key, handler_url
from b24sms.bitrix.portal_tokens import rest_client
from b24sms.providers import UnknownProvider, provider_class
from b24sms.services import Services
from b24sms.store.models import Portal, PortalState, ProviderAccount, utcnow

logger = logging.getLogger(__name__)
SENDER_CHECK_INTERVAL = timedelta(hours=1)
# A portal still on the keyless HANDLER is checked again this soon, not after the hour.
UNKEYED_CHECK_INTERVAL = timedelta(minutes=5)
SUFFIX = re.compile(r"[0-9a-f]{8,16}")  # the suffixes sender_names derives
DEFAULT_NAME = {"ru": "b24sms: SMS", "en": "b24sms: SMS"}
DEFAULT_DESCRIPTION = {
    "ru": "Отправка SMS через вашего SMS-провайдера (b24sms)",
    "en": "SMS through your own SMS provider (b24sms)",
}


def sender_params(settings, portal, row=None):
    """messageservice.sender.add's parameters for one sender name (`row`), or for the portal's only sender."""
    if row is None:
        code, name, description = settings.sender_code, DEFAULT_NAME, DEFAULT_DESCRIPTION
    else:
        code, name = sender_names.code_of(settings, row), {"ru": row.name, "en": row.name}
        description = {"ru": f"SMS от имени «{row.name}» через вашего SMS-провайдера (b24sms)",
                       "en": f"SMS as “{row.name}” through your own SMS provider (b24sms)"}
    return {"CODE": code, "TYPE": "SMS", "HANDLER": handler_url(settings, portal), "NAME": name,
            "DESCRIPTION": description}


def wanted_senders(settings, portal):
    """[(sender name row or None, params)]: every sender the portal should have."""
    return [(row, sender_params(settings, portal, row)) for row in portal.sender_names] or [
        (None, sender_params(settings, portal))]


def register_sender(client, portal, settings, retired=()):
    """Register (or update) every sender of the portal, unregister the `retired` CODEs, and bind
    ONAPPUNINSTALL, server-side with the portal's token."""
    ensure_handler_key(portal)
    wanted = wanted_senders(settings, portal)
    for row, _ in wanted:
        if row is not None:
            row.registered = False  # until Bitrix24 has taken it
    for row, params in wanted:
        _put(client, params)
        if row is not None:
            row.registered = True
    for code in retired:
        _delete(client, code)
    try:
        client.call("event.bind", {"event": "ONAPPUNINSTALL", "handler": settings.public_url + "/events"})
    except BitrixError as exc:
        if "already" not in (exc.description or "").lower() and exc.code != "ERROR_EVENT_ALREADY_BINDED":
            raise
    portal.sender_registered = portal.sender_keyed = True
    portal.sender_checked_at = utcnow()


def _put(client, params):
    try:
        client.call("messageservice.sender.add", params)
    except BitrixError as exc:
        if exc.code != "ERROR_SENDER_ALREADY_INSTALLED":
            raise
        _update_sender(client, params)


def _update_sender(client, params):
    try:
        client.call("messageservice.sender.update", {k: params[k] for k in ("CODE", "HANDLER", "NAME", "DESCRIPTION")})
    except BitrixError as exc:
        if exc.code not in ("ERROR_METHOD_NOT_FOUND", "METHOD_NOT_FOUND"):
            raise
        # Older on-premise portals have no sender.update: delete and add again.
        client.call("messageservice.sender.delete", {"CODE": params["CODE"]})
        client.call("messageservice.sender.add", params)


def _delete(client, code):
    """Unregister a sender; one that is gone already is fine."""
    try:
        client.call("messageservice.sender.delete", {"CODE": code})
    except BitrixError as exc:
        if exc.code != "ERROR_SENDER_NOT_FOUND" and "not found" not in (exc.description or "").lower():
            raise
    logger.info("sender %s unregistered", code)


def _listed_codes(client):
    codes = client.call("messageservice.sender.list") or []
    if isinstance(codes, dict):
        codes = list(codes.values())
    return {str(code).lower() for code in codes}


def _ours(settings, code):
    """Whether a listed CODE is one this app registers (SENDER_CODE, or SENDER_CODE_<suffix>)."""
    base = settings.sender_code.lower()
    return code == base or (code.startswith(base + "_") and SUFFIX.fullmatch(code[len(base) + 1:]) is not None)


def ensure_sender(client, portal, settings):
    """Register again every sender the portal lost (an app update deletes senders), unregister ours that no name
    has any more, and move senders registered with the keyless HANDLER to the portal's keyed one."""
    listed = _listed_codes(client)
    wanted = wanted_senders(settings, portal)
    codes = {params["CODE"].lower() for _, params in wanted}
    stale = sorted(code for code in listed if _ours(settings, code) and code not in codes)
    lost = [(row, params) for row, params in wanted if params["CODE"].lower() not in listed]
    if len(lost) == len(wanted):
        logger.info("portal %s lost its senders: registering again", portal.domain)
        register_sender(client, portal, settings, retired=stale)
        return
    moving = not portal.sender_keyed or not portal.handler_key
    if moving:
        logger.info("portal %s: moving its senders to the keyed handler URL", portal.domain)
        ensure_handler_key(portal)
        wanted = wanted_senders(settings, portal)  # the HANDLER carries the key now
    for row, params in wanted:
        if params["CODE"].lower() not in listed:
            logger.info("portal %s lost its sender %s: registering again", portal.domain, params["CODE"])
            if row is not None:
                row.registered = False
            _put(client, params)
        elif moving:
            _update_sender(client, params)
        if row is not None:
            row.registered = True
    for code in stale:
        _delete(client, code)
    portal.sender_registered = portal.sender_keyed = True
    portal.sender_checked_at = utcnow()


def sync_sender(services: Services, session, portal, *, check_first, retired=()):
    """Register or check the senders and keep the outcome on the portal; Bitrix trouble is logged, not raised.
    `retired`: CODEs to unregister (names just removed); a check finds any left over by itself. A portal with a
    provider that receives replies gets the Open Lines connector and its events too (both paths: an app update
    drops connectors and bindings)."""
    client, settings = rest_client(services, portal), services.settings
    try:
        if check_first:
            ensure_sender(client, portal, settings)
        else:
            register_sender(client, portal, settings, retired=retired)
    except AuthRevoked:
        session.refresh(portal)  # the refresh marked the portal needs_reauth in its own transaction
        session.commit()
        return portal.sender_registered
    except BitrixError as exc:
        logger.warning("sender registration on %s failed: %s", portal.domain, exc)
        if not check_first:
            portal.sender_registered = False
    if receives_replies(portal):
        _ensure_connector(client, portal, settings)
    session.commit()
    return portal.sender_registered


def receives_replies(portal) -> bool:
    """Whether one of the portal's accounts (retired ones left out) is with a provider that receives replies."""
    for account in portal.active_accounts:
        try:
            if provider_class(account.kind).receives_replies():
                return True
        except UnknownProvider:
            continue
    return False


def _ensure_connector(client, portal, settings):
    """The Open Lines connector and its event bindings; trouble is logged and never undoes the senders."""
    try:
        open_lines.ensure_connector(client, settings)
    except BitrixError as exc:
        logger.warning("Open Lines connector on %s not registered: %s", portal.domain, exc)


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
