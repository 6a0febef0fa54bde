"""The expectations of a fresh conversation, checked against what the customer saw and the database.

Every check returns the list of what is wrong (empty: all good), worded for the failure report.
Per turn (`expect:` in the YAML), besides the checks every answer gets (`every_answer`):

    says / says_any / not_says   fragments, compared without case or accents ("{order}": the seeded code)
    shown: {as, min, categories, max_price_cents, names_any, first, includes}
                                 the products listed (or the one card) in this answer; `as` names the
                                 list for later references (`alias#2`, `alias#cheapest`, ...)
    no_products                  no product shown at all
    asks_which                   a question about which one ("qual…?", "which…?")
    buttons                      button titles offered
    cart / cart_includes         the open cart's lines [[product, qty], ...], exactly / at least
    cart_one_of: alias           the cart holds exactly one unit, of a product of that list
    cart_total_shown             the cart's total (cart arithmetic, R$ 1.234,56) is in the answer
    details_of: product          its name, its price and its "Adicionar" button are in the answer
    says_name_of: [products]     these products are named in the answer
    mentions_categories: n       at least n of the catalogue's categories are named
    order: {status, method}      the newest order of this conversation
    handoff: bool                a handoff row exists (a person was called) or not
    any_of: [{...}, {...}]       one of these sets of expectations holds
At the end (`end:`): orders (every order this conversation made: status, method, items), cart,
cart_includes, handoff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from serve.contract import format_brl
from serve.conversation.texts import detect_language, say
from serve.core.catalog import Catalogue, Product, normalize
from serve.whatsapp.worker import APOLOGY
from tests.fresh.screen import Screen, plain

APOLOGIES = (say("pt", "fallback"), say("en", "fallback"), APOLOGY.body)
DEBRIS = ("<tool_call>", "</tool_call>", "<|im_", "<tool_response>")
WHICH = re.compile(r"\b(qual|quais|which)\b[^?]*\?")


@dataclass
class State:
    """The database for this customer after a turn."""

    cart: dict[str, int]  # product id → quantity, open cart
    cart_total_cents: int | None
    orders: list[dict]  # made during the conversation: {code, status, method, items: {id: qty}}
    handoffs: int


class RefError(LookupError):
    pass


@dataclass
class Refs:
    """Products by catalogue name or by a list the customer saw (`alias#n`, `alias#cheapest`, ...)."""

    catalogue: Catalogue
    lists: dict[str, list[Product]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # placeholders: {"order": "ZV12345"}

    def fill(self, text: str) -> str:
        for key, value in self.values.items():
            text = text.replace("{" + key + "}", value)
        return text

    def product(self, ref: str) -> Product:
        if "#" not in ref:
            found = [p for p in self.catalogue.products if plain(p.name) == plain(ref)]
            if not found:
                raise RefError(f"no product named {ref!r} in the catalogue")
            return found[0]
        alias, _, pick = ref.partition("#")
        shown = self.lists.get(alias)
        if not shown:
            raise RefError(f"{ref}: no list was shown as {alias!r}")
        if pick.isdigit():
            if not 1 <= int(pick) <= len(shown):
                raise RefError(f"{ref}: the list {alias!r} had {len(shown)} products")
            return shown[int(pick) - 1]
        keys = {
            "cheapest": lambda p: (p.price_cents, p.sales_rank),
            "priciest": lambda p: (-p.price_cents, p.sales_rank),
            "top_rated": lambda p: (-Catalogue.rating_rank_value(p), p.sales_rank),
            "best_seller": lambda p: p.sales_rank,
        }
        if pick not in keys:
            raise RefError(f"{ref}: unknown pick {pick!r}")
        return min(shown, key=keys[pick])

    def lines(self, spec: list) -> dict[str, int]:
        return {self.product(ref).product_id: int(qty) for ref, qty in spec}

    def names(self, lines: dict[str, int]) -> str:
        return ", ".join(f"{q}x {self.catalogue.get(pid).name}" for pid, q in lines.items()) or "nothing"


def every_answer(screen: Screen, lang: str, catalogue: Catalogue) -> list[str]:
    """What no answer may be: missing, the generic apology, chat-template debris, the wrong language."""
    if not screen.payloads:
        return ["no answer"]
    wrong = [f"generic apology: {a[:40]!r}…" for a in APOLOGIES if plain(a) in plain(screen.text)]
    wrong += [f"template debris {d!r}" for d in DEBRIS if d in screen.text]
    if lang == "en":
        own = "\n".join(t for t in screen.texts if " — " not in t)  # list rows are product names
        for p in catalogue.products:
            own = own.replace(p.name, "")
        if detect_language(own) == "pt":
            wrong.append("answered in Portuguese to an English-writing customer")
    return wrong


def check_shown(spec: dict, screen: Screen, refs: Refs) -> list[str]:
    shown = screen.products
    if spec.get("as"):
        refs.lists[spec["as"]] = list(shown)
    names = [p.name for p in shown]
    wrong = []
    if len(shown) < spec.get("min", 1):
        wrong.append(f"{len(shown)} products shown, expected at least {spec.get('min', 1)}: {names}")
    if cats := spec.get("categories"):
        wrong += [f"{p.name} ({p.category}) is not in {cats}" for p in shown if p.category not in cats]
    if (budget := spec.get("max_price_cents")) is not None:
        wrong += [
            f"{p.name} costs {format_brl(p.price_cents)}, above {format_brl(budget)}"
            for p in shown
            if p.price_cents > budget
        ]
    if (words := spec.get("names_any")) and not any(plain(w) in plain(n) for w in words for n in names):
        wrong.append(f"no shown product name has any of {words}: {names}")
    if (first := spec.get("first")) and (not shown or shown[0] != refs.product(first)):
        wrong.append(f"the first product shown is not {first}: {names}")
    for ref in spec.get("includes", []):
        if refs.product(ref) not in shown:
            wrong.append(f"{ref} is not among the products shown: {names}")
    return wrong


def _cart(expected: dict[str, int], state: State, refs: Refs, exact: bool) -> list[str]:
    have = state.cart
    ok = have == expected if exact else all(have.get(k) == v for k, v in expected.items())
    if ok:
        return []
    return [f"cart holds {refs.names(have)}; expected {'' if exact else 'at least '}{refs.names(expected)}"]


def check_turn(expect: dict, screen: Screen, state: State, refs: Refs) -> list[str]:
    try:
        return _check_turn(expect, screen, state, refs)
    except RefError as exc:
        return [str(exc)]


def _check_turn(expect: dict, screen: Screen, state: State, refs: Refs) -> list[str]:
    wrong = []
    for fragment in expect.get("says", []):
        if not screen.says(refs.fill(fragment)):
            wrong.append(f"does not say {refs.fill(fragment)!r}")
    if (any_of := expect.get("says_any")) and not any(screen.says(refs.fill(f)) for f in any_of):
        wrong.append(f"says none of {any_of}")
    wrong += [f"says {f!r}" for f in expect.get("not_says", []) if screen.says(refs.fill(f))]
    if "shown" in expect:
        wrong += check_shown(expect["shown"], screen, refs)
    if expect.get("no_products") and (screen.products or screen.rows):
        wrong.append(f"shows products: {[p.name for p in screen.products]}")
    if expect.get("asks_which") and not WHICH.search(plain(screen.text)):
        wrong.append("does not ask which one")
    titles = {plain(t) for _, t in screen.buttons}
    wrong += [f"no {b!r} button" for b in expect.get("buttons", []) if plain(b) not in titles]
    if "cart" in expect:
        wrong += _cart(refs.lines(expect["cart"]), state, refs, exact=True)
    if "cart_includes" in expect:
        wrong += _cart(refs.lines(expect["cart_includes"]), state, refs, exact=False)
    if alias := expect.get("cart_one_of"):
        options = {p.product_id for p in refs.lists.get(alias, [])}
        if not (list(state.cart.values()) == [1] and set(state.cart) <= options):
            wrong.append(f"cart holds {refs.names(state.cart)}; expected one unit of a product of {alias!r}")
    if expect.get("cart_total_shown"):
        total = format_brl(state.cart_total_cents) if state.cart_total_cents else None
        if total is None or total not in screen.text:
            wrong.append(f"the cart total {total} is not in the answer")
    if ref := expect.get("details_of"):
        p = refs.product(ref)
        added = [
            refs.catalogue.get(bid.split(":", 1)[1]) for bid, _ in screen.buttons if bid.startswith("add_to_cart:")
        ]
        if not screen.says(p.name[:20]) or format_brl(p.price_cents) not in screen.text or p not in added:
            wrong.append(f"no details of {p.name} ({format_brl(p.price_cents)}, with an add button)")
    for ref in expect.get("says_name_of", []):
        if not screen.says(refs.product(ref).name[:20]):
            wrong.append(f"does not name {refs.product(ref).name}")
    if (n := expect.get("mentions_categories")) is not None:
        said = normalize(screen.text)
        named = [
            c.name_pt
            for c in refs.catalogue.categories()
            if normalize(c.name_pt) in said or normalize(c.name_en) in said
        ]
        if len(named) < n:
            wrong.append(f"names {len(named)} of the store's categories ({named}), expected at least {n}")
    if "order" in expect:
        latest = state.orders[-1] if state.orders else {}
        if not state.orders or any(latest.get(k) != v for k, v in expect["order"].items()):
            wrong.append(f"newest order { ({k: latest.get(k) for k in expect['order']}) }, expected {expect['order']}")
    if "handoff" in expect and bool(state.handoffs) != expect["handoff"]:
        wrong.append(f"handoff rows: {state.handoffs}, expected {'some' if expect['handoff'] else 'none'}")
    if alternatives := expect.get("any_of"):
        outcomes = [check_turn(alt, screen, state, refs) for alt in alternatives]
        if all(outcomes):
            wrong.append("none of the alternatives holds: " + " | ".join("; ".join(o) for o in outcomes))
    return wrong


def check_end(expect: dict, state: State, refs: Refs) -> list[str]:
    try:
        wrong = []
        if "orders" in expect:
            want = [
                {"status": o["status"], "method": o["method"], "items": refs.lines(o["items"])}
                for o in expect["orders"]
            ]
            have = [{k: o[k] for k in ("status", "method", "items")} for o in state.orders]
            if have != want:
                show = lambda orders: [(o["status"], o["method"], refs.names(o["items"])) for o in orders]  # noqa: E731
                wrong.append(f"orders {show(have)}, expected {show(want)}")
        if "cart" in expect:
            wrong += _cart(refs.lines(expect["cart"]), state, refs, exact=True)
        if "cart_includes" in expect:
            wrong += _cart(refs.lines(expect["cart_includes"]), state, refs, exact=False)
        if "handoff" in expect and bool(state.handoffs) != expect["handoff"]:
            wrong.append(f"handoff rows: {state.handoffs}, expected {'some' if expect['handoff'] else 'none'}")
        return wrong
    except RefError as exc:
        return [str(exc)]
