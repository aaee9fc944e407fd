"""A portal's sender names: validated as the settings page sends them, stored with a CODE suffix that never
changes, and the name a handler call's `code` picks.

Each name is its own messageservice sender (b24sms/bitrix/messageservice_senders.py): the default one under
SENDER_CODE, every other under SENDER_CODE + "_" + its suffix. The suffix is derived once from the name (so a name
removed and added again gets its old CODE back, and robots set up with it keep working) and then read from the row,
never derived again.
"""
import hashlib
from dataclasses import dataclass

from b24sms.rules import sender_names as rules
from b24sms.rules.errors import N_, NP_, BadRequest
from b24sms.store.models import SenderName

MAX_NAMES = 20
MAX_LENGTH = rules.MAX_LENGTH
# The admin's words for each reason of sender_name_rules (a Problem's details fill the places).
NAME_PROBLEMS = {
    rules.LENGTH: NP_("A sender name has 1 to %(limit)s character.", "A sender name has 1 to %(limit)s characters.",
                      "limit"),
    rules.INVISIBLE_CHARACTER: N_("A sender name cannot contain invisible or control characters (%(char)s)."),
    rules.STYLED_CHARACTER: N_("A sender name cannot contain restyled letters such as fullwidth ones (“%(char)s”): "
                               "type it as “%(plain)s”."),
}
LIMIT_PROBLEMS = {
    rules.ALPHA_CHARACTER: N_("%(provider)s takes sender names of Latin letters, digits, spaces and %(signs)s only: "
                              "“%(name)s” has “%(char)s”."),
    rules.ALPHA_LENGTH: NP_("%(provider)s takes sender names of at most %(limit)s character: “%(name)s” has "
                            "%(length)s.",
                            "%(provider)s takes sender names of at most %(limit)s characters: “%(name)s” has "
                            "%(length)s.", "limit"),
    rules.NUMBER_LENGTH: NP_("%(provider)s takes sender numbers of at most %(limit)s digit: “%(name)s” has "
                             "%(length)s.",
                             "%(provider)s takes sender numbers of at most %(limit)s digits: “%(name)s” has "
                             "%(length)s.", "limit"),
}


@dataclass(frozen=True)
class Wanted:
    """One entry of the page's `senders` list, validated."""

    name: str
    default: bool


def parse(entries):
    """The page's `senders` list as [Wanted], in its order; None when the body has none (the stored names stay).
    Names are kept in NFC, stripped, and checked by sender_name_rules: 1..64 characters, nothing invisible or
    restyled, no two that look alike (sender_name_rules.identity); a non-empty list has exactly one default."""
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise BadRequest(N_("`senders` must be a list."), "invalid_settings", field_path="senders")
    if len(entries) > MAX_NAMES:
        raise BadRequest(N_("At most %(limit)s sender names can be added."), "invalid_settings", limit=MAX_NAMES,
                         field_path="senders")
    wanted, seen = [], set()
    for index, entry in enumerate(entries):
        path = f"senders[{index}]"
        if not isinstance(entry, dict):
            raise BadRequest(N_("senders[%(index)s] must be an object."), "invalid_settings", index=index,
                             field_path=path)
        name = checked_name(entry.get("name"), f"{path}.name")
        if rules.identity(name) in seen:
            raise BadRequest(N_("The sender name “%(name)s” is in the list twice."), "invalid_settings", name=name,
                             field_path=f"{path}.name")
        seen.add(rules.identity(name))
        default = entry.get("default", False)
        if not isinstance(default, bool):
            raise BadRequest(N_("`default` must be true or false."), "invalid_settings",
                             field_path=f"{path}.default")
        wanted.append(Wanted(name, default))
    defaults = [index for index, entry in enumerate(wanted) if entry.default]
    if wanted and len(defaults) != 1:
        raise BadRequest(N_("Mark exactly one sender name as the default."), "invalid_settings",
                         field_path=f"senders[{defaults[1] if defaults else 0}].default")
    return wanted


def checked_name(value, path):
    """A sender name as it is kept (NFC, stripped); BadRequest at `path` when sender_name_rules refuse it."""
    if not isinstance(value, str):
        raise BadRequest(N_("Enter the sender name as text."), "invalid_settings", field_path=path)
    name = rules.normalise(value)
    problem = rules.problem(name)
    if problem is not None:
        raise BadRequest(NAME_PROBLEMS[problem.reason], "invalid_settings", field_path=path, **problem.details)
    return name


def own_sender(value, path):
    """A chain entry's own sender (a name, a number or an ID) checked as a name is; "" when it has none."""
    if value is None or isinstance(value, str) and not value.strip():
        return ""
    return checked_name(value, path)


