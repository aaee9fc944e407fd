"""Guard rails, as pure rules: a portal's guard settings (parsed and checked), the reasons a message is held or
refused, quiet hours in the recipient's local time, and the periods that caps count in.

Nothing here touches the database or the clock: the flow (b24sms/flows/guards.py) asks with the time it read.
"""
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from b24sms.rules.errors import N_, BadRequest

# The reasons (messages.reason): why a guard rail held a message or refused it.
DAILY_CAP = "daily_cap"
MONTHLY_CAP = "monthly_cap"
REPEAT = "repeat"
QUIET_HOURS = "quiet_hours"
STOP_LIST = "stop_list"
REFUSALS = (STOP_LIST, REPEAT, DAILY_CAP, MONTHLY_CAP)  # the message fails
HOLDS = (QUIET_HOURS,)  # the message waits
REASONS = REFUSALS + HOLDS
# What a refused message keeps as its error text (the page shows the reason in the admin's words instead).
REFUSAL_TEXTS = {
    STOP_LIST: "The number is on the portal's stop list.",
    REPEAT: "The same text went to this number a moment ago (repeat suppression).",
    DAILY_CAP: "The portal's daily cap is reached.",
    MONTHLY_CAP: "The portal's monthly cap is reached.",
}

DEFAULT_REPEAT_WINDOW = 10  # minutes
MAX_REPEAT_WINDOW = 7 * 24 * 60
MAX_CAP_MESSAGES = 100_000_000
MAX_CAP_SPEND = Decimal("1000000000")
MAX_STOP_WORDS = 50
MAX_STOP_WORD = 40
UTC_ZONE = "UTC"
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class QuietHours:
    start: time  # local time the quiet begins ("from")
    end: time  # local time it ends ("to"); before `start`: the quiet spans midnight

    def covers(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class GuardSettings:
    daily_messages: int | None = None
    monthly_messages: int | None = None
    daily_spend: Decimal | None = None
    monthly_spend: Decimal | None = None
    repeat_window_minutes: int = DEFAULT_REPEAT_WINDOW
    quiet_hours: QuietHours | None = None
    stop_words: tuple[str, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        """The `guards` object of GET /api/settings (and what is stored)."""
        quiet = self.quiet_hours
        return {
            "daily_messages": self.daily_messages, "monthly_messages": self.monthly_messages,
            "daily_spend": _money_json(self.daily_spend), "monthly_spend": _money_json(self.monthly_spend),
            "repeat_window_minutes": self.repeat_window_minutes,
            "quiet_hours": {"from": quiet.start.strftime("%H:%M"), "to": quiet.end.strftime("%H:%M")}
            if quiet else None,
            "stop_words": list(self.stop_words),
        }


def parse(body: Any) -> GuardSettings:
    """The `guards` object a PUT /api/settings carries; BadRequest (with the field) for anything wrong. Absent
    keys take their defaults."""
    if not isinstance(body, dict):
        raise BadRequest(N_("`guards` must be an object."), "invalid_guards", field_path="guards")
    return GuardSettings(
        daily_messages=_cap(body, "daily_messages"),
        monthly_messages=_cap(body, "monthly_messages"),
        daily_spend=_spend(body, "daily_spend"),
        monthly_spend=_spend(body, "monthly_spend"),
        repeat_window_minutes=_repeat_window(body.get("repeat_window_minutes", DEFAULT_REPEAT_WINDOW)),
        quiet_hours=_quiet_hours(body.get("quiet_hours")),
        stop_words=_stop_words(body.get("stop_words")),
    )


def from_stored(stored: dict[str, Any] | None) -> GuardSettings:
    """The settings as stored (from `as_json`); none stored: the defaults."""
    return parse(stored) if stored else GuardSettings()


def _cap(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAP_MESSAGES:
        raise BadRequest(N_("The cap must be a whole number of messages from 0 to %(most)s, or empty for none."),
                         "invalid_guards", field_path=f"guards.{name}", most=MAX_CAP_MESSAGES)
    return value


def _spend(body: dict[str, Any], name: str) -> Decimal | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not 0 <= amount <= MAX_CAP_SPEND:
        raise BadRequest(N_("The spending cap must be an amount of 0 or more, or empty for none."), "invalid_guards",
                         field_path=f"guards.{name}")
    return amount.quantize(Decimal("0.01"))


def _repeat_window(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPEAT_WINDOW:
        raise BadRequest(N_("The repeat window must be a whole number of minutes from 0 (off) to %(most)s."),
                         "invalid_guards", field_path="guards.repeat_window_minutes", most=MAX_REPEAT_WINDOW)
    return value


def _quiet_hours(value: Any) -> QuietHours | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(N_("Quiet hours need a start and an end, like 21:00 and 09:00."), "invalid_guards",
                         field_path="guards.quiet_hours")
    start, end = (_clock(value.get(key), f"guards.quiet_hours.{key}") for key in ("from", "to"))
    if start == end:
        raise BadRequest(N_("Quiet hours must start and end at different times."), "invalid_guards",
                         field_path="guards.quiet_hours.to")
    return QuietHours(start, end)


def _clock(value: Any, field_path: str) -> time:
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BadRequest(N_("Enter a time of day as HH:MM, like 21:00."), "invalid_guards", field_path=field_path)
    return time(int(match.group(1)), int(match.group(2)))


def _stop_words(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_STOP_WORDS:
        raise BadRequest(N_("Stop words must be a list of at most %(most)s words."), "invalid_guards",
                         field_path="guards.stop_words", most=MAX_STOP_WORDS)
    words: list[str] = []
    for index, word in enumerate(value):
        cleaned = " ".join(word.split()).casefold() if isinstance(word, str) else ""
        if not cleaned or len(cleaned) > MAX_STOP_WORD:
            raise BadRequest(N_("Each stop word must be text of 1 to %(most)s characters."), "invalid_guards",
                             field_path=f"guards.stop_words[{index}]", most=MAX_STOP_WORD)
        if cleaned not in words:
            words.append(cleaned)
    return tuple(words)


def _money_json(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


# ---------------------------------------------------------------- periods the caps count in
def periods(now: datetime, zone: str = UTC_ZONE) -> tuple[str, str]:
    """The keys of the day and the month that `now` (naive UTC) falls in, in `zone`: ("d2026-12-04", "m2026-12")."""
    local = _local(now, ZoneInfo(zone))
    return f"d{local.date().isoformat()}", f"m{local.strftime('%Y-%m')}"


def period_starts(now: datetime, zone: str = UTC_ZONE) -> tuple[datetime, datetime]:
    """Naive UTC starts of the day and the month `now` falls in (what money caps sum the costs since)."""
    tz = ZoneInfo(zone)
    local = _local(now, tz)
    day = datetime.combine(local.date(), time.min, tz)
    month = datetime.combine(date(local.year, local.month, 1), time.min, tz)
    return _naive_utc(day), _naive_utc(month)


def granted(count: int, wanted: int, cap: int | None) -> int:
    """How many of `wanted` new messages a counter at `count` lets through (the SQL twin is in
    b24sms/store/guards.py)."""
    if cap is None:
        return wanted
    return max(0, min(wanted, cap - count))


def over_spend(spent: Decimal | None, cap: Decimal | None) -> bool:
    """Whether the known spend has reached the cap: new messages are then refused."""
    return cap is not None and (spent or Decimal(0)) >= cap


# ---------------------------------------------------------------- quiet hours
def recipient_zone(e164: str, now: datetime) -> str:
    """The time zone quiet hours are judged in for the number: the zone of its number range; one spanning several
    zones uses the latest-waking one (where the local clock shows the earliest time now, the smallest UTC offset).
    A number whose zone is unknown: UTC."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return UTC_ZONE
    zones = [name for name in number_zones.time_zones_for_number(number) if _known(name)]
    if not zones:
        return UTC_ZONE
    moment = now.replace(tzinfo=ZoneInfo(UTC_ZONE))
    return min(zones, key=lambda name: (moment.astimezone(ZoneInfo(name)).utcoffset() or timedelta(0), name))


def quiet_until(quiet: QuietHours | None, zone: str, now: datetime) -> datetime | None:
    """When quiet hours end for a recipient in `zone` (naive UTC), or None when it is not quiet there now."""
    if quiet is None:
        return None
    tz = ZoneInfo(zone)
    local = _local(now, tz)
    if not quiet.covers(local.time()):
        return None
    end_day = local.date()
    if local.time() >= quiet.end:  # the quiet began this evening: it ends tomorrow morning
        end_day += timedelta(days=1)
    # A wall-clock time a DST change skips is read as the moment after the gap (zoneinfo's fold=0 rule).
    return max(_naive_utc(datetime.combine(end_day, quiet.end, tz)), now)


def _known(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _local(now: datetime, tz: ZoneInfo) -> datetime:
    return now.replace(tzinfo=ZoneInfo(UTC_ZONE)).astimezone(tz)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(UTC_ZONE)).replace(tzinfo=None)


# ---------------------------------------------------------------- repeats and stop words
def text_key(text: str) -> str:
    """What repeat suppression compares texts by: a digest of the exact text (kept short, never the text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def says_stop(text: str, words: tuple[str, ...]) -> bool:
    """Whether an incoming SMS is one of the stop words (the whole text, case and spacing aside)."""
    return " ".join(text.split()).casefold().strip(".!") in words
