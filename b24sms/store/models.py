"""The data that must survive: portals, their provider accounts, and every message Bitrix24 handed us.

Times are naive UTC throughout (SQLite keeps no zone); `utcnow()` is the one clock.
"""
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from b24sms.rules.lifecycle import MessageState  # noqa: F401 (models speak of it)
from b24sms.store.crypto import Encrypted, EncryptedJSON


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_install_id() -> str:
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    pass


# SQLite reuses the largest row id after that row is deleted; AUTOINCREMENT never does. An id that outlives its
# row (a page token's portal, an account a notice names) must never come to mean another row.
NEVER_REUSED = {"sqlite_autoincrement": True}


class PortalState:
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"  # the refresh token died: an admin must open the app again
    UNINSTALLED = "uninstalled"


class Portal(Base):
    __tablename__ = "portals"
    __table_args__ = (UniqueConstraint("handler_key_hash", name="uq_portals_handler_key_hash"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), unique=True)
    # This install of the app on the portal: new at every install, so a page token minted for an earlier one
    # (before an uninstall) opens nothing.
    install_id: Mapped[str] = mapped_column(String(32), default=new_install_id)
    domain: Mapped[str] = mapped_column(String(255))
    client_endpoint: Mapped[str] = mapped_column(String(255))
    access_token: Mapped[str | None] = mapped_column(Encrypted)
    refresh_token: Mapped[str | None] = mapped_column(Encrypted)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    application_token: Mapped[str | None] = mapped_column(Encrypted)
    # HANDLER is PUBLIC_URL/handler/<handler_key>: found by the hash, kept encrypted to build the URL again.
    handler_key: Mapped[str | None] = mapped_column(Encrypted)
    handler_key_hash: Mapped[str | None] = mapped_column(String(64))
    # Whether the senders on the portal carry the keyed HANDLER (portals from before keyed URLs do not).
    sender_keyed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    state: Mapped[str] = mapped_column(String(16), default=PortalState.ACTIVE, index=True)
    state_reason: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(2), default="RU")
    sender_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    # No status reports before this time: a runner holds the portal, or Bitrix24 asked us to slow down.
    report_not_before: Mapped[datetime | None] = mapped_column(DateTime)
    # The lease token of the runner reporting the portal's statuses (b24sms/store/claims.py).
    report_lease: Mapped[str | None] = mapped_column(String(16))
    # Token refresh is a lease, not a row lock held across the OAuth call (handler inserts must not wait on it).
    refresh_lease: Mapped[str | None] = mapped_column(String(32))
    refresh_lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # A refresh whose outcome we never learned (runner killed, answer lost): the rotated token may be gone.
    refresh_interrupted_at: Mapped[datetime | None] = mapped_column(DateTime)
    # An admin paused sending: messages are stored and wait (received / retry_wait) until it is resumed.
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bitrix24 user ids of verified admins (visits, ONAPPINSTALL), most recent first: who gets notices.
    admin_user_ids: Mapped[list | None] = mapped_column(JSON)
    # The guard rails an admin set (b24sms/rules/guards.py, GuardSettings.as_json); NULL: the defaults.
    guards: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    accounts: Mapped[list["ProviderAccount"]] = relationship(
        back_populates="portal",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ProviderAccount.position",
    )
    # The portal's sender names, one messageservice sender each (b24sms/bitrix/sender_names.py); in the page's order.
    sender_names: Mapped[list["SenderName"]] = relationship(
        back_populates="portal",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SenderName.position",
    )

    @property
    def active_accounts(self):
        """The failover chain in order: primary first, retired accounts left out."""
        return [account for account in self.accounts if account.position is not None]


class ProviderAccount(Base):
    """One provider configured by a portal. Retired accounts (position NULL) stay so that messages they sent
    can still be polled."""

    __tablename__ = "provider_accounts"
    __table_args__ = (NEVER_REUSED,)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    position: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str | None] = mapped_column(String(64))
    credentials: Mapped[dict] = mapped_column(EncryptedJSON)
    # Receipts come to /callbacks/<kind>/<secret>: found by the hash, the secret itself kept encrypted so that
    # per-message callback URLs can be built and the admin can see the URL to paste into the provider's cabinet.
    callback_secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    callback_secret: Mapped[str | None] = mapped_column(Encrypted)
    # Providers that allow one status request per interval (SMSC): the account's next free slot.
    poll_not_before: Mapped[datetime | None] = mapped_column(DateTime)
    # Health: calls that timed out in a row, and until when new messages skip this account (it hangs).
    timeouts_in_row: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skip_until: Mapped[datetime | None] = mapped_column(DateTime)
    # Below this balance the portal's admins are notified (b24sms/flows/balances.py); NULL: no check.
    balance_threshold: Mapped[float | None] = mapped_column(Float)
    balance_checked_at: Mapped[datetime | None] = mapped_column(DateTime)  # the duty's last balance call
    # Pulling replies (providers that keep them to be fetched): where the last fetch ended (the provider's id or
    # moment), when the next is due, and who holds the fetch now.
    replies_cursor: Mapped[str | None] = mapped_column(String(64))
    replies_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    replies_lease: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    portal: Mapped[Portal] = relationship(back_populates="accounts")


