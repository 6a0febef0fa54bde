"""Scenario flows of the synthesize stage: each writes one short conversation into a `Dialogue`.

A flow decides what the customer says (intent + phrase key) and which tools the assistant calls with
which arguments; replies are filled only from the tool results just returned. 2–5 assistant replies
per conversation: they are trained on 2 CPU cores, where every token costs SFT time.
"""

from __future__ import annotations

from pipelines.synth_steps import (
    add,
    details,
    english_category,
    in_stock,
    known_customer,
    maybe_bye,
    pay,
    present,
    search,
    short_name,
    status_line,
)
from serve.contract import format_brl, parse_brl_cents

DEFAULT_WEIGHTS = {  # share of conversations per scenario (params.yaml synthesize.scenario_weights overrides)
    "exploration": 0.13,
    "quick_purchase": 0.16,
    "undecided": 0.14,
    "recurring": 0.11,
    "cart_edit": 0.10,
    "support": 0.08,
    "handoff": 0.06,
    "off_topic": 0.07,
    "lgpd": 0.06,
    "order_status": 0.09,
}


# --- the scenarios ------------------------------------------------------------------------------
def exploration(d) -> None:
    if d.rng.random() < 0.4:
        d.user("greeting", "greeting")
        d.say("cialdini:afinidade", d.text("greet"))
    if d.rng.random() < 0.5:  # "what do you sell?": best sellers and top categories
        d.user("browse_categories", "browse")
        r = d.call("aida:atencao", ("recommend", {}))[0]
        names = r["cats"][:3] if d.lang == "pt" else [english_category(d, c) for c in r["cats"][:3]]
        present(d, r["items"], "cats", cats=", ".join(names))
        items, cats = r["items"], r["cats"][:3]
    else:  # straight to a category the customer has in mind
        items, cats = [], [c.name_pt for c in d.w.categories]
    if not items or d.rng.random() < 0.35:
        cat = d.pick(cats) if d.lang == "pt" else english_category(d, d.pick(cats))  # the customer's words
        d.user("browse_categories", "pick_category", cat=cat)
        items = d.call("aida:interesse", ("recommend", {"category": cat}))[0]["items"]
        present(d, items, "list_cat", cat=cat)
    idx = d.rng.randrange(len(items))
    p = details(d, items, idx)
    if d.rng.random() < 0.6 and not p.get("sold_out"):
        add(d, p, complement=True)
    else:
        d.user("decline", "decline")
        d.say("nenhuma", d.text("decline_ok"))  # after a "no": no further push


def quick_purchase(d) -> None:
    items = search(d, budget=d.rng.random() < 0.3)
    present(d, items, "list")
    if not in_stock(items):
        return
    idx = d.pick(in_stock(items))
    item, qty = items[idx], 1
    if item.get("low_stock") and d.rng.random() < 0.4:
        qty = item["stock"] + d.rng.randint(1, 3)  # asks for more than there is: the tool refuses
    elif d.rng.random() < 0.25:
        qty = d.rng.randint(2, 3)
    add(d, item, qty, "add_qty" if qty > 1 else "add", idx)
    if d.rng.random() < 0.2:
        d.user("payment_question", "payment_q")
        d.say("suporte", d.text("payment_info"))
    pay(d)
    maybe_bye(d, 0.25)


