"""DB cart: arithmetic through cart_math, stock, catalogue prices, a stored coupon, concurrency (SQLite + Postgres)."""

import threading

import pytest
from sqlalchemy import select

from serve.commerce import cart
from serve.core.cart_math import CartError, StockError
from serve.storage.db import run_in_transaction, session_scope
from serve.storage.tables import Cart, CartItem
from tests.serve.factories import fixture_catalogue, new_customer, products_frame

LENCOL = "6c960ba67062c4e0ec86082740d58be2"  # R$ 89,90, freight R$ 15,90, stock 40
CAPINHA = "92cb7c29f4d12dc79c74e9f4e4a69f9a"  # R$ 19,90, freight R$ 8,90, stock 60
TOALHA = "d3a4034028341fdbab0e4f5ba14ce89d"  # stock 3
TAPETE = "3fe8a38609a951baeb5d3ec7432cd4e0"  # stock 0


def test_totals_freight_and_coupon_in_cents(factory, catalogue):
    cid = new_customer(factory)
    with session_scope(factory) as s:
        v = cart.add_item(s, cid, catalogue, LENCOL, 2)
    # 2 × 8990; freight 1590 + 25 % of 1590 (397.5 → 398)
    assert (v.totals.subtotal_cents, v.totals.freight_cents, v.totals.total_cents) == (17_980, 1_988, 19_968)
    with session_scope(factory) as s:
        v = cart.add_item(s, cid, catalogue, CAPINHA[:8])  # short ref accepted
    assert (v.totals.subtotal_cents, v.totals.freight_cents, v.totals.total_cents) == (19_970, 0, 19_970)
    assert v.totals.free_shipping
    with session_scope(factory) as s:
        s.scalars(select(Cart)).one().coupon_code = "bemvindo10"  # codes match case-insensitively
    with session_scope(factory) as s:
        v = cart.view_cart(s, cid, catalogue)
    # 10 % of 19970 = 1997 → goods 17973 < 19900: freight 1590 + 398 + 223 (890 × 25 % = 222.5 → 223)
    assert (v.totals.discount_cents, v.totals.freight_cents, v.totals.total_cents) == (1_997, 2_211, 20_184)
    with session_scope(factory) as s:
        again = cart.view_cart(s, cid, catalogue)
        rows = s.scalars(select(CartItem).order_by(CartItem.id)).all()
        assert [(r.product_id, r.quantity, r.unit_price_cents) for r in rows] == [(LENCOL, 2, 8990), (CAPINHA, 1, 1990)]
    assert again.totals == v.totals and again.coupon.code == "BEMVINDO10"


def test_stock_unknown_products_and_bad_quantities_refused(factory, catalogue):
    cid = new_customer(factory)
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, TOALHA, 2)
    with session_scope(factory) as s, pytest.raises(StockError, match="só temos 3 unidades"):
        cart.add_item(s, cid, catalogue, TOALHA, 2)
    with session_scope(factory) as s, pytest.raises(StockError, match="sem estoque"):
        cart.add_item(s, cid, catalogue, TAPETE)
    with session_scope(factory) as s, pytest.raises(CartError, match="não encontrado"):
        cart.add_item(s, cid, catalogue, "ffffffffffffffff")
    for bad in (0, -1, 1.5, True):
        with session_scope(factory) as s, pytest.raises(CartError):
            cart.add_item(s, cid, catalogue, LENCOL, bad)
    with session_scope(factory) as s:
        v = cart.view_cart(s, cid, catalogue)
    assert [(x.product_id, x.quantity) for x in v.lines] == [(TOALHA, 2)] and v.coupon is None


def test_remove_partial_and_all(factory, catalogue):
    cid = new_customer(factory)
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, 3)
        cart.add_item(s, cid, catalogue, CAPINHA, 1)
    with session_scope(factory) as s:
        v = cart.remove_item(s, cid, catalogue, LENCOL, 2)
    assert [(x.product_id, x.quantity) for x in v.lines] == [(LENCOL, 1), (CAPINHA, 1)]
    with session_scope(factory) as s:
        v = cart.remove_item(s, cid, catalogue, CAPINHA)
    assert [x.product_id for x in v.lines] == [LENCOL]
    with session_scope(factory) as s, pytest.raises(CartError, match="não está no carrinho"):
        cart.remove_item(s, cid, catalogue, CAPINHA)
    with session_scope(factory) as s:
        v = cart.remove_item(s, cid, catalogue, LENCOL)
        assert v.empty and v.totals.total_cents == 0 and v.cart_id is not None
        assert s.scalars(select(CartItem)).all() == []


def test_prices_come_from_the_current_catalogue(factory, catalogue):
    cid = new_customer(factory)
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, 1)
        cart.add_item(s, cid, catalogue, CAPINHA, 1)
    df = products_frame()
    df.loc[df.product_id == LENCOL, "price_cents"] = 7990  # price drop after a new ingest
    df = df[df.product_id != CAPINHA]  # product withdrawn
    newer = fixture_catalogue(df)
    with session_scope(factory) as s:
        v = cart.view_cart(s, cid, newer)
    assert [(x.product_id, x.unit_price_cents) for x in v.lines] == [(LENCOL, 7990)]
    assert v.dropped == (CAPINHA,) and v.totals.subtotal_cents == 7990
    with session_scope(factory) as s:
        cart.add_item(s, cid, newer, LENCOL, 1)
    with session_scope(factory) as s:
        rows = s.scalars(select(CartItem)).all()
        assert [(r.product_id, r.quantity, r.unit_price_cents) for r in rows] == [(LENCOL, 2, 7990)]


def test_concurrent_adds_lose_no_update(factory, catalogue):
    """8 threads add one unit each to the same (not yet existing) cart: one cart, quantity 8."""
    cid = new_customer(factory)
    n, errors = 8, []
    barrier = threading.Barrier(n)

    def worker():
        try:
            barrier.wait()
            run_in_transaction(factory, lambda s: cart.add_item(s, cid, catalogue, CAPINHA, 1), attempts=10)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with session_scope(factory) as s:
        carts = s.scalars(select(Cart).where(Cart.customer_id == cid)).all()
        assert len(carts) == 1 and carts[0].version == n + 1  # created at 1, bumped once per add
        assert [(i.product_id, i.quantity) for i in carts[0].items] == [(CAPINHA, n)]


def test_concurrent_adds_respect_stock(factory, catalogue):
    """Stock 3, six concurrent single adds: exactly three succeed."""
    cid = new_customer(factory)
    n, ok, refused = 6, [], []
    barrier = threading.Barrier(n)

    def worker():
        barrier.wait()
        try:
            run_in_transaction(factory, lambda s: cart.add_item(s, cid, catalogue, TOALHA, 1), attempts=10)
            ok.append(1)
        except StockError:
            refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert (len(ok), len(refused)) == (3, 3)
    with session_scope(factory) as s:
        assert cart.view_cart(s, cid, catalogue).lines[0].quantity == 3


def test_stale_version_is_a_conflict(factory, catalogue):
    """The optimistic check on its own: a write based on an old read of the cart is refused."""
    cid = new_customer(factory)
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, 1)
    stale = factory()
    old = cart.get_open_cart(stale, cid)
    stale.commit()  # end the read; `old` keeps version 2 in memory
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, 1)  # version 3 in the database
    old.coupon_code = "BEMVINDO10"
    with pytest.raises(cart.CartConflict):
        cart._flush(stale)
    stale.rollback()
    stale.close()
    with session_scope(factory) as s:
        c = cart.get_open_cart(s, cid)
        assert (c.version, c.coupon_code, c.items[0].quantity) == (3, None, 2)
