"""Orders: created once from the cart (totals in cents via cart_math), a forward-only state machine,
estimated delivery, and "where is my order" answers (bot orders, then linked Olist history).

States: pending_payment → paid → shipped → delivered, and canceled from pending_payment or paid.
Nothing moves backwards; `paid` is set only by serve/payments after a verified, re-fetched gateway
event. The customer sees the order `code` ("ZV12345"), never the row id.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from serve.commerce.cart import COUPONS, lock_for_checkout
from serve.core.cart_math import FREIGHT_RULE
from serve.core.catalog import Catalogue
from serve.core.history import OlistHistory
from serve.core.refusal import Refusal
from serve.core.tool_results import OrderInfo
from serve.storage.tables import ORDER_STATUSES, Customer, Order, OrderItem, utcnow

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"paid", "canceled"}),
    "paid": frozenset({"shipped", "canceled"}),  # canceled after payment = refund
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "canceled": frozenset(),
}
# Bot states → Olist order_status words (what the model saw in training for order_status results).
OLIST_STATUS = {
    "pending_payment": "created",
    "paid": "approved",
    "shipped": "shipped",
    "delivered": "delivered",
    "canceled": "canceled",
}
CODE_PREFIX = "ZV"


class OrderError(Refusal):
    """An order operation the server refuses (pt-BR message)."""


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
    session: Session,
    customer_id: int,
    catalogue: Catalogue,
    payment_method: str,
    settings=None,
    *,
    today: date | None = None,
    coupons=COUPONS,
    rule=FREIGHT_RULE,
) -> Order:
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
        code=new_order_code(session),
        customer_id=customer_id,
        status="pending_payment",
        payment_method=payment_method,
        subtotal_cents=t.subtotal_cents,
        freight_cents=t.freight_cents,
        discount_cents=t.discount_cents,
        total_cents=t.total_cents,
        estimated_delivery=add_business_days(today or utcnow().date(), days),
        items=[
            OrderItem(product_id=x.product_id, name=x.name, quantity=x.quantity, unit_price_cents=x.unit_price_cents)
            for x in view.lines
        ],
    )
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


SHORT_OLIST_ID = 8  # Olist order ids are 32 hex characters; customers see (and type) the first 8


def order_status(
    session: Session,
    customer_id: int,
    code: str | None = None,
    *,
    olist: OlistHistory | None = None,
    catalogue: Catalogue | None = None,
) -> OrderInfo | None:
    """ "Where is my order": the customer's order `code` (or the latest one when None) as an OrderInfo
    with Olist-like status words and dates; falls back to the linked Olist history. None if nothing."""
    q = select(Order).where(Order.customer_id == customer_id).options(selectinload(Order.items))
    if code:
        q = q.where(func.upper(Order.code) == code.strip().upper())
    order = session.scalars(q.order_by(Order.created_at.desc(), Order.id.desc())).first()
    if order is not None:
        return OrderInfo(
            order.code,
            OLIST_STATUS[order.status],
            order.created_at,
            estimated_delivery=order.estimated_delivery if order.status != "canceled" else None,
            delivered_at=order.delivered_at,
            items=[i.name for i in order.items],
        )
    customer = session.get(Customer, customer_id)
    if olist is None or customer is None or not customer.olist_customer_unique_id:
        return None
    wanted = (code or "").strip().lower()
    for o in olist.orders(customer.olist_customer_unique_id):
        if wanted and not (len(wanted) >= 6 and o.order_id.startswith(wanted)):
            continue
        names = [p.name for p in (catalogue.get(x) for x in o.product_ids) if p] if catalogue else []
        return OrderInfo(
            o.order_id[:SHORT_OLIST_ID],
            o.status,
            o.purchased_at,
            estimated_delivery=o.estimated_delivery,
            delivered_at=o.delivered_at,
            items=names,
        )
    return None
