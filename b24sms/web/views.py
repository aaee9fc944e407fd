"""How stored things look in JSON answers."""
from b24sms.providers.base import QUEUED
from b24sms.rules import lifecycle
from b24sms.rules.replies import OWN_LINE_ERRORS, REPLY_NUMBER
from b24sms.rules.segments import measure
from b24sms.store.message_log import entry_id
from b24sms.store.reply_models import IncomingMessage
from b24sms.web.i18n import translate
from b24sms.web.message_words import error_words
from b24sms.web.page_strings import STRINGS


def log_view(entry):
    """An entry of the log: an outgoing message or a client's reply, with the same keys (null where one does not
    apply)."""
    return incoming_view(entry) if isinstance(entry, IncomingMessage) else message_view(entry)


def message_view(message, **extra):
    return {
        "id": message.id,
        "message_id": message.bitrix_message_id,
        "to": message.recipient or message.recipient_raw,
        "to_raw": message.recipient_raw,
        "from": None,  # a reply's sender; an outgoing SMS goes from its `sender` name or the provider's number
        "number": message.recipient or message.recipient_raw,  # the client's: its conversation's (the page's link)
        "text": message.body,
        "segments": message.segments,
        "encoding": measure(message.body or "").encoding,  # gsm7 / ucs2: what the segments were counted in
        # What the provider said it cost, as a decimal string, in `currency`; both null when it did not say.
        "cost": _amount(message.cost),
        "currency": message.currency if message.cost is not None else None,
        "origin": _origin(message.origin),  # module, author, CRM bindings or the business process (contract)
        "provider": message.provider,
        "sender": message.sender,  # the sender name it asked for; null: the provider account's own sender
        "state": message.state,
        "status": lifecycle.current_status(message) or (message.status or QUEUED),
        "provider_status": message.provider_status,
        # `words`: the error in the page's language (the provider's own words kept in it); `message` as stored.
        "error": {"code": message.error_code, "message": message.error_text,
                  "words": error_words(message.provider, message.error_code, message.error_text)}
        if message.error_code else None,
        "attempts": message.attempts,
        # Why the guard rails hold it (quiet_hours) or refused it (stop_list, repeat, daily_cap, monthly_cap).
        "reason": message.reason,
        "direction": message.direction or "out",  # out: sent by the portal; in: a client's reply (contract)
        "line": message.line,  # the Open Line of an operator's answer (contract); None for the rest
        # A provider was given up after a lost answer and the next one sent it: the SMS may arrive twice.
        "stop_word": None,  # a reply's: whether it put the number on the stop list
        "possible_duplicate": bool(message.possible_duplicate),
        # Each provider call along the failover chain (no internal ids).
        "tried": [{key: entry.get(key) for key in ("provider", "result", "code", "at") if entry.get(key)}
                  for entry in message.attempt_log or []],
        "created_at": _iso(message.created_at),
        "updated_at": _iso(message.updated_at),
        **extra,
    }


def incoming_view(reply):
    """A client's reply in the log: `to` is the portal's number it came to, `from` the client's; `state` where it
    stands on its way to the Open Line (`line`)."""
    return {
        "id": entry_id(reply),
        "message_id": None,
        "to": reply.receiver,
        "to_raw": reply.receiver,
        "from": reply.sender,
        "number": reply.sender,
        "text": reply.body,
        "segments": None, "encoding": None, "cost": None, "currency": None,
        "origin": None,
        "provider": reply.provider,
        "sender": None,
        "state": reply.state,
        "status": None,  # Bitrix24's SMS status: replies have none
        "provider_status": None,
        # Why the line did not take it (yet): Bitrix24's words, introduced in the page's language (or ours).
        "error": {"code": None, "message": reply.error, "words": _line_error_words(reply.error)}
        if reply.error else None,
        "attempts": reply.attempts,
        "reason": None,
        "direction": "in",
        "line": reply.line,
        "stop_word": bool(reply.stop_word),
        "possible_duplicate": False,
        "tried": [],
        "created_at": _iso(reply.created_at),
        "updated_at": _iso(reply.updated_at),
    }


def _amount(value):
    """A price as JSON: a decimal string without trailing zeros ("0.0079"), never a float."""
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _iso(moment):
    return moment.isoformat() + "Z" if moment else None


def _origin(origin):
    """The origin as stored, but for the provider account an operator's answer was meant for (an internal id):
    the number it goes from stays."""
    if not isinstance(origin, dict) or not isinstance(origin.get(REPLY_NUMBER), dict):
        return origin
    return {**origin, REPLY_NUMBER: {"number": origin[REPLY_NUMBER].get("number")}}


def _line_error_words(error):
    if error in OWN_LINE_ERRORS:  # stored as its msgid: said in the page's language
        return translate(error)
    return translate(STRINGS["line_error"], {"words": error})
