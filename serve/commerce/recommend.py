"""Recommendations: co-purchase complements, the customer's history and category affinity, popularity.

The `recommend` tool's result shape is fixed by `serve.core.tool_results.recommend` (training data and
serving must agree); this module decides the *inputs* at serving time — which history the customer
has (bot orders + linked Olist purchases, `serve.commerce.customers.past_orders`) — and ranks products for
the server-side suggestions the agent attaches on its own (after an add to cart, the novelties of a
recurring customer's greeting):

  1. complements of the anchor products (co-purchase table; Catalogue.complements falls back to
     categories co-bought with the anchor's category, then its own category's best sellers);
  2. best sellers of the customer's affinity categories (bought, declared), round-robin;
  3. overall best sellers.
Never something already in the cart or bought before, never out of stock.
"""

from __future__ import annotations

from collections import Counter

from serve.contract.tools import Recommend
from serve.core.catalog import Catalogue, Product
from serve.core.tool_results import RECOMMEND_LIMIT
from serve.core.tool_results import recommend as recommend_result


def category_affinity(catalogue: Catalogue, history: list[str], preferred: list[str] = (), limit: int = 3) -> list[str]:
    """Category slugs the customer leans to: declared preferences, then most bought (recent first on ties)."""
    slugs: list[str] = []
    for name in preferred:
        slug = catalogue.resolve_category(name)
        if slug and slug not in slugs:
            slugs.append(slug)
    counts = Counter()
    for rank, pid in enumerate(history):
        p = catalogue.get(pid)
        if p is not None:
            counts[p.category] += 1.0 + 1.0 / (rank + 1)  # one purchase = 1, recency breaks ties
    slugs += [c for c, _ in counts.most_common() if c not in slugs]
    return slugs[:limit]


def suggest(
    catalogue: Catalogue,
    anchors: list[str] = (),
    history: list[str] = (),
    preferred: list[str] = (),
    exclude: set[str] = frozenset(),
    limit: int = RECOMMEND_LIMIT,
) -> list[Product]:
    """Ranked suggestions (see module docstring); `anchors` are product ids (e.g. what was just added)."""
    seen = {p.product_id for p in (catalogue.get(x) for x in [*exclude, *history, *anchors]) if p is not None}
    out: list[Product] = []

    def take(p: Product) -> bool:
        if p.product_id not in seen and p.stock > 0:
            seen.add(p.product_id)
            out.append(p)
        return len(out) >= limit

    for pid in anchors or history[:3]:
        for p in catalogue.complements(pid, limit=limit):
            if take(p):
                return out
    pools = [
        catalogue.popular(slug, limit=limit + len(seen))
        for slug in category_affinity(catalogue, list(history), list(preferred))
    ]
    for rank in range(max((len(p) for p in pools), default=0)):
        for pool in pools:
            if rank < len(pool) and take(pool[rank]):
                return out
    for p in catalogue.popular(None, limit=limit + len(seen)):
        if take(p):
            break
    return out


def recommend_tool(catalogue: Catalogue, args: Recommend, history: list[str]) -> dict:
    """The `recommend` tool at serving: the training-data result function, fed the real history."""
    return recommend_result(catalogue, args, history=history)
