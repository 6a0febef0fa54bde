"""Stage `synthesize`: seeded synthetic WhatsApp sales conversations (contract records) grounded in the catalogue.

Every tool result in a conversation is computed by the real shared logic (serve.catalog,
serve.cart_math, serve.tool_results) on an in-memory cart, so training data and the serving bot
see identical results; every price/total/stock/date the assistant states is copied from one.
Conversation i is generated from random.Random(f"{seed}:{i}") alone: same params → same bytes.

Scenario flows live in pipelines/synth_flows.py; phrase banks in phrases_pt.py / phrases_en.py.
Ethics encoded in the flows: social proof only from real review data in a tool result, scarcity
only when the result says `low_stock`, no product push after the customer says no.

  python -m pipelines.synthesize --catalogue data/processed/catalogue --support data/processed/support \
      --out data/interim/conversations.jsonl --metrics metrics/synthesize.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import yaml
from tqdm import tqdm

from pipelines import phrases_en, phrases_pt
from serve import tool_results as tr
from serve.cart_math import price_cart
from serve.catalog import Catalogue, normalize
from serve.contract import Conversation, parse_brl_cents, parse_tool_arguments, tool_call, write_jsonl
from serve.customers import PastOrder

log = logging.getLogger("synthesize")
BANKS = {"pt": phrases_pt, "en": phrases_en}
HISTORY_COLUMNS = ("customer_unique_id", "order_id", "product_id", "purchased_at", "order_status",
                   "estimated_delivery", "delivered_at")  # fmt: skip
SUPPORT_COLUMNS = ("text", "intent", "language")
# support intents → complaint kind (Olist complaint classes/subclasses in pt, Bitext intents in en)
DELIVERY_HINTS = ("entrega", "atrasad", "outro_pedido", "track_order", "delivery_period")
QUALITY_HINTS = ("qualidade", "anunciado", "devolu", "complaint", "get_refund", "cancel_order")
PREP_WORDS = {"de", "para", "do", "da", "com", "sem"}


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip (swap, drop or double a letter) in one word of 4+ letters."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    w, j = words[i], rng.randrange(1, len(words[i]) - 1)
    words[i] = rng.choice([w[:j] + w[j + 1] + w[j] + w[j + 2 :], w[:j] + w[j + 1 :], w[:j] + w[j] + w[j:]])
    return " ".join(words)


def noisy(text: str, rng: random.Random, bank) -> str:
    """WhatsApp style: lowercase, dropped accents, slang ('vc', 'qto', 'blz'), a typo, no final mark, emoji."""
    r = rng.random
    if r() < 0.5:
        text = text.lower()
    if r() < 0.35:
        text = strip_accents(text)
    if r() < 0.45:
        for word, slang in bank.SLANG:
            if r() < 0.6:
                text = re.sub(rf"\b{word}\b", slang, text)
    if r() < 0.15:
        text = typo(text, rng)
    if r() < 0.3:
        text = text.rstrip("?!.")
    if r() < 0.15:
        text = f"{text} {rng.choice(bank.EMOJI)}"
    return text.strip()


class World:
    """What conversations draw from: the catalogue, shoppable products, real orders, real complaint texts."""

    def __init__(self, catalogue: Catalogue, histories: pd.DataFrame | None, support: pd.DataFrame | None,
                 pool_size: int = 1500):  # fmt: skip
        self.cat = catalogue
        # products a customer may ask for: best sellers in stock, keyword pre-checked against search
        self.queries: dict[str, list[tuple[str, str]]] = {"pt": [], "en": []}
        for p in catalogue.products[:pool_size]:
            if p.stock <= 0:
                continue
            words = p.name.split()
            pt = " ".join(words[:3] if len(words) > 2 and normalize(words[1]) in PREP_WORDS else words[:1]).lower()
            en = phrases_en.CATEGORY_WORDS.get(p.category, p.category_en.replace("_", " "))
            for lang, q in (("pt", pt), ("en", en)):
                if catalogue.search(q, limit=1):
                    self.queries[lang].append((p.product_id, q))
        if not self.queries["pt"]:
            raise ValueError("catalogue: no product in stock is found by a search on its own name")
        self.customers = self._customers(histories)
        self.complaints = self._complaints(support)

    def _customers(self, df: pd.DataFrame | None) -> list[list[tuple[PastOrder, tr.OrderInfo]]]:
        """Customers whose ordered products are all in the catalogue, each with orders newest first."""
        if df is None or df.empty:
            return []
        orders: dict[str, dict] = {}
        for r in df.sort_values(["customer_unique_id", "order_id"]).itertuples(index=False):
            o = orders.setdefault(r.order_id, {"customer": r.customer_unique_id, "row": r, "items": Counter()})
            o["items"][str(r.product_id)] += 1  # Olist repeats a row per unit
        by_customer: dict[str, list] = defaultdict(list)
        for oid, o in orders.items():
            if any(self.cat.get(x) is None for x in o["items"]):
                continue
            r, when = o["row"], pd.Timestamp(o["row"].purchased_at).to_pydatetime()
            past = PastOrder(str(oid), when, tuple(o["items"]), tuple(o["items"].values()), "olist")
            info = tr.OrderInfo("", str(r.order_status), when, r.estimated_delivery, r.delivered_at,
                                [self.cat.get(x).name for x in o["items"]])  # fmt: skip
            by_customer[o["customer"]].append((past, info))
        return [sorted(v, key=lambda x: x[0].purchased_at, reverse=True) for _, v in sorted(by_customer.items())]

    @staticmethod
    def _complaints(df: pd.DataFrame | None) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        if df is None:
            return out
        for text, intent, lang in zip(df["text"], df["intent"], df["language"]):
            text, intent = " ".join(str(text).split()), str(intent)
            text = re.sub(r"\{\{[^}]*\}\}|\b\d{6,}\b", "{code}", text)  # Bitext placeholders / order numbers
            kind = ("delivery" if any(h in intent for h in DELIVERY_HINTS)
                    else "quality" if any(h in intent for h in QUALITY_HINTS) else None)  # fmt: skip
            if kind and 12 <= len(text) <= 140 and "{" not in text.replace("{code}", ""):
                out[(lang, kind)].append(text)
        return out


class Dialogue:
    """One conversation being written: messages plus the in-memory cart/orders the real tool logic runs on."""

    def __init__(self, world: World, rng: random.Random, lang: str):
        self.w, self.rng, self.lang, self.b = world, rng, lang, BANKS[lang]
        self.msgs: list[dict] = []
        self.cart: tuple = ()
        self.context = None  # CustomerContext of a known customer
        self.history: list[str] = []  # purchased product ids, newest first (recommend)
        self.orders: dict[str, tr.OrderInfo] = {}  # code → order; "" = the last one
        self.last_query = ""  # query of the last search the customer asked for

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def user(self, intent: str, key: str, **kw) -> None:
        """A customer message; values in kw (codes, amounts) are inserted after the noise, intact."""
        slots = {k: f"§{i}§" for i, k in enumerate(kw)}
        text = noisy(self.pick(self.b.USER[key]).format(**slots), self.rng, self.b)
        for k, v in kw.items():
            text = text.replace(slots[k], str(v))
        self.msgs.append({"role": "user", "content": text, "intent": intent})

    def text(self, key: str, **kw) -> str:
        return self.pick(self.b.BOT[key]).format(**kw)

    def say(self, technique: str, *parts: str) -> None:
        self.msgs.append({"role": "assistant", "content": " ".join(p for p in parts if p), "technique": technique})

    def call(self, technique: str, *calls: tuple[str, dict], content: str | None = None) -> list[dict]:
        """One assistant message with these tool calls, each answered by running the real tool logic."""
        n = sum(m["role"] == "tool" for m in self.msgs)
        ids = [f"call_{n + k + 1}" for k in range(len(calls))]
        self.msgs.append({"role": "assistant", "content": content, "technique": technique,
                          "tool_calls": [tool_call(i, name, args) for i, (name, args) in zip(ids, calls)]})  # fmt: skip
        results = []
        for i, (name, args) in zip(ids, calls):
            result = self.run(name, parse_tool_arguments(name, args))
            self.msgs.append({"role": "tool", "tool_call_id": i, "name": name, "content": tr.dumps(result)})
            results.append(result)
        return results

    def run(self, name: str, a) -> dict:
        cat = self.w.cat
        if name == "search_products":
            return tr.search_products(cat, a)
        if name == "get_product":
            return tr.get_product(cat, a)
        if name == "recommend":
            return tr.recommend(cat, a, history=self.history)
        if name == "add_to_cart":
            self.cart, result = tr.add_to_cart(cat, self.cart, a)
            return result
        if name == "remove_from_cart":
            self.cart, result = tr.remove_from_cart(cat, self.cart, a)
            return result
        if name == "view_cart":
            return tr.view_cart(self.cart, cat)
        if name == "checkout":
            if not self.cart:
                return tr.error("o carrinho está vazio")
            code, total = f"ZV{self.rng.randrange(10000, 100000)}", price_cart(self.cart).total_cents
            self.cart = ()
            return tr.checkout_result(code, total, a.payment_method, f"https://pay.zapvendas.com.br/{code}")
        if name == "order_status":
            return tr.order_status_result(self.orders.get((a.order_id or "").upper()))
        if name == "handoff_to_human":
            return tr.handoff_result()
        raise ValueError(f"no synthetic executor for tool {name!r}")


def ungrounded_amounts(row: dict) -> list[tuple[int, int]]:
    """(message index, cents) of every R$ amount an assistant states that no earlier tool result holds."""
    known: set[int] = set()
    bad = []
    for i, m in enumerate(row["messages"]):
        if m["role"] == "tool":
            known.update(parse_brl_cents(m["content"]))
        elif m["role"] == "assistant" and m.get("content"):
            bad += [(i, c) for c in parse_brl_cents(m["content"]) if c not in known]
    return bad


def trim(msgs: list[dict], max_replies: int) -> list[dict]:
    """Cut before the (max_replies+1)-th customer message: at most max_replies assistant replies."""
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    return msgs[: users[max_replies]] if len(users) > max_replies else msgs


def generate(world: World, n: int, english_share: float, seed: int, weights: dict[str, float], max_replies: int = 5):
    """Yield n contract records; conversation i depends only on (seed, i) and the world."""
    from pipelines.synth_flows import FLOWS

    names, w = list(weights), list(weights.values())
    for i in tqdm(range(n), desc="synthesize", unit="conv", mininterval=2):
        rng = random.Random(f"{seed}:{i}")
        lang = "en" if rng.random() < english_share else "pt"
        scenario = rng.choices(names, w)[0]
        d = Dialogue(world, rng, lang)
        FLOWS[scenario](d)
        ctx = d.context.model_dump() if d.context is not None else None
        yield {"id": f"c{i:06d}", "scenario": scenario, "language": lang, "context": ctx, "messages": trim(d.msgs, max_replies)}


def metrics(rows: list[dict], seconds: float) -> dict:
    c = {k: Counter() for k in ("scenario", "language", "technique", "intent", "tool")}
    turns, replies = [], []
    for r in rows:
        c["scenario"][r["scenario"]] += 1
        c["language"][r["language"]] += 1
        turns.append(sum(m["role"] == "assistant" for m in r["messages"]))
        replies.append(sum(m["role"] == "user" for m in r["messages"]))  # one reply per customer message
        for m in r["messages"]:
            for key in ("technique", "intent"):
                if m.get(key):
                    c[key][m[key]] += 1
            for call in m.get("tool_calls") or []:
                c["tool"][call["function"]["name"]] += 1
    n = max(len(rows), 1)
    return {"conversations": len(rows), "seconds": round(seconds, 2),
            "mean_assistant_replies": round(sum(replies) / n, 3), "max_assistant_replies": max(replies, default=0),
            "mean_assistant_messages": round(sum(turns) / n, 3), "max_assistant_messages": max(turns, default=0), **{k: dict(sorted(v.items())) for k, v in c.items()}}  # fmt: skip


def read_inputs(catalogue_dir: Path, support_dir: Path | None):
    catalogue = Catalogue.load(catalogue_dir)
    hist_path = catalogue_dir / "histories.parquet"
    histories = pd.read_parquet(hist_path) if hist_path.exists() else None
    if histories is not None and (missing := [c for c in HISTORY_COLUMNS if c not in histories.columns]):
        raise ValueError(f"{hist_path}: missing column(s) {', '.join(missing)}")
    support = None
    if support_dir is not None:
        path = support_dir / "examples.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: not found (run the support stage first)")
        support = pd.read_parquet(path)
        if missing := [c for c in SUPPORT_COLUMNS if c not in support.columns]:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return catalogue, histories, support


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalogue", type=Path, required=True)
    ap.add_argument("--support", type=Path, default=None, help="support stage dir (examples.parquet)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--n", type=int, default=None, help="override synthesize.n_conversations")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = yaml.safe_load(args.params.read_text())["synthesize"]
    from pipelines.synth_flows import DEFAULT_WEIGHTS

    weights = {**DEFAULT_WEIGHTS, **(p.get("scenario_weights") or {})}
    t0 = time.perf_counter()
    world = World(*read_inputs(args.catalogue, args.support), pool_size=int(p.get("pool_size", 1500)))
    rows = []
    n = args.n or int(p["n_conversations"])
    for row in generate(world, n, float(p["english_share"]), int(p["seed"]), weights, int(p.get("max_replies", 5))):
        Conversation.model_validate(row)  # every record passes the contract, or the stage fails here
        if bad := ungrounded_amounts(row):
            raise AssertionError(f"{row['id']}: assistant states amounts no tool returned: {bad}")
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out, rows)
    m = metrics(rows, time.perf_counter() - t0)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n")
    log.info("wrote %d conversations to %s in %.1f s", len(rows), args.out, m["seconds"])


if __name__ == "__main__":
    main()
