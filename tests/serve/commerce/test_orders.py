"""Orders: created once from the cart, forward-only states, tracking answers (bot + Olist history)."""

import re
import threading
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serve.commerce import cart, orders
from serve.core.history import OlistHistory
from serve.storage.db import run_in_transaction, session_scope
from serve.storage.tables import Cart, Order
from tests.serve.factories import FIXTURE_DIR, new_customer

LENCOL = "6c960ba67062c4e0ec86082740d58be2"  # R$ 89,90, freight 15,90
TRAVESSEIRO = "4df889741167b95b278c4ae536567731"  # R$ 45,90, freight 14,90
FRIDAY = date(2026, 11, 27)


def _fill(factory, catalogue, cid):
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, 1)
        cart.add_item(s, cid, catalogue, TRAVESSEIRO, 2)


def test_order_from_cart_keeps_totals_and_closes_cart(factory, catalogue):
    cid = new_customer(factory)
    _fill(factory, catalogue, cid)
    with session_scope(factory) as s:
        view = cart.view_cart(s, cid, catalogue)
        order = orders.create_order(s, cid, catalogue, "pix", today=FRIDAY)
        code = order.code
    # 8990 + 2 × 4590 = 18170; freight 1590 + 2 × 373 (1490 × 25 % = 372.5 → 373) = 2336
    assert (view.totals.subtotal_cents, view.totals.freight_cents, view.totals.total_cents) == (18_170, 2_336, 20_506)
    assert re.fullmatch(r"ZV\d{5}", code)
    with session_scope(factory) as s:
        o = s.scalars(select(Order).where(Order.code == code)).one()
        assert (o.status, o.payment_method, o.subtotal_cents, o.freight_cents, o.discount_cents, o.total_cents) == (
            "pending_payment",
            "pix",
            18_170,
            2_336,
            0,
            20_506,
        )
        assert [(i.product_id, i.quantity, i.unit_price_cents) for i in o.items] == [
            (LENCOL, 1, 8990),
            (TRAVESSEIRO, 2, 4590),
        ]
        assert o.estimated_delivery == date(2026, 12, 8)  # 7 business days after a Friday
        assert s.scalars(select(Cart.status).where(Cart.customer_id == cid)).all() == ["checked_out"]
        assert cart.view_cart(s, cid, catalogue).empty
    with session_scope(factory) as s, pytest.raises(orders.EmptyCartError):
        orders.create_order(s, cid, catalogue, "pix")
    with session_scope(factory) as s, pytest.raises(orders.OrderError, match="forma de pagamento"):
        orders.create_order(s, cid, catalogue, "bitcoin")


def test_concurrent_checkouts_make_one_order(factory, catalogue):
    cid = new_customer(factory)
    _fill(factory, catalogue, cid)
    results, barrier = [], threading.Barrier(2)

    def worker():
        barrier.wait()
        try:
            code = run_in_transaction(factory, lambda s: orders.create_order(s, cid, catalogue, "card").code)
            results.append(code)
        except orders.EmptyCartError:
            results.append("empty")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r == "empty" for r in results) == [False, True]
    with session_scope(factory) as s:
        assert len(s.scalars(select(Order).where(Order.customer_id == cid)).all()) == 1


def test_state_machine_is_forward_only_and_idempotent(factory, catalogue):
    cid = new_customer(factory)
    _fill(factory, catalogue, cid)
    with session_scope(factory) as s:
        o = orders.create_order(s, cid, catalogue, "pix")
        with pytest.raises(orders.InvalidTransition):
            orders.transition(o, "shipped")  # not paid yet
        assert orders.transition(o, "paid") is True and o.paid_at is not None
        assert orders.transition(o, "paid") is False  # a duplicate event: no change
        assert orders.transition(o, "shipped") and orders.transition(o, "delivered")
        for back in ("paid", "pending_payment", "canceled", "shipped"):
            with pytest.raises(orders.InvalidTransition):
                orders.transition(o, back)
        with pytest.raises(orders.InvalidTransition, match="desconhecido"):
            orders.transition(o, "lost")
        assert o.delivered_at >= o.shipped_at >= o.paid_at


def test_database_refuses_inconsistent_totals(factory):
    cid = new_customer(factory)
    with pytest.raises(IntegrityError), session_scope(factory) as s:
        s.add(
            Order(
                code="ZV00001",
                customer_id=cid,
                payment_method="pix",
                subtotal_cents=1000,
                freight_cents=0,
                discount_cents=0,
                total_cents=999,
                estimated_delivery=FRIDAY,
            )
        )


def test_order_status_latest_by_code_and_only_own_orders(factory, catalogue):
    ana, bia = new_customer(factory), new_customer(factory)
    _fill(factory, catalogue, ana)
    with session_scope(factory) as s:
        first = orders.create_order(s, ana, catalogue, "pix", today=FRIDAY)
        orders.transition(first, "paid")
        orders.transition(first, "shipped")
        first_code = first.code
    with session_scope(factory) as s:
        cart.add_item(s, ana, catalogue, LENCOL, 1)
        second_code = orders.create_order(s, ana, catalogue, "boleto", today=FRIDAY).code
    with session_scope(factory) as s:
        latest = orders.order_status(s, ana)
        assert (latest.order_id, latest.status, latest.items) == (
            second_code,
            "created",
            ["Jogo de Lençol Casal 4 Peças Algodão"],
        )
        shipped = orders.order_status(s, ana, first_code.lower())
        assert (shipped.order_id, shipped.status, shipped.estimated_delivery) == (
            first_code,
            "shipped",
            date(2026, 12, 8),
        )
        assert orders.order_status(s, bia, first_code) is None  # someone else's order
        assert orders.order_status(s, bia) is None


def test_order_status_from_linked_olist_history(factory, catalogue):
    histories = pd.read_csv(FIXTURE_DIR / "histories.csv", dtype={"product_id": str})
    olist = OlistHistory(histories)
    cid = new_customer(factory, olist_id="c1a10000000000000000000000000000")
    with session_scope(factory) as s:
        latest = orders.order_status(s, cid, olist=olist, catalogue=catalogue)
        assert (latest.order_id, latest.status, latest.delivered_at) == ("o1000000", "shipped", None)
        assert latest.estimated_delivery.date() == date(2018, 6, 30) and latest.items == ["Capinha Celular Silicone"]
        old = orders.order_status(s, cid, "o1000000000000000000000000000001", olist=olist, catalogue=catalogue)
        assert (old.status, old.delivered_at.date()) == ("delivered", date(2018, 3, 12))
        assert old.items == ["Jogo de Lençol Casal 4 Peças Algodão", "Travesseiro Fibra Siliconada"]
        assert orders.order_status(s, cid, "ZV99999", olist=olist) is None
    with pytest.raises(ValueError, match="order_status"):
        OlistHistory(histories.drop(columns=["order_status"]))
