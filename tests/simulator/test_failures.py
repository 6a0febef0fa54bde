"""simulator/failures.py: failed conversations grouped by their first unhelpful reply, with an example."""

from __future__ import annotations

from simulator.failures import markdown, top_failure_modes


def row(goal_id, success, misunderstood=(), ended="gave_up", reason="no paid order", scenario="quick_purchase"):
    transcript = [
        {
            "customer": "tem relógio até 150?",
            "bot": [{"kind": "list", "body": "Opções", "rows": [["p:1", "Relógio", "R$"]]}],
        },
        {"customer": "o segundo", "bot": [{"kind": "text", "body": "Desculpe, tive um probleminha"}]},
    ]
    return {
        "goal_id": goal_id,
        "trial": 0,
        "scenario": scenario,
        "success": success,
        "ended": ended,
        "reason": reason,
        "misunderstood": list(misunderstood),
        "transcript": transcript,
    }


def test_modes_are_counted_most_common_first_with_the_turn_that_went_wrong():
    rows = [
        row("g1", False, [(1, "pick_ordinal → fallback reply")]),
        row("g2", False, [(1, "pick_ordinal → fallback reply")], scenario="english"),
        row("g3", False, ended="objection_unanswered", reason="no paid order", scenario="objection"),
        row("g4", True),
    ]
    modes = top_failure_modes(rows)
    assert [(m["mode"], m["count"]) for m in modes] == [
        ("pick_ordinal → fallback reply", 2),
        ("objection_unanswered: no paid order", 1),
    ]
    assert modes[0]["scenarios"] == {"quick_purchase": 1, "english": 1}
    assert "«o segundo» → bot «Desculpe, tive um probleminha»" in modes[0]["example"]
    assert "3 of 4 conversations failed" in markdown({"dpo": rows})
