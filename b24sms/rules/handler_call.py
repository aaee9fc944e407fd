"""What a Bitrix24 handler call must carry: its fields validated, the message's provider key made."""
import secrets
from dataclasses import dataclass
from typing import Any, Self

from b24sms.rules.errors import N_, NP_, BadRequest

MAX_BODY = 5000
MAX_PHONE = 64
MAX_CODE = 64  # the sender CODE is kept with the message (Message.sender_code)


def new_provider_key() -> str:
    """128 random bits as 32 hex characters: fits every provider's client id field (SMSC takes up to 40 of
    [A-Za-z0-9.-_], Prostor 72), and no two messages anywhere share one."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class HandlerCall:
    """A Bitrix24 handler call's fields, validated."""

    message_id: str
    phone: str
    text: str
    origin: dict[str, Any]
    code: str | None = None  # the messageservice sender the call came through: picks the name, reports go under it

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Self:
        properties = data.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        message_id = _field("message_id", data.get("message_id"), 64)
        phone = _field("message_to", data.get("message_to") or properties.get("phone_number"), MAX_PHONE)
        text = _field("message_body", data.get("message_body") or properties.get("message_text"), MAX_BODY)
        if data.get("type") not in (None, "", "SMS"):
            raise BadRequest(N_("type: only SMS is supported, got %(type)r."), "invalid_field",
                             type=str(data.get('type'))[:20])
        origin: dict[str, Any] = {"module_id": data.get("module_id")}
        for name in ("bindings", "workflow_id", "document_id", "document_type"):
            if data.get(name):
                origin[name] = data[name]
        auth = data.get("auth")
        auth = auth if isinstance(auth, dict) else {}
        if auth.get("user_id"):
            origin["user_id"] = auth["user_id"]
        code = data.get("code")  # an odd one (none, not text): the default name
        code = _field("code", code, MAX_CODE) if isinstance(code, str) and code else None
        return cls(message_id=message_id, phone=phone, text=text, origin=origin, code=code)


def _field(name: str, value: Any, limit: int) -> str:
    if value is None or value == "":
        raise BadRequest(N_("%(name)s is required."), "missing_field", name=name)
    if not isinstance(value, str):
        raise BadRequest(N_("%(name)s must be a single text value."), "invalid_field", name=name)
    if len(value) > limit:
        raise BadRequest(NP_("%(name)s is longer than %(limit)s character.",
                             "%(name)s is longer than %(limit)s characters.", "limit"),
                         "invalid_field", name=name, limit=limit)
    if name != "message_body" and any(ord(char) < 32 for char in value):
        raise BadRequest(N_("%(name)s contains control characters."), "invalid_field", name=name)
    return value
