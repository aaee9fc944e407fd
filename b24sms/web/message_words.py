"""A message of the log in the admin's words: its state, the status Bitrix24 was told, why the guard rails held or
refused it, its error (a failure on the way to the provider, or the provider's refusal with its own words kept),
and each step of its trail. The log's JSON carries these words beside the codes (`error.words`, a message's
`trail`), and the CSV is written with them; the codes stay for machines."""
from b24sms import providers
from b24sms.providers import transport
from b24sms.web.i18n import translate
from b24sms.web.page_strings import STRINGS


def provider_title(kind):
    cls = providers.PROVIDERS.get(kind) if kind else None
    return translate(cls.title) if cls else (kind or "")


def state_words(view):
    """A message the quiet hours hold has not failed a try: it waits to be sent. A reply's state is where it
    stands on its way to the Open Line."""
    if view.get("direction") == "in":
        return _words(f"incoming_state_{view['state']}", view["state"])
    state = "received" if view.get("reason") == "quiet_hours" else view["state"]
    return _words(f"state_words_{state}", state)


def direction_words(direction):
    return _words(f"direction_{direction}", direction)


def status_words(status):
    """The status Bitrix24 was (or will be) told, in words."""
    return _words(f"bitrix_status_{status}", status or "")


def reason_words(view):
    reason = view.get("reason")
    return _words(f"reason_{reason}", reason) if reason else ""


def error_words(kind, code, text):
    """An error in words: a transport failure as a sentence of ours, a provider's refusal introduced in the
    admin's language with the provider's own words after it."""
    if not code:
        return ""
    provider = provider_title(kind)
    failure = transport.failure(code)
    if failure:
        return translate(failure[0], {"provider": provider, **failure[1]})
    if f"reason_{code}" in STRINGS:  # refused by the guard rails: the reason says it all (its text is English)
        return translate(STRINGS[f"reason_{code}"])
    template = STRINGS.get("error_" + code.split(":")[0]) or STRINGS["error_other"]
    return translate(template, {"provider": provider, "words": text or code})


def step_words(step):
    """One step of the failover trail: "Prostor SMS: accepted", "SMS.RU: no connection"."""
    result = step.get("result") or ""
    failure = transport.failure(step.get("code")) if result in ("retry_later", "answer_lost") else None
    key = next((k for k in ("trail_" + result, "error_short_" + result) if k in STRINGS), None)
    words = translate(STRINGS[f"error_short_{_short(step.get('code'))}"]) if failure \
        else translate(STRINGS[key]) if key else result
    return f"{provider_title(step.get('provider'))}: {words}"


def _short(code):
    detail = str(code).rsplit(":", 1)[-1]
    return detail if f"error_short_{detail}" in STRINGS else transport.HTTP


def trail(message, view):
    """Everything that happened to the message, oldest first: [{"at", "event", "words"}]."""
    steps = [{"at": view["created_at"], "event": "received", "words": translate(STRINGS["trail_received"])}]
    for step in message.attempt_log or []:
        words = step_words(step)
        if str(step.get("code") or "").isdigit():  # a provider's numbered error: its number, for its support
            words += f" ({step['code']})"
        steps.append({"at": _iso(step.get("at")), "event": "attempt", "provider": step.get("provider"),
                      "result": step.get("result"), "code": step.get("code"), "words": words})
    if view["state"] in ("delivered", "undelivered", "failed") or view.get("reason"):
        final = state_words(view)
        why = reason_words(view) or (view["error"] or {}).get("words")
        steps.append({"at": view["updated_at"], "event": view["state"],
                      "words": f"{final}: {why}" if why else final})
    if message.reported_at and message.reported_status:
        steps.append({"at": _iso(message.reported_at), "event": "reported",
                      "words": translate(STRINGS["trail_reported"], {"status": status_words(message.reported_status)})})
    return sorted(steps, key=lambda step: step["at"] or "")


def _words(key, fallback):
    return translate(STRINGS[key]) if key in STRINGS else (fallback or "")


def _iso(value):
    if not value:
        return None
    text = str(value)
    return text if text.endswith("Z") or "+" in text else text + "Z"
