"""A customer's free text as a structured shopping request, and the catalogue search it asks for.

    r = parse_request("presente pra mãe que gosta de cuidar da pele, até 100 reais")
    r.categories        ('beleza_saude', 'perfumaria')     hard filter (any of them)
    r.max_price_cents   10000                              hard filter (serve/core/budget.py)
    r.sort              None                               "barato" → price_asc, "mais vendido" → best_selling
    r.query             ''                                 product words left to rank by
    search_request(catalogue, r)                            → list[Product]

Category words come from one data file, shopping_lexicon.yaml (everyday words keyed by Olist
category slugs; its header says how phrases vote). The request keeps the phrases that chose the
categories (`category_text`): parsing them again gives the same categories, so a tool call can
carry them as its `category` argument ("cuidar da pele mae") and `category_slugs` reads it back.

Retrieval (chosen for a 2-core CPU, no network; measured with bench/search_quality.py, figures in
bench/RESULTS.md): the catalogue's own inverted index (serve/core/catalog.py: BM25F-like field
weights with idf, binary term frequency because product names are 3-8 words) on the catalogue's
light pt/en stemmer. A maintained Snowball Portuguese stemmer (snowballstemmer) was measured in
its place and scored lower on the labelled queries, for a reason that will not go away: customers
type without accents, and Snowball on unaccented words splits the irregular plurals the
catalogue's stemmer joins ("lencois"→"lenco" but "lencol"→"lencol"; "colchoes"→"colcho" but
"colchao"→"colcha").
What moved the figures is understanding the request: category and budget as hard filters, the
words left over ranked within them, reviews and sales breaking ties (Catalogue.search).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from serve.core.budget import find_budgets, fold
from serve.core.catalog import STOPWORDS, Catalogue, Product, UnknownCategoryError, normalize, stem

LEXICON_PATH = Path(__file__).with_name("shopping_lexicon.yaml")
STRONG, HINT = ("products", "aisles", "owners"), "hints"
VOTES = {"products": 1, "aisles": 1, "owners": 2}  # an owner ("pro cachorro") outweighs one product word
AGE = re.compile(r"\b(\d{1,2})\s*(?:-\s*)?(anos?|aninhos|meses|years?[\s-]*olds?|yo|months?[\s-]*olds?)\b")


@dataclass(frozen=True)
class Lexicon:
    phrases: dict[tuple[str, ...], dict[str, str]]  # stems → {slug: "products" | "aisles" | "owners" | "hints"}
    sorts: dict[tuple[str, ...], str]  # stems → sort
    filler: frozenset[str]
    synonyms: dict[str, str]  # normalized word → catalogue words
    child_age: int
    baby_age: int
    longest: int  # words in the longest phrase

    def lookup(self, stems: list[str], i: int) -> tuple[int, str | None, dict[str, str] | None]:
        """(words used, sort, category entry) of the longest phrase starting at stems[i]."""
        for n in range(min(self.longest, len(stems) - i), 0, -1):
            key = tuple(stems[i : i + n])
            if key in self.sorts or key in self.phrases:
                return n, self.sorts.get(key), self.phrases.get(key)
        return 0, None, None


def _stems(text: str) -> list[str]:
    return [stem(w) for w in normalize(text).split() if w not in STOPWORDS and len(w) > 1]


@lru_cache(maxsize=1)
def lexicon(path: Path = LEXICON_PATH) -> Lexicon:
    """The lexicon file, parsed once per process."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    phrases: dict[tuple[str, ...], dict[str, str]] = {}
    for key, kinds in raw["categories"].items():
        for kind, words in kinds.items():
            if kind not in (*STRONG, HINT):
                raise ValueError(f"{path}: {key}: unknown list {kind!r} (products, aisles, owners or hints)")
            for phrase in words:
                stems = tuple(_stems(phrase))
                if not stems:
                    raise ValueError(f"{path}: {key}: {phrase!r} has only stopwords")
                entry = phrases.setdefault(stems, {})
                for slug in key.split():
                    if entry.get(slug) != "products":  # a product word stays a search word
                        entry[slug] = kind
    sorts = {tuple(_stems(p)): name for name, words in raw["sorts"].items() for p in words}
    return Lexicon(
        phrases=phrases,
        sorts=sorts,
        filler=frozenset(normalize(" ".join(raw["filler"])).split()),
        synonyms={normalize(k): normalize(v) for k, v in raw["synonyms"].items()},
        child_age=int(raw["child_age"]),
        baby_age=int(raw["baby_age"]),
        longest=max(len(k) for k in (*phrases, *sorts)),
    )


@dataclass(frozen=True)
class ShoppingRequest:
    text: str  # what the customer wrote
    words: tuple[str, ...] = ()  # product words to rank by (normalized; synonyms in catalogue words)
    categories: tuple[str, ...] = ()  # acceptable category slugs; () = any
    category_words: tuple[str, ...] = ()  # the phrases that chose them
    max_price_cents: int | None = None
    sort: str | None = None  # None = relevance
    product_words: tuple[str, ...] = ()  # the words of the product phrases that chose the categories
    by_product_words: bool = False  # only product words chose the categories (no aisle, no hint)
    by_hints: bool = False  # only recipients/occasions chose them ("presente pra minha mãe")

    @property
    def query(self) -> str:
        return " ".join(self.words)

    @property
    def category_text(self) -> str | None:
        """The category phrases as one string (≤ 80 characters, the tool's limit); None without any."""
        text = ""
        for phrase in self.category_words:
            if len(text) + len(phrase) + 4 > 80:
                break
            text = f"{text} ou {phrase}" if text else phrase
        return text or None


