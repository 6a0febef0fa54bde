"""KPIs of the seed ("Métricas e KPIs") from the `events` and `orders` tables: `GET /admin/kpis`.

    kpis(session, since) -> {"funnel": ..., "sales": ..., "agent": ...}

- funnel: distinct customers who started a conversation, saw a product, added to the cart,
  started checkout and paid, with the step rates and cart abandonment (carted, not paid);
- sales: paid orders, revenue, average order value and items per order (money in cents; the
  orders the gateway confirmed, `paid_at` in the period);
- agent: turns, p50/p95 turn time (the agent's own `turn_latency_ms`), fallback rate (answers
  that were the generic apology), share of texts the intent router answered, refused tool calls,
  handoffs to a person, store answers (knowledge_answers: questions about the store, chit-chat
  and media answered from configs/store.yaml, per topic) and references to what the bot showed
  that the server resolved itself (references_resolved: "o segundo", "2 unidades", "tira o lençol").

Rates are None when their denominator is zero. Percentiles are nearest-rank over the period's
turns, computed here (portable across SQLite and PostgreSQL; a period holds thousands of turns).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serve.storage.events import EventName
from serve.storage.tables import Event, Order, OrderItem

FUNNEL = (
    EventName.CONVERSATION_STARTED,
    EventName.PRODUCT_VIEWED,
    EventName.CART_ADD,
    EventName.CHECKOUT_STARTED,
    EventName.ORDER_PAID,
)


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))]


def funnel(session: Session, since: datetime) -> dict:
    rows = session.execute(
        select(Event.name, func.count(func.distinct(Event.customer_id)))
        .where(Event.name.in_(FUNNEL), Event.created_at >= since)
        .group_by(Event.name)
    ).all()
    n = dict.fromkeys(FUNNEL, 0) | {name: count for name, count in rows}
    return {
        "customers": n,
        "view_rate": _rate(n[EventName.PRODUCT_VIEWED], n[EventName.CONVERSATION_STARTED]),
        "cart_rate": _rate(n[EventName.CART_ADD], n[EventName.CONVERSATION_STARTED]),
        "checkout_rate": _rate(n[EventName.CHECKOUT_STARTED], n[EventName.CART_ADD]),
        "paid_rate": _rate(n[EventName.ORDER_PAID], n[EventName.CHECKOUT_STARTED]),
        "conversion_rate": _rate(n[EventName.ORDER_PAID], n[EventName.CONVERSATION_STARTED]),
        "cart_abandonment": _rate(n[EventName.CART_ADD] - n[EventName.ORDER_PAID], n[EventName.CART_ADD]),
    }


def sales(session: Session, since: datetime) -> dict:
    paid = select(Order.id).where(Order.paid_at.is_not(None), Order.paid_at >= since)
    orders, revenue = session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total_cents), 0)).where(Order.id.in_(paid))
    ).one()
    items = session.scalar(select(func.coalesce(func.sum(OrderItem.quantity), 0)).where(OrderItem.order_id.in_(paid)))
    buyers = session.scalar(select(func.count(func.distinct(Order.customer_id))).where(Order.id.in_(paid)))
    return {
        "orders": orders,
        "revenue_cents": int(revenue),
        "average_order_cents": round(revenue / orders) if orders else None,
        "items_per_order": _rate(int(items), orders),
        "revenue_per_buyer_cents": round(revenue / buyers) if buyers else None,
    }


def agent(session: Session, since: datetime) -> dict:
    def props(name: str) -> list[dict]:
        return list(session.scalars(select(Event.properties).where(Event.name == name, Event.created_at >= since)))

    turns = [float(p.get("ms", 0)) for p in props(EventName.TURN_LATENCY_MS)]
    intents = props(EventName.INTENT)
    knowledge: dict[str, int] = {}
    for p in props(EventName.KNOWLEDGE_ANSWER):
        topic = str(p.get("topic"))
        knowledge[topic] = knowledge.get(topic, 0) + 1
    counts = dict(
        session.execute(
            select(Event.name, func.count())
            .where(
                Event.name.in_(
                    (
                        EventName.FALLBACK_REPLY,
                        EventName.INTENT_FALLBACK,
                        EventName.TOOL_REFUSED,
                        EventName.HANDOFF,
                        EventName.REFERENCE_RESOLVED,
                        EventName.INBOX_DEAD_LETTER,
                    )
                ),
                Event.created_at >= since,
            )
            .group_by(Event.name)
        ).all()
    )
    return {
        "turns": len(turns),
        "turn_p50_ms": _percentile(turns, 50),
        "turn_p95_ms": _percentile(turns, 95),
        "fallback_rate": _rate(counts.get(EventName.FALLBACK_REPLY, 0), len(turns)),
        "classifier_fallbacks": counts.get(EventName.INTENT_FALLBACK, 0),
        "routed_share": _rate(sum(bool(p.get("routed")) for p in intents), len(intents)),
        "tool_refusals": counts.get(EventName.TOOL_REFUSED, 0),
        "handoffs": counts.get(EventName.HANDOFF, 0),
        "knowledge_answers": dict(sorted(knowledge.items(), key=lambda kv: (-kv[1], kv[0]))),
        "references_resolved": counts.get(EventName.REFERENCE_RESOLVED, 0),
        "dead_letters": counts.get(EventName.INBOX_DEAD_LETTER, 0),  # messages given up: an operator reads them
    }


def kpis(session: Session, since: datetime) -> dict:
    return {
        "since": since.isoformat(),
        "funnel": funnel(session, since),
        "sales": sales(session, since),
        "agent": agent(session, since),
    }


__all__ = ["FUNNEL", "agent", "funnel", "kpis", "sales"]
