from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from serve.commerce import customers
from serve.core.history import OlistHistory, history_product_ids
from serve.storage.db import session_scope
from serve.storage.tables import Contact, Customer, Order, OrderItem
from tests.serve.factories import HASH_KEY, PHONE, fixture_catalogue, fixture_frames

LENCOL, FRONHA = "6c960ba67062c4e0ec86082740d58be2", "4df889741167b95b278c4ae536567731"


@pytest.fixture
def factory(sqlite_db):
    return sqlite_db.factory()


def test_hash_is_keyed_stable_and_format_independent():
    h = customers.hash_phone(PHONE, HASH_KEY)
    assert len(h) == 64 and PHONE not in h
    assert customers.hash_phone("+55 (11) 98765-4321", HASH_KEY) == h
    assert customers.hash_phone(PHONE, "other-key") != h
    with pytest.raises(ValueError, match="PHONE_HASH_KEY"):
        customers.hash_phone(PHONE, "")
    with pytest.raises(ValueError, match="digits"):
        customers.hash_phone("12", HASH_KEY)


def test_recognised_by_phone_and_raw_number_only_in_contacts(factory):
    with session_scope(factory) as s:
        c1 = customers.get_or_create_customer(s, PHONE, HASH_KEY, "ana paula 🌸")
    with session_scope(factory) as s:
        c2 = customers.get_or_create_customer(s, "+" + PHONE, HASH_KEY, "Outro Nome")
        assert c2.id == c1.id and c2.name == "Ana"
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert s.get(Contact, c1.id).phone == PHONE
        assert customers.forget_contact(s, c1.id)
    with session_scope(factory) as s:
        assert s.get(Contact, c1.id) is None and s.get(Customer, c1.id).name is None


def test_context_and_reorder_from_olist_and_bot_orders(factory):
    cat = fixture_catalogue()
    olist = OlistHistory(fixture_frames()["histories"])
    with session_scope(factory) as s:
        c = customers.get_or_create_customer(s, PHONE, HASH_KEY, "Ana")
        c.olist_customer_unique_id = "c1a10000000000000000000000000000"
        s.flush()
        orders = customers.past_orders(s, c, olist)
        ctx = customers.customer_context(c, orders, cat)
    # the newest Olist order (2018-06-10) is the capinha; the older one the lençol + fronha
    assert [o.order_id for o in orders][0].endswith("0002")
    assert ctx.recurring and ctx.name == "Ana" and "Capinha" in ctx.last_order and "10/06/2018" in ctx.last_order
    assert ctx.preferred_categories[0] in {"cama, mesa e banho", "telefonia"}
    # a paid bot order is newer than Olist's: it becomes the reorder
    with session_scope(factory) as s:
        c = s.get(Customer, c.id)
        p = cat.get(LENCOL)
        order = Order(
            code="ZV00001",
            customer_id=c.id,
            status="paid",
            payment_method="pix",
            subtotal_cents=2 * p.price_cents,
            freight_cents=0,
            discount_cents=0,
            total_cents=2 * p.price_cents,
            estimated_delivery=datetime.now(UTC).date(),
            created_at=datetime.now(UTC),
        )
        order.items.append(OrderItem(product_id=LENCOL, name=p.name, quantity=2, unit_price_cents=p.price_cents))
        s.add(order)
        s.flush()
        orders = customers.past_orders(s, c, olist)
    assert orders[0].order_id == "ZV00001" and orders[0].source == "bot"
    assert [(p.product_id, q) for p, q in customers.reorder_lines(orders, cat)] == [(LENCOL, 2)]
    assert history_product_ids(orders)[0] == LENCOL  # newest first, each product once
