"""Devino's older platform (integrationapi.net), the only one of Devino's APIs that lists incoming SMS.

A session comes from the account's login and password: `GET rest/user/sessionId?login=&password=` answers the
session id as a JSON string. `GET rest/Sms/In?sessionId=&minDateUTC=&maxDateUTC=` (UTC, `YYYY-MM-DDTHH:MM:SS`)
answers `[{Data, SourceAddress, DestinationAddress, ID, CreatedDateUtc: "/Date(<ms>)/"}]`. Errors come as a 4xx
with `{"Code", "Desc"}`; Devino's own clients name the codes (1 an empty argument, 2 an invalid one, 3 an invalid
session, 4 unauthorized, 5 no credits, 6 an invalid operation, 7 forbidden, 8 a gateway error, 9 an internal
error), and renew the session on a 401.

A session is said to live two hours. One is asked for on every fetch (a request more a minute per account), so
nothing is kept between fetches or processes that could go stale; a session refused all the same is retried on
the next fetch.

What is not documented, and what we do:
- Whether minDateUTC is inclusive, while the window is in seconds and CreatedDateUtc in milliseconds: each window
  starts a second before the cursor's moment, and what the cursor already covers is dropped here. The cursor is
  the latest moment taken and the ids taken at that very moment, so a fetch neither repeats nor skips a reply.
- Paging: none is known, so one window spans at most MAX_WINDOW, and the next follows at once (`more`).
- A reply Devino lists only after one with a later moment would be missed (nothing suggests it does that); a
  quiet stretch is passed over only once it is SETTLE old.
- Whether the pushed `messageId` and the listed `ID` are the same id: taken to be (both name the incoming SMS).
"""
import copy
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from b24sms.providers.base import (
    InvalidCredentials,
    NoMoney,
    ProviderError,
    ReplyPage,
    RetryLater,
)

logger = logging.getLogger(__name__)

LEGACY_BASE_URL = "https://integrationapi.net/rest/"  # used while the public devino.online base is
LEGACY_PATH = "rest/"  # under a DEVINO_API_URL override (a test's or a gateway's), the older API sits here
LOGIN, PASSWORD = "legacy_login", "legacy_password"  # Devino's credential settings for it

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_WINDOW = timedelta(hours=1)  # the first fetch looks this far back
MAX_WINDOW = timedelta(days=1)  # one request's window at most
CATCH_UP = timedelta(days=7)  # a fetch never looks further back (a cursor from long ago, a job stopped for weeks)
OVERLAP = timedelta(seconds=1)  # the window starts this much before the cursor's moment (see the docstring)
SETTLE = timedelta(minutes=5)  # a stretch with no reply is passed over once it is this old
SLACK = timedelta(minutes=1)  # a listed moment this far outside the window asked for is still believed
SAME_MOMENT_IDS = 5  # ids at the cursor's moment it remembers (replies_cursor holds 64 characters)
MOMENT = "%Y-%m-%dT%H:%M:%S"
FINGERPRINT = re.compile(r"[0-9a-f]{8}")
DOTNET_DATE = re.compile(r"/?Date\((-?\d{1,15})(?:[+-]\d{4})?\)/?")  # .NET's JSON date: ms since 1970 (UTC)
ERROR_CLASSES = {"4": InvalidCredentials, "7": InvalidCredentials, "5": NoMoney, "8": RetryLater, "9": RetryLater}
SESSION_REFUSED = "3"  # an invalid session
LOGIN_REFUSED = {"1", "2", "4", "7"}  # asking for a session: a login or password empty, invalid or refused


def configured(credentials) -> bool:
    return bool(str(credentials.get(LOGIN) or "").strip() and str(credentials.get(PASSWORD) or "").strip())


def legacy_of(provider):
    """The Devino provider, calling the older platform instead (the same HTTP client, timeout and size caps)."""
    legacy = copy.copy(provider)
    public = provider.base_url.rstrip("/") == provider.default_base_url.rstrip("/")
    legacy.base_url = LEGACY_BASE_URL if public else provider.base_url.rstrip("/") + "/" + LEGACY_PATH
    return legacy


