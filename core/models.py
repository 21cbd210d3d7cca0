"""Typed SQLAlchemy models. Personal data lives only in OrderPersonalData, so forgetting it is one DELETE."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores none, so it is restored on load)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Stable constraint names, so that Alembic migrations can refer to them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class UserRole(StrEnum):
    ADMIN = "admin"
    ORGANISER = "organiser"


class VendorMode(StrEnum):
    PER_ORDER = "per_order"  # each order's lines for this vendor are mailed as the order arrives
    BATCH = "batch"  # one spreadsheet of all line items at the event's vendor cutoff


class MessageKind(StrEnum):
    CONFIRMATION = "confirmation"
    VENDOR_ORDER = "vendor_order"
    VENDOR_BATCH = "vendor_batch"
    ALARM = "alarm"
    STATUS_UPDATE = "status_update"  # the attendee is told their order moved (shipped, delivered, ...)
    ORDER_CHANGED = "order_changed"  # the attendee changed or cancelled an order a vendor already had
    PURGE_RECEIPT = "purge_receipt"  # to the organisers: what a purge destroyed, counts only


class MessageChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"  # only for attendees who opted in, and only when an SMS provider is configured


class CodeMode(StrEnum):
    NONE = "none"
    FORM = "form"  # a code is needed to open the order form at all
    ITEMS = "items"  # a code is needed only for items marked `requires_code`


class JobName(StrEnum):
    TICK = "tick"


class MessageStatus(StrEnum):
    HELD = "held"  # no SMTP configured: kept, readable on the Outbox page, sent once mail is configured
    PENDING = "pending"
    SENDING = "sending"  # claimed by a dispatcher until `claimed_until`
    SENT = "sent"
    FAILED = "failed"  # permanently; retried only by hand


class OrderStatus(StrEnum):
    RECEIVED = "received"
    SENT_TO_VENDOR = "sent_to_vendor"
    IN_PRODUCTION = "in_production"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


def _enum(enum: type[StrEnum]) -> Enum:
    # Store the values ("received"), not the member names, and skip native enum types so new statuses are cheap.
    return Enum(enum, values_callable=lambda e: [m.value for m in e], native_enum=False, length=32,
                validate_strings=True)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    header_image: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    header_image_type: Mapped[str | None] = mapped_column(String(32))
    accent_colour: Mapped[str] = mapped_column(String(7), default="#3b5bdb")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    phone_region: Mapped[str] = mapped_column(String(2), default="GB")
    # ISO 4217 code of the prices of its items (shown with every price, total and export).
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    published: Mapped[bool] = mapped_column(default=False)
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    closed_message: Mapped[str] = mapped_column(Text, default="")
    # When the event itself ends; personal data is kept `retention_days` after that, then purged.
    ends_at: Mapped[datetime | None]
    retention_days: Mapped[int] = mapped_column(default=30)
    # Until then attendees may change or cancel their orders.
    change_deadline: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    # When batch vendors get their spreadsheet of all line items.
    vendor_cutoff_at: Mapped[datetime | None]
    code_mode: Mapped[CodeMode] = mapped_column(_enum(CodeMode), default=CodeMode.NONE)
    close_when_sold_out: Mapped[bool] = mapped_column(default=False)
    one_order_per_email: Mapped[bool] = mapped_column(default=False)
    # Set by the tick when it closed the event because everything sold out (the public page says so).
    sold_out_at: Mapped[datetime | None]
    # The phase the tick last recorded (audited once per change: opened, closed); None before the first tick.
    recorded_phase: Mapped[str | None] = mapped_column(String(32))
    # When its personal data was destroyed; the event and its anonymous counts stay.
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    form_versions: Mapped[list[FormVersion]] = relationship(back_populates="event", order_by="FormVersion.number")
    items: Mapped[list[Item]] = relationship(back_populates="event", order_by="Item.position")


class FormVersion(Base):
    """A form schema document; immutable once an order was placed with it (`forms_store.save_form`)."""

    __tablename__ = "form_versions"
    __table_args__ = (UniqueConstraint("event_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    schema: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship(back_populates="form_versions")


class Item(Base):
    """Something to order; it declares its own dimensions, e.g. [{"name": "size", "label": "Size", "options": [...]}]."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("event_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    dimensions: Mapped[list[Any]] = mapped_column(default=list)
    max_per_order: Mapped[int] = mapped_column(default=10)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    image: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    image_type: Mapped[str | None] = mapped_column(String(32))
    # Who makes or delivers it; None means the organisers handle it themselves.
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id", ondelete="SET NULL"), index=True)
    # With the event's code mode ITEMS: only orders with a valid code may include this item.
    requires_code: Mapped[bool] = mapped_column(default=False)
    # A shared stock for all its variants (200 t-shirts whatever the size), on top of each variant's own.
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("stock_pools.id", ondelete="SET NULL"), index=True)

    event: Mapped[Event] = relationship(back_populates="items")
    variants: Mapped[list[Variant]] = relationship(back_populates="item", order_by="Variant.id",
                                                   cascade="all, delete-orphan")


