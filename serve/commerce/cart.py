"""The customer's cart in the database: open/get, add, remove, view, and the lock for checkout.

Arithmetic (totals, freight, coupons, stock checks) is serve/core/cart_math.py, the same code the
training data was built with; this module only loads and stores. Prices always come from the
catalogue: a line's `unit_price_cents` is refreshed from the catalogue on every read, and a
product that left the catalogue drops out of the cart.

Concurrency (two messages of one customer handled at once, two bot processes): every change
first takes the customer lock (`serve.storage.db.lock_customer`: `SELECT ... FOR UPDATE` on PostgreSQL,
the write lock on SQLite), then re-reads the cart, then writes it back with the mapper's
optimistic `version` check. A write that lost a race anyway raises `CartConflict`, and
`serve.storage.db.run_in_transaction` retries the whole transaction.

The functions take a Session and never commit: the caller's transaction decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from serve.core.cart_math import (
    FREIGHT_RULE,
    CartError,
    CartLine,
    CartTotals,
    Coupon,
    FreightRule,
    StockError,
    check_quantity,
    price_cart,
)
from serve.core.catalog import Catalogue
from serve.storage.db import ConcurrencyConflict, lock_customer
from serve.storage.tables import Cart, CartItem, utcnow

# Coupons the bot honours (code → rule). Codes are matched case-insensitively.
COUPONS: dict[str, Coupon] = {
    "BEMVINDO10": Coupon("BEMVINDO10", "percent", 10, min_subtotal_cents=5_000),
    "VOLTEI15": Coupon("VOLTEI15", "percent", 15, min_subtotal_cents=15_000),
    "DESCONTO20": Coupon("DESCONTO20", "fixed", 2_000, min_subtotal_cents=10_000),
}


class CartConflict(ConcurrencyConflict):
    """Another transaction changed this cart first; retry the whole transaction."""


@dataclass(frozen=True)
class CartView:
    cart_id: int | None  # None: the customer has no open cart (an empty view)
    lines: tuple[CartLine, ...]
    coupon: Coupon | None  # the coupon stored on the cart (applies only if it qualifies)
    totals: CartTotals
    version: int = 0
    dropped: tuple[str, ...] = ()  # product ids removed because they left the catalogue

    @property
    def empty(self) -> bool:
        return not self.lines


def find_coupon(code: str | None, coupons: Mapping[str, Coupon] = COUPONS) -> Coupon | None:
    if not code:
        return None
    return coupons.get(code.strip().upper())


def get_open_cart(session: Session, customer_id: int) -> Cart | None:
    """The customer's open cart with its items, re-read from the database (not the identity map)."""
    return session.scalars(
        select(Cart)
        .where(Cart.customer_id == customer_id, Cart.status == "open")
        .options(selectinload(Cart.items))
        .execution_options(populate_existing=True)
    ).first()


def _lines(cart: Cart | None, catalogue: Catalogue) -> tuple[tuple[CartLine, ...], tuple[str, ...]]:
    """(lines priced from the catalogue, product ids no longer in the catalogue)."""
    if cart is None:
        return (), ()
    lines, dropped = [], []
    for item in cart.items:
        p = catalogue.get(item.product_id)
        if p is None:
            dropped.append(item.product_id)
            continue
        lines.append(CartLine(p.product_id, p.name, p.price_cents, item.quantity, p.freight_cents))
    return tuple(lines), tuple(dropped)


def _view(cart: Cart | None, catalogue: Catalogue, coupons: Mapping[str, Coupon], rule: FreightRule) -> CartView:
    lines, dropped = _lines(cart, catalogue)
    coupon = find_coupon(cart.coupon_code if cart else None, coupons)
    return CartView(
        cart_id=cart.id if cart else None,
        lines=lines,
        coupon=coupon,
        totals=price_cart(lines, rule, coupon),
        version=cart.version if cart else 0,
        dropped=dropped,
    )


def view_cart(
    session: Session,
    customer_id: int,
    catalogue: Catalogue,
    *,
    coupons: Mapping[str, Coupon] = COUPONS,
    rule: FreightRule = FREIGHT_RULE,
) -> CartView:
    """The open cart priced from the catalogue (read only; an empty view when there is no cart)."""
    return _view(get_open_cart(session, customer_id), catalogue, coupons, rule)


def _locked_cart(session: Session, customer_id: int, create: bool) -> Cart | None:
    lock_customer(session, customer_id)
    cart = get_open_cart(session, customer_id)
    if cart is None and create:
        cart = Cart(customer_id=customer_id, status="open")
        session.add(cart)
        _flush(session)
    return cart


