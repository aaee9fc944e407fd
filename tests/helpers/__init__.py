"""Helpers the test modules share (fixtures are in tests/conftest.py): steps a portal goes through, as
Bitrix24 performs them over HTTP, and the job as cron runs it. Rows put straight into the database:
rows.py; the spool's outages: spool.py; /metrics: metrics.py."""
import hashlib
import re
import time
from datetime import timedelta
from urllib.parse import parse_qsl

from sqlalchemy import select, update

from b24sms.services import EXTENSION
from b24sms.store.models import Message, Portal, ProviderAccount, utcnow
from b24sms.web.views import message_view
from tests.fakes.p1sms import API_KEY as P1SMS_API_KEY

APPLICATION_TOKEN = "f3f0d0c5ff4dddad30a5088db9d7abc5"


def iframe_form(bitrix, access_token, refresh_token, **extra):
    form = {"AUTH_ID": access_token, "AUTH_EXPIRES": "3600", "REFRESH_ID": refresh_token,
            "member_id": bitrix.member_id, "status": "L", "PLACEMENT": "DEFAULT", "PLACEMENT_OPTIONS": "{}"}
    form.update(extra)
    return form


def open_page(client, bitrix, path="/install", user_id="1", lang="ru", **extra):
    """POST the iframe page as Bitrix24 does (`lang`: the portal's LANG); returns (response, session token or None)."""
    access, refresh = bitrix.issue(user_id)
    query = f"?DOMAIN={bitrix.domain}&PROTOCOL=1&LANG={lang}&APP_SID=abc"
    response = client.post(path + query, data=iframe_form(bitrix, access, refresh, **extra))
    match = re.search(r'<meta name="b24sms-token" content="([^"]+)"', response.get_data(as_text=True))
    return response, match.group(1) if match else None


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def save_providers(client, token, providers, senders=None):
    body = {"providers": providers}
    if senders is not None:
        body["senders"] = senders
    return client.put("/api/settings", json=body, headers=bearer(token))


PROSTOR_SETTINGS = {"kind": "prostor", "sender": "SHOP", "credentials": {"login": "user", "password": "secret"}}
SMSC_SETTINGS = {"kind": "smsc", "sender": "SHOP", "credentials": {"login": "smsc-user", "password": "smsc-pass"}}
SMSAERO_SETTINGS = {"kind": "smsaero", "sender": "SHOP",
                    "credentials": {"email": "shop@example.com", "api_key": "aero-key"}}
TWILIO_SETTINGS = {"kind": "twilio", "sender": "+15017122661",
                   "credentials": {"account_sid": "AC" + "a" * 32, "auth_token": "twilio-auth-token"}}
P1SMS_SETTINGS = {"kind": "p1sms", "sender": "SHOP", "credentials": {"api_key": P1SMS_API_KEY}}

TWO_NAMES = [{"name": "SHOP", "default": True}, {"name": "PROMO", "default": False}]



def install_with_chain(client, bitrix, *chain):
    """Install and save a failover chain of providers, as an admin; returns the page's session token."""
    response, token = open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)
    assert response.status_code == 200, response.get_data(as_text=True)
    saved = save_providers(client, token, list(chain))
    assert saved.status_code == 200, saved.get_json()
    return token


def install_with_prostor(client, bitrix, prostor_settings=PROSTOR_SETTINGS):
    """Install, save Prostor, as an admin; returns the page's session token."""
    return install_with_chain(client, bitrix, prostor_settings)


def install_with_log(client, bitrix):
    """Install and choose the `log` provider; returns the page's session token."""
    open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)
    _, token = open_page(client, bitrix, path="/")
    assert save_providers(client, token, [{"kind": "log"}]).status_code == 200
    return token


def handler_form(bitrix, message_id, phone="+7 (916) 123-45-67", text=None,
                 application_token=APPLICATION_TOKEN, module="crm", **extra):
    """What Bitrix24 posts to HANDLER for a CRM (or `bizproc`) SMS of user 1; the fake portal remembers the sender
    it went through. The text names the message unless given: the same text again would be a repeat (guard
    rails)."""
    text = crm_text(message_id) if text is None else text
    access, _ = bitrix.issue("1")
    return bitrix.handler_form(message_id, phone, text, access, application_token, module, **extra)


