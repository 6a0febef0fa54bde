"""Stock: reserved at checkout, released on expiry or cancel, sold on payment, never oversold
(SQLite and PostgreSQL, concurrent customers)."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from serve.commerce import cart, orders, stock
from serve.core.cart_math import StockError
from serve.storage.db import run_in_transaction, session_scope
from serve.storage.tables import Event, Order, StockLevel
from tests.serve.factories import make_settings, new_customer

FONE = "317ae923150ddb695ba2343e07f9a986"  # 5 units in the catalogue fixture
TOALHA = "d3a4034028341fdbab0e4f5ba14ce89d"  # 3 units


def _cart(factory, catalogue, cid, *lines):
    with session_scope(factory) as s:
        for pid, qty in lines:
            cart.add_item(s, cid, catalogue, pid, qty)


def _levels(factory):
    with factory() as s:
        return stock.levels(s)


def _checkout(factory, catalogue, cid, method="pix"):
    return run_in_transaction(factory, lambda s: orders.create_order(s, cid, catalogue, method).code)


def test_two_customers_race_for_the_whole_stock_one_wins_and_expiry_gives_it_back(db, catalogue):
    # Two bot processes (separate pools), one customer each, both with all 5 fones in the cart.
    factories = [db.factory(), db.factory()]
    cids = [new_customer(factories[0], name=n) for n in ("Ana", "Bia")]
    for cid in cids:
        _cart(factories[0], catalogue, cid, (FONE, 5), (TOALHA, 1))
    barrier, results = threading.Barrier(2), {}

    def buy(i):
        barrier.wait()
        try:
            results[i] = _checkout(factories[i], catalogue, cids[i])
        except StockError as exc:
            results[i] = exc

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = [r for r in results.values() if isinstance(r, str)]
    refused = [r for r in results.values() if isinstance(r, StockError)]
    assert len(codes) == 1 and len(refused) == 1, results
    assert "esgotou" in str(refused[0])
    # All or nothing: the loser's toalha is not held either.
    assert _levels(factories[0]) == {FONE: (5, 5), TOALHA: (3, 1)}

    factory = factories[0]
    with factory() as s:
        order = s.scalars(select(Order).where(Order.code == codes[0])).one()
    assert orders.expire_unpaid(factory, now=order.expires_at - timedelta(seconds=1)) == []
    assert orders.expire_unpaid(factory, now=order.expires_at + timedelta(seconds=1)) == [codes[0]]
    assert orders.expire_unpaid(factory, now=order.expires_at + timedelta(seconds=2)) == []  # once
    assert _levels(factory) == {FONE: (5, 0), TOALHA: (3, 0)}
    with factory() as s:
        assert s.get(Order, order.id).status == "canceled"
        assert s.scalars(select(Event.name).where(Event.name == "order_expired")).all() == ["order_expired"]
    # The released units can be bought by the customer who lost the race.
    loser = cids[1] if results[0] == codes[0] else cids[0]
    assert _checkout(factory, catalogue, loser)


def test_payment_sells_the_reserved_units_and_cancel_releases_them(factory, catalogue):
    ana, bia = new_customer(factory, name="Ana"), new_customer(factory, name="Bia")
    _cart(factory, catalogue, ana, (TOALHA, 2))
    _cart(factory, catalogue, bia, (TOALHA, 1))
    code_ana, code_bia = _checkout(factory, catalogue, ana), _checkout(factory, catalogue, bia)
    assert _levels(factory) == {TOALHA: (3, 3)}
    with session_scope(factory) as s:
        o = s.scalars(select(Order).where(Order.code == code_ana)).one()
        assert orders.move(s, o, "paid") and not orders.move(s, o, "paid")  # a duplicate sells nothing
    assert _levels(factory) == {TOALHA: (1, 1)}
    with session_scope(factory) as s:
        orders.move(s, s.scalars(select(Order).where(Order.code == code_bia)).one(), "canceled")
    assert _levels(factory) == {TOALHA: (1, 0)}
    # A paid order expiring later changes nothing (only unpaid orders expire).
    far = orders.utcnow() + timedelta(days=30)
    assert orders.expire_unpaid(factory, now=far) == []
    assert _levels(factory) == {TOALHA: (1, 0)}
    # The catalogue still says 3, the bot sells only what is left.
    _cart(factory, catalogue, ana, (TOALHA, 2))
    with pytest.raises(StockError, match="só restam 1 unidade de"):
        _checkout(factory, catalogue, ana)


def test_boleto_holds_longer_than_pix_and_the_database_refuses_negative_stock(factory, catalogue):
    settings = make_settings(ORDER_PAYMENT_EXPIRY_MINUTES=30, ORDER_BOLETO_EXPIRY_HOURS=72)
    assert orders.payment_hold("pix", settings) == timedelta(minutes=30)
    assert orders.payment_hold("boleto", settings) == timedelta(hours=72)
    cid = new_customer(factory)
    _cart(factory, catalogue, cid, (FONE, 1))
    with session_scope(factory) as s:
        o = orders.create_order(s, cid, catalogue, "boleto", settings)
        assert timedelta(hours=71) < o.expires_at - o.created_at <= timedelta(hours=72)
    t = StockLevel.__table__
    for values in ({"reserved": -1}, {"on_hand": 0}):  # below zero, or more held than on the shelf
        with pytest.raises(IntegrityError), session_scope(factory) as s:
            s.execute(update(t).where(t.c.product_id == FONE).values(**values))
