"""The database side of a fresh conversation: the order a customer made before it, and the state
after each turn that the checks judge (tests/fresh/checks.py: State)."""

from __future__ import annotations

from sqlalchemy import func, select

from serve.commerce import cart, orders
from serve.storage.db import session_scope
from serve.storage.tables import Handoff, Order
from tests.fresh.checks import Refs, State


def seed_order(factory, customer_id: int, spec: dict, catalogue, settings, refs: Refs) -> str:
    """The order the customer made before this conversation, moved on to `spec["status"]`."""
    with session_scope(factory) as s:
        for name, qty in spec["items"]:
            cart.add_item(s, customer_id, catalogue, refs.product(name).product_id, int(qty))
        order = orders.create_order(s, customer_id, catalogue, spec.get("method", "pix"), settings)
        for step in ("paid", "shipped", "delivered"):
            orders.transition(order, step)
            if step == spec.get("status", "delivered"):
                break
        return order.code


def read_state(factory, customer_id: int, catalogue, seeded: str | None) -> State:
    with session_scope(factory) as s:
        open_cart = cart.get_open_cart(s, customer_id)
        lines = {i.product_id: i.quantity for i in open_cart.items} if open_cart else {}
        total = cart.view_cart(s, customer_id, catalogue).totals.total_cents if lines else None
        made = s.scalars(select(Order).where(Order.customer_id == customer_id, Order.code != (seeded or "")))
        made_orders = [
            {
                "code": o.code,
                "status": o.status,
                "method": o.payment_method,
                "items": {i.product_id: i.quantity for i in o.items},
            }
            for o in sorted(made, key=lambda o: o.id)
        ]
        handoffs = s.scalar(select(func.count()).select_from(Handoff).where(Handoff.customer_id == customer_id))
    return State(lines, total, made_orders, handoffs)
