"""What each tool returns to the model: compact JSON dicts, identical in training data and serving.

The tool message sits in the prompt of every later turn (every token costs SFT time on CPU), so:
short keys, few fields, money as `format_brl` text ("R$ 49,90": the model copies it, never
computes it), products by their short `ref`, `low_stock: true` only when Catalogue.is_low_stock
says so (the one allowed ground for scarcity talk), `score`/`reviews` only from real review data,
errors as {"error": "<pt-BR>"}.

The `run_*`-style functions (search_products, get_product, recommend, add_to_cart,
remove_from_cart, view_cart) take the Catalogue, the validated contract arguments and, for the
cart, an immutable tuple of CartLine; they return (new cart, result) or the result. serve/conversation/executor.py
wraps them with persistence (DB cart, orders, payment links); pipelines/synthesize.py calls them
on an in-memory cart. Serialise with `dumps()` (compact separators, UTF-8 kept).

Shapes (keys always in this order):
  product summary  {"id", "name", "price", "score"?, "reviews"?, "low_stock"?, "stock"?, "sold_out"?}
                   (score/reviews only when the product has reviews)
  product detail   summary + {"desc", "freight", "comment"?}
  search/recommend {"items": [summary...]} (+ "cats" / "again" for recommend without a product)
  cart totals      {"units", "subtotal", "freight", "discount"?, "coupon"?, "total", "free_shipping"?}
  view_cart        {"items": [{"id","name","qty","price"}]} + cart totals
  add / remove     {"added" | "removed": {"id","name","qty"(, "in_cart": the line's quantity now)}} + cart totals
  checkout         {"order", "total", "pay", "link"}
  order status     {"order", "status", "bought", "eta"?, "delivered"?, "items"}
  handoff          {"ok": true}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

from serve.contract import format_brl
from serve.contract.tools import AddToCart, GetProduct, Recommend, RemoveFromCart, SearchProducts
from serve.core.cart_math import (
    FREIGHT_RULE,
    CartError,
    CartLine,
    Coupon,
    FreightRule,
    add_line,
    price_cart,
    remove_line,
)
from serve.core.catalog import Catalogue, Product, UnknownCategoryError
from serve.core.shopping_request import category_slugs, constrained, parse_request, search_request

SEARCH_LIMIT = 3  # options per search: a WhatsApp reply lists ~3, and each costs ~35 prompt tokens
RECOMMEND_LIMIT = 3
TOP_CATEGORIES = 3  # "cats" listed to a customer who is just browsing


def dumps(result: dict) -> str:
    """The tool message content: compact JSON, accents kept (fewer tokens than \\u escapes)."""
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


def error(message: str) -> dict:
    return {"error": message}


def product_summary(p: Product, catalogue: Catalogue) -> dict:
    out = {"id": p.ref, "name": p.name, "price": format_brl(p.price_cents)}
    if p.review_count and p.review_score is not None:  # no reviews: neither key (nothing to claim)
        out["score"] = p.review_score
        out["reviews"] = p.review_count
    if catalogue.is_low_stock(p):
        out["low_stock"] = True
        out["stock"] = p.stock
    elif p.stock <= 0:
        out["sold_out"] = True
    return out


def short_description(text: str, max_chars: int = 120) -> str:
    """The description's first sentence, cut at a word boundary: ~30 tokens instead of ~60."""
    first = text.split(". ")[0].strip().rstrip(".")
    if len(first) > max_chars:
        first = first[:max_chars].rsplit(" ", 1)[0] + "…"
    return first + ("." if not first.endswith("…") else "")


def product_detail(p: Product, catalogue: Catalogue) -> dict:
    out = product_summary(p, catalogue)
    out.update(desc=short_description(p.description), freight=format_brl(p.freight_cents))
    # one real comment, the newest with 4+ stars: social proof grounded in review data
    snippets = catalogue.review_snippets(p.product_id, limit=1, min_score=4)
    if snippets:
        out["comment"] = snippets[0].comment
    return out


def search_products(catalogue: Catalogue, args: SearchProducts, limit: int = SEARCH_LIMIT) -> dict:
    """The query is read like a customer's words (serve/core/shopping_request.py): a budget, an
    order or category words in it filter too; the arguments win where they say more (the lower
    budget, the category given, a sort other than relevance)."""
    try:
        categories = category_slugs(catalogue, args.category)
    except UnknownCategoryError as exc:
        return {"error": str(exc), "cats": [c.name_pt for c in catalogue.categories()[:TOP_CATEGORIES]]}
    request = constrained(parse_request(args.query), categories, args.max_price_cents, args.sort)
    found = search_request(catalogue, request, limit)
    return {"items": [product_summary(p, catalogue) for p in found]}


def get_product(catalogue: Catalogue, args: GetProduct) -> dict:
    p = catalogue.get(args.product_id)
    if p is None:
        return error(f"produto não encontrado: {args.product_id!r}")
    return product_detail(p, catalogue)


