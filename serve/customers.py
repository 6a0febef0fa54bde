"""Customer recognition by phone, profile for the system prompt, reorder and novelties.

Identity is the WhatsApp number Meta verified, never anything the customer types. The number is
stored twice: as `customers.phone_hash` (HMAC-SHA256 keyed by PHONE_HASH_KEY: stable id, no PII)
and raw in `contacts.phone` only, so deleting the contact row (LGPD request) leaves an anonymous
customer whose orders still add up in the KPIs.

Recurring customers of the demo are linked to Olist purchase history through
`customers.olist_customer_unique_id`; `OlistHistory` reads `histories.parquet` from the catalogue
directory (written by the ingest stage) and is merged with the bot's own orders.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serve.catalog import Catalogue, Product
from serve.contract import CustomerContext
from serve.models import Contact, Customer, Order, OrderItem

HISTORY_COLUMNS = ("customer_unique_id", "order_id", "product_id", "purchased_at", "price_cents", "order_status")


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


@dataclass(frozen=True)
class PastOrder:
    order_id: str  # order code (bot) or Olist order id
    purchased_at: datetime
    product_ids: tuple[str, ...]
    quantities: tuple[int, ...]
    source: str  # "bot" | "olist"
    status: str | None = None  # Olist order_status (olist orders only)
    estimated_delivery: datetime | None = None
    delivered_at: datetime | None = None


class OlistHistory:
    """Olist purchases per customer_unique_id (histories.parquet), newest order first."""

    def __init__(self, df: pd.DataFrame | None = None):
        self._orders: dict[str, list[PastOrder]] = {}
        if df is None or df.empty:
            return
        missing = [c for c in HISTORY_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"histories: missing column(s) {', '.join(missing)}")
        df = df.assign(purchased_at=pd.to_datetime(df["purchased_at"]))
        for col in ("estimated_delivery", "delivered_at"):
            df[col] = pd.to_datetime(df[col]) if col in df.columns else pd.NaT
        for (cust, order_id), rows in df.groupby(["customer_unique_id", "order_id"], sort=False):
            counts = Counter(rows["product_id"].astype(str))  # Olist repeats a row per unit
            first = rows.iloc[0]
            self._orders.setdefault(str(cust), []).append(
                PastOrder(str(order_id), rows["purchased_at"].max().to_pydatetime(), tuple(counts),
                          tuple(counts.values()), "olist", str(first["order_status"]),
                          _pydt(first["estimated_delivery"]), _pydt(first["delivered_at"]))  # fmt: skip
            )
        for orders in self._orders.values():
            orders.sort(key=lambda o: o.purchased_at, reverse=True)

    @classmethod
    def load(cls, catalogue_dir: str | Path) -> OlistHistory:
        path = Path(catalogue_dir) / "histories.parquet"
        return cls(pd.read_parquet(path) if path.exists() else None)

    def orders(self, customer_unique_id: str | None) -> list[PastOrder]:
        return list(self._orders.get(customer_unique_id or "", []))


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
        out.append(PastOrder(order.code, order.created_at, tuple(i.product_id for i in items),
                             tuple(i.quantity for i in items), "bot"))  # fmt: skip
    if olist is not None and customer.olist_customer_unique_id:
        out += olist.orders(customer.olist_customer_unique_id)
    return sorted(out, key=lambda o: _utc(o.purchased_at), reverse=True)


def _pydt(value) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def history_product_ids(orders: list[PastOrder]) -> list[str]:
    """Purchased product ids, newest first, each once."""
    return list(dict.fromkeys(pid for o in orders for pid in o.product_ids))


def preferred_categories(customer: Customer, orders: list[PastOrder], catalogue: Catalogue, limit: int = 3) -> list[str]:
    """Declared preferences first, then the categories the customer bought most (pt names)."""
    names = [c for c in (customer.preferred_categories or []) if c]
    counts = Counter()
    for o in orders:
        for pid, qty in zip(o.product_ids, o.quantities):
            p = catalogue.get(pid)
            if p is not None:
                counts[p.category_pt] += qty
    names += [c for c, _ in counts.most_common() if c not in names]
    return names[:limit]


def order_summary(order: PastOrder, catalogue: Catalogue, max_chars: int = 200) -> str:
    """'Jogo de Lençol Casal 4 Peças Algodão e Capinha Celular Silicone (2x), em 10/06/2018'."""
    parts = []
    for pid, qty in zip(order.product_ids, order.quantities):
        p = catalogue.get(pid)
        if p is not None:
            parts.append(p.name + (f" ({qty}x)" if qty > 1 else ""))
    text = (" e ".join(parts) if parts else "itens fora do catálogo") + f", em {order.purchased_at:%d/%m/%Y}"
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def customer_context(customer: Customer, orders: list[PastOrder], catalogue: Catalogue) -> CustomerContext:
    """The profile block of the system prompt (same shape as in training data)."""
    return CustomerContext(
        name=customer.name,
        recurring=bool(orders),
        last_order=order_summary(orders[0], catalogue) if orders else None,
        preferred_categories=preferred_categories(customer, orders, catalogue),
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


def novelties(catalogue: Catalogue, categories: list[str], exclude: set[str] = frozenset(), limit: int = 3) -> list[Product]:
    """Best sellers the customer has not bought yet in their preferred categories (round-robin)."""
    pools = [[p for p in catalogue.popular(c, limit=limit + len(exclude)) if p.product_id not in exclude]
             for c in categories]  # fmt: skip
    out: list[Product] = []
    for rank in range(limit):
        for pool in pools:
            if rank < len(pool) and pool[rank] not in out:
                out.append(pool[rank])
    return out[:limit]


def greeting(context: CustomerContext) -> str:
    """A deterministic first line for a recurring customer (the model answers the rest)."""
    who = f", {context.name}" if context.name else ""
    return f"Que bom te ver de novo{who}! 😊" if context.recurring else f"Olá{who}! Bem-vindo(a) à ZapVendas 😊"
