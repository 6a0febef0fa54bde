"""Personas with hidden goals, drawn (seeded) from the catalogue for each scenario.

A goal is what one simulated customer came for, concrete enough to be judged from the database
afterwards (simulator/judge.py): "a relógio under R$ 150, 1 unit, pay by PIX" is an expected
order; "where is order ZV12345" is a fact the bot must state as the database has it; "my parcel
arrived broken" is an expected handoff. The customer never tells the bot the goal as such: it
speaks through the phrasing bank (simulator/phrasing.py) and reacts to what the bot shows.

Every goal is feasible by construction: the product type it asks for finds, through the
catalogue's own search, an in-stock product of that category within the budget.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from serve.core.catalog import STOPWORDS, Catalogue, Product

# Scenarios of the seed (planejamento.md): exploration, quick purchase, undecided with objections,
# recurring customer, support (order status; complaint → human), English shopper, cart edits.
SCENARIOS = (
    "quick_purchase",
    "exploration",
    "objection",
    "recurring",
    "order_status",
    "complaint",
    "english",
    "cart_edit",
)
PAYMENTS = ("pix", "card", "boleto")
OBJECTIONS = ("price", "quality", "shipping")
# A budget is what a person would say: the fitting product's price rounded up to these steps (cents).
BUDGET_STEPS = (1000, 5000, 10000)
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")  # a word of letters, hyphenated ones included
SEARCH_DEPTH = 10  # a goal is feasible only if a fitting product is among this many search hits


# Customer messages before giving up: the 6 of a purchase's shortest path (ask, pick, add, quantity,
# checkout, payment method) and 3 more. A cart edit takes 4 more on its shortest path (ask for a
# second product, pick it, add it, take it out), so its customer waits that much longer.
PATIENCE = 9
CART_EDIT_STEPS = 4


@dataclass(frozen=True)
class Goal:
    """One hidden goal. `expect` says how success is judged: "order", "fact" or "handoff"."""

    goal_id: str
    scenario: str
    lang: str  # "pt" | "en"
    name: str  # WhatsApp profile name
    expect: str
    query: str = ""  # the product type in the customer's words
    category: str | None = None  # catalogue slug the bought product must belong to
    budget_cents: int | None = None
    quantity: int = 1
    payment: str | None = None  # expected payment method of the order
    objection: str | None = None  # price | quality | shipping: buys only once it is answered with data
    buy: bool = True  # exploration: some customers only look
    extra_query: str = ""  # cart_edit: a second product added, then removed
    past_items: tuple[tuple[str, int], ...] = ()  # recurring: (product_id, qty) of the order seeded before
    order_status: str | None = None  # order_status: status of the order seeded before
    patience: int = PATIENCE  # customer messages before giving up
    anchor: str = field(default="", compare=False)  # the product the goal was drawn from (for reports)


FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabi", "Heitor", "Iara", "João", "Kátia", "Lucas")
LAST_NAMES = ("Souza", "Lima", "Dias", "Alves", "Rocha", "Melo", "Nunes", "Campos", "Costa", "Pereira")
EN_NAMES = ("Emily Clark", "John Miller", "Sarah Brown", "Mike Davis", "Laura Wilson", "Tom Baker")


def customer_query(product: Product, rng: random.Random) -> str:
    """The product type as a customer names it: the name's head word, sometimes with one more
    word of the name (unlike the synthesizer, which uses the first two or three words)."""
    words = [w.lower() for w in product.name.split() if WORD.fullmatch(w)]
    if not words:
        return product.name.lower()
    # the head word even when short or hyphenated ("HD 1 TB Azul" is an "hd", "Porta-Retrato 10x15 cm
    # Nativa" a "porta-retrato": never an "azul" or a "nativa"), perhaps with a later word of the name
    more = [w for w in words[2:] if len(w) > 2 and w not in STOPWORDS]
    if more and rng.random() < 0.4:
        return f"{words[0]} {rng.choice(more)}"
    return words[0]


def budget_for(price_cents: int, rng: random.Random) -> int:
    step = rng.choice(BUDGET_STEPS)
    return -(-(price_cents + 1) // step) * step  # strictly above the price: "até 150" admits 149,90


def fits(product: Product, category: str | None, budget_cents: int | None) -> bool:
    return (
        product.stock > 0
        and (category is None or product.category == category)
        and (budget_cents is None or product.price_cents <= budget_cents)
    )


def feasible(catalogue: Catalogue, query: str, category: str, budget_cents: int | None) -> bool:
    hits = catalogue.search(query, limit=SEARCH_DEPTH)
    return any(fits(p, category, budget_cents) for p in hits)


def _person(rng: random.Random, lang: str) -> str:
    if lang == "en":
        return rng.choice(EN_NAMES)
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _product_goal(catalogue: Catalogue, pool: list[Product], rng: random.Random) -> tuple[Product, str, int] | None:
    for _ in range(50):
        product = rng.choice(pool)
        query = customer_query(product, rng)
        budget = budget_for(product.price_cents, rng)
        if feasible(catalogue, query, product.category, budget):
            return product, query, budget
    return None


def draw_goal(catalogue: Catalogue, scenario: str, goal_id: str, rng: random.Random, pool: list[Product]) -> Goal:
    """One goal of `scenario`; `pool` holds the products customers may come for (in stock)."""
    lang = "en" if scenario == "english" else "pt"
    drawn = _product_goal(catalogue, pool, rng)
    if drawn is None:
        raise ValueError(f"no feasible product goal in a pool of {len(pool)} products")
    product, query, budget = drawn
    base = dict(goal_id=goal_id, scenario=scenario, lang=lang, name=_person(rng, lang), anchor=product.product_id)
    shopping = dict(query=query, category=product.category, budget_cents=budget)
    if scenario in ("quick_purchase", "english"):
        quantity = min(rng.choice((1, 1, 2, 3)), product.stock)  # never more than the store has
        return Goal(expect="order", quantity=quantity, payment=rng.choice(PAYMENTS), **shopping, **base)
    if scenario == "exploration":
        buy = rng.random() < 0.5
        return Goal(expect="order" if buy else "fact", buy=buy, payment="pix", **shopping, **base)
    if scenario == "objection":
        return Goal(expect="order", objection=rng.choice(OBJECTIONS), payment=rng.choice(PAYMENTS), **shopping, **base)
    if scenario == "cart_edit":
        other = _product_goal(catalogue, [p for p in pool if p.category != product.category] or pool, rng)
        extra = other[1] if other else query
        patience = PATIENCE + CART_EDIT_STEPS
        return Goal(expect="order", quantity=2, payment="pix", extra_query=extra, patience=patience, **shopping, **base)
    if scenario == "recurring":
        past = rng.sample(pool, k=min(len(pool), rng.choice((1, 2))))
        # at most half the stock: the seeded order and the reorder both need it (a past quantity over
        # the stock failed to seed: seed 2026)
        items = tuple((p.product_id, min(rng.choice((1, 1, 2)), max(1, p.stock // 2))) for p in past)
        return Goal(expect="order", payment=rng.choice(PAYMENTS), past_items=items, **base)
    if scenario == "order_status":
        return Goal(expect="fact", order_status=rng.choice(("paid", "shipped", "delivered")), **base)
    if scenario == "complaint":
        return Goal(expect="handoff", order_status="delivered", **base)
    raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")


def draw_goals(catalogue: Catalogue, n_goals: int, seed: int, scenarios: tuple[str, ...] = SCENARIOS) -> list[Goal]:
    """`n_goals` goals, scenarios in turn (so every scenario gets its share), from the best-selling
    in-stock half of the catalogue (customers come for what sells)."""
    rng = random.Random(seed)
    ranked = sorted((p for p in catalogue.popular(None, len(catalogue))), key=lambda p: p.sales_rank)
    pool = ranked[: max(10, len(ranked) // 2)]
    return [draw_goal(catalogue, scenarios[i % len(scenarios)], f"g{i:03d}", rng, pool) for i in range(n_goals)]
