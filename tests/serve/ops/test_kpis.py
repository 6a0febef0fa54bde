"""serve/ops/kpis.py: the seed's funnel, sales and agent KPIs from events and orders, on SQLite and PostgreSQL."""

from datetime import timedelta

from sqlalchemy import select

from serve.ops import kpis
from serve.storage.db import session_scope
from serve.storage.tables import Event, Order, utcnow
from tests.serve.factories import new_customer, new_order


def test_funnel_sales_and_agent_figures(factory, catalogue):
    now = utcnow()
    buyer, code = new_order(factory, catalogue, quantity=2)  # 2 lençóis + 1 capinha
    browsers = [new_customer(factory) for _ in range(3)]
    events = [(c, "conversation_started", {}) for c in [buyer, *browsers]]
    events += [(buyer, "product_viewed", {}), (browsers[0], "product_viewed", {}), (browsers[0], "product_viewed", {})]
    events += [
        (buyer, "cart_add", {}),
        (browsers[0], "cart_add", {}),
        (buyer, "checkout_started", {}),
        (buyer, "order_paid", {}),
    ]
    events += [(buyer, "turn_latency_ms", {"ms": ms}) for ms in (100, 200, 300, 400)]
    events += [
        (browsers[1], "fallback_reply", {}),
        (browsers[1], "intent", {"routed": True}),
        (browsers[2], "intent", {"routed": False}),
        (browsers[2], "handoff", {}),
        (browsers[0], "knowledge_answer", {"topic": "payment"}),
        (browsers[1], "knowledge_answer", {"topic": "audio"}),
        (browsers[2], "knowledge_answer", {"topic": "payment"}),
        (browsers[0], "reference_resolved", {"tools": ["add_to_cart"], "navigation": None}),
        (buyer, "reference_resolved", {"tools": ["get_product"], "navigation": None}),
    ]
    with session_scope(factory) as s:
        s.add_all(Event(customer_id=c, name=n, properties=p) for c, n, p in events)
        s.add(Event(customer_id=buyer, name="cart_add", properties={}, created_at=now - timedelta(days=30)))  # too old
        order = s.scalars(select(Order).where(Order.code == code)).one()
        order.paid_at, order.status = now, "paid"
        total = order.total_cents
    with session_scope(factory) as s:
        out = kpis.kpis(s, now - timedelta(days=7))
    f, sales, agent = out["funnel"], out["sales"], out["agent"]
    assert f["customers"] == {
        "conversation_started": 4,
        "product_viewed": 2,
        "cart_add": 2,
        "checkout_started": 1,
        "order_paid": 1,
    }  # distinct customers, within the period
    assert (f["cart_rate"], f["paid_rate"], f["conversion_rate"], f["cart_abandonment"]) == (0.5, 1.0, 0.25, 0.5)
    assert sales == {
        "orders": 1,
        "revenue_cents": total,
        "average_order_cents": total,
        "items_per_order": 3.0,
        "revenue_per_buyer_cents": total,
    }
    assert (agent["turns"], agent["turn_p50_ms"], agent["turn_p95_ms"]) == (4, 200.0, 400.0)
    assert (agent["fallback_rate"], agent["routed_share"], agent["handoffs"]) == (0.25, 0.5, 1)
    assert agent["knowledge_answers"] == {"payment": 2, "audio": 1} and agent["references_resolved"] == 2


def test_an_empty_period_has_counts_and_no_rates(factory):
    with session_scope(factory) as s:
        out = kpis.kpis(s, utcnow() - timedelta(days=1))
    assert out["funnel"]["customers"]["order_paid"] == 0 and out["funnel"]["conversion_rate"] is None
    assert out["sales"]["orders"] == 0 and out["sales"]["average_order_cents"] is None
    assert out["agent"]["turns"] == 0 and out["agent"]["turn_p95_ms"] is None
