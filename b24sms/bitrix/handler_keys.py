"""Handler keys: HANDLER is `PUBLIC_URL/handler/<key>`, a random secret per portal that names and authenticates
it (Bitrix24 posts messages that have no author without any `auth` block). Never logged."""
from b24sms.rules.errors import N_, NotFound
from b24sms.store import url_secrets
from b24sms.store.models import Portal


def ensure_handler_key(portal):
    url_secrets.assign(portal, "handler_key", "handler_key_hash")


def handler_url(settings, portal):
    return f"{settings.public_url}/handler/{portal.handler_key}"


def portal_by_key(session, handler_key):
    portal = url_secrets.find(session, Portal, "handler_key", "handler_key_hash", handler_key)
    if portal is None:
        raise NotFound(N_("No handler address like this one."), "unknown_handler")
    return portal
