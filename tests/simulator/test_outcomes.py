"""Outcome rewards of simulated conversations and the pairs kept from them (simulator/outcomes.py)."""

from __future__ import annotations

import pytest

from simulator.outcomes import DEFAULT_WEIGHTS, Candidate, outcome_reward, preference_pair


def row(**over) -> dict:
    """A conversation as simulator/runner.py reports it: paid as wanted, in 6 turns, nothing wrong."""
    base = {
        "success": True,
        "turns": 6,
        "order_total_cents": 8990,
        "ungrounded": [],
        "wrong_language": 0,
        "limit_violations": [],
        "pressure_after_no": False,
        "fake_scarcity": [],
        "budget_ignored": 0,
    }
    return base | over


def test_a_paid_goal_scores_its_success_and_value_less_its_turns():
    assert outcome_reward(row(), budget_cents=10000) == pytest.approx(1.0 + 0.2 * 0.899 - 0.02 * 6)


def test_abandonment_scores_below_a_sale_and_a_longer_sale_below_a_shorter_one():
    sale, longer, abandoned = row(), row(turns=10), row(success=False, order_total_cents=0, turns=4)
    assert outcome_reward(sale) > outcome_reward(longer) > outcome_reward(abandoned)


def test_selling_beyond_the_goals_budget_earns_nothing_more():
    assert outcome_reward(row(order_total_cents=50000), budget_cents=10000) == outcome_reward(
        row(order_total_cents=10000), budget_cents=10000
    )


@pytest.mark.parametrize(
    "flaw, weight",
    [
        ({"ungrounded": ["R$ 9,90"]}, "ungrounded"),
        ({"wrong_language": 1}, "wrong_language"),
        ({"limit_violations": ["body > 1024"]}, "limit"),
        ({"pressure_after_no": True}, "pressure"),
        ({"fake_scarcity": ["últimas unidades"]}, "scarcity"),
        ({"budget_ignored": 1}, "budget"),
    ],
)
def test_each_flaw_costs_its_weight_even_in_a_sale(flaw, weight):
    assert outcome_reward(row()) - outcome_reward(row(**flaw)) == pytest.approx(DEFAULT_WEIGHTS[weight])


def test_weights_come_from_params_and_unknown_ones_are_refused():
    assert outcome_reward(row(turns=0), {"success": 2.0, "order_value": 0.0}) == 2.0
    with pytest.raises(ValueError, match="unknown reward weights"):
        outcome_reward(row(), {"sucess": 1.0})


def test_the_pair_is_the_best_and_the_worst_when_the_gap_is_clear():
    a, b, c = Candidate("busca", 1.1), Candidate("carrinho", -0.2), Candidate("desculpe", 0.3)
    assert preference_pair([b, a, c], min_gap=0.5) == (a, b)


def test_no_pair_from_a_small_gap_identical_texts_or_a_single_candidate():
    assert preference_pair([Candidate("a", 1.0), Candidate("b", 0.8)], min_gap=0.5) is None
    same = [Candidate("quero ver", 1.0), Candidate(" quero ver\n", -1.0)]
    assert preference_pair(same, min_gap=0.5) is None  # the same answer scored twice: simulator noise
    assert preference_pair([Candidate("a", 1.0)], min_gap=0.5) is None
    # a different worse text still makes a pair when the worst one repeats the best
    kept = preference_pair([*same, Candidate("outra", 0.0)], min_gap=0.5)
    assert kept == (same[0], Candidate("outra", 0.0))
    with pytest.raises(ValueError):
        preference_pair(same, min_gap=0)
