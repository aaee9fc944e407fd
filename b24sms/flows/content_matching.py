"""Reconciling by content, one rule for every provider without a client id (P1SMS): after a lost answer such a
provider lists the messages it has with our number and text (LookAlikes); which of them, if any, is ours is
decided here.

A look-alike is ours only when nothing else can be: it was created after the message's first call to that
account, and no other message of ours holds its id. The provider's clock is not ours: a look-alike stamped more
than CLOCK_SKEW before that call is an earlier message (a code sent twice) and is passed over; one stamped in
between could be either. Anything in doubt (such a one, a date that cannot be read, an entry without an id, a
list that does not reach back to the call, two that could be ours) is "cannot tell", never a match: a wrong match
would report another SMS's status to Bitrix24 and never send this one. The message then waits for a receipt
naming it, and moves on along the chain (b24sms/flows/reconciling.py).
"""
from datetime import timedelta

from sqlalchemy import select

from b24sms.providers.base import Accepted, CannotTell, LookAlike, LookAlikes
from b24sms.rules import failover
from b24sms.store.models import Message

# How far a provider's clock may be off ours. Look-alikes stamped this much before our call or more are earlier
# messages; those stamped nearer, before it, are in doubt.
CLOCK_SKEW = timedelta(minutes=2)


def decide(session, message, found: LookAlikes, title) -> Accepted | CannotTell | None:
    """What `found` says of `message`, whose answer from its account (`title`) was lost: the one look-alike that
    is ours (Accepted), None (none can be ours: it never took the message) or CannotTell."""
    called_at = failover.first_call_at(message.attempt_log, message.account_id)
    if called_at is None:
        return CannotTell(f"when {title} was first called for the message is not known", "call_time_unknown")
    called_at = called_at.replace(microsecond=0)  # providers stamp whole seconds
    earliest = called_at - CLOCK_SKEW  # nothing stamped before this can be ours, however the clocks differ
    if found.since > earliest:
        return CannotTell(f"{title} lists messages from {found.since:%Y-%m-%d %H:%M} on only, after the call",
                          "list_too_short")
    held = _held_by_others(session, message, found.entries)
    ours, doubtful = [], []
    for alike in found.entries:
        if alike.provider_id is not None and alike.provider_id in held:
            continue  # another message of ours
        if alike.created_at is not None and alike.created_at < earliest:
            continue  # an earlier message alike
        if alike.created_at is None or alike.created_at < called_at or alike.provider_id is None:
            doubtful.append(alike)
        else:
            ours.append(alike)
    if doubtful:
        return CannotTell(f"{title} lists {len(doubtful)} message(s) with this text to this number that may or may "
                          "not be this one (stamped about the time of the call, undated or without an id)",
                          "in_doubt")
    if len(ours) > 1:
        return CannotTell(f"{title} has {len(ours)} messages with this text to this number since the call",
                          "ambiguous")
    if not ours:
        return None
    return Accepted(provider_id=ours[0].provider_id, status=ours[0].status, raw=ours[0].raw)


def _held_by_others(session, message, entries: tuple[LookAlike, ...]) -> set[str]:
    """The listed ids that another message sent through the same account holds."""
    ids = {alike.provider_id for alike in entries if alike.provider_id is not None}
    if not ids:
        return set()
    return set(session.scalars(select(Message.provider_message_id).where(
        Message.account_id == message.account_id, Message.id != message.id,
        Message.provider_message_id.in_(sorted(ids)))).all())