class SenderName(Base):
    """A sender name approved at the portal's providers, registered as its own messageservice sender: the default
    one under SENDER_CODE, the others under SENDER_CODE + "_" + `suffix` (derived once from the name, never
    changed, so that robots set up with a sender keep finding it)."""

    __tablename__ = "sender_names"
    __table_args__ = (UniqueConstraint("portal_id", "suffix", name="uq_sender_names_portal_suffix"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    suffix: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    registered: Mapped[bool] = mapped_column(Boolean, default=False)  # its sender is on the portal
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    portal: Mapped[Portal] = relationship(back_populates="sender_names")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("portal_id", "bitrix_message_id", name="uq_messages_portal_bitrix_id"),
        UniqueConstraint("provider_key", name="uq_messages_provider_key"),
        # The job's two queues: what is due (send or poll), and what Bitrix24 has not been told.
        Index("ix_messages_state_due", "state", "due_at"),
        # Which portals have untold statuses, and each one's untold messages in id order (report_portal).
        Index("ix_messages_report", "report_pending", "portal_id", "id"),
        Index("ix_messages_portal_created", "portal_id", "created_at"),  # the message log, newest first
        Index("ix_messages_account_provider_id", "account_id", "provider_message_id"),  # receipts
        Index("ix_messages_portal_author", "portal_id", "author_id", "created_at"),  # a non-admin's own log
        Index("ix_messages_portal_recipient", "portal_id", "recipient", "created_at"),  # a number's conversation
        Index("ix_messages_state_updated", "state", "updated_at"),  # retention: final and unchanged for long
        # The job's claims per provider account (polling, reconciliation) and per portal (sending).
        Index("ix_messages_account_state_due", "account_id", "state", "due_at"),
        Index("ix_messages_portal_state_due", "portal_id", "state", "due_at"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    bitrix_message_id: Mapped[str] = mapped_column(String(64))
    # The id providers know the message by (client id, SMSC id, the `m=` of receipt URLs): random, unique for
    # ever, never a row id (ids repeat after a reinstall, a restore or a move to another database).
    provider_key: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str | None] = mapped_column(String(32))  # E.164; NULL when the number is invalid
    recipient_raw: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    origin: Mapped[dict | None] = mapped_column(JSON)  # module, author, CRM bindings / bizproc document
    author_id: Mapped[str | None] = mapped_column(String(32))  # the Bitrix24 user who sent it, when known
    account_id: Mapped[int | None] = mapped_column(ForeignKey("provider_accounts.id", ondelete="SET NULL"))
    provider: Mapped[str | None] = mapped_column(String(32))
    # The sender name the handler call's `code` (or the test SMS) asked for; NULL: each provider's own sender.
    sender: Mapped[str | None] = mapped_column(String(64))
    # The messageservice CODE the handler call came through: Bitrix24 finds the message only under it, so every
    # status is reported with it. NULL: a test message, or one stored before the CODE was kept.
    sender_code: Mapped[str | None] = mapped_column(String(64))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    provider_status: Mapped[str | None] = mapped_column(String(255))  # the provider's own word, kept raw
    state: Mapped[str] = mapped_column(String(16), default=MessageState.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Every provider call: [{"account", "provider", "result", "code", "at"}]; the failover chain reads it.
    attempt_log: Mapped[list | None] = mapped_column(JSON)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_text: Mapped[str | None] = mapped_column(Text)
    # A provider was given up after a lost answer and the next one asked: the SMS may arrive twice.
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str | None] = mapped_column(String(16))  # Bitrix24 status to report
    reported_status: Mapped[str | None] = mapped_column(String(16))
    report_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # False for test messages sent from the settings page: Bitrix24 does not know them.
    report_to_bitrix: Mapped[bool] = mapped_column(Boolean, default=True)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    # What the provider said the message cost, in its currency (ISO 4217); NULL: no price known (never 0).
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    currency: Mapped[str | None] = mapped_column(String(3))
    # Why a guard rail held or refused it (rules vocabulary: daily_cap, repeat, quiet_hours, stop_list...).
    reason: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3), default="out", server_default="out")  # out / in
    # An operator's answer in an Open Line: its line; the chat and message ids it came with are in `origin`, for
    # imconnector.send.status.delivery once a provider took it (line_confirmed then).
    line: Mapped[str | None] = mapped_column(String(16))
    line_confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the guard rails let it go (b24sms/flows/guards.py): counted against the caps once, never a repeat of itself.
    admitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # Who holds the message now (b24sms/store/claims.py). Every ORM write of a message is fenced by it: its UPDATE
    # carries `WHERE lease_token = <the token it was read with>`, so a runner whose lease was taken over writes
    # nothing (StaleDataError) instead of overwriting the new holder's work.
    lease_token: Mapped[str] = mapped_column(String(16), default="", server_default="")

    portal: Mapped[Portal] = relationship()
    account: Mapped[ProviderAccount | None] = relationship()

    __mapper_args__ = {"version_id_col": lease_token, "version_id_generator": False}


