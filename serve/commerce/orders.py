"""Orders: created once from the cart (totals in cents via cart_math), a forward-only state machine,
estimated delivery, and "where is my order" answers (bot orders, then linked Olist history).

States: pending_payment → paid → shipped → delivered; canceled only from pending_payment (expiry,
the customer, an operator); refunded and disputed (a chargeback) from paid, shipped or delivered,
only on a verified gateway event, and a dispute the store loses ends refunded. Nothing moves
backwards; `paid` is set only by serve/payments after a verified, re-fetched gateway event. The
customer sees the order `code` ("ZV12345"), never the row id.

Stock (serve/commerce/stock.py): creating the order reserves its units, in the order's transaction;
`move` applies the stock side of a transition in the caller's transaction: paid → the units are
sold, canceled while unpaid (by the customer, an operator or expiry) → released. An unpaid order
expires at `expires_at` (ORDER_PAYMENT_EXPIRY_MINUTES, boleto ORDER_BOLETO_EXPIRY_HOURS);
`expire_unpaid` cancels the expired ones, each under its customer's lock with a re-check, so a
payment landing at the same moment either wins (paid) or finds the order canceled (then a person
reviews it: serve/commerce/payments).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from serve.commerce import stock
from serve.commerce.cart import COUPONS, lock_for_checkout
from serve.core.cart_math import FREIGHT_RULE
from serve.core.catalog import Catalogue
from serve.core.history import OlistHistory
from serve.core.refusal import Refusal
from serve.core.tool_results import OrderInfo
from serve.settings import Settings
from serve.storage.db import lock_customer, run_in_transaction
from serve.storage.events import EventName
from serve.storage.tables import ORDER_STATUSES, Customer, Event, Order, OrderItem, utcnow

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"paid", "canceled"}),
    "paid": frozenset({"shipped", "refunded", "disputed"}),
    "shipped": frozenset({"delivered", "refunded", "disputed"}),
    "delivered": frozenset({"refunded", "disputed"}),
    # A dispute the store wins leaves the order disputed: an operator decides what it becomes.
    "disputed": frozenset({"refunded"}),
    "refunded": frozenset(),
    "canceled": frozenset(),
}
# Bot states → Olist order_status words (what the model saw in training for order_status results).
OLIST_STATUS = {
    "pending_payment": "created",
    "paid": "approved",
    "shipped": "shipped",
    "delivered": "delivered",
    "canceled": "canceled",
    "refunded": "canceled",
    "disputed": "processing",
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


def payment_hold(method: str, settings=None) -> timedelta:
    """How long an unpaid order holds its stock (settings' values, or their defaults)."""
    fields = Settings.model_fields
    minutes = getattr(settings, "ORDER_PAYMENT_EXPIRY_MINUTES", fields["ORDER_PAYMENT_EXPIRY_MINUTES"].default)
    boleto_h = getattr(settings, "ORDER_BOLETO_EXPIRY_HOURS", fields["ORDER_BOLETO_EXPIRY_HOURS"].default)
    return timedelta(hours=boleto_h) if method == "boleto" else timedelta(minutes=minutes)


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
    Prices, stock and totals are re-read from the catalogue now, once; the order keeps them, and
    its units are reserved until `expires_at`. Raises EmptyCartError / StockError / OrderError (pt-BR)."""
    if payment_method not in ("pix", "card", "boleto"):
        raise OrderError(f"forma de pagamento inválida: {payment_method!r} (pix, card ou boleto)")
    cart, view = lock_for_checkout(session, customer_id, catalogue, coupons=coupons, rule=rule)
    if cart is None or view.empty:
        raise EmptyCartError("o carrinho está vazio")
    days = settings.ORDER_DELIVERY_DAYS if settings is not None else 7
    stock.reserve(session, [(x.product_id, x.quantity) for x in view.lines], catalogue)
    now = utcnow()
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
        estimated_delivery=add_business_days(today or now.date(), days),
        expires_at=now + payment_hold(payment_method, settings),
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
    elif new_status == "canceled":
        order.canceled_at = now
    return True


def awaiting_payment(session: Session, customer_id: int) -> Order | None:
    """The customer's newest order still awaiting payment (its link can be sent again)."""
    q = select(Order).where(Order.customer_id == customer_id, Order.status == "pending_payment")
    return session.scalars(q.order_by(Order.id.desc()).options(selectinload(Order.items))).first()


def change_payment_method(session: Session, order: Order, method: str, settings=None) -> bool:
    """Pay an unpaid order another way ("quero pagar no cartão"); True if the method changed. The
    stock hold is stretched to the new method's, never shortened (a boleto needs days). The
    caller holds the customer's lock; the next payment attempt is made for the new method."""
    if method not in ("pix", "card", "boleto"):
        raise OrderError(f"forma de pagamento inválida: {method!r} (pix, card ou boleto)")
    if order.status != "pending_payment":
        raise OrderError(f"o pedido {order.code} não está aguardando pagamento")
    if order.payment_method == method:
        return False
    order.payment_method = method
    if order.expires_at is not None:
        order.expires_at = max(order.expires_at, order.created_at + payment_hold(method, settings))
    order.updated_at = utcnow()
    session.flush()
    return True


def _lines(order: Order) -> list[tuple[str, int]]:
    return [(i.product_id, i.quantity) for i in order.items]


def move(session: Session, order: Order, new_status: str, *, now: datetime | None = None) -> bool:
    """`transition` plus its stock side, in the caller's transaction (which holds the customer's
    lock): leaving pending_payment for paid sells the reserved units, for canceled releases them.
    Orders from before reservations (expires_at NULL) held nothing and change no stock."""
    was = order.status
    if not transition(order, new_status, now=now):
        return False
    if was == "pending_payment" and order.expires_at is not None:
        if new_status == "paid":
            stock.sell(session, _lines(order))
        elif new_status == "canceled":
            stock.release(session, _lines(order))
    return True


def expire_unpaid(factory, *, now: datetime | None = None, limit: int = 100) -> list[str]:
    """Cancel unpaid orders past `expires_at` and release their stock; the codes it expired.
    One transaction per order, under its customer's lock, re-checked there (a payment may have
    moved it meanwhile); safe to run in several processes at once."""
    now = now or utcnow()
    with factory() as s:
        due = s.execute(
            select(Order.id, Order.customer_id)
            .where(Order.status == "pending_payment", Order.expires_at.is_not(None), Order.expires_at <= now)
            .order_by(Order.expires_at)
            .limit(limit)
        ).all()

    def expire(s: Session, order_id: int, customer_id: int) -> str | None:
        lock_customer(s, customer_id)
        order = s.get(Order, order_id, populate_existing=True)
        if order.status != "pending_payment" or order.expires_at > now:
            return None
        move(s, order, "canceled", now=now)
        s.add(Event(customer_id=customer_id, name=EventName.ORDER_EXPIRED, properties={"order": order.code}))
        return order.code

    expired = [run_in_transaction(factory, lambda s, o=o, c=c: expire(s, o, c)) for o, c in due]
    return [code for code in expired if code]


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
