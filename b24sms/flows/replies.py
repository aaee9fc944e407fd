"""Replies: SMS that clients send to a portal's reply numbers, taken in when a provider pushes them
(`POST /inbound/<kind>/<secret>`, b24sms/flows/pushed_replies.py) or when the job fetches them (providers that
keep them to be fetched, from a cursor, at least once a minute). Either way a reply is stored first, once per
provider id; a stop word puts the client's number on the portal's stop list (the reply still goes to the line, so
the operator sees it). Handing replies to their Open Line is b24sms/flows/line_delivery.py's."""
import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from b24sms import counters, providers
from b24sms.flows import pushes
from b24sms.providers.base import REPLIES_PULLED, ProviderError, Receipt, Reply
from b24sms.rules import guards as guard_rules
from b24sms.rules.phones import InvalidPhone, normalize
from b24sms.rules.replies import is_stop_word
from b24sms.services import Services
from b24sms.store import claims, incoming, stop_list
from b24sms.store.models import Portal, PortalState, ProviderAccount
from b24sms.store.reply_models import IncomingState, ReplyNumber

logger = logging.getLogger(__name__)

PULL_EVERY = timedelta(seconds=60)  # an account's replies are fetched at least this often
PULL_LEASE = timedelta(minutes=2)  # a fetch that hangs longer is another runner's to take over
PULL_AGAIN = timedelta(seconds=0)  # the provider said it holds more: fetched again in this pass
PULL_SLICE = 100  # accounts one claim takes
TEXT_LIMIT = 20_000  # what an Open Line chat message takes; a reassembled SMS is far shorter


def store_pushed(services: Services, session, kind: str, secret: str, pushed: Receipt) -> tuple[int, int]:
    """A push to an account's inbound URL, checked as the provider's own, its replies stored once (committed).
    Returns (received, stored). Both the live push (b24sms/flows/pushed_replies.py) and its replay from the
    spool come here."""
    taken = pushes.take(services, session, pushes.REPLY, kind, secret, pushed)
    account = taken.account
    new = store(session, account.portal_id, account.id, account.kind, taken.items, services.clock.now())
    session.commit()
    counters.count_replies(account.kind, new)
    return len(taken.items), len(new)


def store(session, portal_id: int, account_id: int | None, kind: str, replies: list[Reply],
          now: datetime) -> list[dict]:
    """Store the replies not stored yet; the clients' stop words go on the stop list. Not committed. Returns the
    new ones' rows."""
    portal = session.get(Portal, portal_id)
    if portal is None or not replies:
        return []
    own_words = guard_rules.from_stored(portal.guards).stop_words
    rows = [{
        "portal_id": portal_id, "account_id": account_id, "provider": kind,
        "provider_message_id": str(reply.provider_id)[:128],
        "sender": _number(reply.sender, portal.region), "receiver": _number(reply.receiver, portal.region),
        "body": (reply.text or "")[:TEXT_LIMIT], "received_at": reply.received_at,
        "stop_word": is_stop_word(reply.text, own_words),
        "state": IncomingState.PENDING, "attempts": 0, "due_at": now, "raw": _plain(reply.raw),
        "created_at": now, "updated_at": now,
    } for reply in replies if reply.provider_id]
    new = incoming.insert_new(session, rows)
    stops = [row["sender"] for row in new if row["stop_word"] and row["sender"].startswith("+")]
    stop_list.add(session, portal_id, stops, stop_list.REPLY, now)
    for row in new:
        logger.info("reply %s from %s stored for portal %s%s", row["provider_message_id"], row["sender"],
                    portal.domain, " (a stop word: the number is on the stop list)" if row["stop_word"] else "")
    return new


def pull_due(services: Services, workers) -> int:
    """Fetch the replies of every account due a fetch (providers that keep replies to be fetched, accounts with
    reply numbers), accounts in parallel; each fetch starts where the last one ended. Returns replies stored."""
    pulled_kinds = [kind for kind, cls in providers.PROVIDERS.items() if REPLIES_PULLED in cls.reply_ways]
    if not pulled_kinds:
        return 0
    with services.db.session() as session:
        claim = claims.claim(
            session, claims.REPLY_PULLS,
            (ProviderAccount.kind.in_(pulled_kinds), ProviderAccount.position.is_not(None),
             ProviderAccount.id.in_(select(ReplyNumber.account_id))),
            among=((Portal, Portal.id == ProviderAccount.portal_id, Portal.state == PortalState.ACTIVE),),
            now=services.clock.now(), lease=PULL_LEASE, limit=PULL_SLICE, order_by=(ProviderAccount.id,))
    if not claim.ids:
        return 0
    return workers.map(claim.ids, lambda session, account_id: _pull(services, session, claim, account_id))


def _pull(services: Services, session, claim, account_id: int) -> int:
    [account] = claims.held(session, claims.REPLY_PULLS, claim, [account_id]) or [None]
    if account is None:  # another runner took it over
        return 0
    provider = providers.for_account(account, services.settings, services.http)
    if not provider.pulls_replies():  # this account lacks what fetching takes (Devino without its older login)
        claims.settle(session, claims.REPLY_PULLS, account.id, claim,
                      replies_due_at=services.clock.now() + PULL_EVERY)
        return 0
    try:
        page = provider.fetch_replies(account.replies_cursor)
    except ProviderError as exc:
        logger.warning("fetching %s replies of account %s failed: %s", account.kind, account.id, exc)
        claims.settle(session, claims.REPLY_PULLS, account.id, claim,
                      replies_due_at=services.clock.now() + PULL_EVERY)
        return 0
    now = services.clock.now()
    new = store(session, account.portal_id, account.id, account.kind, page.replies, now)
    # The cursor moves only with the replies stored, in one transaction, and only while the claim holds.
    if not claims.settle(session, claims.REPLY_PULLS, account.id, claim, replies_cursor=page.cursor,
                         replies_due_at=now + (PULL_AGAIN if page.more else PULL_EVERY)):
        session.rollback()
        return 0
    session.commit()
    counters.count_replies(account.kind, new)
    return len(new)


def _number(raw: str, region: str) -> str:
    try:
        return normalize(raw, region)
    except InvalidPhone:
        return str(raw or "")[:32]  # a short code or an alpha name: kept as given


def _plain(raw) -> dict:
    """The provider's fields as JSON can hold them."""
    return {str(key)[:64]: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            for key, value in dict(raw or {}).items()}