class PortalNotice(Base):
    """A notification to the portal's admins about one cause on one provider account (b24sms/bitrix/notices.py): at
    most one a day per cause. `due_at` set: one is wanted (from then on); `lease`: a job pass is sending it."""

    __tablename__ = "portal_notices"
    __table_args__ = (UniqueConstraint("portal_id", "account_id", "cause", name="uq_portal_notices_cause"),
                      # A cause of the portal itself (a cap reached) has no account: one row per cause all the same.
                      Index("uq_portal_notices_portal_cause", "portal_id", "cause", unique=True,
                            sqlite_where=text("account_id IS NULL"), postgresql_where=text("account_id IS NULL")),
                      Index("ix_portal_notices_due", "due_at"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("provider_accounts.id", ondelete="CASCADE"))
    cause: Mapped[str] = mapped_column(String(32))  # "low_balance" | "credentials_refused" | "daily_cap" | ...
    detail: Mapped[dict | None] = mapped_column(JSON)  # what the notice says: the balance, the provider's words
    noted_at: Mapped[datetime | None] = mapped_column(DateTime)  # the cause was last seen then
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease: Mapped[str | None] = mapped_column(String(16))
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    quiet_until: Mapped[datetime | None] = mapped_column(DateTime)  # no other notice of this cause before then
    last_error: Mapped[str | None] = mapped_column(Text)  # why the last try failed (no `im` scope, ...)


class EncryptionCanary(Base):
    """One known value encrypted with ENCRYPTION_KEYS: start-up and /healthz decrypt it, so keys that cannot
    read stored secrets are found before a handler call is."""

    __tablename__ = "encryption_canary"
    __table_args__ = (NEVER_REUSED,)

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(Encrypted)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DailyMessageCounts(Base):
    """Counts of messages that retention deleted, per portal, day the message was created (UTC) and provider
    kind ("" for messages no provider was tried for), so that statistics outlive the messages themselves."""

    __tablename__ = "daily_message_counts"
    __table_args__ = (UniqueConstraint("portal_id", "day", "provider", name="uq_daily_message_counts_key"),
                      NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(32), default="")
    sent: Mapped[int] = mapped_column(Integer, default=0)  # taken by a provider (it gave us its id)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    undelivered: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=0)  # of the sent ones: what providers bill


class DailySpend(Base):
    """What messages that retention deleted cost, per portal, day the message was created (UTC), provider kind and
    currency, where their provider said; currency "" counts the messages a provider took without a price (amount
    0). The spend in the statistics outlives the messages, as the counts do (store/spend.py)."""

    __tablename__ = "daily_spend"
    __table_args__ = (UniqueConstraint("portal_id", "day", "provider", "currency", name="uq_daily_spend_key"),
                      NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(32), default="")
    currency: Mapped[str] = mapped_column(String(3), default="")
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class GuardCounter(Base):
    """Messages a portal's guard rails let go in one period ("d2026-12-04", "m2026-12"): what its caps count. Taken
    with one conditional UPDATE (b24sms/store/guards.py), so runners at once never pass a cap together."""

    __tablename__ = "guard_counters"
    __table_args__ = (UniqueConstraint("portal_id", "period", name="uq_guard_counters_period"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(12))
    messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    granted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # what the last UPDATE let go


class GuardRepeat(Base):
    """The last time a text (its digest) went to a number from a portal: what repeat suppression compares with."""

    __tablename__ = "guard_repeats"
    __table_args__ = (UniqueConstraint("portal_id", "recipient", "text_key", name="uq_guard_repeats_key"),
                      Index("ix_guard_repeats_sent_at", "sent_at"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(32))
    text_key: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(DateTime)


class StopListEntry(Base):
    """A number of a portal's stop list: no SMS goes to it. `reason`: "admin" (added on the page) or "reply"
    (the recipient answered with a stop word)."""

    __tablename__ = "stop_list"
    __table_args__ = (UniqueConstraint("portal_id", "number", name="uq_stop_list_number"),
                      Index("ix_stop_list_portal_created", "portal_id", "created_at"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


from b24sms.store import reply_models  # noqa: E402,F401 (its tables join this metadata)
