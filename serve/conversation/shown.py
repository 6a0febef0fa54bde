"""What the conversation has shown the customer, read back from its tool messages.

The customer points into what they saw ("o segundo", "esse", "o de 59,90", "tira o lençol"), and
what they saw is exactly what the tools returned (serve/core/tool_results.py shapes), in the order
the bot showed it (serve/conversation/present.py lists `listed(result)`: the reorder offer first).
Nothing here is guessed from the bot's wording: only tool results count.

    shown = read_shown(turn.messages, cart=turn.cart)
    shown.listed   # the last list on screen: a search/recommend result, or the cart when it was shown last
    shown.focus    # the one product the conversation is about (its card, or the product just added)
    shown.cart     # the cart lines (authoritative when `cart`, a view_cart result, is given)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from serve.contract import parse_brl_cents
from serve.conversation.routing import listed
from serve.conversation.texts import say

PAYMENT_QUESTIONS = tuple(say(lang, "how_pay") for lang in ("pt", "en"))
WHICH_QUESTIONS = tuple(say(lang, "which_one") for lang in ("pt", "en"))  # "põe no carrinho" under a list


@dataclass(frozen=True)
class Item:
    """One product as the customer saw it; `qty`: units in the cart (cart lines only)."""

    id: str  # the product's ref, as tool results name it (accepted by every tool)
    name: str
    price_cents: int | None = None
    score: float | None = None
    qty: int = 0


@dataclass
class Shown:
    listed: list[Item] = field(default_factory=list)  # positions 1..n as shown
    listed_is_cart: bool = False  # the last list shown was the cart itself
    focus: Item | None = None
    focus_added: int = 0  # units of the focus added by the latest product result (0: it was shown, not added)
    single_last: bool = False  # the latest product result showed one product (a card, an add), not a list
    fresh: bool = False  # no customer message since the latest product result: "sim", "2" answer it
    cart: list[Item] = field(default_factory=list)
    asked_payment: bool = False  # the bot's last words asked how to pay
    cart_last: bool = False  # the latest tool result changed or showed the cart (a list shown before is stale)
    asked_which: bool = False  # ... or which of the listed products to add ("o segundo" then adds it)

    def in_cart(self, item: Item) -> Item | None:
        return next((c for c in self.cart if c.id == item.id), None)


def _item(d: dict, known: dict[str, Item]) -> Item:
    prices = parse_brl_cents(str(d.get("price", "")))
    before = known.get(str(d.get("id")))
    item = Item(
        id=str(d["id"]),
        name=str(d.get("name") or (before.name if before else "")),
        price_cents=prices[0] if prices else (before.price_cents if before else None),
        score=d.get("score", before.score if before else None),
        qty=int(d.get("qty") or 0),
    )
    known[item.id] = replace(item, qty=0)
    return item


def _result(message: dict) -> dict | None:
    try:
        content = message["content"]
        r = json.loads(content) if isinstance(content, str) else content
    except (KeyError, TypeError, ValueError):
        return None
    return r if isinstance(r, dict) else None


def read_shown(messages: list[dict], cart: dict | None = None) -> Shown:
    """The state of the screen after `messages` (oldest first). `cart`: the cart as a view_cart
    result from the database; without it the cart is rebuilt from the cart tool results."""
    shown, known = Shown(), {}
    lines: dict[str, Item] = {}
    for m in messages:
        if m.get("role") == "assistant" and m.get("content"):
            shown.asked_payment = any(q in str(m["content"]) for q in PAYMENT_QUESTIONS)
            shown.asked_which = any(q in str(m["content"]) for q in WHICH_QUESTIONS)
        shown.fresh = shown.fresh and m.get("role") != "user"
        if m.get("role") != "tool" or (r := _result(m)) is None or "error" in r:
            continue
        shown.fresh = True
        shown.cart_last = "added" in r or "removed" in r or "units" in r
        if "added" in r or "removed" in r:
            key = "added" if "added" in r else "removed"
            item = _item(r[key], known)
            old = lines.get(item.id, replace(item, qty=0)).qty
            new = old + item.qty if key == "added" else old - item.qty
            lines = {k: v for k, v in lines.items() if k != item.id or new > 0}
            if new > 0:
                lines[item.id] = replace(item, qty=new)
            shown.focus, shown.focus_added = (item, item.qty) if key == "added" else (None, 0)
            shown.single_last = key == "added"
        elif "units" in r:  # view_cart
            lines = {i.id: i for i in (_item(d, known) for d in r.get("items", []))}
            if lines:
                shown.listed, shown.listed_is_cart = list(lines.values()), True
        elif "id" in r and "price" in r:  # get_product: its card
            shown.focus, shown.focus_added, shown.single_last = _item(r, known), 0, True
        elif items := [_item(d, known) for d in listed(r)]:  # search / recommend
            shown.listed, shown.listed_is_cart = items, False
            shown.focus, shown.focus_added = (items[0] if len(items) == 1 else None), 0
            shown.single_last = len(items) == 1
        elif "order" in r or "ok" in r:  # checkout, order status, handoff: the talk moved on
            shown.focus, shown.focus_added, shown.single_last = None, 0, False
    if cart is not None:
        lines = {i.id: i for i in (_item(d, known) for d in cart.get("items", []))}
    shown.cart = list(lines.values())
    return shown


def last_search_arguments(messages: list[dict]) -> dict | None:
    """The arguments of the conversation's latest search_products call (a refined search keeps them)."""
    for m in reversed(messages):
        for call in reversed(m.get("tool_calls") or []):
            if call.get("function", {}).get("name") == "search_products":
                args = call["function"].get("arguments")
                try:
                    parsed = json.loads(args) if isinstance(args, str) else args
                except ValueError:
                    return None
                return parsed if isinstance(parsed, dict) else None
    return None
