"""Was the goal reached? Judged from the database after the conversation, not from the wording.

- expect "order": exactly one order created in the conversation is paid, and its lines are the
  goal's: one product of the goal's category within budget, in the goal's quantity (recurring: the
  seeded order's products and quantities), paid by the goal's method;
- expect "handoff": a handoff row exists for the customer;
- expect "fact": the asked fact appears in a reply and matches the database: the seeded order's
  code with its status word (order status), or a fitting product's price (exploration).
Plus what went wrong on the way (simulator/checks.py): ungrounded claims, wrong language,
WhatsApp limits, pressure after a "no", fake scarcity; and the bot's own events (fallbacks,
refused tool calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serve.contract.money import format_brl
from serve.conversation.texts import word
from serve.core.catalog import Catalogue
from serve.storage.events import EventName
from serve.storage.tables import Event, Handoff, Order
from simulator.goals import Goal, fits


@dataclass(frozen=True)
class Verdict:
    success: bool
    reason: str  # why not, or what was reached


def paid_orders(session: Session, customer_id: int, exclude_code: str | None) -> list[Order]:
    rows = session.scalars(select(Order).where(Order.customer_id == customer_id).order_by(Order.id)).all()
    return [o for o in rows if o.code != exclude_code and o.status == "paid"]


def order_verdict(goal: Goal, orders: list[Order], catalogue: Catalogue) -> Verdict:
    if not orders:
        return Verdict(False, "no paid order")
    if len(orders) > 1:
        return Verdict(False, f"{len(orders)} paid orders")
    order = orders[0]
    lines = {i.product_id: i.quantity for i in order.items}
    if goal.payment and order.payment_method != goal.payment:
        return Verdict(False, f"paid by {order.payment_method}, wanted {goal.payment}")
    if goal.past_items:
        want = dict(goal.past_items)
        return Verdict(lines == want, "reordered" if lines == want else f"items {lines} != {want}")
    if len(lines) != 1:
        return Verdict(False, f"{len(lines)} different products in the order")
    ((product_id, qty),) = lines.items()
    product = catalogue.get(product_id)
    if product is None or not fits(product, goal.category, goal.budget_cents):
        return Verdict(False, "bought a product outside the goal (category or budget)")
    if qty != goal.quantity:
        return Verdict(False, f"quantity {qty}, wanted {goal.quantity}")
    return Verdict(True, "bought")


def fact_verdict(goal: Goal, texts: list[str], catalogue: Catalogue, order: Order | None) -> Verdict:
    said = "\n".join(texts)
    if goal.scenario == "order_status":
        if order is None or order.code not in said:
            return Verdict(False, "order code never stated")
        status = word(goal.lang, "st", order.status)
        return Verdict(status in said, "status stated" if status in said else f"status {status!r} not stated")
    for product in catalogue.popular(goal.category, len(catalogue)):
        if fits(product, goal.category, goal.budget_cents) and product.name in said:
            if format_brl(product.price_cents) in said:
                return Verdict(True, "fitting product shown with its price")
    return Verdict(False, "no fitting product shown with its price")


def judge(
    session: Session, goal: Goal, customer_id: int, texts: list[str], catalogue: Catalogue, seeded_code: str | None
) -> Verdict:
    if goal.expect == "order":
        return order_verdict(goal, paid_orders(session, customer_id, seeded_code), catalogue)
    if goal.expect == "handoff":
        n = session.scalar(select(func.count()).select_from(Handoff).where(Handoff.customer_id == customer_id))
        return Verdict(bool(n), "handed off" if n else "no handoff")
    seeded = session.scalar(select(Order).where(Order.code == seeded_code)) if seeded_code else None
    return fact_verdict(goal, texts, catalogue, seeded)


def event_counts(session: Session, customer_id: int) -> dict[str, int]:
    names = (EventName.FALLBACK_REPLY, EventName.TOOL_REFUSED, EventName.CART_ADD, EventName.LLM_ERROR)
    rows = session.execute(
        select(Event.name, func.count())
        .where(Event.customer_id == customer_id, Event.name.in_(names))
        .group_by(Event.name)
    ).all()
    counts = dict.fromkeys(names, 0)
    counts.update({name: n for name, n in rows})
    return counts