def _flush(session: Session) -> None:
    try:
        session.flush()
    except (StaleDataError, IntegrityError) as exc:
        # StaleDataError: the cart's version moved under us; IntegrityError: a concurrent
        # transaction created the same open cart / cart line first. Both: retry from scratch.
        raise CartConflict(f"cart changed concurrently: {type(exc).__name__}") from exc


def _touch(cart: Cart) -> None:
    """Mark the cart row changed so the flush UPDATEs it (checking and bumping `version`)."""
    cart.updated_at = utcnow()


def _sync(session: Session, cart: Cart, lines: tuple[CartLine, ...]) -> None:
    """Make the cart's items equal to `lines` (quantities and current catalogue prices)."""
    wanted = {line.product_id: line for line in lines}
    for item in list(cart.items):
        line = wanted.pop(item.product_id, None)
        if line is None:
            cart.items.remove(item)  # delete-orphan
        elif (item.quantity, item.unit_price_cents) != (line.quantity, line.unit_price_cents):
            item.quantity, item.unit_price_cents = line.quantity, line.unit_price_cents
    for line in lines:
        if line.product_id in wanted:
            cart.items.append(
                CartItem(product_id=line.product_id, quantity=line.quantity, unit_price_cents=line.unit_price_cents)
            )
    _touch(cart)
    _flush(session)


def add_item(
    session: Session,
    customer_id: int,
    catalogue: Catalogue,
    product_id: str,
    quantity: int = 1,
    *,
    coupons: Mapping[str, Coupon] = COUPONS,
    rule: FreightRule = FREIGHT_RULE,
) -> CartView:
    """Add `quantity` units (merged with units already in the cart). Raises CartError (pt-BR) for an
    unknown product, a bad quantity or not enough stock; CartConflict on a lost race."""
    p = catalogue.get(product_id)
    if p is None:
        raise CartError(f"produto não encontrado: {product_id!r}")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise CartError("a quantidade deve ser um número inteiro")
    cart = _locked_cart(session, customer_id, create=True)
    lines, _ = _lines(cart, catalogue)
    in_cart = next((x.quantity for x in lines if x.product_id == p.product_id), 0)
    check_quantity(quantity, p.stock, in_cart, p.name)
    line = CartLine(p.product_id, p.name, p.price_cents, in_cart + quantity, p.freight_cents)
    if in_cart:
        lines = tuple(line if x.product_id == p.product_id else x for x in lines)
    else:
        lines = lines + (line,)
    _sync(session, cart, lines)
    return _view(cart, catalogue, coupons, rule)


def remove_item(
    session: Session,
    customer_id: int,
    catalogue: Catalogue,
    product_id: str,
    quantity: int | None = None,
    *,
    coupons: Mapping[str, Coupon] = COUPONS,
    rule: FreightRule = FREIGHT_RULE,
) -> CartView:
    """Remove `quantity` units of the product (all of them when None)."""
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1):
        raise CartError("a quantidade deve ser pelo menos 1")
    p = catalogue.get(product_id)
    pid = p.product_id if p else str(product_id)
    cart = _locked_cart(session, customer_id, create=False)
    item = next((i for i in cart.items if i.product_id == pid), None) if cart else None
    if item is None:
        raise CartError("esse produto não está no carrinho")
    if quantity is None or quantity >= item.quantity:
        cart.items.remove(item)
    else:
        item.quantity -= quantity
    lines, _ = _lines(cart, catalogue)
    _sync(session, cart, lines)
    return _view(cart, catalogue, coupons, rule)


def lock_for_checkout(
    session: Session,
    customer_id: int,
    catalogue: Catalogue,
    *,
    coupons: Mapping[str, Coupon] = COUPONS,
    rule: FreightRule = FREIGHT_RULE,
) -> tuple[Cart | None, CartView]:
    """The locked open cart and its view, stock re-checked against the catalogue (serve/commerce/orders.py)."""
    cart = _locked_cart(session, customer_id, create=False)
    view = _view(cart, catalogue, coupons, rule)
    for line in view.lines:
        p = catalogue.get(line.product_id)
        check_quantity(line.quantity, p.stock, 0, p.name)
    return cart, view


__all__ = [
    "COUPONS",
    "CartConflict",
    "CartError",
    "CartView",
    "StockError",
    "add_item",
    "find_coupon",
    "get_open_cart",
    "lock_for_checkout",
    "remove_item",
    "view_cart",
]
