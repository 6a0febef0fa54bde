"""Goals the simulator tests share (fixture catalogue: the lençol is R$ 89,90, cama_mesa_banho)."""

from __future__ import annotations

import dataclasses

from simulator.goals import Goal
from tests.serve.factories import LENCOL

LENCOL_GOAL = Goal(
    goal_id="g1",
    scenario="quick_purchase",
    lang="pt",
    name="Ana Souza",
    expect="order",
    query="lençol",
    category="cama_mesa_banho",
    budget_cents=10000,
    quantity=1,
    payment="pix",
    anchor=LENCOL,
)


def goal(**changes) -> Goal:
    """The lençol goal with some fields changed."""
    return dataclasses.replace(LENCOL_GOAL, **changes)
