"""Rates with 95% Wilson intervals, pass^k, percentiles: the figures a simulated run reports.

pass^k (τ-bench): a goal tried n times with c successes passes k trials drawn without
replacement with probability C(c, k) / C(n, k); pass^k is its mean over goals. pass^1 is the
plain success rate; a reliable agent keeps pass^k close to it as k grows.
"""

from __future__ import annotations

import math
from collections import defaultdict

from scipy.stats import binomtest

from simulator.roles import role_table

CONFIDENCE = 0.95


def rate(successes: int, n: int) -> dict:
    """{"rate", "low", "high", "n", "successes"}; the interval is Wilson's (it behaves at 0 and 1)."""
    if n == 0:
        return {"rate": None, "low": None, "high": None, "n": 0, "successes": 0}
    ci = binomtest(successes, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return {"rate": successes / n, "low": float(ci.low), "high": float(ci.high), "n": n, "successes": successes}


def pass_hat_k(outcomes: dict[str, list[bool]], k: int) -> float | None:
    """Mean over goals of C(c, k) / C(n, k); goals with fewer than k trials are left out."""
    values = [math.comb(sum(o), k) / math.comb(len(o), k) for o in outcomes.values() if len(o) >= k]
    return sum(values) / len(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, q in 0..100."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s) / 100) - 1))]


def summarise(rows: list[dict], max_k: int) -> dict:
    """Figures of one model from its conversations (simulator/runner.py's rows)."""
    n = len(rows)
    orders = [r for r in rows if r["order_total_cents"]]
    carted = [r for r in rows if r["events"].get("cart_add")]
    by_goal: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_goal[r["goal_id"]].append(r["success"])
    scenarios = sorted({r["scenario"] for r in rows})
    latencies = [ms for r in rows for ms in r["latency_ms"]]
    roles = role_table(rows)
    return {
        "task_success": rate(sum(r["success"] for r in rows), n),
        "conversion": rate(len(orders), n),
        "cart_abandonment": rate(sum(1 for r in carted if not r["order_total_cents"]), len(carted)),
        "ungrounded_claim_rate": rate(sum(1 for r in rows if r["ungrounded"]), n),
        "wrong_language_rate": rate(sum(1 for r in rows if r["wrong_language"]), n),
        "limit_violation_rate": rate(sum(1 for r in rows if r["limit_violations"]), n),
        "pressure_after_no_rate": rate(sum(1 for r in rows if r["pressure_after_no"]), n),
        "fake_scarcity_rate": rate(sum(1 for r in rows if r["fake_scarcity"]), n),
        "fallback_turn_rate": rate(
            sum(1 for r in rows for _, role in r.get("roles", []) if role == "fallback"), roles["turns"]
        ),
        "budget_ignored_turns": sum(r.get("budget_ignored", 0) for r in rows),
        "answered_by": roles,
        "pass_hat_k": {str(k): pass_hat_k(by_goal, k) for k in range(1, max_k + 1)},
        "avg_order_value_cents": round(sum(r["order_total_cents"] for r in orders) / len(orders)) if orders else None,
        "items_per_order": sum(r["order_units"] for r in orders) / len(orders) if orders else None,
        "turns_to_purchase": _mean([r["turns"] for r in rows if r["success"] and r["order_total_cents"]]),
        "fallbacks_per_conversation": _mean([r["events"].get("fallback_reply", 0) for r in rows]),
        "refused_tool_calls_per_conversation": _mean([r["events"].get("tool_refused", 0) for r in rows]),
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "turns": len(latencies)},
        "by_scenario": {
            s: {
                "task_success": rate(
                    sum(r["success"] for r in rows if r["scenario"] == s), sum(1 for r in rows if r["scenario"] == s)
                )
            }
            for s in scenarios
        },
        "conversations": n,
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