def parse_request(text: str) -> ShoppingRequest:
    """The request in `text`: budget, sort, categories, and the product words left over.

    Lexicon phrases match exactly (after stemming): a misspelt word chooses no category, and the
    catalogue's own typo expansion still finds it as a search word ("relogo" → "relógio"). Fuzzy
    matching here chose wrong hard filters for real words the lexicon lacks ("chaleira" →
    "chaveiro")."""
    lex = lexicon()
    budgets = find_budgets(text)
    rest = list(fold(text))
    for b in budgets:  # a budget says nothing about the product
        rest[b.span[0] : b.span[1]] = " " * (b.span[1] - b.span[0])
    rest = "".join(rest)
    strong, products, hints, phrases, choosers = Counter(), Counter(), Counter(), [], []
    for m in AGE.finditer(rest):  # "de 7 anos", "6 year old": who it is for, not a product word
        age, unit = int(m.group(1)), m.group(2)
        months = unit.startswith(("mes", "month"))
        kind = "bebes" if months or age <= lex.baby_age else "brinquedos" if age <= lex.child_age else None
        if kind:
            for slug in (kind, "brinquedos") if kind == "bebes" else (kind, "bebes", "fashion_roupa_infanto_juvenil"):
                hints[slug] += 1
            phrases.append(normalize(m.group(0)))
            choosers.append({"brinquedos": HINT, "bebes": HINT})
        rest = rest[: m.start()] + " " * (m.end() - m.start()) + rest[m.end() :]
    words = [w for w in normalize(rest).split() if w not in STOPWORDS and len(w) > 1]
    stems = [stem(w) for w in words]
    kept, sort, i = [], None, 0
    while i < len(words):
        n, found_sort, entry = lex.lookup(stems, i)
        if n == 0:
            if words[i] not in lex.filler:
                kept.append(words[i])
            i += 1
            continue
        sort = sort or found_sort
        if entry:
            phrases.append(" ".join(words[i : i + n]))
            choosers.append(entry)
            for slug, kind in entry.items():
                if kind == HINT:
                    hints[slug] += 1
                else:
                    strong[slug] += VOTES[kind]
                    products[slug] += kind == "products"
            if "products" in entry.values():
                kept += words[i : i + n]
        i += n
    categories = _winners(strong, products, hints)
    product_words = [p for p, e in zip(phrases, choosers) if any(e.get(s) == "products" for s in categories)]
    return ShoppingRequest(
        text=text,
        words=tuple(w for k in kept for w in lex.synonyms.get(k, k).split()),
        categories=categories,
        category_words=tuple(dict.fromkeys(phrases)),
        product_words=tuple(dict.fromkeys(product_words)),
        max_price_cents=min((b.cents for b in budgets), default=None),
        sort=sort,
        by_product_words=bool(categories) and all(e.get(s) in (None, "products") for e in choosers for s in categories),
        by_hints=bool(categories) and not strong,
    )


def _winners(strong: Counter, products: Counter, hints: Counter) -> tuple[str, ...]:
    """The slugs most product/aisle phrases chose; on a tie the product words' choice ("tênis pra
    corrida" is shoes, not sports), then the hints'; hints alone when no other phrase chose."""
    if not strong and not hints:
        return ()
    votes = {s: (strong[s], products[s]) for s in strong} if strong else dict(hints)
    top = max(votes.values())
    winners = [s for s in votes if votes[s] == top]
    if strong and any(hints[s] for s in winners):
        best = max(hints[s] for s in winners)
        winners = [s for s in winners if hints[s] == best]
    return tuple(sorted(winners))


def category_slugs(catalogue: Catalogue, text: str | None) -> tuple[str, ...]:
    """Category slugs for a tool's `category` argument: a catalogue category's slug or name, else
    everyday words (the lexicon), else the closest name; UnknownCategoryError when none fits."""
    if not text or not text.strip():
        return ()
    known = {c.slug for c in catalogue.categories()}
    exact = catalogue.exact_category(text)
    if exact:
        return (exact,)
    slugs = tuple(s for s in parse_request(text).categories if s in known)
    if slugs:
        return slugs
    close = catalogue.resolve_category(text)
    if close:
        return (close,)
    raise UnknownCategoryError(f"categoria não encontrada: {text!r}")


def constrained(
    request: ShoppingRequest,
    categories: tuple[str, ...] = (),
    max_price_cents: int | None = None,
    sort: str | None = None,
) -> ShoppingRequest:
    """`request` with constraints stated elsewhere (tool arguments): given categories replace the
    parsed ones, the lower budget wins, an explicit sort wins over a parsed one."""
    budgets = [c for c in (request.max_price_cents, max_price_cents) if c is not None]
    return replace(
        request,
        categories=categories or request.categories,
        max_price_cents=min(budgets) if budgets else None,
        sort=sort if sort and sort != "relevance" else request.sort,
    )


def search_request(catalogue: Catalogue, request: ShoppingRequest, limit: int = 5) -> list[Product]:
    """The catalogue's answer: categories and budget filter, the words and reviews/sales rank.
    Categories this catalogue lacks are dropped (the words still search), and so are categories
    only product words chose when none of their products has any of those words and another
    product has them all (this catalogue files them elsewhere); with neither words nor a category
    understood, the plain text is searched."""
    known = {c.slug for c in catalogue.categories()}
    categories = [s for s in request.categories if s in known]
    query = request.query
    named = " ".join(request.product_words)
    if (
        categories
        and request.by_product_words
        and not catalogue.has_words(named, categories)
        and catalogue.has_words(named, every=True)
    ):
        categories = []
    if not query and not categories:
        query = request.text
    return catalogue.search(
        query,
        categories=categories or None,
        max_price_cents=request.max_price_cents,
        sort=request.sort or "relevance",
        limit=limit,
    )
