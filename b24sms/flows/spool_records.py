"""What the spool (b24sms/flows/spool.py) holds: one JSON line a record, each of a kind, written as the request
came, so that replaying it is the same request; and how each kind is stored at replay.

- `{"record": "handler_call", "key": <handler key, null for the legacy /handler>, "form": [[name, value], ...]}`:
  a Bitrix24 handler call (b24sms/flows/handler_calls.py). Records written before there were kinds have no
  "record" and are handler calls.
- `{"record": "pushed_reply", "provider": <kind>, "secret": <the URL's secret>, "method", "url" (as the provider
  called it, behind a proxy too), "query", "form", "json", "headers" (only those the provider's signature check
  reads)}`: a reply a provider pushed (b24sms/flows/pushed_replies.py).

Every record also has "spooled_at". The handler key, the auth and the account's secret and signature need the
database, so they are checked at replay, exactly as the request would have been; a record they refuse is
dropped then, with a warning that names neither keys nor secrets.
"""
import json
import logging

from sqlalchemy.exc import SQLAlchemyError

from b24sms.bitrix.forms import parse
from b24sms.config import ConfigError
from b24sms.flows import messaging, replies
from b24sms.providers.base import Receipt
from b24sms.rules import handler_call
from b24sms.rules.errors import AppError, BadRequest, UpstreamError
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store.db import error_line, unavailable
from b24sms.store.models import utcnow

logger = logging.getLogger(__name__)

HANDLER_CALL, PUSHED_REPLY = "handler_call", "pushed_reply"
# What came of one record (the first four are spool.ReplayReport's counters).
STORED, ALREADY_STORED, DROPPED, HELD_BACK, DATABASE_AWAY = (
    "stored", "already_stored", "dropped", "held_back", "database_away")


def of_handler_call(handler_key, form_pairs) -> dict:
    return {"record": HANDLER_CALL, "key": handler_key, "form": [[name, value] for name, value in form_pairs]}


def of_pushed_reply(kind: str, secret: str, pushed: Receipt, signed_headers) -> dict:
    return {"record": PUSHED_REPLY, "provider": kind, "secret": secret, "method": pushed.method, "url": pushed.url,
            "query": [list(pair) for pair in pushed.query], "form": [list(pair) for pair in pushed.params],
            "json": pushed.json,
            "headers": {name: pushed.headers[name] for name in signed_headers if name in pushed.headers}}


def replay(services: Services, line: bytes, send_at_once) -> str:
    """Store one spooled record. Returns what came of it. `send_at_once`: hand a stored message to this
    process's web sender (else the job's send duty sends it)."""
    try:
        record = json.loads(line)
        read = _READERS[record.get("record", HANDLER_CALL)]
        what, store = read(services, record, send_at_once)
    except (ValueError, KeyError, TypeError, AttributeError, BadRequest):  # a line cut short by a crash
        logger.warning("a spooled record that cannot be read was dropped")
        return DROPPED
    return _settled(what, store)


def _handler_call(services, record, send_at_once):
    """(what the log calls it, how it is stored)."""
    data = parse(record["form"])
    message_id = handler_call.HandlerCall.from_payload(data).message_id  # for the log: checked when it was spooled
    handler_key = record["key"]
    auth = data.get("auth") if isinstance(data.get("auth"), dict) else None

    def store():
        with services.db.session() as session:
            message, created = messaging.store_handler_call(services, session, data, auth, handler_key)
            to_send = created and message.state == MessageState.RECEIVED
            if to_send:
                message.due_at = utcnow()  # due now: the job's send duty sends it unless the web sender does
        if to_send and send_at_once:  # the web process's replay: its sender sends it at once
            services.outbox.submit(message.portal_id, message.id)
        return STORED if created else ALREADY_STORED

    return f"handler call for message {message_id}", store


def _pushed_reply(services, record, _send_at_once):
    """(what the log calls it, how it is stored): checked as the live push would have been, then stored."""
    kind, secret = str(record["provider"]), str(record["secret"])
    pushed = Receipt(url=str(record["url"]), method=str(record["method"]),
                     params=tuple((str(name), str(value)) for name, value in record["form"]),
                     query=tuple((str(name), str(value)) for name, value in record["query"]),
                     json=record["json"], headers={str(k): str(v) for k, v in record["headers"].items()})

    def store():
        with services.db.session() as session:
            _, stored = replies.store_pushed(services, session, kind, secret, pushed)
        return STORED if stored else ALREADY_STORED

    return f"{kind} reply", store


_READERS = {HANDLER_CALL: _handler_call, PUSHED_REPLY: _pushed_reply}


def _settled(what, store):
    """`store()`'s outcome, or what a failure of it means for the record. `what`: the record in the log."""
    try:
        return store()
    except UpstreamError as exc:  # Bitrix24 could not verify a legacy call: ask again later
        logger.warning("spooled %s held back: %s", what, exc.code)
        return HELD_BACK
    except AppError as exc:
        logger.warning("spooled %s dropped at replay: %s %s", what, exc.status, exc.code)
        return DROPPED
    except ConfigError:  # ENCRYPTION_KEYS cannot read the portal's key yet: like an outage, wait for the fix
        return DATABASE_AWAY
    except SQLAlchemyError as exc:
        if unavailable(exc):
            return DATABASE_AWAY
        logger.error("spooled %s could not be stored (%s); held back", what, error_line(exc))
        return HELD_BACK
