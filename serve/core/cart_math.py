"""Pure cart arithmetic in integer cents: lines, stock checks, freight, coupons, totals.

No I/O and no floats on money: the serving cart (serve/conversation/executor.py) and the synthesize stage both
call these functions, so totals in training data and in production come from one place.

Freight rule (FreightRule, documented here once):
  - subtotal after discount >= free_above_cents (R$ 199,00 by default) → freight 0;
  - otherwise: the largest per-unit freight among the lines (the item that sets the parcel's
    size) + extra_unit_bp / 10_000 of the per-unit freight of every other unit in the cart
    (2_500 bp = 25 %: extra items share the parcel), each share rounded half up to the cent;
  - an empty cart has freight 0.
Coupons (Coupon): percent (1..100) or fixed cents off the subtotal, optional minimum subtotal;
the discount never exceeds the subtotal. A coupon the cart does not qualify for gives 0 discount
and `coupon_problem()` says why (pt-BR).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from serve.contract import format_brl
from serve.core.refusal import Refusal

MAX_QUANTITY = 99  # per line; the contract's add_to_cart accepts 1..99


class CartError(Refusal):
    """A cart change the server refuses; `str()` is pt-BR and safe to show to the model/customer."""


class StockError(CartError):
    """Requested quantity exceeds the units in stock."""


@dataclass(frozen=True, slots=True)
class CartLine:
    product_id: str
    name: str
    unit_price_cents: int
    quantity: int
    freight_cents: int = 0  # per-unit freight of this product (catalogue median)

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True, slots=True)
class FreightRule:
    free_above_cents: int = 19_900
    extra_unit_bp: int = 2_500  # basis points of each extra unit's freight (2_500 = 25 %)


FREIGHT_RULE = FreightRule()  # the store's one freight rule: training data, carts, orders and replies


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    kind: Literal["percent", "fixed"]
    value: int  # percent (1..100) when kind="percent", cents when kind="fixed"
    min_subtotal_cents: int = 0

    def __post_init__(self):
        if self.kind == "percent" and not 1 <= self.value <= 100:
            raise ValueError(f"coupon {self.code}: percent must be 1..100, got {self.value}")
        if self.kind == "fixed" and self.value <= 0:
            raise ValueError(f"coupon {self.code}: fixed value must be > 0 cents, got {self.value}")


@dataclass(frozen=True, slots=True)
class CartTotals:
    subtotal_cents: int
    freight_cents: int
    discount_cents: int
    total_cents: int  # subtotal - discount + freight
    coupon_code: str | None = None  # the coupon actually applied
    free_shipping: bool = False  # freight waived by the threshold (not an empty cart)
    units: int = 0


def _share(cents: int, bp: int) -> int:
    """cents * bp / 10_000 rounded half up, in integers."""
    return (cents * bp + 5_000) // 10_000


def subtotal(lines: list[CartLine] | tuple[CartLine, ...]) -> int:
    return sum(line.total_cents for line in lines)


def coupon_problem(coupon: Coupon | None, subtotal_cents: int) -> str | None:
    """Why `coupon` does not apply to this subtotal (pt-BR), or None when it applies."""
    if coupon is None:
        return None
    if subtotal_cents <= 0:
        return "o carrinho está vazio"
    if subtotal_cents < coupon.min_subtotal_cents:
        return f"o cupom {coupon.code} vale para compras a partir de {format_brl(coupon.min_subtotal_cents)}"
    return None


def coupon_discount(coupon: Coupon | None, subtotal_cents: int) -> int:
    """Discount in cents (0 when the coupon does not apply); never more than the subtotal."""
    if coupon is None or coupon_problem(coupon, subtotal_cents):
        return 0
    if coupon.kind == "percent":
        off = _share(subtotal_cents, coupon.value * 100)
    else:
        off = coupon.value
    return min(off, subtotal_cents)


def freight(lines, rule: FreightRule = FREIGHT_RULE, goods_cents: int | None = None) -> int:
    """Freight in cents for `lines` under `rule`; `goods_cents` = subtotal after discount (default: subtotal)."""
    units = [line.freight_cents for line in lines for _ in range(line.quantity)]
    if not units:
        return 0
    goods = subtotal(lines) if goods_cents is None else goods_cents
    if goods >= rule.free_above_cents:
        return 0
    units.sort(reverse=True)
    return units[0] + sum(_share(f, rule.extra_unit_bp) for f in units[1:])


def price_cart(lines, freight_rule: FreightRule = FREIGHT_RULE, coupon: Coupon | None = None) -> CartTotals:
    """Totals of a cart: subtotal, discount (coupon), freight (rule, on the discounted goods), total."""
    sub = subtotal(lines)
    discount = coupon_discount(coupon, sub)
    ship = freight(lines, freight_rule, goods_cents=sub - discount)
    units = sum(line.quantity for line in lines)
    return CartTotals(
        subtotal_cents=sub,
        freight_cents=ship,
        discount_cents=discount,
        total_cents=sub - discount + ship,
        coupon_code=coupon.code if discount else None,
        free_shipping=bool(units) and ship == 0,
        units=units,
    )


def check_quantity(quantity: int, stock: int, in_cart: int = 0, name: str = "este produto") -> None:
    """Raise CartError/StockError unless `in_cart + quantity` units can be sold (1..99 per line, <= stock)."""
    if not isinstance(quantity, int) or quantity < 1:
        raise CartError("a quantidade deve ser pelo menos 1")
    wanted = in_cart + quantity
    if wanted > MAX_QUANTITY:
        raise CartError(f"no máximo {MAX_QUANTITY} unidades por produto")
    if stock <= 0:
        raise StockError(f"{name} está sem estoque")
    if wanted > stock:
        have = f" (já tem {in_cart} no carrinho)" if in_cart else ""
        raise StockError(f"só temos {stock} unidade{'s' if stock > 1 else ''} de {name}{have}")


def add_line(lines, line: CartLine, stock: int) -> tuple[CartLine, ...]:
    """A new cart with `line` added (merged with the same product, price refreshed); checks stock."""
    lines = tuple(lines)
    current = next((x for x in lines if x.product_id == line.product_id), None)
    check_quantity(line.quantity, stock, current.quantity if current else 0, line.name)
    if current is None:
        return lines + (line,)
    merged = replace(line, quantity=current.quantity + line.quantity)
    return tuple(merged if x.product_id == line.product_id else x for x in lines)


def remove_line(lines, product_id: str, quantity: int | None = None) -> tuple[CartLine, ...]:
    """A new cart without `quantity` units of `product_id` (all of them when None)."""
    lines = tuple(lines)
    current = next((x for x in lines if x.product_id == product_id), None)
    if current is None:
        raise CartError("esse produto não está no carrinho")
    if quantity is not None and quantity < 1:
        raise CartError("a quantidade deve ser pelo menos 1")
    if quantity is None or quantity >= current.quantity:
        return tuple(x for x in lines if x.product_id != product_id)
    return tuple(replace(x, quantity=x.quantity - quantity) if x is current else x for x in lines)
