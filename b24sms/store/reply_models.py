"""Two-way SMS: the numbers that receive a portal's replies, the Open Lines they feed, and every reply taken in.
(Imported at the end of models.py, so that one metadata holds every table.)"""
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from b24sms.store.models import NEVER_REUSED, Base, utcnow


class IncomingState:
    """Where a reply stands on its way to an Open Line."""

    PENDING = "pending"  # stored; to be handed to its line
    DELIVERED = "delivered"  # the line took it (imconnector.send.messages said SUCCESS)
    NO_LINE = "no_line"  # no line of the portal is fed by the number it came to: kept for the log
    LINE_GONE = "line_gone"  # the line is deleted or inactive (NOT_ACTIVE_LINE): recorded, not retried for ever
    FAILED = "failed"  # Bitrix24 refused it for good, or the tries ran out

    FINAL = frozenset({DELIVERED, NO_LINE, LINE_GONE, FAILED})


class ReplyNumber(Base):
    """A number of a provider account that receives replies (E.164). One number belongs to one portal."""

    __tablename__ = "reply_numbers"
    __table_args__ = (UniqueConstraint("number", name="uq_reply_numbers_number"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("provider_accounts.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    # Where the provider's API sets the number's incoming URL (Twilio): whether that worked, and the words if not.
    hooked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    hook_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class OpenLine(Base):
    """An Open Line of a portal connected to our connector, and the reply numbers that feed it."""

    __tablename__ = "open_lines"
    __table_args__ = (UniqueConstraint("portal_id", "line", name="uq_open_lines_portal_line"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    line: Mapped[str] = mapped_column(String(16))  # Bitrix24's line id, as it gives it ("3")
    name: Mapped[str | None] = mapped_column(String(255))
    reply_numbers: Mapped[list] = mapped_column(JSON, default=list)  # E.164 numbers of the portal
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    configured: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # imconnector.status
    error: Mapped[str | None] = mapped_column(Text)  # why the line cannot take replies now (Bitrix24's words)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class IncomingMessage(Base):
    """A reply a provider received on one of a portal's numbers: stored first (idempotent on the provider's id),
    then handed to the Open Line its number feeds."""

    __tablename__ = "incoming_messages"
    __table_args__ = (
        UniqueConstraint("portal_id", "provider", "provider_message_id", name="uq_incoming_provider_id"),
        Index("ix_incoming_state_due", "state", "due_at"),  # the delivery duty's queue
        Index("ix_incoming_portal_created", "portal_id", "created_at"),  # the log, newest first
        Index("ix_incoming_portal_sender", "portal_id", "sender", "created_at"),  # a number's conversation
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("provider_accounts.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(32))
    provider_message_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(32))  # the client's number, E.164 where it parses
    receiver: Mapped[str] = mapped_column(String(32))  # our reply number
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime | None] = mapped_column(DateTime)  # when the provider says it came
    stop_word: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    line: Mapped[str | None] = mapped_column(String(16))  # the Open Line it went (or goes) to
    bitrix_chat_id: Mapped[str | None] = mapped_column(String(32))  # the line's chat and session (its answer)
    bitrix_session_id: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=IncomingState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict | None] = mapped_column(JSON)  # the provider's fields as they came (unknown ones kept)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
