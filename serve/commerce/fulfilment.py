"""Operators move an order along its life: ship a paid order, mark it delivered, cancel one that was
never paid (the admin API now; the operations console will call the same function).

Rules: only forward, one step at a time (paid → shipped → delivered; pending_payment → canceled).
Canceling a PAID order is not an operator's move here: the money must go back through the
gateway, and the gateway's refund event is what cancels it (serve/commerce/payments). Asking
for the state the order is already in changes nothing and tells no one again (a retried request
is safe). Each move, in one transaction under the customer's lock: the status and its timestamp
(shipped_at, delivered_at, canceled_at), the stock side (a canceled unpaid order releases its
units), an event, and the customer's notice through `notify` (the caller queues it in the outbox:
commerce imports no messaging).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from serve.commerce import orders
from serve.storage.db import lock_customer, run_in_transaction
from serve.storage.events import EventName
from serve.storage.tables import Event, Order

# target status → the one status an operator may move it from
OPERATOR_MOVES = {"shipped": "paid", "delivered": "shipped", "canceled": "pending_payment"}
EVENTS = {
    "shipped": EventName.ORDER_SHIPPED,
    "delivered": EventName.ORDER_DELIVERED,
    "canceled": EventName.ORDER_CANCELED,
}


class OrderNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Moved:
    order: Order
    changed: bool  # False: the order was already there (nothing done, nobody notified)


def advance(factory: sessionmaker, code: str, status: str, *, notify, by: str = "admin") -> Moved:
    """Move order `code` to `status`. Raises OrderNotFound, orders.InvalidTransition (pt-BR)."""

    def tx(s: Session) -> Moved:
        found = s.execute(select(Order.id, Order.customer_id).where(Order.code == code.strip().upper())).first()
        if found is None:
            raise OrderNotFound(f"pedido {code} não encontrado")
        lock_customer(s, found.customer_id)
        order = s.get(Order, found.id, populate_existing=True)
        if order.status == status:
            return Moved(order, False)
        if OPERATOR_MOVES.get(status) != order.status:
            raise orders.InvalidTransition(f"pedido {order.code}: {order.status} → {status} não é permitido")
        orders.move(s, order, status)
        s.add(Event(customer_id=order.customer_id, name=EVENTS[status], properties={"order": order.code, "by": by}))
        notify(s, order, status)
        return Moved(order, True)

    return run_in_transaction(factory, tx)
