"""Orders: created once from the cart (totals in cents via cart_math), a forward-only state machine,
estimated delivery, and "where is my order" answers (bot orders, then linked Olist history).

States: pending_payment → paid → shipped → delivered, and canceled from pending_payment or paid.
Nothing moves backwards; `paid` is set only by serve/payments after a verified, re-fetched gateway
event. The customer sees the order `code` ("ZV12345"), never the row id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from serve.cart import COUPONS, FREIGHT_RULE, lock_for_checkout
from serve.cart_math import CartError
from serve.catalog import Catalogue
from serve.db import utcnow
from serve.models import ORDER_STATUSES, Customer, Order, OrderItem
from serve.tool_results import OrderInfo

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"paid", "canceled"}),
    "paid": frozenset({"shipped", "canceled"}),  # canceled after payment = refund
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "canceled": frozenset(),
}
# Bot states → Olist order_status words (what the model saw in training for order_status results).
OLIST_STATUS = {"pending_payment": "created", "paid": "approved", "shipped": "shipped",
                "delivered": "delivered", "canceled": "canceled"}  # fmt: skip
CODE_PREFIX = "ZV"


class OrderError(CartError):
    """An order operation the server refuses (pt-BR message; a CartError so tools report it alike)."""


class EmptyCartError(OrderError):
    pass


class InvalidTransition(OrderError):
    pass


def add_business_days(start: date, days: int) -> date:
    """`days` working days (Mon-Fri) after `start`."""
    d = start
    while days > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            days -= 1
    return d


def new_order_code(session: Session) -> str:
    """A short unused code "ZV" + 5 digits (7+ digits once the 5-digit space gets crowded)."""
    for attempt in range(40):
        digits = 5 if attempt < 20 else 7
        code = f"{CODE_PREFIX}{secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1)}"
        if session.scalar(select(func.count()).select_from(Order).where(Order.code == code)) == 0:
            return code
    raise RuntimeError("could not find a free order code")


def create_order(
    session: Session, customer_id: int, catalogue: Catalogue, payment_method: str, settings=None, *,
    today: date | None = None, coupons=COUPONS, rule=FREIGHT_RULE,
) -> Order:  # fmt: skip
    """The customer's open cart becomes an order (status pending_payment) and the cart is closed.
    Prices, stock and totals are re-read from the catalogue now, once; the order keeps them.
    Raises EmptyCartError / StockError / OrderError (pt-BR)."""
    if payment_method not in ("pix", "card", "boleto"):
        raise OrderError(f"forma de pagamento inválida: {payment_method!r} (pix, card ou boleto)")
    cart, view = lock_for_checkout(session, customer_id, catalogue, coupons=coupons, rule=rule)
    if cart is None or view.empty:
        raise EmptyCartError("o carrinho está vazio")
    days = settings.ORDER_DELIVERY_DAYS if settings is not None else 7
    t = view.totals
    order = Order(
        code=new_order_code(session), customer_id=customer_id, status="pending_payment",
        payment_method=payment_method, subtotal_cents=t.subtotal_cents, freight_cents=t.freight_cents,
        discount_cents=t.discount_cents, total_cents=t.total_cents,
        estimated_delivery=add_business_days(today or utcnow().date(), days),
        items=[OrderItem(product_id=x.product_id, name=x.name, quantity=x.quantity, unit_price_cents=x.unit_price_cents)
               for x in view.lines],
    )  # fmt: skip
    session.add(order)
    cart.status = "checked_out"
    cart.updated_at = utcnow()
    session.flush()
    return order


def transition(order: Order, new_status: str, *, now: datetime | None = None) -> bool:
    """Move `order` to `new_status` if the state machine allows it. Returns False when the order is
    already there (idempotent: a duplicate event changes nothing); raises InvalidTransition otherwise."""
    if new_status not in ORDER_STATUSES:
        raise InvalidTransition(f"status desconhecido: {new_status!r}")
    if order.status == new_status:
        return False
    if new_status not in TRANSITIONS[order.status]:
        raise InvalidTransition(f"pedido {order.code}: {order.status} → {new_status} não é permitido")
    now = now or utcnow()
    order.status = new_status
    order.updated_at = now
    if new_status == "paid":
        order.paid_at = now
    elif new_status == "shipped":
        order.shipped_at = now
    elif new_status == "delivered":
        order.delivered_at = now
    return True


def get_order(session: Session, customer_id: int, code: str, *, lock: bool = False) -> Order | None:
    """The customer's order by code (case-insensitive); another customer's code finds nothing."""
    q = select(Order).where(Order.customer_id == customer_id, func.upper(Order.code) == code.strip().upper())
    if lock:
        q = q.with_for_update()
    return session.scalars(q.options(selectinload(Order.items))).first()


@dataclass(frozen=True)
class OlistOrder:
    order_id: str
    status: str
    purchased_at: datetime
    estimated_delivery: datetime | None
    delivered_at: datetime | None
    product_ids: tuple[str, ...]


class OlistTracking:
    """Order statuses from histories.parquet, for customers linked to an Olist customer_unique_id."""

    COLUMNS = ("customer_unique_id", "order_id", "product_id", "purchased_at", "order_status",
               "estimated_delivery", "delivered_at")  # fmt: skip

    def __init__(self, histories: pd.DataFrame | None = None, source: str = "histories"):
        self._by_customer: dict[str, list[OlistOrder]] = {}
        if histories is None or histories.empty:
            return
        missing = [c for c in self.COLUMNS if c not in histories.columns]
        if missing:
            raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")
        df = histories.assign(**{c: pd.to_datetime(histories[c]) for c in ("purchased_at", "estimated_delivery", "delivered_at")})
        for (cust, oid), rows in df.groupby(["customer_unique_id", "order_id"], sort=False):
            first = rows.iloc[0]
            self._by_customer.setdefault(str(cust), []).append(OlistOrder(
                str(oid), str(first["order_status"]), rows["purchased_at"].max().to_pydatetime(),
                _ts(first["estimated_delivery"]), _ts(first["delivered_at"]),
                tuple(dict.fromkeys(rows["product_id"].astype(str))),
            ))  # fmt: skip
        for orders in self._by_customer.values():
            orders.sort(key=lambda o: o.purchased_at, reverse=True)

    @classmethod
    def load(cls, catalogue_dir: str | Path) -> OlistTracking:
        path = Path(catalogue_dir) / "histories.parquet"
        return cls(pd.read_parquet(path), str(path)) if path.exists() else cls()

    def orders(self, customer_unique_id: str | None) -> list[OlistOrder]:
        return list(self._by_customer.get(customer_unique_id or "", []))


def _ts(value) -> datetime | None:
    return None if pd.isna(value) else value.to_pydatetime()


SHORT_OLIST_ID = 8  # Olist order ids are 32 hex characters; customers see (and type) the first 8


def order_status(
    session: Session, customer_id: int, code: str | None = None, *,
    olist: OlistTracking | None = None, catalogue: Catalogue | None = None,
) -> OrderInfo | None:  # fmt: skip
    """"Where is my order": the customer's order `code` (or the latest one when None) as an OrderInfo
    with Olist-like status words and dates; falls back to the linked Olist history. None if nothing."""
    q = select(Order).where(Order.customer_id == customer_id).options(selectinload(Order.items))
    if code:
        q = q.where(func.upper(Order.code) == code.strip().upper())
    order = session.scalars(q.order_by(Order.created_at.desc(), Order.id.desc())).first()
    if order is not None:
        return OrderInfo(
            order.code, OLIST_STATUS[order.status], order.created_at,
            estimated_delivery=order.estimated_delivery if order.status != "canceled" else None,
            delivered_at=order.delivered_at, items=[i.name for i in order.items],
        )  # fmt: skip
    customer = session.get(Customer, customer_id)
    if olist is None or customer is None or not customer.olist_customer_unique_id:
        return None
    wanted = (code or "").strip().lower()
    for o in olist.orders(customer.olist_customer_unique_id):
        if wanted and not (len(wanted) >= 6 and o.order_id.startswith(wanted)):
            continue
        names = [p.name for p in (catalogue.get(x) for x in o.product_ids) if p] if catalogue else []
        return OrderInfo(o.order_id[:SHORT_OLIST_ID], o.status, o.purchased_at,
                         estimated_delivery=o.estimated_delivery, delivered_at=o.delivered_at, items=names)  # fmt: skip
    return None


__all__ = [
    "OLIST_STATUS", "TRANSITIONS", "EmptyCartError", "InvalidTransition", "OlistOrder", "OlistTracking",
    "OrderError", "add_business_days", "create_order", "get_order", "new_order_code", "order_status",
    "transition",
]
