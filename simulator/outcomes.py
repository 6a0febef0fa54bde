"""What a simulated conversation was worth, and which of several candidate turns to prefer.

    reward = outcome_reward(row, weights)                    # one conversation (simulator/runner.py row)
    pair = preference_pair(candidates, min_gap=0.5)          # (chosen, rejected) or None

The seed asks for preference learning that rewards replies leading to conversions and penalises
abandonment. A candidate turn is scored by what happened to the customer after it: the
simulated conversation continued from that turn to its end, judged on the database (a paid order
as the goal wanted it), not on how the reply reads. The reward is

    success · w.success + min(paid / budget, 1) · w.order_value − turns · w.turn
      − w.ungrounded · #ungrounded claims − w.wrong_language · #replies in the wrong language
      − w.limit · #WhatsApp limit violations − w.pressure · [pressure after a "no"]
      − w.scarcity · #invented scarcity − w.budget · #answers above a stated budget

with the weights in params.yaml (`outcome_pairs.reward`). Order value is capped by the goal's own
budget so that selling more than was wanted is no reward: the goal, not the basket, defines success.

A pair is kept only where the outcomes differ clearly (best − worst ≥ min_gap) and the two texts
differ: identical candidates teach nothing, and small gaps are the simulator's noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_WEIGHTS = {
    "success": 1.0,
    "order_value": 0.2,
    "turn": 0.02,
    "ungrounded": 0.5,
    "wrong_language": 0.3,
    "limit": 0.2,
    "pressure": 0.5,
    "scarcity": 0.5,
    "budget": 0.3,
}


def outcome_reward(
    row: Mapping, weights: Mapping[str, float] = DEFAULT_WEIGHTS, budget_cents: int | None = None
) -> float:
    """The reward of one simulated conversation (a simulator/runner.py result row); `budget_cents`:
    the goal's budget (None: any paid order counts fully once it succeeded)."""
    unknown = set(weights) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown reward weights {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}")
    w = DEFAULT_WEIGHTS | dict(weights)
    paid = int(row.get("order_total_cents") or 0)
    value = min(paid / budget_cents, 1.0) if budget_cents else float(paid > 0)
    return (
        w["success"] * bool(row["success"])
        + w["order_value"] * value
        - w["turn"] * int(row.get("turns") or 0)
        - w["ungrounded"] * len(row.get("ungrounded") or ())
        - w["wrong_language"] * int(row.get("wrong_language") or 0)
        - w["limit"] * len(row.get("limit_violations") or ())
        - w["pressure"] * bool(row.get("pressure_after_no"))
        - w["scarcity"] * len(row.get("fake_scarcity") or ())
        - w["budget"] * int(row.get("budget_ignored") or 0)
    )


@dataclass(frozen=True)
class Candidate:
    """One sampled model turn at a decision point, and the reward of the conversation it led to."""

    completion: str  # the assistant turn as the model wrote it (text and/or tool-call markup)
    reward: float


def preference_pair(candidates: Sequence[Candidate], min_gap: float) -> tuple[Candidate, Candidate] | None:
    """(chosen, rejected): the best and the worst candidate, when their rewards are min_gap apart
    and their texts differ (after trimming whitespace); else None."""
    if min_gap <= 0:
        raise ValueError(f"min_gap must be positive, got {min_gap}")
    if len(candidates) < 2:
        return None
    ranked = sorted(candidates, key=lambda c: c.reward, reverse=True)
    best = ranked[0]
    # the worst whose text differs from the best's: a tie in text is the same answer
    worse = [c for c in reversed(ranked) if c.completion.strip() != best.completion.strip()]
    if not worse or best.reward - worse[0].reward < min_gap:
        return None
    return best, worse[0]
