"""Reusable steps of the synthetic conversations (a customer message + the assistant's tool calls and reply).

Each step takes a `Dialogue` (pipelines/synth_world.py); replies are filled only from the tool
results just returned. Ethics live here: ratings/comments only when the result has real review
data, scarcity only when the result says `low_stock`.
"""

from __future__ import annotations

import dataclasses
import math

from serve.contract import CustomerContext
from serve.core.history import history_product_ids, order_summary, preferred_categories


def short_name(name: str) -> str:
    """How a customer refers to a product: its first two or three words, lowercase."""
    words = name.split()
    return " ".join(words[:3] if len(words) > 2 and words[1].lower() in ("de", "para", "com") else words[:2]).lower()


def hook(desc: str) -> str:
    """The selling point of a description ('Regador 5 L, que deixa as plantas bonitas.' → 'Deixa as plantas bonitas.')."""
    _, sep, rest = desc.partition(", ")
    rest = rest.removeprefix("que ").strip()
    return (rest[:1].upper() + rest[1:]) if sep and rest else ""


def english_category(d, name_pt: str) -> str:
    """'cama, mesa e banho' → 'bed bath table' (the catalogue's English name)."""
    slug = d.w.cat.resolve_category(name_pt)
    return next((c.name_en.replace("_", " ") for c in d.w.cat.categories() if c.slug == slug), name_pt)


def in_stock(items: list[dict]) -> list[int]:
    return [i for i, item in enumerate(items) if not item.get("sold_out")]


def item_line(d, item: dict, rating: bool, scarce: bool) -> str:
    star = f" ⭐{item['score']}" if rating and "score" in item else ""
    stock = d.text("stock_tag", stock=item["stock"]) if scarce and item.get("low_stock") else ""
    return f"\n• {item['name']} — {item['price']}{star}{stock}"


def present(d, items: list[dict], intro: str, **kw) -> None:
    """List search/recommend results: ratings only from real reviews, stock only when the result says low."""
    if not items:
        d.say("consultiva:pergunta", d.text("none"))
        return
    rating = d.rng.random() < 0.5 and any("score" in i for i in items)
    scarce = d.rng.random() < 0.5 and any(i.get("low_stock") for i in items)
    body = d.text(intro, **kw) + "".join(item_line(d, i, rating, scarce) for i in items)
    technique = "cialdini:escassez" if scarce else "cialdini:prova_social" if rating else "aida:interesse"
    d.say(technique, body + "\n" + d.text("ask_pick"))


def search(d, budget: bool = False) -> list[dict]:
    """The customer asks for a product (sometimes with a budget); the assistant searches for it."""
    pid, q = d.pick(d.w.queries[d.lang])
    d.last_query = q
    args = {"query": q}
    if budget:
        reais = int(math.ceil(d.w.cat.get(pid).price_cents / 100 / 10) * 10)  # a round budget above the price
        d.user("search_product", "search_budget", q=q, budget=reais)
        args["max_price"] = reais
    else:
        d.user("search_product", "search", q=q)
    if d.rng.random() < 0.15:
        args["sort"] = d.pick(["price_asc", "rating", "best_selling"])
    return d.call("aida:interesse", ("search_products", args))[0].get("items", [])


def details(d, items: list[dict], idx: int) -> dict:
    """The customer asks about one listed product; the assistant fetches and describes it honestly."""
    d.user("product_details", "details", ord=d.b.ORDINALS[idx])
    p = d.call("aida:interesse", ("get_product", {"product_id": items[idx]["id"]}))[0]
    desc = hook(p["desc"]) if d.lang == "pt" else ""  # descriptions are Portuguese
    parts, technique = [d.text("detail", name=p["name"], price=p["price"], desc=desc).strip()], "aida:desejo"
    if p.get("score", 0) >= 4:  # unprompted praise only from good real ratings (asked: see undecided)
        parts.append(d.text("social", score=p["score"], reviews=p["reviews"]))
        technique = "cialdini:prova_social"
        if "comment" in p and d.rng.random() < 0.6:
            parts.append(d.text("comment", comment=p["comment"]))
    if p.get("low_stock") and d.rng.random() < 0.7:  # scarcity only when the catalogue says so
        parts.append(d.text("scarcity", stock=p["stock"]))
        technique = "cialdini:escassez"
    d.say(technique, *parts, d.text("ask_add"))
    return p


def add(d, item: dict, qty: int = 1, key: str = "add_this", idx: int = 0, complement: bool = False) -> dict:
    """The customer picks a product; the assistant adds it (fixing the quantity if stock is short)."""
    d.user("add_to_cart", key, ord=d.b.ORDINALS[idx], qty=qty)
    calls = [("add_to_cart", {"product_id": item["id"], "quantity": qty} if qty > 1 else {"product_id": item["id"]})]
    if complement:
        calls.append(("recommend", {"product_id": item["id"]}))
    res = d.call("aida:acao", *calls)
    if "error" in res[0]:
        d.say("suporte", d.text("stock_error", error=res[0]["error"]))
        qty = item.get("stock", 1)
        d.user("add_to_cart", "add_fix_qty", qty=qty)
        res = d.call(
            "aida:acao",
            ("add_to_cart", {"product_id": item["id"], "quantity": qty} if qty > 1 else {"product_id": item["id"]}),
        )
    r = res[0]
    added = d.text(
        "added_free" if r.get("free_shipping") else "added",
        qty=r["added"]["qty"],
        name=r["added"]["name"],
        total=r["total"],
        subtotal=r["subtotal"],
        freight=r["freight"],
    )
    if complement and res[1].get("items"):
        c = res[1]["items"][0]
        d.say("aida:desejo", added, d.text("complement", cname=c["name"], cprice=c["price"]))
    else:
        d.say("aida:acao", added, d.text("ask_pay"))
    return r


def pay(d) -> None:
    method = d.pick(list(d.b.PAY_WORDS))
    d.user("checkout", "pay", pay=d.pick(d.b.PAY_WORDS[method]))
    r = d.call("aida:acao", ("checkout", {"payment_method": method}))[0]
    d.say("aida:acao", d.text("checkout", order=r["order"], total=r["total"], link=r["link"]))


def maybe_bye(d, p: float = 0.3) -> None:
    if d.rng.random() < p:
        d.user("thanks_goodbye", "thanks")
        d.say("cialdini:afinidade", d.text("bye"))


def known_customer(d) -> bool:
    """Make this a returning customer with real Olist orders: context, history and order codes."""
    if not d.w.customers:
        return False
    orders = d.pick(d.w.customers)
    past = [p for p, _ in orders]
    d.context = CustomerContext(
        name=d.pick(d.b.NAMES),
        recurring=True,
        last_order=order_summary(past[0], d.w.cat),
        preferred_categories=preferred_categories([], past, d.w.cat),
    )
    d.history = history_product_ids(past)
    for k, (_, info) in enumerate(orders):
        code = f"ZV{d.rng.randrange(10000, 100000)}"
        d.orders[code] = dataclasses.replace(info, order_id=code)
        if k == 0:
            d.orders[""] = d.orders[code]
    return True


def status_line(d, r: dict) -> str:
    """The order's status in words, with only the dates the tool returned."""
    if "error" in r:
        return d.text("order_unknown")
    key = r["status"] if r["status"] in ("delivered", "shipped", "canceled") else "other"
    if (key == "delivered" and "delivered" not in r) or (key in ("shipped", "other") and "eta" not in r):
        return d.text("status_plain", order=r["order"], status=r["status"])
    return d.pick(d.b.BOT["status"][key]).format(order=r["order"], eta=r.get("eta"), delivered=r.get("delivered"))
