"""simulator/goals.py: seeded goals, each one a customer could reach in this catalogue."""

from __future__ import annotations

import pandas as pd

from serve.core.catalog import Catalogue
from simulator.goals import draw_goals
from tests.serve.factories import FIXTURE_DIR


def test_a_recurring_customers_past_order_leaves_stock_for_the_reorder():
    products = pd.read_csv(FIXTURE_DIR / "products.csv").assign(stock=3)  # at most one each, then
    low = Catalogue(products)
    goals = [g for seed in range(40) for g in draw_goals(low, 16, seed) if g.scenario == "recurring"]
    assert len(goals) >= 40 and all(q == 1 for g in goals for _, q in g.past_items)
