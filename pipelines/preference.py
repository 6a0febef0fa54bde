"""Preference pairs for DPO: `chosen` is a real assistant turn, `rejected` a corrupted copy of it.

Row functions used by the build_datasets stage. Every `make_<kind>(msg, ctx, lang, bank, rng, pool)`
returns (rejected assistant message, variant) when the turn is eligible for that kind, else None:

  wrong_tool       first tool call → a plausible other tool, with arguments valid for that tool
  wrong_arguments  same tool, wrong product (preferably one the customer was just shown), wrong
                   quantity / payment method / max_price / query, or a required argument missing
  invented_price   every catalogue price in the reply → an "R$ xx,90" amount no message stated
  pushy            pressure (text bank) after the customer said no or raised an objection
  fake_scarcity    reply + "only 2 left!" when the tool results show no low_stock/sold_out flag
  wrong_language   a plausible reply to the same intent, in the other language (text bank)

Rejected messages stay well-formed OpenAI assistant messages (tool_calls with JSON-string
arguments, same call ids), so the only difference the DPO loss sees is the stated fault.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path

from serve.contract import (
    TOOL_ARGS,
    ToolCallError,
    chat_messages,
    format_brl,
    parse_brl_cents,
    parse_tool_arguments,
)
from serve.contract.money import BRL_PATTERN

KINDS = ("wrong_tool", "wrong_arguments", "invented_price", "pushy", "fake_scarcity", "wrong_language")
DEFAULT_BANK = Path(__file__).resolve().parents[1] / "configs" / "preference_bank.yaml"
SCARCITY_WORDS = re.compile(
    r"últim|ultim|restam|acabando|poucas unidades|only \d+|last \d+|left in stock|selling out", re.I
)


def _walk(obj):
    """Every dict nested in a parsed tool result."""
    if isinstance(obj, dict):
        yield obj
        obj = list(obj.values())
    if isinstance(obj, list):
        for item in obj:
            yield from _walk(item)


def turn_context(prompt: list[dict], raw_user: dict | None) -> dict:
    """What the rejected-makers need to know about the conversation before one assistant turn."""
    since_user = []
    for msg in reversed(prompt):
        if msg["role"] == "user":
            break
        if msg["role"] == "tool":
            try:
                since_user.append(json.loads(msg["content"]))
            except json.JSONDecodeError:
                pass
    ids, amounts = [], set()
    for msg in prompt:
        amounts.update(parse_brl_cents(msg.get("content") or ""))
        if msg["role"] == "tool":
            try:
                ids += [d["id"] for d in _walk(json.loads(msg["content"])) if isinstance(d.get("id"), str)]
            except json.JSONDecodeError:
                pass
    # serve.core.tool_results product summaries: {"id", "name", "price", ..., "reviews", "low_stock"?, "sold_out"?};
    # the flags appear only when stock is really low / zero, so their absence means plenty in stock.
    # Cart lines ({"id","name","qty","price"}) say nothing about stock and do not count.
    shown = [d for r in since_user for d in _walk(r) if "id" in d and "price" in d and "reviews" in d]
    plenty = bool(shown) and not any(d.get("low_stock") or d.get("sold_out") for d in shown)
    return {"intent": (raw_user or {}).get("intent"), "product_ids": ids, "amounts": amounts, "plenty_in_stock": plenty}


def _first_call(msg: dict):
    call = (msg.get("tool_calls") or [None])[0]
    return (
        (call, call["function"]["name"], json.loads(call["function"]["arguments"] or "{}"))
        if call
        else (None, None, None)
    )


def _with_call(msg: dict, name: str, args: dict) -> dict:
    """`msg` with its first tool call replaced by name(args) (same call id, JSON-string arguments)."""
    first = {**msg["tool_calls"][0], "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}
    return {**msg, "tool_calls": [first] + msg["tool_calls"][1:]}


WRONG_TOOL = {  # a plausible confusion for each tool, with arguments valid for the wrong tool
    "search_products": lambda a: ("recommend", {"category": a["category"]} if a.get("category") else {}),
    "get_product": lambda a: ("add_to_cart", {"product_id": a["product_id"], "quantity": 1}),
    "add_to_cart": lambda a: ("get_product", {"product_id": a["product_id"]}),
    "remove_from_cart": lambda a: ("add_to_cart", {"product_id": a["product_id"], "quantity": a.get("quantity") or 1}),
    "view_cart": lambda a: ("checkout", {"payment_method": "pix"}),
    "recommend": lambda a: (
        ("get_product", {"product_id": a["product_id"]})
        if a.get("product_id")
        else ("search_products", {"query": a.get("category") or "mais vendidos", "sort": "best_selling"})
    ),
    "checkout": lambda a: ("view_cart", {}),
    "order_status": lambda a: ("view_cart", {}),
    "handoff_to_human": lambda a: ("order_status", {}),
}


def make_wrong_tool(msg, ctx, lang, bank, rng, pool):
    call, name, args = _first_call(msg)
    if call is None:
        return None
    wrong, wrong_args = WRONG_TOOL[name](args)
    parse_tool_arguments(wrong, wrong_args)  # the wrong call is still a valid call of the wrong tool
    return _with_call(msg, wrong, wrong_args), f"{name}->{wrong}"


def make_wrong_arguments(msg, ctx, lang, bank, rng, pool):
    call, name, args = _first_call(msg)
    if call is None:
        return None
    options = []
    if pid := args.get("product_id"):
        differs = lambda p: not (p.startswith(pid) or pid.startswith(p))  # noqa: E731 (ref vs full id)
        # prefer a product the customer was just shown (the realistic slip), else any catalogue id seen
        others = [p for p in dict.fromkeys(ctx["product_ids"]) if differs(p)]
        others = others or [p for p in rng.sample(pool["product_ids"], min(5, len(pool["product_ids"]))) if differs(p)]
        if others:
            options.append(("wrong_product", {**args, "product_id": rng.choice(others)}))
    if name == "add_to_cart" or (name == "remove_from_cart" and args.get("quantity")):
        q = args.get("quantity") or 1
        options.append(("wrong_quantity", {**args, "quantity": q + rng.choice((1, 2, 4)) if q < 95 else 1}))
    if name == "checkout":
        options.append(
            (
                "wrong_payment",
                {"payment_method": rng.choice([m for m in ("pix", "card", "boleto") if m != args["payment_method"]])},
            )
        )
    if name == "search_products":
        if args.get("max_price"):
            options.append(("wrong_max_price", {**args, "max_price": args["max_price"] * 10}))
        queries = [q for q in pool["queries"] if q.casefold().strip() != args["query"].casefold().strip()]
        if queries:
            options.append(("wrong_query", {**args, "query": rng.choice(queries)}))
    required = [k for k, f in TOOL_ARGS[name].model_fields.items() if f.is_required() and k in args]
    if required:  # still valid JSON naming the right tool, but the server would refuse it
        dropped = rng.choice(required)
        options.append(("missing_argument", {k: v for k, v in args.items() if k != dropped}))
    if not options:
        return None
    # a missing argument is the easy negative (the server refuses it anyway): 1 in 5 when a
    # valid-but-wrong call (the hard negative the model must learn to avoid) is available
    hard = [o for o in options if o[0] != "missing_argument"]
    variant, wrong_args = rng.choice(hard if hard and rng.random() > 0.2 else options)
    return _with_call(msg, name, wrong_args), variant


def make_invented_price(msg, ctx, lang, bank, rng, pool):
    text = msg.get("content") or ""
    if not any(a in ctx["amounts"] for a in parse_brl_cents(text)):
        return None

    def invent(match: re.Match) -> str:
        old = parse_brl_cents(match.group())[0]
        if old not in ctx["amounts"]:  # e.g. the customer's own budget: not a catalogue price
            return match.group()
        base, factor = old, rng.choice((0.5, 0.7, 0.8, 1.2, 1.5))
        while True:  # a "R$ xx,90" price that no message in the prompt ever stated
            new = round(base * factor / 100) * 100 - 10
            if new > 0 and new != old and new not in ctx["amounts"]:
                return format_brl(new)
            base += 100

    return {**msg, "content": BRL_PATTERN.sub(invent, text)}, "price"


def make_pushy(msg, ctx, lang, bank, rng, pool):
    if ctx["intent"] not in pool["pushy_after"]:
        return None
    return {"role": "assistant", "content": rng.choice(bank["pushy"][lang])}, ctx["intent"]


def make_fake_scarcity(msg, ctx, lang, bank, rng, pool):
    text = msg.get("content")
    if not text or msg.get("tool_calls") or not ctx["plenty_in_stock"] or SCARCITY_WORDS.search(text):
        return None
    n = rng.randint(2, 3)  # "only 2 left": plural in both banks
    return {**msg, "content": f"{text} {rng.choice(bank['scarcity'][lang]).format(n=n)}"}, "scarcity"


def make_wrong_language(msg, ctx, lang, bank, rng, pool):
    if not msg.get("content") or msg.get("tool_calls"):
        return None
    other = bank["wrong_language"]["en" if lang == "pt" else "pt"]
    return {"role": "assistant", "content": rng.choice(other.get(ctx["intent"]) or other["default"])}, ctx[
        "intent"
    ] or "default"


MAKERS = {kind: globals()[f"make_{kind}"] for kind in KINDS}


def preference_candidates(record: dict, bank: dict, pool: dict, seed: int) -> list[tuple[dict, str]]:
    """At most one (row, variant) per kind for this conversation, drawn among eligible assistant turns."""
    rng = random.Random(f"{seed}:{record['id']}")  # per record: independent of file order
    msgs = chat_messages(record)
    raw = [None] + record["messages"]  # aligned with msgs (system first); keeps the intent labels
    eligible = defaultdict(list)
    last_user = None
    for k, msg in enumerate(msgs):
        if msg["role"] == "user":
            last_user = raw[k]
        if msg["role"] != "assistant" or msgs[k - 1]["role"] not in ("user", "tool"):
            continue
        ctx = turn_context(msgs[:k], last_user)
        for kind, make in MAKERS.items():
            try:
                made = make(msg, ctx, record["language"], bank, rng, pool)
            except ToolCallError:
                made = None
            if made:
                eligible[kind].append((k, *made))
    rows = []
    for kind in KINDS:
        if eligible[kind]:
            k, rejected, variant = rng.choice(eligible[kind])
            row = {
                "id": f"{record['id']}:{k}:{kind}",
                "kind": kind,
                "prompt": msgs[:k],
                "chosen": [msgs[k]],
                "rejected": [rejected],
            }
            rows.append((row, variant))
    return rows


def balance(candidates: list[tuple[dict, str]], max_per_kind: int | None, seed: int) -> list[tuple[dict, str]]:
    """The same number of pairs for every kind present (the rarest kind's count, capped), shuffled."""
    by_kind = defaultdict(list)
    for cand in candidates:
        by_kind[cand[0]["kind"]].append(cand)
    if not by_kind:
        return []
    n = min(len(v) for v in by_kind.values())
    n = min(n, max_per_kind) if max_per_kind else n
    rng = random.Random(seed)
    rows = [c for kind in KINDS if kind in by_kind for c in rng.sample(by_kind[kind], n)]
    rng.shuffle(rows)
    return rows
