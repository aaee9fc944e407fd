"""The settings page's guard rails: read and saved with the rest of the settings (GET/PUT /api/settings), and the
portal's stop list (GET/PUT /api/stop-list)."""
from b24sms.flows import provider_settings
from b24sms.rules import guards as rules
from b24sms.rules.errors import N_, BadRequest
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.services import Services
from b24sms.store import guards, stop_list
from b24sms.store.models import utcnow

MAX_CHANGES = 10_000  # numbers one PUT /api/stop-list may add and remove
MAX_NAMED = 10  # bad numbers an error names
STOP_LIST_PAGE = 100


def describe(portal):
    """The `guards` object of GET /api/settings."""
    return guards.settings_of(portal).as_json()


def save_settings(services: Services, session, portal, body):
    """PUT /api/settings: the provider chain (and sender names) when `providers` is there, the guard rails when
    `guards` is; a bad guard setting is refused before any provider is asked."""
    given = body.get("guards")
    new_guards = rules.parse(given) if "guards" in body else None
    if "providers" in body or new_guards is None:
        provider_settings.save_and_register(services, session, portal, body.get("providers"), body.get("senders"))
    if new_guards is not None:
        guards.store_settings(portal, new_guards)
        session.commit()


def stop_list_page(session, portal, q, before):
    """GET /api/stop-list: the newest first, a page at a time (`before`: the last entry's id)."""
    if before not in (None, ""):
        if not str(before).isdigit():
            raise BadRequest(N_("`%(name)s` must be a whole number."), "invalid_parameter", name="before")
        before = int(before)
    else:
        before = None
    entries = stop_list.page(session, portal.id, q=(q or "")[:64], before=before, limit=STOP_LIST_PAGE)
    return [{"id": entry.id, "number": entry.number, "reason": entry.reason,
             "created_at": entry.created_at.isoformat() + "Z"} for entry in entries]


def change_stop_list(session, portal, body):
    """PUT /api/stop-list {"add": [...], "remove": [...]}: numbers as people type them, made E.164 with the app's
    phone rules. Any number that is not one refuses the whole change (naming the bad ones), so nothing is half
    done. Returns {"added", "removed"} (how many numbers each list had)."""
    add, remove = (_numbers(body, name, portal.region) for name in ("add", "remove"))
    if len(add) + len(remove) > MAX_CHANGES:
        raise BadRequest(N_("At most %(most)s numbers at a time."), "too_many_numbers", most=MAX_CHANGES)
    stop_list.remove(session, portal.id, remove)
    stop_list.add(session, portal.id, add, stop_list.ADMIN, utcnow())
    session.commit()
    return {"added": len(add), "removed": len(remove)}


def _numbers(body, name, region):
    raw = body.get(name, [])
    if not isinstance(raw, list) or len(raw) > MAX_CHANGES:
        raise BadRequest(N_("`%(name)s` must be a list of at most %(most)s phone numbers."), "invalid_field",
                         field_path=name, name=name, most=MAX_CHANGES)
    numbers, bad = [], []
    for index, value in enumerate(raw):
        try:
            numbers.append(normalize(value if isinstance(value, str) else "", region))
        except InvalidPhone:
            bad.append((index, str(value)[:40]))
    if bad:
        raise BadRequest(N_("Not phone numbers: %(numbers)s. Nothing was changed."), "invalid_numbers",
                         field_path=f"{name}[{bad[0][0]}]",
                         numbers=", ".join(value for _, value in bad[:MAX_NAMED]) + ("…" if len(bad) > MAX_NAMED
                                                                                       else ""))
    return list(dict.fromkeys(numbers))
