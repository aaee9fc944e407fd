"""The guard rails, applied where a claimed batch of messages is about to go to a provider (b24sms/flows/sending.py
calls `admit` for both the web process's sender and the job's sends).

Each message that has not passed them yet (`admitted_at` NULL) is, in this order:
1. refused (failed, reason `stop_list`) when its number is on the portal's stop list;
2. held (back to the send queue until the quiet hours end, reason `quiet_hours`, still `queued` in the CRM) when
   it is night in the recipient's time zone; it is judged again when it comes back;
3. refused (`daily_cap`, `monthly_cap`) past a cap: the messages counter takes as many as fit in one statement,
   the spend caps compare the known costs of the period; the admins are told once a day per cap;
4. refused (`repeat`) when the same text went to the same number within the repeat window (one statement per
   message decides, so of two copies at once one goes); a repeat gives its count back. A test SMS from the page
   and a failed message an admin sends again (b24sms/flows/resending.py) are sent on purpose and never taken for
   a repeat: neither is reported to Bitrix24, which is how they are told apart.
The rest go, `admitted_at` set: a retry later is neither counted again nor taken for a repeat of itself.
Caps count in UTC days and months (portals keep no time zone of their own).
Refusals go through lifecycle.fail, so `failed` is reported to the CRM card like any other.
"""
import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from b24sms import counters
from b24sms.bitrix import notices
from b24sms.rules import guards as rules
from b24sms.rules import lifecycle
from b24sms.store import claims, stop_list
from b24sms.store import guards as store
from b24sms.store.db import one_of
from b24sms.store.models import Message

logger = logging.getLogger(__name__)
# The columns admit changes on the claimed records; written back in one executemany before any provider call.
WRITES = tuple(dict.fromkeys((*lifecycle.STATUS_COLUMNS, "reason", "admitted_at", "updated_at")))
# Repeat records older than the longest window are of no use (the retention duty drops them).
REPEATS_KEPT = timedelta(minutes=rules.MAX_REPEAT_WINDOW)


def admit(session, claim, messages, now):
    """Decide, per claimed message (plain records with `portal` set), whether it goes now. Writes the held and
    refused ones (and the admitted ones' mark) under the claim and commits. Returns the records to send; none
    when the claim was lost meanwhile."""
    already = _admitted_before(session, [m.id for m in messages])
    fresh = [m for m in messages if m.id not in already]
    if not fresh:
        return messages
    by_portal = defaultdict(list)
    for message in fresh:
        message.reason, message.admitted_at = None, None
        by_portal[message.portal_id].append(message)
    going = [m for m in messages if m.id in already]
    for portal_id in sorted(by_portal):  # counters are locked in portal order: runners never deadlock
        going += _admit_portal(session, by_portal[portal_id], now)
    for message in fresh:
        message.updated_at = now
    if claims.write_held(session, claims.MESSAGES, claim, fresh, WRITES) != len(fresh):
        session.rollback()  # another runner took them over: theirs to decide and send
        logger.warning("guard rails: the claim on %d messages was lost; their new holder sends them", len(fresh))
        return []
    session.commit()
    _count(fresh)
    return sorted(going, key=lambda m: m.id)


def _admitted_before(session, ids):
    return set(session.scalars(select(Message.id).where(one_of(session, Message.id, ids),
                                                        Message.admitted_at.is_not(None))))


def _admit_portal(session, messages, now):
    portal = messages[0].portal
    guards = store.settings_of(portal)
    blocked = stop_list.listed(session, portal.id, [m.recipient for m in messages if m.recipient])
    waiting = []
    for message in messages:
        if message.recipient in blocked:
            _refuse(message, rules.STOP_LIST)
            continue
        # The number's zone only where quiet hours are set: a Russian number spans eleven zones, each looked at.
        until = None if guards.quiet_hours is None else rules.quiet_until(
            guards.quiet_hours, rules.recipient_zone(message.recipient or "", now), now)
        if until is not None:
            message.reason = rules.QUIET_HOURS
            lifecycle.retry_at(message, until)
        else:
            waiting.append(message)
    going = _within_caps(session, portal, guards, waiting, now)
    return _not_repeats(session, portal, guards, going, now)


def _within_caps(session, portal, guards, messages, now):
    """The messages the caps let go (oldest first); the rest refused, and the admins told."""
    if not messages:
        return []
    day_start, month_start = rules.period_starts(now)
    for reason, cap, since in ((rules.DAILY_CAP, guards.daily_spend, day_start),
                               (rules.MONTHLY_CAP, guards.monthly_spend, month_start)):
        if cap is not None and rules.over_spend(store.spent_since(session, portal.id, since), cap):
            for message in messages:
                _refuse(message, reason)
            notices.note(session, portal.id, None, reason, {"cap": str(cap)})
            return []
    day, month = rules.periods(now)
    by_day = store.take(session, portal.id, day, len(messages), guards.daily_messages)
    by_month = store.take(session, portal.id, month, by_day, guards.monthly_messages)
    store.give_back(session, portal.id, day, by_day - by_month)
    for message in messages[by_month:by_day]:
        _refuse(message, rules.MONTHLY_CAP)
    for message in messages[by_day:]:
        _refuse(message, rules.DAILY_CAP)
    if by_day < len(messages):
        notices.note(session, portal.id, None, rules.DAILY_CAP, {"cap": f"{guards.daily_messages} SMS"})
    if by_month < by_day:
        notices.note(session, portal.id, None, rules.MONTHLY_CAP, {"cap": f"{guards.monthly_messages} SMS"})
    return messages[:by_month]


def _not_repeats(session, portal, guards, messages, now):
    """The messages that are no repeat (each noted as sent now); repeats refused and given back to the counters."""
    going = []
    window = guards.repeat_window_minutes
    for message in messages:
        # A test SMS or an admin's resend is sent on purpose, however often: never a repeat.
        repeat = window and message.report_to_bitrix and not store.first_send(
            session, portal.id, message.recipient, rules.text_key(message.body), now, now - timedelta(minutes=window))
        if repeat:
            _refuse(message, rules.REPEAT)
        else:
            message.admitted_at = now
            going.append(message)
    repeats = len(messages) - len(going)
    for period in rules.periods(now):
        store.give_back(session, portal.id, period, repeats)
    return going


def _refuse(message, reason):
    message.reason = reason
    lifecycle.fail(message, reason, rules.REFUSAL_TEXTS[reason])
    logger.info("message %s refused by the guard rails: %s", message.id, reason)


def _count(messages):
    for message in messages:
        if message.reason in rules.HOLDS:
            counters.GUARD_HELD.labels(message.reason).inc()
        elif message.reason in rules.REFUSALS:
            counters.GUARD_REFUSED.labels(message.reason).inc()


def forget_old_repeats(session, now):
    """The retention duty's part: repeat records no window reaches any more."""
    return store.forget_repeats(session, now - REPEATS_KEPT)
