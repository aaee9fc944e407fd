"""A simulated CRM send: the stand-in posts a handler call to the HANDLER registered for the chosen sender,
exactly as Bitrix24 does when a CRM card or a robot sends an SMS (PHP-style form, `auth[...]` block and all).

The call goes over HTTP, through the app's own HTTP client, to the URL the product registered: what the demo
shows is the real path of a message, keyed handler URL included.
"""
import secrets
import time

import requests

from b24sms.bitrix.forms import build_query
from b24sms.demo import DEMO_DOMAIN, DEMO_MEMBER_ID, oauth_base, rest_base, tokens
from b24sms.rules.errors import N_, BadRequest, UpstreamError

CRM, ROBOT = "crm", "robot"


def handler_call(settings, *, code, message_id, to, text, user_id, origin=CRM, is_admin=True):
    """The fields Bitrix24 posts to HANDLER. A robot's message has no author, and then no `auth` block at all."""
    form = {
        "type": "SMS", "code": code, "message_id": message_id, "message_to": to, "message_body": text,
        "ts": str(int(time.time())), "properties": {"phone_number": to, "message_text": text},
    }
    if origin == ROBOT:
        workflow_id = f"{secrets.token_hex(7)[:13]}.{secrets.randbelow(10**8):08d}"
        form.update(module_id="bizproc", workflow_id=workflow_id, document_id=["crm", "CCrmDocumentDeal", "DEAL_1"],
                    document_type=["crm", "CCrmDocumentDeal", "DEAL"])
        return form
    access, expires = tokens.issue(settings, user_id, is_admin)
    form.update(module_id="crm", bindings=[{"OWNER_TYPE_ID": "3", "OWNER_ID": "1"}], auth={
        "access_token": access, "expires": str(expires), "expires_in": str(tokens.ACCESS_LIFETIME),
        "scope": "crm,messageservice,user,im", "domain": DEMO_DOMAIN,
        "server_endpoint": oauth_base(settings) + "/rest/", "status": "L", "client_endpoint": rest_base(settings),
        "member_id": DEMO_MEMBER_ID, "user_id": str(user_id),
        "application_token": tokens.application_token(settings),
    })
    return form


# Why the handler address could not be reached, in the admin's words (the page shows the sentence).
UNREACHABLE = {
    "timeout": N_("The handler address did not answer in time."),
    "tls": N_("The secure connection (TLS) to the handler address could not be set up."),
    "network": N_("The handler address could not be reached: no connection could be made."),
}


def send(state, services, *, code, to, text, user_id, is_admin, origin=CRM, language="en"):
    """Post the handler call for one SMS, through the app's own HTTP client; returns what the stand-in recorded
    of it. The handler is asked in the page's `language`, so that a refusal's words are the admin's."""
    settings = services.settings
    with state.lock:
        sender = dict(state.senders.get(str(code).lower()) or {})
    if not sender:
        raise BadRequest(N_("The demo portal has no sender %(sender)s: save the settings on this page, saving "
                            "registers it."), "unknown_sender", sender=str(code)[:40])
    if not str(sender.get("HANDLER") or "").startswith(settings.public_url + "/handler"):
        # Anyone may register a sender with the stand-in: it posts to this app's own handler only, never elsewhere.
        raise BadRequest(N_("The sender %(sender)s is not handled by this app."), "foreign_handler",
                         sender=str(code)[:40])
    message_id = secrets.token_hex(16)  # Bitrix24's message ids: 32 hex characters
    form = handler_call(settings, code=sender["CODE"], message_id=message_id, to=to, text=text, user_id=user_id,
                        origin=origin, is_admin=is_admin)
    try:
        response = services.http.post(sender["HANDLER"], data=build_query(form), timeout=settings.http_timeout,
                                      headers={"Content-Type": "application/x-www-form-urlencoded",
                                               "Accept-Language": language}, allow_redirects=False)
    except requests.exceptions.SSLError:
        raise UpstreamError(UNREACHABLE["tls"], "handler_unreachable") from None
    except requests.Timeout:
        raise UpstreamError(UNREACHABLE["timeout"], "handler_unreachable") from None
    except requests.RequestException:
        raise UpstreamError(UNREACHABLE["network"], "handler_unreachable") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"text": response.text[:300]}
    answer = {key: answer.get(key) for key in ("state", "error", "message", "spooled") if key in answer} \
        if isinstance(answer, dict) else {}
    state.record_send(message_id, code=sender["CODE"], to=to, text=text, user_id=None if origin == ROBOT else user_id,
                      handler_status=response.status_code, answer=answer)
    with state.lock:
        return dict(state.messages[message_id])
