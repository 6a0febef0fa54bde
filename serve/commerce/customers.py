"""Customer recognition by phone, the profile for the system prompt, past orders and reorder.

Identity is the WhatsApp number Meta verified, never anything the customer types. The number is
stored twice: as `customers.phone_hash` (HMAC-SHA256 keyed by PHONE_HASH_KEY: stable id, no PII)
and raw in `contacts.phone` only, so deleting the contact row (LGPD request) leaves an anonymous
customer whose orders still add up in the KPIs.

Recurring customers of the demo are linked to Olist purchase history through
`customers.olist_customer_unique_id`; their Olist orders (serve/core/history.py) are merged with
the bot's own orders.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serve.contract import CustomerContext
from serve.core.catalog import Catalogue, Product
from serve.core.history import OlistHistory, PastOrder, order_summary, preferred_categories
from serve.storage.tables import Contact, Customer, Order, OrderItem


def normalise_phone(phone: str) -> str:
    """E.164 digits only ('+55 (11) 98765-4321' → '5511987654321'); WhatsApp sends digits already."""
    digits = re.sub(r"\D", "", phone or "")
    if not 8 <= len(digits) <= 15:
        raise ValueError(f"phone: expected 8 to 15 digits (E.164), got {len(digits)}")
    return digits


def hash_phone(phone: str, key: str) -> str:
    """HMAC-SHA256(key, E.164 digits) as 64 hex chars: the customer's stable, non-reversible id."""
    if not key:
        raise ValueError("PHONE_HASH_KEY is empty: set it (any long random string) to hash phone numbers")
    return hmac.new(key.encode(), normalise_phone(phone).encode(), hashlib.sha256).hexdigest()


def get_or_create_customer(session: Session, phone: str, key: str, profile_name: str | None = None) -> Customer:
    """The customer for this verified number, created (with its contact row) on first contact.

    Safe under concurrent first messages from one number (two webhook deliveries, several
    workers): the unique phone_hash makes the loser of the race re-read the winner's row.
    """
    phone_hash = hash_phone(phone, key)
    customer = session.scalar(select(Customer).where(Customer.phone_hash == phone_hash))
    if customer is None:
        try:
            with session.begin_nested():
                customer = Customer(phone_hash=phone_hash, name=_clean_name(profile_name), preferred_categories=[])
                session.add(customer)
                session.flush()
                session.add(Contact(customer_id=customer.id, phone=normalise_phone(phone)))
                session.flush()
        except IntegrityError:
            customer = session.scalar(select(Customer).where(Customer.phone_hash == phone_hash))
    elif session.get(Contact, customer.id) is None:  # came back after an LGPD deletion
        session.add(Contact(customer_id=customer.id, phone=normalise_phone(phone)))
    if customer.name is None and _clean_name(profile_name):
        customer.name = _clean_name(profile_name)
    return customer


def _clean_name(profile_name: str | None) -> str | None:
    """First name from the WhatsApp profile ('ana paula 🌸' → 'Ana'); None when there is no word."""
    words = re.findall(r"[^\W\d_]+", profile_name or "")
    return words[0][:60].capitalize() if words else None


def forget_contact(session: Session, customer_id: int) -> bool:
    """LGPD: delete the raw number and the name; the hashed customer and its orders stay."""
    contact = session.get(Contact, customer_id)
    customer = session.get(Customer, customer_id)
    if customer is not None:
        customer.name = None
    if contact is None:
        return False
    session.delete(contact)
    return True


def past_orders(session: Session, customer: Customer, olist: OlistHistory | None = None) -> list[PastOrder]:
    """The customer's orders, newest first: paid/shipped/delivered bot orders, then linked Olist history."""
    out = []
    bot_orders = session.scalars(
        select(Order)
        .where(Order.customer_id == customer.id, Order.status.in_(("paid", "shipped", "delivered")))
        .order_by(Order.created_at.desc(), Order.id.desc())
    ).all()
    for order in bot_orders:
        items = session.scalars(select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)).all()
        out.append(
            PastOrder(
                order.code,
                order.created_at,
                tuple(i.product_id for i in items),
                tuple(i.quantity for i in items),
                "bot",
            )
        )
    if olist is not None and customer.olist_customer_unique_id:
        out += olist.orders(customer.olist_customer_unique_id)
    return sorted(out, key=lambda o: _utc(o.purchased_at), reverse=True)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def customer_context(customer: Customer, orders: list[PastOrder], catalogue: Catalogue) -> CustomerContext:
    """The profile block of the system prompt (same shape as in training data)."""
    return CustomerContext(
        name=customer.name,
        recurring=bool(orders),
        last_order=order_summary(orders[0], catalogue) if orders else None,
        preferred_categories=preferred_categories(customer.preferred_categories or [], orders, catalogue),
    )


def reorder_lines(orders: list[PastOrder], catalogue: Catalogue) -> list[tuple[Product, int]]:
    """The last order's products still sold and in stock, with their quantities (capped at stock)."""
    if not orders:
        return []
    out = []
    for pid, qty in zip(orders[0].product_ids, orders[0].quantities):
        p = catalogue.get(pid)
        if p is not None and p.stock > 0:
            out.append((p, min(qty, p.stock)))
    return out
