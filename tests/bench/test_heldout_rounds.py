"""bench/heldout_rounds.py: the paired comparison counts conversations won and lost on the same goals."""

from __future__ import annotations

import pytest

from bench.heldout_rounds import paired


def _rows(outcomes: list[bool], seed: int = 1) -> list[dict]:
    return [{"seed": seed, "goal_id": f"g{i // 2}", "trial": i % 2, "success": s} for i, s in enumerate(outcomes)]


def test_paired_counts_discordant_conversations_only():
    before = _rows([True, True, False, False, True, False])
    after = _rows([True, False, True, True, True, False])
    assert paired(before, after) | {"mcnemar_p": None} == {
        "conversations": 6,
        "gained": 2,
        "lost": 1,
        "mcnemar_p": None,
    }
    assert paired(before, after)["mcnemar_p"] == pytest.approx(1.0)  # 2 vs 1 is no evidence


def test_paired_matches_by_seed_goal_and_trial():
    before = _rows([False] * 10, seed=1) + _rows([True] * 10, seed=2)
    after = _rows([True] * 10, seed=1) + _rows([True] * 10, seed=2)
    result = paired(before, after)
    assert (result["gained"], result["lost"]) == (10, 0)
    assert result["mcnemar_p"] == pytest.approx(2 * 0.5**10)


def test_identical_models_give_no_difference():
    rows = _rows([True, False, True])
    assert paired(rows, rows) == {"conversations": 3, "gained": 0, "lost": 0, "mcnemar_p": 1.0}
