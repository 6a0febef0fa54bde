"""The product catalogue in memory: search, lookup, complements, popular products, review snippets.

Shared by the synthesize stage (training data) and the bot (serving), so the products, prices and
rankings the model sees while training are exactly what the tools return in production.

Loaded from the `catalogue/` directory written by the ingest stage:
  products.parquet   one row per product (columns: PRODUCT_COLUMNS), sorted by sales_rank
  reviews.parquet    product_id, review_score, comment, created_at          (optional file)
  copurchase.parquet product_id, other_product_id, count (both directions)  (optional file)

Search is plain in-memory text matching (no external engine): accent-insensitive tokens with a
light Portuguese/English plural/gender stemmer, an inverted index over name (weight 3), category
(2) and description (1), inverse-document-frequency weights, and close-match expansion of
unknown query words (typos). ~33k Olist products index in about a second; a query takes ~1 ms.
Category and price are hard filters; inside a category the customer chose, the words rank rather
than exclude (a "presente" in skin care is still skin care). Ranking: words matched, then text score
plus a quality bonus from reviews and sales, then sales rank. Customers' free text becomes these
arguments in serve/core/shopping_request.py.

Product ids: Olist ids are 32 hex characters (~20 tokens each time the model reads or writes one).
Every product also gets `ref`, the shortest common prefix length (>= 8) that is unique in this
catalogue; tool results show `ref` and `get()` accepts either the full id or the ref.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

PRODUCT_COLUMNS = (
    "product_id",
    "category",
    "category_pt",
    "category_en",
    "name",
    "description",
    "price_cents",
    "freight_cents",
    "review_count",
    "review_score",
    "stock",
    "sales_count",
    "sales_rank",
)
REVIEW_COLUMNS = ("product_id", "review_score", "comment")
COPURCHASE_COLUMNS = ("product_id", "other_product_id", "count")
SORTS = ("relevance", "price_asc", "price_desc", "rating", "best_selling")
LOW_STOCK_THRESHOLD = 5  # units; params.yaml ingest.low_stock_threshold uses the same default
MIN_REF_LEN = 8  # 16**8 ≈ 4.3e9 prefixes: collisions are rare among ~33k products
# rating sort: Bayesian mean, so one 5-star review does not beat two hundred 4.6-star ones
RATING_PRIOR_MEAN, RATING_PRIOR_WEIGHT = 4.0, 5
# relevance: quality (0..1: half Bayesian rating, half log sales) is worth this much text score: it
# orders products the words match about equally well, and is small next to a name match (one name
# word weighs 3 × idf, and idf = log(1 + products / products with the word) is 2-10 on Olist)
QUALITY_WEIGHT = 2.0

STOPWORDS = frozenset(
    "a o as os um uma uns umas de da do das dos e em no na nos nas para pra pro com sem por que "
    "tem tens ter quero queria gostaria procuro procurando preciso algum alguma vc voce voces me "
    "mim meu minha ai oi ola bom boa tipo coisa the an of for with and or to in on some any i "
    "want need looking do you have is are my".split()
)


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


class CatalogueError(ValueError):
    """A catalogue directory that cannot be loaded; the message names the file and column."""


class UnknownCategoryError(LookupError):
    """`search(category=...)` got a category that matches none; `str()` is pt-BR, safe for the model."""


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str  # full Olist id
    ref: str  # short unique prefix of product_id shown to the model
    name: str  # pt-BR
    description: str  # pt-BR, short
    category: str  # pt slug, e.g. "cama_mesa_banho"
    category_pt: str  # "cama, mesa e banho"
    category_en: str  # "bed bath table"
    price_cents: int
    freight_cents: int  # median freight of one unit
    review_count: int
    review_score: float | None  # mean 1..5, None without reviews
    stock: int  # units
    sales_count: int
    sales_rank: int  # 1 = best seller


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name_pt: str
    name_en: str
    products: int  # number of products
    sales: int  # items sold (sum of sales_count)


@dataclass(frozen=True, slots=True)
class Review:
    score: int  # 1..5
    comment: str  # pt-BR, PII-scrubbed by ingest


def normalize(text: str) -> str:
    """Lowercase, accents stripped, only [a-z0-9 ]: 'Cama, Mesa & Banho!' → 'cama mesa banho'."""
    text = unicodedata.normalize("NFKD", str(text).lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Stemming-lite: plural and gender endings off (pt first, works for most English plurals too).

    'colchões'→'colchao' 'lençóis'→'lencol' 'toalhas'→'toalh' 'toalha'→'toalh' 'cables'→'cabl'.
    Query and index go through the same function, so over-stemming only merges near-synonyms.
    """
    w = word
    if len(w) <= 3 or w.isdigit():
        return w
    for suffix, repl in (
        ("oes", "ao"),
        ("aes", "ao"),
        ("ais", "al"),
        ("eis", "el"),
        ("ois", "ol"),
        ("ns", "m"),
        ("res", "r"),
        ("zes", "z"),
        ("ies", "y"),
    ):
        if w.endswith(suffix) and len(w) > len(suffix) + 2:
            w = w[: -len(suffix)] + repl
            break
    else:
        if w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
    if len(w) > 4 and w[-1] in "aoe":  # gender / final vowel: 'pequena'≈'pequeno', 'cable'≈'cabl'
        w = w[:-1]
    return w


