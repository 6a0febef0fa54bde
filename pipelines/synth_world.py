"""The synthesize stage's world and dialogue: what conversations draw from and how one is written.

`World` holds the catalogue, the products a customer may ask for (with a search keyword that is
checked to find something), real customers' Olist orders (for recurring/order-status/support
conversations) and real customer texts from the support examples. `Dialogue` is one conversation
being written: it runs every tool call through the real shared logic (serve.core.tool_results on an
in-memory cart), so tool results in training data are exactly what the bot returns at serving.
`noisy()` turns a phrase-bank text into a WhatsApp-style message.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter, defaultdict

import pandas as pd

from pipelines import phrases_en, phrases_pt
from serve.contract import parse_tool_arguments, tool_call
from serve.core import tool_results as tr
from serve.core.cart_math import price_cart
from serve.core.catalog import Catalogue, normalize
from serve.core.history import PastOrder

BANKS = {"pt": phrases_pt, "en": phrases_en}
# support examples → the customer texts they can stand in for (matched on original_intent, else intent):
# Olist complaint classes/subclasses (pt), Bitext intents (en)
REAL_TEXT_KINDS = (
    ("delivery", ("problemas_de_entrega", "atrasad", "track_order")),
    ("quality", ("problemas_de_qualidade", "complaint", "get_refund", "cancel_order")),
    ("human", ("contact_human_agent", "contact_customer_service", "human_request")),
    ("lgpd_delete", ("delete_account",)),
)
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

    def __init__(
        self, catalogue: Catalogue, histories: pd.DataFrame | None, support: pd.DataFrame | None, pool_size: int = 1500
    ):
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
        # categories a browsing customer may name: the 15 best-selling ones with 3+ products in stock
        self.categories = [c for c in catalogue.categories() if len(catalogue.popular(c.slug, 3)) == 3][:15]
        self.customers = self._customers(histories)
        self.real_texts = self._real_texts(support)

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
            info = tr.OrderInfo(
                "",
                str(r.order_status),
                when,
                r.estimated_delivery,
                r.delivered_at,
                [self.cat.get(x).name for x in o["items"]],
            )
            by_customer[o["customer"]].append((past, info))
        return [sorted(v, key=lambda x: x[0].purchased_at, reverse=True) for _, v in sorted(by_customer.items())]

    @staticmethod
    def _real_texts(df: pd.DataFrame | None) -> dict[tuple[str, str], list[str]]:
        """(language, kind) → short real customer texts from the support examples."""
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        if df is None:
            return out
        labels = df["original_intent"].fillna(df["intent"]) if "original_intent" in df.columns else df["intent"]
        for text, label, lang in zip(df["text"], labels.astype(str), df["language"]):
            text = re.sub(
                r"\{\{[^}]*\}\}|\b\d{6,}\b", "{code}", " ".join(str(text).split())
            )  # Bitext slots, order numbers
            kind = next((k for k, hints in REAL_TEXT_KINDS if any(h in label for h in hints)), None)
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

    def user_real(self, intent: str, kind: str, key: str, share: float = 0.6, **kw) -> None:
        """A real customer text of this kind (support examples) `share` of the time, else a phrase-bank one."""
        real = self.w.real_texts.get((self.lang, kind), [])
        text = self.pick(real) if real and self.rng.random() < share else None
        code = next((c for c in self.orders if c), None)
        if text is None or ("{code}" in text and code is None):
            return self.user(intent, key, **kw)
        self.msgs.append({"role": "user", "content": text.replace("{code}", code or ""), "intent": intent})

    def text(self, key: str, **kw) -> str:
        return self.pick(self.b.BOT[key]).format(**kw)

    def say(self, technique: str, *parts: str) -> None:
        self.msgs.append({"role": "assistant", "content": " ".join(p for p in parts if p), "technique": technique})

    def call(self, technique: str, *calls: tuple[str, dict], content: str | None = None) -> list[dict]:
        """One assistant message with these tool calls, each answered by running the real tool logic."""
        n = sum(m["role"] == "tool" for m in self.msgs)
        ids = [f"call_{n + k + 1}" for k in range(len(calls))]
        self.msgs.append(
            {
                "role": "assistant",
                "content": content,
                "technique": technique,
                "tool_calls": [tool_call(i, name, args) for i, (name, args) in zip(ids, calls)],
            }
        )
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