def undecided(d) -> None:
    items = search(d)
    present(d, items, "list")
    if not items:
        return
    item = items[0]
    objection = d.pick(["price", "quality", "shipping"])
    if objection == "price":
        d.user("objection_price", "objection_price")
        cheapest = min(parse_brl_cents(i["price"])[0] for i in items)
        args = {
            "query": d.last_query,
            "max_price": max(cheapest // 100 - 1, 1),
            "sort": "price_asc",
        }  # reais, below all shown
        found = d.call("consultiva:pergunta", ("search_products", args))[0].get("items", [])
        if found:
            present(d, found, "cheaper")
            item = found[0]
        else:
            d.say("consultiva:pergunta", d.text("cheapest"))
    elif objection == "quality":
        d.user("objection_quality", "objection_quality")
        p = d.call("cialdini:prova_social", ("get_product", {"product_id": item["id"]}))[0]
        if "score" in p:
            parts = [d.text("social", score=p["score"], reviews=p["reviews"])]
            if "comment" in p:
                parts.append(d.text("comment", comment=p["comment"]))
            d.say("cialdini:prova_social", *parts, d.text("ask_add"))
        else:  # no reviews: say so, and describe the product instead of inventing praise
            d.say("cialdini:autoridade", d.text("no_reviews"), p["desc"], d.text("ask_add"))
    else:
        d.user("objection_shipping", "objection_shipping")
        p = d.call("aida:interesse", ("get_product", {"product_id": item["id"]}))[0]
        key = "shipping_free" if p["freight"] == format_brl(0) else "shipping"
        if key == "shipping" and d.rng.random() < 0.5:  # a useful tip before asking (true of FreightRule)
            d.say(
                "cialdini:reciprocidade",
                d.text(key, name=p["name"], freight=p["freight"]),
                d.text("freight_tip"),
                d.text("ask_add"),
            )
        else:
            d.say("aida:interesse", d.text(key, name=p["name"], freight=p["freight"]), d.text("ask_add"))
    if d.rng.random() < 0.5 and not item.get("sold_out"):
        add(d, item)
        if d.rng.random() < 0.5:
            pay(d)
    else:
        d.user("decline", "decline")
        d.say("nenhuma", d.text("decline_ok"))


def recurring(d) -> None:
    if not known_customer(d):
        return quick_purchase(d)
    if d.rng.random() < 0.5:
        d.user("greeting", "recurring_hi")
    else:
        d.user("recommendation", "reorder")
    r = d.call("cialdini:afinidade", ("recommend", {}))[0]
    again, new = r.get("again", []), r.get("items", [])
    parts = [d.text("hi_name", name=d.context.name)]
    if again:
        parts.append(d.text("reorder", name=again[0]["name"], price=again[0]["price"]))
    if new and (not again or d.rng.random() < 0.5):
        parts.append(d.text("novelty", name=new[0]["name"], price=new[0]["price"]))
    d.say("cialdini:compromisso" if again else "cialdini:afinidade", *parts)
    target = again[0] if again else (new[0] if new else None)
    if target is None or d.rng.random() < 0.2:
        d.user("decline", "decline")
        d.say("nenhuma", d.text("decline_ok"))
        return
    add(d, target)
    pay(d)


def cart_edit(d) -> None:
    items = search(d)
    present(d, items, "list")
    choices = in_stock(items)
    if not choices:
        return
    idx = d.pick(choices)
    item = items[idx]
    qty = min(d.rng.randint(2, 3), item.get("stock", 3))
    add(d, item, qty, "add_qty" if qty > 1 else "add", idx)
    if len(choices) > 1 and d.rng.random() < 0.35:  # a second product from the same list
        idx2 = d.pick([i for i in choices if i != idx])
        add(d, items[idx2], 1, "add", idx2)
    name = short_name(item["name"])
    if qty > 1 and d.rng.random() < 0.6:
        d.user("remove_from_cart", "remove_qty", qty=1, name=name)
        r = d.call("aida:acao", ("remove_from_cart", {"product_id": item["id"], "quantity": 1}))[0]
    else:
        d.user("remove_from_cart", "remove", name=name)
        r = d.call("aida:acao", ("remove_from_cart", {"product_id": item["id"]}))[0]
    d.say("aida:acao", d.text("removed", qty=r["removed"]["qty"], name=r["removed"]["name"], total=r["total"]))
    d.user("view_cart", "view_cart")
    v = d.call("aida:acao", ("view_cart", {}))[0]
    if v["items"]:
        lines = ", ".join(f"{i['qty']}x {i['name']} ({i['price']})" for i in v["items"])
        d.say("aida:acao", d.text("cart", lines=lines, total=v["total"], freight=v["freight"]))
    else:
        d.say("consultiva:pergunta", d.text("cart_empty"))


def support(d) -> None:
    known_customer(d)
    kind = d.pick(["delivery", "quality"])
    d.user_real("complaint", kind, f"complaint_{kind}", share=0.7)
    reason = d.b.COMPLAINT_REASONS[kind]
    if kind == "delivery" and d.orders:
        r = d.call("suporte", ("order_status", {}), content=d.text("sorry"))[0]
        if "error" in r or r["status"] in ("delivered", "canceled"):  # the records contradict the customer
            d.call(
                "suporte",
                ("handoff_to_human", {"reason": reason}),
                content=f"{status_line(d, r)} {d.text('will_handoff')}",
            )
            d.say("suporte", d.text("handoff_done"))
        else:
            d.say("suporte", status_line(d, r))
    else:
        d.call(
            "suporte", ("handoff_to_human", {"reason": reason}), content=f"{d.text('sorry')} {d.text('will_handoff')}"
        )
        d.say("suporte", d.text("handoff_done"))
    maybe_bye(d, 0.2)


def handoff(d) -> None:
    if d.rng.random() < 0.3:
        present(d, search(d), "list")
    if d.rng.random() < 0.5:
        d.user_real("human_request", "human", "human", share=0.4)
        d.call("suporte", ("handoff_to_human", {"reason": d.b.HUMAN_REASON}))
    else:
        text, reason = d.pick(d.b.HANDOFF_TOPICS)
        d.msgs.append({"role": "user", "content": text, "intent": "human_request"})
        d.call("suporte", ("handoff_to_human", {"reason": reason}), content=d.text("will_handoff"))
    d.say("suporte", d.text("handoff_done"))


def off_topic(d) -> None:
    if d.rng.random() < 0.3:
        d.user("greeting", "greeting")
        d.say("cialdini:afinidade", d.text("greet"))
    d.user("off_topic", "off_topic")
    d.say("consultiva:pergunta", d.text("off_topic"))
    if d.rng.random() < 0.7:
        present(d, search(d), "list")


def lgpd(d) -> None:
    if d.rng.random() < 0.6:
        d.user("lgpd", "lgpd_info")
        d.say("suporte", d.text("lgpd_info"))
        if d.rng.random() < 0.4:
            present(d, search(d), "list")
        else:
            maybe_bye(d, 0.6)
    else:
        d.user_real("lgpd", "lgpd_delete", "lgpd_delete", share=0.4)
        d.call("suporte", ("handoff_to_human", {"reason": d.b.LGPD_REASON}), content=d.text("lgpd_delete"))
        d.say("suporte", d.text("handoff_done"))


def order_status(d) -> None:
    if not known_customer(d):
        return support(d)
    codes = [c for c in d.orders if c]
    roll = d.rng.random()
    if roll < 0.5:
        d.user("order_status", "order_status")
        args = {}
    else:
        code = d.pick(codes) if roll < 0.9 else f"ZV{d.rng.randrange(10000, 100000)}"  # 10 %: a wrong code
        d.user("order_status", "order_status_code", code=code)
        args = {"order_id": code}
    r = d.call("suporte", ("order_status", args))[0]
    d.say("suporte", status_line(d, r))
    maybe_bye(d, 0.4)


FLOWS = {
    f.__name__: f
    for f in (
        exploration,
        quick_purchase,
        undecided,
        recurring,
        cart_edit,
        support,
        handoff,
        off_topic,
        lgpd,
        order_status,
    )
}
