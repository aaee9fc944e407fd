"""Two-way SMS in the demo: the demo portal's `log` provider gets a reply number that feeds the stand-in's Open
Line 1; a client's reply is pushed the way a provider pushes one (a form to the account's inbound URL), and an
operator's answer is posted the way Bitrix24 posts it (ONIMCONNECTORMESSAGEADD to the app's /events).

Both posts go over HTTP, through the app's own HTTP client, to the URLs the product gave out: what the demo shows
is the real path of a reply and of an answer. Handing a reply to the line and confirming an answer to it are the
job's (`make jobs`), as in production.
"""
import logging
import secrets
import time

import requests
from sqlalchemy import select

from b24sms.bitrix.forms import build_query
from b24sms.demo import DEMO_DOMAIN, DEMO_MEMBER_ID, oauth_base, open_lines, rest_base, tokens
from b24sms.flows import line_settings, reply_numbers
from b24sms.providers.log import LogProvider
from b24sms.rules.errors import N_, AppError, BadRequest, UpstreamError
from b24sms.store import callback_urls
from b24sms.store.reply_models import OpenLine

logger = logging.getLogger(__name__)
DEMO_LINE = "1"
DEMO_REPLY_NUMBER = "+79000000001"  # the log provider's number in the demo (nothing is ever sent to it)
ANSWER_EVENT = "ONIMCONNECTORMESSAGEADD"
UNREACHABLE = N_("The stand-in could not reach b24sms at %(url)s: PUBLIC_URL must be the address of this server.")


def panel_view(session, portal):
    """What the panel shows of the two-way demo when the page opens (the stand-in's chat comes with its state)."""
    account = _log_account(portal)
    row = _line(session, portal, DEMO_LINE)
    return {"line": DEMO_LINE, "number": DEMO_REPLY_NUMBER, "has_log": account is not None,
            "connected": bool(row and row.active and DEMO_REPLY_NUMBER in (row.reply_numbers or []))}


def connect_line(services, session, portal):
    """The demo reply number added to the portal's `log` account and connected to Open Line 1, as an admin would
    do on the settings page and in the Contact Center. Returns the line as GET /api/lines shows it."""
    account = _log_account(portal)
    if account is None:
        raise BadRequest(N_("Choose the provider “Log only” below and save first: the demo number that receives "
                            "the replies belongs to it."), "no_log_provider")
    callback_urls.assign_secret(account)  # an account saved before `log` received replies has none yet
    accounts = portal.active_accounts
    numbers = [row.number for row in reply_numbers.numbers_of(session, account)]
    entries = [{"kind": other.kind, **({"reply_numbers": [*numbers, DEMO_REPLY_NUMBER]} if other is account else {})}
               for other in accounts]
    wanted = reply_numbers.parse(session, portal, entries, {LogProvider.kind: LogProvider})
    reply_numbers.store(session, portal, accounts, wanted)
    session.commit()
    reply_numbers.hook(services, session, [account])
    row = _line(session, portal, DEMO_LINE)
    feeding = [number for number in (row.reply_numbers if row else []) or [] if number != DEMO_REPLY_NUMBER]
    return line_settings.change_line(services, session, portal, DEMO_LINE,
                                     {"reply_numbers": [DEMO_REPLY_NUMBER, *feeding], "active": True})


def restore_lines(state, services, session, portal):
    """Connect again the lines the stand-in forgot when the development server restarted (it keeps them in
    memory; the app's rows still say they are connected). Trouble is logged: the page opens anyway."""
    with state.lock:
        known = {line_id for line_id, line in state.lines.items() if line.get("active")}
    rows = session.scalars(select(OpenLine).where(OpenLine.portal_id == portal.id, OpenLine.active.is_(True))).all()
    for line, numbers in [(row.line, list(row.reply_numbers or [])) for row in rows if row.line not in known]:
        try:
            line_settings.change_line(services, session, portal, line, {"reply_numbers": numbers, "active": True})
        except AppError as exc:
            logger.warning("the demo's Open Line %s could not be connected again: %s", line, exc.message)


