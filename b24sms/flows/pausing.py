"""The pause switch: an admin stops the portal's sending without touching its settings.

While a portal is paused, handler calls are still taken and answered (messages are stored, `received`) and
messages waiting for a retry or for reconciliation keep waiting: neither the claims to send (b24sms/flows/sending.py)
nor the claim to reconcile (b24sms/flows/reconciling.py: asking Prostor is sending again under the same clientId) take
them, as all carry NOT_PAUSED. Nothing that could make a provider send reaches it. Status polling, receipts and
reports to Bitrix24 go on. Resumed, the waiting messages go out: those never tried are handed to the web
process's sender at once, the rest (and whatever it cannot take) at the job's next pass.
"""
import logging

from sqlalchemy import exists, select

from b24sms.rules.errors import N_, BadRequest, Conflict
from b24sms.rules.lifecycle import MessageState
from b24sms.services import Services
from b24sms.store.models import Message, Portal

logger = logging.getLogger(__name__)
# The condition every claim that may lead to a provider sending carries. The stamping UPDATE checks it again, so
# a pause that lands between the choice and the stamp still holds the messages. (A round already under way when
# the admin pauses finishes.)
NOT_PAUSED = ~exists().where(Portal.id == Message.portal_id, Portal.paused)
RESUME_AT_ONCE = 20_000  # never-tried messages handed to the web sender on resume; the job sends any beyond


def parse_paused(body):
    paused = body.get("paused")
    if not isinstance(paused, bool):
        raise BadRequest(N_("`paused` must be true or false."), "invalid_field", field_path="paused")
    return paused


def set_paused(services: Services, session, portal, paused):
    """Pause or resume the portal's sending; a resume hands what waited to the web sender."""
    was = portal.paused
    portal.paused = paused
    session.commit()
    if was != paused:
        logger.info("portal %s: sending %s", portal.domain, "paused" if paused else "resumed")
    if not paused:
        waiting = session.scalars(select(Message.id).where(Message.portal_id == portal.id,
                                                           Message.state == MessageState.RECEIVED)
                                  .order_by(Message.id).limit(RESUME_AT_ONCE)).all()
        session.commit()
        if waiting:
            services.outbox.submit_many(portal.id, waiting)


def refuse_while_paused(portal):
    """A test SMS is refused while the portal is paused: it would only wait, and the admin would wonder."""
    if portal.paused:
        raise Conflict(N_("Sending is paused for this portal: resume it to send a test SMS."), "paused")