def message_id(n):
    return f"{n:032x}"


def crm_text(bitrix_message_id):
    """The text of the suite's CRM SMS with this id: "Hello from CRM" for the first one, numbered after it."""
    number = int(bitrix_message_id, 16) if all(c in "0123456789abcdef" for c in bitrix_message_id) else None
    return "Hello from CRM" if number == 1 else f"Hello from CRM ({bitrix_message_id})"


def make_due(db):
    with db.session() as session:
        session.execute(update(Message).where(Message.due_at.is_not(None))
                        .values(due_at=utcnow() - timedelta(seconds=1)))


def run_job(runner):
    result = runner.invoke(args=["jobs", "run-once"])
    assert result.exit_code == 0, result.output
    return result.output


def send_messages(client, bitrix, count, start=1):
    for n in range(start, start + count):
        assert client.post("/handler", data=handler_form(bitrix, message_id(n))).status_code == 200


def stored(db, n=1):
    """The stored message for Bitrix24 message_id(n), detached from its session."""
    with db.session() as session:
        message = session.scalars(select(Message).where(Message.bitrix_message_id == message_id(n))).one()
        session.expunge(message)
        return message


def handler_path(db, domain=None):
    """The portal's keyed HANDLER path, as registered with Bitrix24 (`/handler/<key>`)."""
    with db.session() as session:
        query = select(Portal.handler_key)
        if domain:
            query = query.where(Portal.domain == domain)
        return f"/handler/{session.scalars(query).one()}"


def without_auth(form):
    """A handler call as Bitrix24 posts it for a message with no author: no `auth[...]` block at all."""
    return {key: value for key, value in form.items() if not key.startswith("auth[")}


def as_sent(client, response):
    """A handler call's answer as the message stands once the web sender is done with it (the answer itself
    comes before the provider is called, so it says `received`)."""
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    with client.application.extensions[EXTENSION].db.session() as session:
        return {**message_view(session.get(Message, body["id"])), "created": body.get("created")}


def answered_in_between(db):
    """As if every account had answered a call since: no timeouts in a row."""
    with db.session() as session:
        session.execute(update(ProviderAccount).values(timeouts_in_row=0, skip_until=None))


def installed(client, bitrix, user_id="1", lang="ru"):
    response, token = open_page(client, bitrix, user_id=user_id, lang=lang, APPLICATION_TOKEN=APPLICATION_TOKEN)
    assert response.status_code == 200
    return token


def uninstall(client, bitrix, clean, token=APPLICATION_TOKEN):
    return client.post("/events", data={
        "event": "ONAPPUNINSTALL", "data[CLEAN]": clean, "ts": "1763860000",
        "auth[domain]": bitrix.domain, "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
        "auth[client_endpoint]": bitrix.endpoint, "auth[member_id]": bitrix.member_id,
        "auth[application_token]": token,
    })


def install_event(bitrix, access, refresh, application_token):
    return {"event": "ONAPPINSTALL", "data[VERSION]": "1", "data[LANGUAGE_ID]": "ru",
            "auth[access_token]": access, "auth[expires_in]": "3600", "auth[domain]": bitrix.domain,
            "auth[client_endpoint]": bitrix.endpoint, "auth[member_id]": bitrix.member_id,
            "auth[refresh_token]": refresh, "auth[application_token]": application_token}


def handler_payload(bitrix, bitrix_message_id):
    """A handler call's fields as the app reads them (no `auth`): to store one directly."""
    return {"type": "SMS", "code": "b24sms", "message_id": bitrix_message_id, "message_to": "+79161234567",
            "message_body": crm_text(bitrix_message_id), "module_id": "crm"}


def post_sms(client, bitrix, n=1, **extra):
    response = client.post("/handler", data=handler_form(bitrix, message_id(n), **extra))
    return as_sent(client, response)


def suffix(name):
    return hashlib.sha256(name.casefold().encode()).hexdigest()[:8]


def form_of(call):
    return dict(parse_qsl(call.request.body))


def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