def tokens(text: str) -> list[str]:
    """Stems of the meaningful words of `text` (stopwords dropped)."""
    return [stem(t) for t in normalize(text).split() if t not in STOPWORDS and len(t) > 1]


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], path: Path) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise CatalogueError(f"{path}: missing column(s) {', '.join(missing)} (have: {', '.join(df.columns)})")


class Catalogue:
    """In-memory catalogue. Build with `Catalogue.load(dir)` or `Catalogue(products_df, ...)`."""

    def __init__(
        self,
        products: pd.DataFrame,
        reviews: pd.DataFrame | None = None,
        copurchase: pd.DataFrame | None = None,
        low_stock_threshold: int = LOW_STOCK_THRESHOLD,
        source: str = "products",
    ):
        _check_columns(products, PRODUCT_COLUMNS, Path(source))
        if products["product_id"].duplicated().any():
            dup = products.loc[products["product_id"].duplicated(), "product_id"].iloc[0]
            raise CatalogueError(f"{source}: column product_id has duplicates (e.g. {dup!r})")
        for col in ("price_cents", "stock"):
            if (pd.to_numeric(products[col], errors="coerce").fillna(-1) < 0).any():
                raise CatalogueError(f"{source}: column {col} has missing or negative values")
        self.low_stock_threshold = low_stock_threshold
        products = products.sort_values(["sales_rank", "product_id"], kind="stable")
        ids = products["product_id"].astype(str).tolist()
        ref_len = MIN_REF_LEN
        while len({i[:ref_len] for i in ids}) < len(ids):
            ref_len += 1
        self.products: list[Product] = [
            Product(
                product_id=pid,
                ref=pid[:ref_len],
                name=str(r.name),
                description=str(r.description),
                category=str(r.category),
                category_pt=str(r.category_pt),
                category_en=str(r.category_en),
                price_cents=int(r.price_cents),
                freight_cents=int(r.freight_cents),
                review_count=int(r.review_count),
                review_score=None if pd.isna(r.review_score) else round(float(r.review_score), 1),
                stock=int(r.stock),
                sales_count=int(r.sales_count),
                sales_rank=int(r.sales_rank),
            )
            for pid, r in zip(ids, products.itertuples(index=False))
        ]
        self._by_id = {p.product_id: i for i, p in enumerate(self.products)}
        self._by_id.update({p.ref: i for i, p in enumerate(self.products)})
        self._build_index()
        self._build_categories()
        self._reviews = self._group_reviews(reviews)
        self._copurchase, self._cat_affinity = self._group_copurchase(copurchase)

    @classmethod
    def load(cls, directory: str | Path, low_stock_threshold: int = LOW_STOCK_THRESHOLD) -> Catalogue:
        """Read products.parquet (required), reviews.parquet and copurchase.parquet (optional)."""
        directory = Path(directory)
        path = directory / "products.parquet"
        if not path.exists():
            raise CatalogueError(f"{path}: not found (run the ingest stage first)")
        optional = {}
        for name, cols in (("reviews", REVIEW_COLUMNS), ("copurchase", COPURCHASE_COLUMNS)):
            p = directory / f"{name}.parquet"
            if p.exists():
                optional[name] = pd.read_parquet(p)
                _check_columns(optional[name], cols, p)
        return cls(pd.read_parquet(path), low_stock_threshold=low_stock_threshold, source=str(path), **optional)

    # --- indexes ---------------------------------------------------------------------------
    def _build_index(self) -> None:
        # stem → {product index: best field weight}; name 3, category 2, description 1
        index: dict[str, dict[int, float]] = defaultdict(dict)
        for i, p in enumerate(self.products):
            for text, weight in ((p.description, 1.0), (f"{p.category_pt} {p.category_en}", 2.0), (p.name, 3.0)):
                for t in tokens(text):
                    if index[t].get(i, 0.0) < weight:
                        index[t][i] = weight
        n = len(self.products)
        self._idf = {t: math.log(1 + n / len(post)) for t, post in index.items()}
        # stem → (product indices, field weights): numpy postings, so a query is a few vector ops
        self._index = {
            t: (np.fromiter(post, np.int64, len(post)), np.fromiter(post.values(), np.float64, len(post)))
            for t, post in index.items()
        }
        self._price = np.array([p.price_cents for p in self.products], dtype=np.int64)
        self._rating = np.array([self.rating_rank_value(p) for p in self.products])
        sales = np.log1p(np.array([max(p.sales_count, 0) for p in self.products], dtype=np.float64))
        self._quality = 0.5 * (self._rating - 1) / 4 + 0.5 * sales / max(sales.max(initial=0.0), 1.0)
        slugs = sorted({p.category for p in self.products})
        self._cat_id = {slug: k for k, slug in enumerate(slugs)}
        self._cat = np.array([self._cat_id[p.category] for p in self.products], dtype=np.int64)
        self._vocab_by_first: dict[str, list[str]] = defaultdict(list)
        for t in sorted(index):
            self._vocab_by_first[t[0]].append(t)
        self._typo_cache: dict[str, list[str]] = {}
        # the kinds of product: the first meaningful word of a name ("Blocos de Montar ..." → bloc)
        self._kinds = {head for p in self.products for head in tokens(p.name)[:1]}

    def _build_categories(self) -> None:
        counts, sales, names = Counter(), Counter(), {}
        for p in self.products:
            counts[p.category] += 1
            sales[p.category] += p.sales_count
            names[p.category] = (p.category_pt, p.category_en)
        self._categories = sorted(
            (Category(s, names[s][0], names[s][1], counts[s], sales[s]) for s in counts),
            key=lambda c: (-c.sales, c.slug),
        )
        self._category_keys = {}  # normalized slug / pt / en name → slug
        for c in self._categories:
            for key in (c.slug.replace("_", " "), c.name_pt, c.name_en.replace("_", " ")):
                self._category_keys.setdefault(normalize(key), c.slug)

    def _group_reviews(self, reviews: pd.DataFrame | None) -> dict[int, list[Review]]:
        grouped: dict[int, list[Review]] = defaultdict(list)
        if reviews is None or reviews.empty:
            return grouped
        if "created_at" in reviews.columns:  # newest first: the freshest real opinions
            reviews = reviews.sort_values("created_at", ascending=False, kind="stable")
        for pid, score, comment in zip(reviews["product_id"], reviews["review_score"], reviews["comment"]):
            i = self._by_id.get(str(pid))
            if i is not None and isinstance(comment, str) and comment.strip():
                grouped[i].append(Review(int(score), " ".join(comment.split())))
        return grouped

    def _group_copurchase(self, cop: pd.DataFrame | None):
        partners: dict[int, list[tuple[int, int]]] = defaultdict(list)
        affinity: dict[str, Counter] = defaultdict(Counter)  # category → co-bought categories
        if cop is None or cop.empty:
            return partners, affinity
        for a, b, n in zip(cop["product_id"], cop["other_product_id"], cop["count"]):
            ia, ib = self._by_id.get(str(a)), self._by_id.get(str(b))
            if ia is None or ib is None or ia == ib:
                continue
            partners[ia].append((int(n), ib))
            ca, cb = self.products[ia].category, self.products[ib].category
            if ca != cb:
                affinity[ca][cb] += int(n)
        for lst in partners.values():
            lst.sort(key=lambda x: (-x[0], self.products[x[1]].sales_rank))
        return partners, affinity

    # --- public API -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.products)

    def get(self, product_id: str) -> Product | None:
        """The product with this full id or short ref; None when unknown."""
        i = self._by_id.get(str(product_id).strip())
        return None if i is None else self.products[i]

    def categories(self) -> list[Category]:
        """All categories, best-selling first."""
        return list(self._categories)

    def exact_category(self, text: str | None) -> str | None:
        """The slug whose slug, pt or en name is `text` (case, accents and punctuation aside); else None."""
        return self._category_keys.get(normalize(text)) if text else None

    def names_a_kind(self, word: str) -> bool:
        """Whether `word` (plural or singular) starts some product's name: a kind of product sold here."""
        return stem(normalize(word)) in self._kinds

    def resolve_category(self, text: str | None) -> str | None:
        """Category slug for a slug, pt or en name, loosely typed ('Cama mesa e banho', 'bed_bath'); else None."""
        if not text:
            return None
        key = normalize(text)
        if key in self._category_keys:
            return self._category_keys[key]
        close = difflib.get_close_matches(key, list(self._category_keys), n=1, cutoff=0.75)
        if close:
            return self._category_keys[close[0]]
        want = set(tokens(text))  # word overlap: 'moveis' → 'moveis_decoracao'
        best = max(
            self._category_keys.items(),
            key=lambda kv: (len(want & set(tokens(kv[0]))), -len(kv[0])),
            default=None,
        )
        if best and want & set(tokens(best[0])):
            return best[1]
        return None

    def _expand(self, t: str) -> list[tuple[str, float]]:
        """A query stem → index stems with a confidence (1.0 exact, 0.8 close spelling / prefix)."""
        if t in self._index:
            return [(t, 1.0)]
        if len(t) < 4:
            return []
        if t not in self._typo_cache:
            # difflib ratio >= 0.8 among stems with the same first letter, else stems extending it
            vocab = self._vocab_by_first.get(t[0], [])
            close = difflib.get_close_matches(t, vocab, n=2, cutoff=0.8)
            if len(close) == 2 and _ratio(t, close[1]) < _ratio(t, close[0]):
                close = close[:1]  # "barac": "barrac" only, not also "branc", a colour in many names
            if not close and len(t) >= 5:
                close = [v for v in vocab if v.startswith(t)][:2]
            self._typo_cache[t] = close
        return [(m, 0.8) for m in self._typo_cache[t]]

    def search(
        self,
        query: str = "",
        category: str | None = None,
        max_price_cents: int | None = None,
        sort: str = "relevance",
        limit: int = 5,
        categories: Collection[str] | None = None,
    ) -> list[Product]:
        """Products matching `query` (all of them when it has no meaningful word), filtered and sorted.

        category: one category, by slug or name (fuzzy); categories: slugs, any of them (unknown
        slugs match nothing). With either, the words only rank when no product there has any of them.
        Raises UnknownCategoryError when `category` resolves to no catalogue category, ValueError on
        an unknown sort. Products out of stock are still returned (the tool result says so).
        """
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
        slug = None
        if category:
            slug = self.resolve_category(category)
            if slug is None:
                raise UnknownCategoryError(f"categoria não encontrada: {category!r}")
        n = len(self.products)
        mask = np.ones(n, dtype=bool)
        if slug is not None:
            mask &= self._cat == self._cat_id[slug]
        if categories is not None:
            mask &= np.isin(self._cat, [self._cat_id[c] for c in categories if c in self._cat_id])
        if max_price_cents is not None:
            mask &= self._price <= max_price_cents
        matched, score = self._match(query)
        if matched is not None:
            if (slug is None and categories is None) or (mask & (matched > 0)).any():
                mask &= matched > 0
            if sort != "relevance" and mask.any():  # "cheapest câmera guará": cameras of Guará, not any Guará
                mask &= matched >= matched[mask].max()
        cand = np.flatnonzero(mask)  # ascending index = ascending sales_rank (products are sorted by it)
        if sort == "price_asc":
            order = cand[np.lexsort((cand, self._price[cand]))]
        elif sort == "price_desc":
            order = cand[np.lexsort((cand, -self._price[cand]))]
        elif sort == "rating":
            order = cand[np.lexsort((cand, -self._rating[cand]))]
        elif sort == "best_selling":
            order = cand
        elif matched is None:  # relevance without words: reviews and sales
            order = cand[np.lexsort((cand, -self._quality[cand]))]
        else:  # relevance: more of the query's words matched first, then score + quality, then sales
            relevance = score[cand] + QUALITY_WEIGHT * self._quality[cand]
            order = cand[np.lexsort((cand, -relevance, -matched[cand]))]
        return [self.products[i] for i in order[: max(limit, 0)]]

    def _match(self, query: str, typos: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per product: how many of the query's words it has, and their weighted score (None, None
        when the query has no meaningful word); `typos`: close spellings count too."""
        query_tokens = list(dict.fromkeys(tokens(query or "")))
        if not query_tokens:
            return None, None
        n = len(self.products)
        matched, score = np.zeros(n, dtype=np.int64), np.zeros(n)
        for t in query_tokens:
            hits = np.zeros(n)
            for m, conf in self._expand(t) if typos else [(t, 1.0)] if t in self._index else []:
                idx, weight = self._index[m]
                hits[idx] = np.maximum(hits[idx], conf * self._idf[m] * weight)
            matched += hits > 0
            score += hits
        return matched, score

    def has_words(self, query: str, categories: Collection[str] | None = None, every: bool = False) -> bool:
        """Whether some product (of these category slugs, if given) has any (`every`: all) of the
        query's words, spelt exactly (stems)."""
        matched, _ = self._match(query, typos=False)
        if matched is None:
            return False
        if categories is not None:
            matched = matched * np.isin(self._cat, [self._cat_id[c] for c in categories if c in self._cat_id])
        return bool((matched >= (len(set(tokens(query))) if every else 1)).any())

    @staticmethod
    def rating_rank_value(p: Product) -> float:
        """Bayesian mean score used by sort='rating' (prior 4.0 worth 5 reviews)."""
        total = (p.review_score or 0.0) * p.review_count + RATING_PRIOR_MEAN * RATING_PRIOR_WEIGHT
        return total / (p.review_count + RATING_PRIOR_WEIGHT)

    def popular(self, category: str | None = None, limit: int = 5, in_stock: bool = True) -> list[Product]:
        """Best sellers, overall or in one category (slug or name, fuzzy; unknown → overall)."""
        slug = self.resolve_category(category) if category else None
        out = []
        for p in self.products:  # already sorted by sales_rank
            if (slug is None or p.category == slug) and (p.stock > 0 or not in_stock):
                out.append(p)
                if len(out) >= limit:
                    break
        return out

    def complements(self, product_id: str, limit: int = 3) -> list[Product]:
        """Products to suggest next to `product_id`, in stock, never the product itself.

        1. products bought together with it (copurchase count, then sales);
        2. fallback: best sellers of the categories most often co-bought with its category;
        3. fallback: best sellers of its own category, then overall.
        """
        base = self.get(product_id)
        if base is None:
            return []
        i0 = self._by_id[base.product_id]
        chosen: list[int] = []

        def take(i: int) -> bool:
            if i != i0 and i not in chosen and self.products[i].stock > 0:
                chosen.append(i)
            return len(chosen) >= limit

        for _, i in self._copurchase.get(i0, []):
            if take(i):
                return [self.products[j] for j in chosen]
        for cat, _ in self._cat_affinity.get(base.category, Counter()).most_common(3):
            for p in self.popular(cat, limit=2):
                if take(self._by_id[p.product_id]):
                    return [self.products[j] for j in chosen]
        for p in self.popular(base.category, limit=limit + 1) + self.popular(None, limit=limit + 1):
            if take(self._by_id[p.product_id]):
                break
        return [self.products[j] for j in chosen]

    def review_snippets(self, product_id: str, limit: int = 2, min_score: int = 1, max_chars: int = 90) -> list[Review]:
        """Real review comments of a product (newest first), cut to `max_chars` at a word boundary."""
        i = self._by_id.get(str(product_id).strip())
        if i is None:
            return []
        out = []
        for r in self._reviews.get(i, []):
            if r.score >= min_score:
                text = r.comment if len(r.comment) <= max_chars else r.comment[:max_chars].rsplit(" ", 1)[0] + "…"
                out.append(Review(r.score, text))
                if len(out) >= limit:
                    break
        return out

    def is_low_stock(self, product: Product) -> bool:
        """True only when the product is really scarce: 1..low_stock_threshold units left."""
        return 0 < product.stock <= self.low_stock_threshold
