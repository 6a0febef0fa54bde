"""Cart arithmetic in integer cents: freight rule, coupons, stock checks, line edits."""

import pytest

from serve.core.cart_math import (
    CartError,
    CartLine,
    Coupon,
    FreightRule,
    StockError,
    add_line,
    check_quantity,
    coupon_discount,
    coupon_problem,
    freight,
    price_cart,
    remove_line,
)

TOALHA = CartLine("p1", "Toalha", 3490, 2, freight_cents=1290)
FONE = CartLine("p2", "Fone", 8990, 1, freight_cents=1190)


def test_freight_max_line_plus_quarter_of_each_extra_unit():
    # units' freights 1290, 1290, 1190 → 1290 + round(1290*0.25) + round(1190*0.25) = 1290 + 323 + 298
    assert freight([TOALHA, FONE]) == 1911
    assert freight([FONE]) == 1190
    assert freight([]) == 0
    assert freight([TOALHA], FreightRule(extra_unit_bp=0)) == 1290


def test_free_shipping_above_threshold_after_discount():
    lines = [CartLine("p", "Panelas", 21990, 1, freight_cents=2490)]
    assert price_cart(lines).freight_cents == 0 and price_cart(lines).free_shipping
    ten_off = Coupon("DEZ", "percent", 10)  # 21990 - 2199 = 19791 < 19900: freight is back
    t = price_cart(lines, coupon=ten_off)
    assert (t.subtotal_cents, t.discount_cents, t.freight_cents, t.total_cents) == (21990, 2199, 2490, 22281)
    assert not t.free_shipping and t.coupon_code == "DEZ"


def test_price_cart_totals():
    t = price_cart([TOALHA, FONE])
    assert (t.subtotal_cents, t.freight_cents, t.discount_cents, t.total_cents, t.units) == (15970, 1911, 0, 17881, 3)
    empty = price_cart([])
    assert (empty.total_cents, empty.free_shipping, empty.units) == (0, False, 0)


def test_coupons_percent_fixed_minimum_and_cap():
    assert coupon_discount(Coupon("P15", "percent", 15), 3333) == 500  # 499.95 rounds half up
    assert coupon_discount(Coupon("F20", "fixed", 2000), 15970) == 2000
    assert coupon_discount(Coupon("F20", "fixed", 2000), 1500) == 1500  # never more than the subtotal
    minimo = Coupon("MIN100", "fixed", 1000, min_subtotal_cents=10000)
    assert coupon_discount(minimo, 9999) == 0
    assert coupon_problem(minimo, 9999) == "o cupom MIN100 vale para compras a partir de R$ 100,00"
    assert coupon_problem(minimo, 10000) is None and coupon_discount(minimo, 10000) == 1000
    assert price_cart([FONE], coupon=minimo).coupon_code is None
    with pytest.raises(ValueError, match="percent"):
        Coupon("X", "percent", 150)


def test_check_quantity_against_stock():
    check_quantity(3, stock=3)
    with pytest.raises(StockError, match="só temos 3 unidades de Toalha"):
        check_quantity(4, stock=3, name="Toalha")
    with pytest.raises(StockError, match=r"já tem 2 no carrinho"):
        check_quantity(2, stock=3, in_cart=2, name="Toalha")
    with pytest.raises(StockError, match="sem estoque"):
        check_quantity(1, stock=0)
    with pytest.raises(CartError, match="pelo menos 1"):
        check_quantity(0, stock=10)
    with pytest.raises(CartError, match="99"):
        check_quantity(60, stock=500, in_cart=40)


def test_add_merges_lines_and_checks_stock():
    cart = add_line((), TOALHA, stock=5)
    cart = add_line(cart, FONE, stock=5)
    cart = add_line(cart, CartLine("p1", "Toalha", 3490, 3, 1290), stock=5)
    assert [(x.product_id, x.quantity) for x in cart] == [("p1", 5), ("p2", 1)]
    with pytest.raises(StockError):
        add_line(cart, CartLine("p1", "Toalha", 3490, 1, 1290), stock=5)


def test_remove_some_or_all_units():
    cart = (TOALHA, FONE)
    assert [(x.product_id, x.quantity) for x in remove_line(cart, "p1", 1)] == [("p1", 1), ("p2", 1)]
    assert [x.product_id for x in remove_line(cart, "p1")] == ["p2"]
    assert [x.product_id for x in remove_line(cart, "p1", 7)] == ["p2"]
    with pytest.raises(CartError, match="não está no carrinho"):
        remove_line(cart, "p9")