def simulate_reply(services, session, portal, sender, text):
    """A client's SMS to the demo reply number, pushed to the `log` account's inbound URL as a provider pushes
    one. Returns what was pushed and what b24sms answered."""
    account = _log_account(portal)
    numbers = [row.number for row in reply_numbers.numbers_of(session, account)] if account else []
    if not numbers:
        raise BadRequest(N_("Connect the demo Open Line first: it gives the provider “Log only” a number that "
                            "receives replies."), "no_reply_number")
    number = DEMO_REPLY_NUMBER if DEMO_REPLY_NUMBER in numbers else numbers[0]
    url = callback_urls.inbound_url_for(services.settings.public_url, account)
    session.close()  # the push below writes: hold no transaction across it
    reply_id = f"demo-{secrets.token_hex(8)}"
    response = _post(services, url, {"id": reply_id, "from": sender, "to": number, "text": text})
    return {"id": reply_id, "from": sender, "to": number, "text": text, "status": response.status_code,
            "answer": _answer_of(response, ("received", "stored"))}


def simulate_answer(state, services, chat, text, user_id):
    """An operator's answer in Open Line 1's chat with `chat` (the client's number): written into the stand-in's
    chat and posted to the app as Bitrix24 posts ONIMCONNECTORMESSAGEADD (form-encoded, with the installation's
    application_token). Returns what was posted and what b24sms answered."""
    settings = services.settings
    with state.lock:
        handler = state.events.get(ANSWER_EVENT, "")
        handler_id = list(state.events).index(ANSWER_EVENT) + 1 if ANSWER_EVENT in state.events else 0
    if not handler:
        raise BadRequest(N_("The stand-in has no handler for operators' answers: save the settings with the "
                            "provider “Log only”, saving binds it."), "no_event_handler")
    if handler != settings.public_url + "/events":
        # Anyone may bind an event with the stand-in: it posts to this app's own /events only, never elsewhere.
        raise BadRequest(N_("Operators' answers are bound to an address that is not this app's."), "foreign_handler")
    written = open_lines.operator_answer(state, DEMO_LINE, chat, text, user_id)
    if written is None:
        raise BadRequest(N_("Open Line %(line)s has no chat with %(number)s: simulate a reply from that number "
                            "first, then run make jobs to hand it to the line."), "no_chat", field_path="chat",
                         line=DEMO_LINE, number=chat[:32])
    connector, element = written
    form = {"event": ANSWER_EVENT, "event_handler_id": str(handler_id),
            "data": {"CONNECTOR": connector, "LINE": DEMO_LINE, "MESSAGES": [element]}, "ts": str(int(time.time())),
            "auth": {"domain": DEMO_DOMAIN, "client_endpoint": rest_base(settings),
                     "server_endpoint": oauth_base(settings) + "/rest/", "member_id": DEMO_MEMBER_ID, "status": "L",
                     "application_token": tokens.application_token(settings)}}
    response = _post(services, handler, build_query(form))
    return {"line": DEMO_LINE, "chat": chat, "text": text, "im_message_id": element["im"]["message_id"],
            "status": response.status_code, "answer": _answer_of(response, ("stored", "skipped"))}


def _post(services, url, data):
    """A form posted to the app itself; the words name PUBLIC_URL, never `url` (an inbound URL holds a secret)."""
    try:
        return services.http.post(url, data=data, timeout=services.settings.http_timeout, allow_redirects=False,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    except requests.RequestException:
        raise UpstreamError(UNREACHABLE, "app_unreachable", url=services.settings.public_url) from None


def _answer_of(response, counts):
    try:
        answer = response.json()
    except ValueError:
        return {}
    if not isinstance(answer, dict):
        return {}
    return {key: answer[key] for key in (*counts, "error", "message") if key in answer}


def _log_account(portal):
    return next((account for account in portal.active_accounts if account.kind == LogProvider.kind), None)


def _line(session, portal, line):
    return session.scalars(select(OpenLine).where(OpenLine.portal_id == portal.id, OpenLine.line == line)).first()