class Variant(Base):
    """One combination of an item's dimension options; `key` joins the option values ("fitted/M/black")."""

    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("item_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    # None: unlimited. `sold` counts units in orders that are not cancelled; it only changes through a
    # conditional UPDATE (core/stock.py), so that concurrent orders can never sell more than `stock`.
    stock: Mapped[int | None]
    sold: Mapped[int] = mapped_column(default=0)

    item: Mapped[Item] = relationship(back_populates="variants")


class StockPool(Base):
    """Stock shared by several items' variants ("200 t-shirts whatever the size"); `sold` as on Variant."""

    __tablename__ = "stock_pools"
    __table_args__ = (UniqueConstraint("event_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int]
    sold: Mapped[int] = mapped_column(default=0)


class Order(Base):
    """An order without personal data: what was ordered, when, with which form version, and its status."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("event_id", "idempotency_key"),
        # The Orders page lists one event's orders newest first; without this SQLite sorts them all per page.
        Index("ix_orders_event_id_created_at", "event_id", "created_at"),
        # The repeated-submission check (core/submissions.py) finds the newest match through this alone; with
        # (event_id, submission_hash) only, SQLite took the created_at index to skip the sort and walked every
        # order of the event inside the window, which in a rush is all of them.
        Index("ix_orders_event_id_submission_hash_created_at", "event_id", "submission_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"), index=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id", ondelete="RESTRICT"), index=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus), default=OrderStatus.RECEIVED)
    # Answers to fields that are not personal (a size preference, a consent tick); personal ones live apart.
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # SHA-256 of the secret in the attendee's lookup link: a copy of the database opens no order. None once purged.
    lookup_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Set when the attendee changed the order after placing it.
    changed_at: Mapped[datetime | None]
    # A keyed hash of what was submitted (answers, items, code) so that the same submission repeated soon after,
    # from a new browser session or another worker, finds this order instead of placing a second. None once purged.
    submission_hash: Mapped[str | None] = mapped_column(String(64))

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id",
                                                  cascade="all, delete-orphan")
    personal: Mapped[OrderPersonalData | None] = relationship(back_populates="order", cascade="all, delete-orphan")
    history: Mapped[list[OrderStatusChange]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                            order_by="OrderStatusChange.id")


class OrderStatusChange(Base):
    """One step of an order's status history (the first is RECEIVED, when it was placed)."""

    __tablename__ = "order_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # A username, "attendee", or audit.SYSTEM; never the attendee's name.
    actor: Mapped[str] = mapped_column(String(64))
    # A tracking number or link for SHIPPED; destroyed by a purge.
    tracking: Mapped[str | None] = mapped_column(String(500))
    # The lines this step moved when a vendor moved only its part of the order ("1 × Hoodie (M)"); None: all.
    part: Mapped[str | None] = mapped_column(String(500))

    order: Mapped[Order] = relationship(back_populates="history")


class OrderPersonalData(Base):
    """Every answer to a personal field of one order; deleting the row forgets the person."""

    __tablename__ = "order_personal_data"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    answers: Mapped[dict[str, Any]]

    order: Mapped[Order] = relationship(back_populates="personal")


class OrderLine(Base):
    """One ordered variant; copies labels and price so later catalogue edits don't rewrite history."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), index=True)
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id", ondelete="SET NULL"), index=True)
    item_key: Mapped[str] = mapped_column(String(40))
    item_name: Mapped[str] = mapped_column(String(200))
    variant_key: Mapped[str] = mapped_column(String(200), default="")
    variant_label: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # Set only while a vendor has moved its own lines of an order it shares with other vendors ahead of the
    # order (core/fulfilment.py, `move_vendor_lines`); None: the line is where its order is.
    status: Mapped[OrderStatus | None] = mapped_column(_enum(OrderStatus))

    order: Mapped[Order] = relationship(back_populates="lines")


class User(Base):
    """An organiser or admin. Cookies issued before `sessions_valid_after` are refused (logout, password change)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # Where alarms about the user's events go (undeliverable mail); empty means the operator's MAIL_FROM.
    email: Mapped[str] = mapped_column(String(254), default="")
    role: Mapped[UserRole] = mapped_column(_enum(UserRole))
    password_hash: Mapped[str] = mapped_column(String(100))
    sessions_valid_after: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the password was printed on a console or chosen by someone else: the next login must replace it.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventMember(Base):
    """An organiser who may see and change an event (its creator, or someone added to it)."""

    __tablename__ = "event_members"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class LoginThrottle(Base):
    """Failed logins per username or per client, as a score that decays over time (never a permanent lock)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    score: Mapped[float] = mapped_column(default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    blocked_until: Mapped[datetime | None]


class AuditEntry(Base):
    """Who changed what, when, as a dotted action code; never personal data of attendees."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Vendor(Base):
    """A supplier of an organiser: who gets which items of an order, and which order fields they may see."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    emails: Mapped[list[Any]] = mapped_column(default=list)
    mode: Mapped[VendorMode] = mapped_column(_enum(VendorMode))
    # Keys of order fields the vendor may see (e.g. name, phone, delivery); item lines are always included.
    visible_fields: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """An email written in the same transaction as its cause and sent after commit by `outbox.dispatch`."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)  # the stable Message-ID header
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id", ondelete="SET NULL"), index=True)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    channel: Mapped[MessageChannel] = mapped_column(_enum(MessageChannel), default=MessageChannel.EMAIL)
    # Set when a purge destroyed the recipients, subject, bodies and attachment; the row stays for the counts.
    purged_at: Mapped[datetime | None]
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus), default=MessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")  # SMTP codes and reasons, no personal data
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Disclosure(Base):
    """A record that a vendor received certain fields of an order, when, and in which message."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id", ondelete="SET NULL"), index=True)
    vendor_name: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    # How the fields left: a mail ("mail"), or the vendor's own portal ("portal": a view or a download).
    channel: Mapped[str] = mapped_column(String(32), default="mail")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class MailTemplate(Base):
    """An event's own subject and body for one kind of mail; placeholders like {name} are filled per order."""

    __tablename__ = "mail_templates"
    __table_args__ = (UniqueConstraint("event_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)


class VendorSnapshot(Base):
    """The line items a batch vendor was sent at a cutoff; the next send goes out as a delta against it."""

    __tablename__ = "vendor_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id", ondelete="SET NULL"), index=True)
    # order line id -> a fingerprint of what was sent (variant, quantity, status), to tell what changed since.
    lines: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_delta: Mapped[bool] = mapped_column(default=False)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(default=0)
    frozen_at: Mapped[datetime] = mapped_column(default=utcnow)


class RedemptionCode(Base):
    """A code attendees enter to order; only its keyed HMAC is stored (core/codes.py), never the code."""

    __tablename__ = "redemption_codes"
    __table_args__ = (UniqueConstraint("event_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    # The first characters of the code (its prefix and a little more), so organisers can tell codes apart.
    hint: Mapped[str] = mapped_column(String(16), default="")
    max_uses: Mapped[int] = mapped_column(default=1)
    # Uses by orders that are not cancelled; only changed by a conditional UPDATE, as stock is.
    uses: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]
    # Keys of the items the code unlocks; empty means all.
    item_keys: Mapped[list[Any]] = mapped_column(default=list)
    revoked_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CodeRedemption(Base):
    """An order's use of a code; deleted (and the code's use given back) when the order is cancelled."""

    __tablename__ = "code_redemptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("redemption_codes.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailClaim(Base):
    """One order per email address per event: a keyed hash of the address, unique per event; purged with it."""

    __tablename__ = "email_claims"
    __table_args__ = (UniqueConstraint("event_id", "email_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)


class PurgeReceipt(Base):
    """What a purge destroyed: when, by whom (or the timer), counts per category; never personal data."""

    __tablename__ = "purge_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Backups made before the purge still hold the data until they age out: the day the last of them goes, when
    # `python -m core backup` had recorded how long it keeps them (core/backups.py); else None.
    backups_until: Mapped[datetime | None]


class BackupRun(Base):
    """A backup written by `python -m core backup`: when, and how many days its run kept backups for."""

    __tablename__ = "backup_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(index=True)
    keep_days: Mapped[int]


class JobLease(Base):
    """A claim on periodic work (the tick), so two app processes on one database never run it at once."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None]
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]


class FormDraft(Base):
    """An organiser's unsaved form for one event, kept until saved or discarded (survives a reload, a second tab)."""

    __tablename__ = "form_drafts"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    document: Mapped[dict[str, Any]]
    # The form version the draft started from: saving warns when someone saved a newer one meanwhile.
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("form_versions.id", ondelete="SET NULL"))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class VendorLink(Base):
    """A vendor's secret link to its portal for one event; only a SHA-256 of the token is stored."""

    __tablename__ = "vendor_links"
    __table_args__ = (Index("ix_vendor_links_vendor_id_event_id", "vendor_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Whether the vendor's mails for this event carry the link.
    in_mails: Mapped[bool] = mapped_column(default=False)
    # For a link in mails: the token is HMAC(app key, nonce), so the outbox can rebuild it as it sends; the
    # nonce alone (a copy of the database) opens nothing (core/portal_links.py).
    mail_nonce: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # The portal shows what changed since the vendor's previous visit.
    last_visit_at: Mapped[datetime | None]
