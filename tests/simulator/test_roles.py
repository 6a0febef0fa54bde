"""Who answered a turn, read from the events the agent wrote for it (simulator/roles.py)."""

from __future__ import annotations

from serve.storage.events import EventName
from simulator.roles import answered_by, role_table

LATENCY_NO_MODEL = (EventName.TURN_LATENCY_MS, {"ms": 3.0, "llm_calls": 0})
LATENCY_MODEL = (EventName.TURN_LATENCY_MS, {"ms": 900.0, "llm_calls": 1})


def test_each_path_of_a_turn_gets_its_role():
    routed = (EventName.INTENT, {"intent": "view_cart", "p": 0.97, "routed": True})
    unsure = (EventName.INTENT, {"intent": "search_product", "p": 0.41, "routed": False})
    assert answered_by([LATENCY_NO_MODEL], tapped=True) == "button"
    assert answered_by([(EventName.REFERENCE_RESOLVED, {}), LATENCY_NO_MODEL], tapped=False) == "references"
    assert answered_by([(EventName.KNOWLEDGE_ANSWER, {"topic": "returns"}), LATENCY_NO_MODEL], False) == "knowledge"
    assert answered_by([routed, LATENCY_NO_MODEL], tapped=False) == "router"
    assert answered_by([unsure, LATENCY_MODEL], tapped=False) == "model"
    guess = [unsure, (EventName.INTENT_FALLBACK, {"reason": "model_text"}), LATENCY_MODEL]
    assert answered_by(guess, tapped=False) == "classifier_guess"
    apology = [unsure, (EventName.FALLBACK_REPLY, {"reason": "model_error"}), LATENCY_MODEL]
    assert answered_by(apology, tapped=False) == "fallback"


def test_the_table_gives_shares_overall_and_counts_per_turn_kind():
    rows = [
        {"roles": [["ask_product", "router"], ["tap", "button"], ["pick_ordinal", "references"]]},
        {"roles": [["ask_product", "fallback"]]},
    ]
    table = role_table(rows)
    assert table["turns"] == 4
    assert table["share"] == {"button": 0.25, "references": 0.25, "router": 0.25, "fallback": 0.25}
    assert table["by_kind"]["ask_product"] == {"router": 1, "fallback": 1}