def check_limits(cls, names):
    """BadRequest at its field for the first of `names` ((name, field path) pairs) that the provider class
    `cls` cannot send with by its declared `sender_name_limits`; nothing where it declares none."""
    if cls.sender_name_limits is None:
        return
    for name, path in names:
        problem = rules.limits_problem(name, cls.sender_name_limits)
        if problem is not None:
            raise BadRequest(LIMIT_PROBLEMS[problem.reason], "invalid_settings", provider=cls.title, name=name,
                             field_path=path, **problem.details)


def store(session, settings, portal, wanted):
    """Replace the portal's names with `wanted` (not committed: the caller commits them with the providers).
    A name already stored (the same name by sender_name_rules.identity) keeps its row and suffix. Returns the
    CODEs that no longer name a sender (removed names, and the codes of names whose default flag moved), to
    unregister."""
    before = set(codes(settings, portal))
    existing = list(portal.sender_names)
    taken = {row.suffix for row in portal.sender_names}
    rows = []
    for position, entry in enumerate(wanted):
        row = _take_stored(existing, entry.name)
        if row is None:
            row = SenderName(suffix=_new_suffix(entry.name, taken), registered=False)
            taken.add(row.suffix)
        if row.is_default != entry.default:
            row.registered = False  # its CODE changes with the flag: registered again under the new one
        row.name, row.position, row.is_default = entry.name, position, entry.default
        rows.append(row)
    portal.sender_names = rows  # rows left out are deleted (delete-orphan)
    session.flush()
    return before - set(codes(settings, portal))


def _take_stored(rows, name):
    """The stored row `name` keeps (its suffix, so its CODE), taken out of `rows`: the one of that very name, else
    one stored before names were normalised that is the same name by sender_name_rules.identity."""
    row = next((row for row in rows if row.name == name), None) or next(
        (row for row in rows if rules.identity(row.name) == rules.identity(name)), None)
    if row is not None:
        rows.remove(row)
    return row


def _new_suffix(name, taken):
    digest = hashlib.sha256(name.casefold().encode()).hexdigest()
    for length in (8, 12, 16):
        if digest[:length] not in taken:
            return digest[:length]
    raise BadRequest(N_("The sender name “%(name)s” cannot be added."), "invalid_settings", name=name)


def code_of(settings, row):
    """The messageservice CODE of a stored name."""
    return settings.sender_code if row.is_default else f"{settings.sender_code}_{row.suffix}"


def codes(settings, portal):
    """Every CODE the portal's senders should have: one per name, or SENDER_CODE alone without names."""
    return [code_of(settings, row) for row in portal.sender_names] or [settings.sender_code]


def code_by_name(settings, portal):
    """How a message stored before its CODE was kept (Message.sender_code NULL) finds the sender it came through:
    a function of its sender name, giving the CODE of the portal's name it matches (regardless of case), else
    SENDER_CODE (no name, or one removed since)."""
    by_name = {row.name.casefold(): code_of(settings, row) for row in portal.sender_names}
    return lambda name: by_name.get((name or "").casefold(), settings.sender_code)


def default_row(portal):
    return next((row for row in portal.sender_names if row.is_default), None) or next(iter(portal.sender_names),
                                                                                     None)


def for_code(settings, portal, code):
    """The sender name a handler call's `code` asks for: the name registered under it, the default name for a
    code no name has (a sender removed meanwhile), None when the portal has no names (each provider's own)."""
    wanted = str(code or "").strip().lower()
    for row in portal.sender_names:
        if code_of(settings, row).lower() == wanted:
            return row.name
    row = default_row(portal)
    return row.name if row else None


def named(portal, name):
    """The stored name a test SMS asks for (regardless of case); the default one when it names none."""
    if name is None or name == "":
        row = default_row(portal)
        return row.name if row else None
    if not isinstance(name, str):
        raise BadRequest(N_("Enter the sender name as text."), "invalid_field", field_path="sender")
    wanted = rules.identity(rules.normalise(name))
    for row in portal.sender_names:
        if rules.identity(row.name) == wanted:
            return row.name
    raise BadRequest(N_("“%(name)s” is not one of this portal's sender names."), "unknown_sender",
                     name=name.strip()[:MAX_LENGTH], field_path="sender")


def describe(settings, portal):
    """The names as the page's JSON shows them (to anyone who may open the page: no secret here). A name counts
    as registered while the portal's senders are (an uninstall or a failed registration says they are not)."""
    return [{"name": row.name, "code": code_of(settings, row), "default": bool(row.is_default),
             "registered": bool(row.registered and portal.sender_registered)} for row in portal.sender_names]