def session_id(provider) -> str:
    """A new session of the older platform; a refused login or password is InvalidCredentials."""
    response = legacy_of(provider).request("GET", "user/sessionId", params={
        "login": str(provider.credentials.get(LOGIN) or "").strip(),
        "password": str(provider.credentials.get(PASSWORD) or "")})
    answer = _json(response)
    if response.status_code >= 400 or isinstance(answer, dict):
        code, words = _code_and_words(response, answer)
        if code in LOGIN_REFUSED or (not code and response.status_code in (400, 401, 403)):
            raise InvalidCredentials(f"Devino's older platform (integrationapi.net) refused the login and "
                                     f"password: {words}", code or f"http_{response.status_code}")
        raise ERROR_CLASSES.get(code, ProviderError)(words, code or f"http_{response.status_code}")
    session = (answer if isinstance(answer, str) else response.text if answer is None else "").strip().strip('"')
    if not session or len(session) > 200 or any(char.isspace() for char in session):
        raise ProviderError(f"Devino's older platform answered no session id: {_sample(response.text)}",
                            "bad_session")
    return session


def fetch_replies(provider, cursor_text) -> ReplyPage:
    """Replies listed after `cursor_text` (a Cursor; None or one that cannot be read: the last hour)."""
    now = _ms_of(datetime.now(UTC))
    cursor = Cursor.read(cursor_text)
    if cursor is None or cursor.moment > now + _ms(MAX_WINDOW):
        if cursor_text:
            logger.warning("Devino: the replies cursor %.64r cannot be read: fetching the last hour", cursor_text)
        cursor = Cursor(now - _ms(FIRST_WINDOW))
    elif cursor.moment < now - _ms(CATCH_UP):
        logger.warning("Devino: the replies cursor is more than %s days old: fetching from then on", CATCH_UP.days)
        cursor = Cursor(now - _ms(CATCH_UP))
    capped = cursor.moment + _ms(MAX_WINDOW) < now
    # The window's end in whole seconds, as it is asked: every reply up to it is listed, none after it.
    start, end = cursor.moment - _ms(OVERLAP), _whole_second(min(now, cursor.moment + _ms(MAX_WINDOW)))
    replies, at_moment = [], {}
    for row in _listed(provider, start, end):
        if not isinstance(row, dict):
            logger.warning("Devino: an incoming SMS that is not an object was skipped: %.300r", row)
            continue
        listed, row_id = listed_moment(row.get("CreatedDateUtc")), _text(row.get("ID"))
        # A moment outside the window asked for is misread (or Devino's own mistake): it moves no cursor.
        moment = listed if listed is not None and start - _ms(SLACK) <= listed <= end + _ms(SLACK) else None
        if moment is not None:
            at_moment.setdefault(moment, set()).add(row_id)
            if cursor.covers(moment, row_id):
                continue
        else:  # taken whenever it is listed: the store takes its id once
            logger.warning("Devino: incoming SMS %.40r has a CreatedDateUtc outside the window or unreadable: "
                           "%.60r", row_id, row.get("CreatedDateUtc"))
        reply = provider.reply(row, row_id, row.get("SourceAddress"), row.get("DestinationAddress"), row.get("Data"),
                               _naive_utc(listed))
        if reply is not None:
            replies.append(reply)
    replies.sort(key=lambda reply: reply.received_at or datetime.min)
    after = cursor.after(at_moment, quiet_until=min(end, now - _ms(SETTLE)))
    return ReplyPage(replies, str(after), more=capped and after.moment > cursor.moment)


def _listed(provider, start, end):
    session = session_id(provider)
    response = legacy_of(provider).request("GET", "Sms/In", params={
        "sessionId": session, "minDateUTC": _window_bound(start), "maxDateUTC": _window_bound(end)})
    answer = _json(response)
    if response.status_code < 400 and isinstance(answer, list):
        return answer
    if response.status_code < 400 and not (isinstance(answer, dict) and ("Code" in answer or "Desc" in answer)):
        logger.warning("Devino: Sms/In answered in a shape we cannot read: %s", _sample(response.text))
        raise ProviderError("Devino listed incoming SMS in a shape we cannot read", "bad_answer")
    raise _error(response, answer)