def recommend(
    catalogue: Catalogue, args: Recommend, history: list[str] | tuple[str, ...] = (), limit: int = RECOMMEND_LIMIT
) -> dict:
    """Complements of a product, best sellers of a category, or — with neither — for the customer.

    history: the customer's purchased product ids, newest first (from orders). With a history the
    result offers a reorder ("again": up to 2 past products in stock) and complements of them; without
    one, the best sellers and the top categories ("cats") to start exploring.
    """
    if args.product_id:
        if catalogue.get(args.product_id) is None:
            return error(f"produto não encontrado: {args.product_id!r}")
        items = catalogue.complements(args.product_id, limit)
        return {"items": [product_summary(p, catalogue) for p in items]}
    if args.category:
        if catalogue.resolve_category(args.category) is None:
            return {
                "error": f"categoria não encontrada: {args.category!r}",
                "cats": [c.name_pt for c in catalogue.categories()[:TOP_CATEGORIES]],
            }
        return {"items": [product_summary(p, catalogue) for p in catalogue.popular(args.category, limit)]}
    past = [p for p in dict.fromkeys(catalogue.get(h) for h in history) if p is not None]
    if not past:
        return {
            "items": [product_summary(p, catalogue) for p in catalogue.popular(None, limit)],
            "cats": [c.name_pt for c in catalogue.categories()[:TOP_CATEGORIES]],
        }
    again = [p for p in past if p.stock > 0][:2]
    seen = {p.product_id for p in past}
    new: list[Product] = []
    for p in past:
        for c in catalogue.complements(p.product_id, limit):
            if c.product_id not in seen and c not in new:
                new.append(c)
    return {
        "again": [product_summary(p, catalogue) for p in again],
        "items": [product_summary(p, catalogue) for p in new[:limit]],
    }


def cart_totals(lines, rule: FreightRule = FREIGHT_RULE, coupon: Coupon | None = None) -> dict:
    """{"units", "subtotal", "freight", "discount"?, "coupon"?, "total", "free_shipping"?}"""
    totals = price_cart(lines, rule, coupon)
    out = {
        "units": totals.units,
        "subtotal": format_brl(totals.subtotal_cents),
        "freight": format_brl(totals.freight_cents),
    }
    if totals.discount_cents:
        out["discount"] = format_brl(totals.discount_cents)
        out["coupon"] = totals.coupon_code
    out["total"] = format_brl(totals.total_cents)
    if totals.free_shipping:
        out["free_shipping"] = True
    return out


def cart_view(lines, catalogue: Catalogue, rule: FreightRule = FREIGHT_RULE, coupon: Coupon | None = None) -> dict:
    """The cart with its lines (unit price each) and totals."""
    items = []
    for line in lines:
        p = catalogue.get(line.product_id)
        items.append(
            {
                "id": p.ref if p else line.product_id,
                "name": line.name,
                "qty": line.quantity,
                "price": format_brl(line.unit_price_cents),
            }
        )
    return {"items": items} | cart_totals(lines, rule, coupon)


def view_cart(lines, catalogue: Catalogue, rule: FreightRule = FREIGHT_RULE, coupon: Coupon | None = None) -> dict:
    return cart_view(lines, catalogue, rule, coupon)


def add_to_cart(
    catalogue: Catalogue, lines, args: AddToCart, rule: FreightRule = FREIGHT_RULE, coupon: Coupon | None = None
) -> tuple[tuple[CartLine, ...], dict]:
    """(new cart, result). Price and freight come from the catalogue; stock is checked."""
    lines = tuple(lines)
    p = catalogue.get(args.product_id)
    if p is None:
        return lines, error(f"produto não encontrado: {args.product_id!r}")
    line = CartLine(p.product_id, p.name, p.price_cents, args.quantity, p.freight_cents)
    try:
        lines = add_line(lines, line, p.stock)
    except CartError as exc:
        return lines, error(str(exc))
    in_cart = sum(x.quantity for x in lines if x.product_id == p.product_id)  # this line now, "qty" added to it
    added = {"id": p.ref, "name": p.name, "qty": args.quantity, "in_cart": in_cart}
    return lines, {"added": added} | cart_totals(lines, rule, coupon)


def remove_from_cart(
    catalogue: Catalogue, lines, args: RemoveFromCart, rule: FreightRule = FREIGHT_RULE, coupon: Coupon | None = None
) -> tuple[tuple[CartLine, ...], dict]:
    lines = tuple(lines)
    p = catalogue.get(args.product_id)
    pid = p.product_id if p else args.product_id
    try:
        new = remove_line(lines, pid, args.quantity)
    except CartError as exc:
        return lines, error(str(exc))
    old_qty = next(x.quantity for x in lines if x.product_id == pid)
    qty = old_qty if args.quantity is None else min(args.quantity, old_qty)
    name = next(x.name for x in lines if x.product_id == pid)
    return new, {"removed": {"id": p.ref if p else pid, "name": name, "qty": qty}} | cart_totals(new, rule, coupon)


def checkout_result(order_id: str, total_cents: int, payment_method: str, link: str) -> dict:
    """The order just created from the cart and where to pay it (link from the payment gateway)."""
    return {"order": order_id, "total": format_brl(total_cents), "pay": payment_method, "link": link}


def _day(value) -> str | None:
    if value is None or value != value:  # None or NaN/NaT
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value.date() if isinstance(value, datetime) else value).strftime("%d/%m/%Y")


@dataclass(frozen=True)
class OrderInfo:
    order_id: str
    status: str  # Olist order_status code: delivered, shipped, invoiced, processing, approved, canceled, ...
    purchased_at: date | datetime
    estimated_delivery: date | datetime | None = None
    delivered_at: date | datetime | None = None
    items: list[str] = field(default_factory=list)  # product names


def order_status_result(order: OrderInfo | None) -> dict:
    """Status of one order; dates as dd/mm/yyyy; `delivered` only once delivered, `eta` only before."""
    if order is None:
        return error("nenhum pedido encontrado para este número")
    out = {"order": order.order_id, "status": order.status, "bought": _day(order.purchased_at)}
    delivered = _day(order.delivered_at)
    if delivered:
        out["delivered"] = delivered
    elif _day(order.estimated_delivery):
        out["eta"] = _day(order.estimated_delivery)
    out["items"] = list(order.items[:2])
    return out


def handoff_result() -> dict:
    return {"ok": True}
