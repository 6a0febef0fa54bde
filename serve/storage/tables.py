"""Every table of the bot (SQLAlchemy 2 typed models). Money is integer cents; times are aware UTC.

Schema as in the team brief; migrations in serve/storage/migrations (alembic), which must match this file
(tests/serve/storage/test_migrations.py compares them on SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from serve.storage.events import EVENT_NAMES

# Stable constraint names, so Alembic migrations name the same things on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both engines (SQLite stores no zone and hands back naive
    values; mixing naive and aware datetimes would make window/expiry comparisons raise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use timezone-aware UTC (serve.storage.tables.utcnow())")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


CART_STATUSES = ("open", "checked_out")
# refunded / disputed (migration 0007): the gateway gave the money back, or the customer's bank
# opened a chargeback; both come only from verified gateway events.
ORDER_STATUSES = ("pending_payment", "paid", "shipped", "delivered", "canceled", "refunded", "disputed")
PAYMENT_METHODS = ("pix", "card", "boleto")
PAYMENT_PROVIDERS = ("sandbox", "mercadopago", "stripe")
PAYMENT_STATUSES = ("pending", "paid", "failed", "refunded", "disputed")
INBOX_STATUSES = ("pending", "processing", "done", "failed")
MESSAGE_STATUSES = ("queued", "sent", "delivered", "read", "failed", "received")
HANDOFF_STATUSES = ("waiting", "assigned", "closed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 hex, PHONE_HASH_KEY
    name: Mapped[str | None] = mapped_column(String(120))
    preferred_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # 24-hour service window
    olist_customer_unique_id: Mapped[str | None] = mapped_column(String(64), index=True)

    contact: Mapped[Contact | None] = relationship(back_populates="customer", passive_deletes=True)


class Contact(Base):
    """The only place the raw phone number lives; deleting the row (LGPD) keeps the hashed customer."""

    __tablename__ = "contacts"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))  # E.164 digits

    customer: Mapped[Customer] = relationship(back_populates="contact")


class InboxItem(Base):
    __tablename__ = "inbox"
    __table_args__ = (
        CheckConstraint(_in("status", INBOX_STATUSES), name="status"),
        Index("ix_inbox_customer_status", "customer_id", "status", "id"),
        Index("ix_inbox_status_locked", "status", "locked_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wa_message_id: Mapped[str] = mapped_column(String(128), unique=True)  # Meta retries: one row per id
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the normalised Inbound as a dict
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    """Conversation log and outbox: inbound rows (status received) and outbound rows (queued → ...)."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_in("direction", ("in", "out")), name="direction"),
        CheckConstraint(_in("status", MESSAGE_STATUSES), name="status"),
        Index("ix_messages_outbox", "status", "next_attempt_at"),
        Index("ix_messages_customer_created", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    direction: Mapped[str] = mapped_column(String(3))
    wa_message_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChatTurn(Base):
    __tablename__ = "chat_turns"
    __table_args__ = (Index("ix_chat_turns_customer_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    message: Mapped[dict[str, Any]] = mapped_column(JSON)  # one OpenAI-format message
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Cart(Base):
    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint(_in("status", CART_STATUSES), name="status"),
        # At most one open cart per customer (partial unique index, SQLite and PostgreSQL).
        Index(
            "uq_carts_open_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)  # optimistic lock (mapper version_id_col)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartItem.id"
    )

    # Every UPDATE of a cart row checks and bumps `version`; a stale write raises StaleDataError.
    __mapper_args__ = {"version_id_col": version}


class CartItem(Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="price_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)  # from the catalogue when added
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cart: Mapped[Cart] = relationship(back_populates="items")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_in("payment_method", PAYMENT_METHODS), name="payment_method"),
        CheckConstraint(
            "total_cents = subtotal_cents + freight_cents - discount_cents AND total_cents >= 0",
            name="totals",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # "ZV12345", what the customer sees
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending_payment")
    payment_method: Mapped[str] = mapped_column(String(8))
    subtotal_cents: Mapped[int] = mapped_column(Integer)
    freight_cents: Mapped[int] = mapped_column(Integer)
    discount_cents: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)
    estimated_delivery: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Added after the brief's schema (migration 0002): tracking answers need the real dates.
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Migration 0005: an order awaiting payment holds its units (stock_levels.reserved) until this
    # time, then expires (canceled, units released). NULL: an order from before reservations.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # migration 0006

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="order", order_by="Payment.id")


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(_in("provider", PAYMENT_PROVIDERS), name="provider"),
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="status"),
        # One row per gateway payment (migration 0007): a second payment of one Mercado Pago
        # preference gets a row of its own, never overwrites the first.
        Index("ix_payments_provider_payment", "provider", "provider_payment_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_payment_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)  # "<order code>-<attempt>"
    method: Mapped[str | None] = mapped_column(String(8))  # pix | card | boleto of this attempt (0007)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    amount_cents: Mapped[int] = mapped_column(Integer)
    checkout_url: Mapped[str] = mapped_column(Text)
    pix_qr_code: Mapped[str | None] = mapped_column(Text)  # PIX "copia e cola" text
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship(back_populates="payments")


class PaymentEvent(Base):
    """Every webhook received from a gateway; unique (provider, event_id) makes replays no-ops."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)


class SandboxCharge(Base):
    """The embedded sandbox gateway's own ledger (added after the brief's schema, migration 0003).

    Kept apart from `payments` on purpose: the bot must learn about a sandbox payment the way it
    learns about a real one (signed webhook, then a fetch from the gateway), never by reading its
    own rows."""

    __tablename__ = "sandbox_charges"
    __table_args__ = (CheckConstraint(_in("status", ("pending", "paid", "failed")), name="status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "sbx_<random>", in the /pay/ URL
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ToolEffect(Base):
    """A tool call's outcome, written in the transaction of its effect (migration 0004): a turn the
    worker replays after a lost lease or a crash returns the stored outcome instead of adding to
    the cart or checking out again (serve/conversation/effects.py). `turn_key` names the inbox batch
    ("inbox:<oldest row id>"), `call_index` the call's place among the turn's executed calls."""

    __tablename__ = "tool_effects"
    __table_args__ = (UniqueConstraint("turn_key", "call_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_key: Mapped[str] = mapped_column(String(64))
    call_index: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON)  # result, events, pix_code
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockLevel(Base):
    """Units the bot may sell per product (migration 0005; serve/commerce/stock.py): seeded from the
    catalogue on first use, then changed only by reservations, releases and sales."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
        CheckConstraint("on_hand >= reserved", name="reserved_within_on_hand"),
    )

    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer)  # units on the shelf
    reserved: Mapped[int] = mapped_column(Integer, default=0)  # held by orders awaiting payment
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """Analytics/KPIs; names from serve/storage/events.py."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_name_created", "name", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @validates("name")
    def _registered(self, key: str, name: str) -> str:
        if name not in EVENT_NAMES:
            raise ValueError(f"event name {name!r} is not in serve/storage/events.py")
        return name


class Handoff(Base):
    """Priority queue of conversations for a human seller."""

    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint(_in("status", HANDOFF_STATUSES), name="status"),
        Index("ix_handoffs_status_priority", "status", "priority_score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    priority_score: Mapped[float] = mapped_column(Float)
    estimated_value_cents: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    assigned_to: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


__all__ = [
    "CART_STATUSES",
    "HANDOFF_STATUSES",
    "INBOX_STATUSES",
    "MESSAGE_STATUSES",
    "ORDER_STATUSES",
    "PAYMENT_METHODS",
    "PAYMENT_PROVIDERS",
    "PAYMENT_STATUSES",
    "Cart",
    "CartItem",
    "ChatTurn",
    "Contact",
    "Customer",
    "Event",
    "Handoff",
    "InboxItem",
    "Message",
    "Order",
    "OrderItem",
    "Payment",
    "PaymentEvent",
    "SandboxCharge",
    "StockLevel",
    "ToolEffect",
]