def _error(response, answer):
    """The ProviderError of a refused Sms/In: by `{"Code", "Desc"}`, else by the HTTP status."""
    code, words = _code_and_words(response, answer)
    if code == SESSION_REFUSED or response.status_code == 401:  # expired or unknown: a new one next fetch
        return RetryLater(f"Devino refused the session: {words}", f"session_{code or response.status_code}")
    if response.status_code == 403 and not code:
        return InvalidCredentials(f"Devino refused access: {words}", "http_403")
    return ERROR_CLASSES.get(code, ProviderError)(words, code or f"http_{response.status_code}")


def _code_and_words(response, answer):
    body = answer if isinstance(answer, dict) else {}
    words = _text(body.get("Desc") or body.get("desc") or body.get("Message")) or f"HTTP {response.status_code}"
    return _text(body.get("Code", body.get("code"))), words[:300]


@dataclass(frozen=True)
class Cursor:
    """Where the next fetch starts: the latest CreatedDateUtc taken (ms since 1970, UTC) and fingerprints of
    the ids taken at that moment. As text `<ms>` or `<ms>:<fp>,<fp>`."""

    moment: int
    seen: frozenset = frozenset()

    def __str__(self):
        return f"{self.moment}:{','.join(sorted(self.seen))}" if self.seen else str(self.moment)

    @classmethod
    def read(cls, text):
        moment, _, seen = str(text or "").partition(":")
        fingerprints = frozenset(seen.split(",")) if seen else frozenset()
        if not moment.isdigit() or len(moment) > 15 or not all(FINGERPRINT.fullmatch(item) for item in fingerprints):
            return None
        return cls(int(moment), fingerprints)

    def covers(self, moment, row_id):
        return moment < self.moment or (moment == self.moment and fingerprint(row_id) in self.seen)

    def after(self, at_moment, quiet_until):
        """The cursor past what a fetch listed (`at_moment`: moment -> the ids listed at it), every reply up to
        `quiet_until` having been listed."""
        latest = max(at_moment, default=None)
        if quiet_until > self.moment and (latest is None or latest < quiet_until):  # nothing since: passed over
            return Cursor(quiet_until)
        if latest is None or latest < self.moment:
            return self
        seen = {fingerprint(row_id) for row_id in at_moment[latest]} | (self.seen if latest == self.moment else set())
        if len(seen) > SAME_MOMENT_IDS:  # all of that moment was listed: on from the next millisecond
            return Cursor(latest + 1)
        return Cursor(latest, frozenset(seen))


def fingerprint(row_id) -> str:
    return hashlib.sha256(str(row_id).encode()).hexdigest()[:8]


def listed_moment(value) -> int | None:
    """CreatedDateUtc as ms since 1970 (UTC): `/Date(<ms>)/` (an offset after it changes nothing), or an ISO 8601
    moment (UTC where it names no zone); None for anything else."""
    text = _text(value)
    found = DOTNET_DATE.fullmatch(text)
    if found:
        return int(found.group(1))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return None if moment is None else _ms_of(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _window_bound(ms):
    return (EPOCH + timedelta(milliseconds=ms)).strftime(MOMENT)


def _whole_second(ms):
    return ms - ms % 1000


def _naive_utc(ms):
    if ms is None:
        return None
    try:
        return (EPOCH + timedelta(milliseconds=ms)).replace(tzinfo=None)
    except OverflowError:
        return None


def _ms_of(moment):
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _ms(span):
    return span // timedelta(milliseconds=1)


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None


def _text(value):
    return "" if value is None or isinstance(value, (dict, list, bool)) else str(value).strip()


def _sample(text):
    return repr(str(text or "")[:300])
