"""Intake: a handler call (or a test SMS) validated, counted in segments and stored, once per Bitrix24 id.

Storing is `INSERT ... ON CONFLICT DO NOTHING` on (portal, message_id), so a repeated call, even a concurrent
one or one replayed from the spool, stores nothing new.
"""
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from . import lifecycle
from .errors import N_, BadRequest
from .models import Message, utcnow
from .phones import InvalidPhone, normalize

# The web process's sender sends at once; the job picks up what it left (a crash, a restart) after this grace.
INLINE_GRACE = timedelta(minutes=2)
MAX_BODY = 5000
MAX_PHONE = 64
MAX_CODE = 64  # the sender CODE is kept with the message (Message.sender_code)


def new_provider_key():
    """128 random bits as 32 hex characters: fits every provider's client id field (SMSC takes up to 40 of
    [A-Za-z0-9.-_], Prostor 72), and no two messages anywhere share one."""
    return secrets.token_hex(16)


GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def segments(text):
    """How many SMS parts the text takes (GSM-7: 160/153 characters, otherwise UCS-2: 70/67)."""
    if all(char in GSM7 or char in GSM7_EXTENDED for char in text):
        length = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
        single, part = 160, 153
    else:
        length = sum(2 if ord(char) > 0xFFFF else 1 for char in text)
        single, part = 70, 67
    if length <= single:
        return 1
    return -(-length // part)


@dataclass(frozen=True)
class Incoming:
    """A handler call's fields, validated."""

    message_id: str
    phone: str
    text: str
    origin: dict
    code: str | None = None  # the messageservice sender the call came through: picks the name, reports go under it

    @classmethod
    def from_payload(cls, data):
        properties = data.get("properties") if isinstance(data.get("properties"), dict) else {}
        message_id = _field(data, "message_id", data.get("message_id"), 64)
        phone = _field(data, "message_to", data.get("message_to") or properties.get("phone_number"), MAX_PHONE)
        text = _field(data, "message_body", data.get("message_body") or properties.get("message_text"), MAX_BODY)
        if data.get("type") not in (None, "", "SMS"):
            raise BadRequest(N_("type: only SMS is supported, got %(type)r."), "invalid_field",
                             type=str(data.get('type'))[:20])
        origin = {"module_id": data.get("module_id")}
        for name in ("bindings", "workflow_id", "document_id", "document_type"):
            if data.get(name):
                origin[name] = data[name]
        auth = data.get("auth") if isinstance(data.get("auth"), dict) else {}
        if auth.get("user_id"):
            origin["user_id"] = auth["user_id"]
        code = data.get("code")  # an odd one (none, not text): the default name
        code = _field(data, "code", code, MAX_CODE) if isinstance(code, str) and code else None
        return cls(message_id=message_id, phone=phone, text=text, origin=origin, code=code)


def _field(data, name, value, limit):
    if value is None or value == "":
        raise BadRequest(N_("%(name)s is required."), "missing_field", name=name)
    if not isinstance(value, str):
        raise BadRequest(N_("%(name)s must be a single text value."), "invalid_field", name=name)
    if len(value) > limit:
        raise BadRequest(N_("%(name)s is longer than %(limit)s characters."), "invalid_field", name=name, limit=limit)
    if name != "message_body" and any(ord(char) < 32 for char in value):
        raise BadRequest(N_("%(name)s contains control characters."), "invalid_field", name=name)
    return value


def receive(session, portal, incoming, *, report_to_bitrix=True, sender=None, sender_code=None):
    """Store the message (unique per portal + Bitrix id), with the sender name it asks for (`sender`; None: each
    provider's own) and the CODE of the sender it came through (`sender_code`: its statuses are reported under
    it). Returns (message, created)."""
    now = utcnow()
    values = {
        "portal_id": portal.id,
        "bitrix_message_id": incoming.message_id,
        "provider_key": new_provider_key(),
        "author_id": str(incoming.origin["user_id"])[:32] if incoming.origin.get("user_id") else None,
        "recipient_raw": incoming.phone,
        "sender": sender,
        "sender_code": sender_code,
        "body": incoming.text,
        "segments": segments(incoming.text),
        "origin": incoming.origin,
        "attempts": 0,
        "report_to_bitrix": report_to_bitrix,
        **lifecycle.received(now + INLINE_GRACE),
        "created_at": now,
        "updated_at": now,
    }
    try:
        values["recipient"] = normalize(incoming.phone, portal.region)
    except InvalidPhone as exc:
        values.update(recipient=None, **lifecycle.refused_at_intake("invalid_phone", str(exc), report_to_bitrix))
    # INSERT ... ON CONFLICT DO NOTHING: a repeated message_id, even from a concurrent request, stores nothing.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = Message.__table__
    statement = (
        dialect.insert(table).values(**values)
        .on_conflict_do_nothing(index_elements=["portal_id", "bitrix_message_id"])
        .returning(table.c.id)
    )
    created = session.execute(statement).scalar_one_or_none() is not None
    session.commit()
    message = session.scalars(
        select(Message).where(Message.portal_id == portal.id, Message.bitrix_message_id == incoming.message_id)
    ).one()
    return message, created
