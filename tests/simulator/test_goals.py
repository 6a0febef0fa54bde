"""simulator/goals.py: seeded goals, each one a customer could reach in this catalogue."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pandas as pd
import pytest

from serve.core.catalog import Catalogue
from simulator.goals import customer_query, draw_goals
from tests.serve.factories import FIXTURE_DIR


def test_a_recurring_customers_past_order_leaves_stock_for_the_reorder():
    products = pd.read_csv(FIXTURE_DIR / "products.csv").assign(stock=3)  # at most one each, then
    low = Catalogue(products)
    goals = [g for seed in range(40) for g in draw_goals(low, 16, seed) if g.scenario == "recurring"]
    assert len(goals) >= 40 and all(q == 1 for g in goals for _, q in g.past_items)


@pytest.mark.parametrize(
    "name, head",
    [("HD Externo 2 TB Prata Araucária", "hd"), ("Porta-Retrato 10x15 cm Nativa", "porta-retrato")],
)
def test_a_customer_asks_for_the_kind_of_product_never_for_a_colour_or_a_brand(name, head):
    product = SimpleNamespace(name=name)
    for seed in range(20):
        assert customer_query(product, random.Random(seed)).split()[0] == head
