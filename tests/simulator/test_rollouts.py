"""simulator/rollouts.py on the fixture catalogue: the served conversation, candidates sampled at its
first decision, each played out by the same customer, and the pair their outcomes make. The model is
a scripted local server speaking vLLM's API (tests/fakes); everything else is the real bot."""

from __future__ import annotations

import asyncio

import pytest

from simulator.rollouts import outcome_pairs, pair_row
from tests.fakes.fake_llm import FakeLLM
from tests.simulator.conftest import simulated_bot_settings
from tests.simulator.examples import LENCOL_GOAL

SEARCH = FakeLLM.call("search_products", {"query": "lençol"})
STALL = FakeLLM.text("Hmm, não sei dizer.")


def policy(request: dict) -> dict:
    """Served (temperature 0): a search for lençol. Sampled with n: that search, and a stall."""
    if request.get("n", 1) > 1:
        return {"choices": [SEARCH, STALL][: request["n"]]}
    return SEARCH


@pytest.fixture
def llm_settings(tmp_path):
    with FakeLLM(default=policy) as llm:
        # the customer's request is the model's to answer
        yield llm, simulated_bot_settings(tmp_path, llm, AGENT_SERVER_SEARCH=False)


def run(settings, **over):
    kwargs = dict(seed=5, noise=0.0, candidates=2, temperature=0.9, decisions=1, weights={}, min_gap=0.01) | over
    pairs, stats, decisions = asyncio.run(outcome_pairs(settings, [LENCOL_GOAL], **kwargs))
    assert len(decisions) == stats["decisions"] - stats["sample_failed"]
    assert [p for d in decisions if (p := pair_row(d, kwargs["min_gap"]))] == pairs  # the same pairs again
    return pairs, stats


def test_the_candidate_that_led_to_the_sale_sooner_is_chosen(llm_settings):
    llm, settings = llm_settings
    pairs, stats = run(settings)
    assert stats == {
        "conversations": 1,
        "decisions": 1,
        "rollouts": 2,
        "pairs": 1,
        "no_gap": 0,
        "empty": 0,
        "sample_failed": 0,
        "goals_done": 1,
    }
    (pair,) = pairs
    assert pair["chosen"][0]["tool_calls"][0]["function"]["name"] == "search_products"
    assert pair["rejected"] == [{"role": "assistant", "content": "Hmm, não sei dizer."}]
    assert pair["rewards"][0] > pair["rewards"][1]  # in the order sampled: the search, then the stall
    assert pair["prompt"][0]["role"] == "system" and pair["prompt"][-1]["role"] == "user"
    sampled = [r for r in llm.requests if r.get("n", 1) > 1]
    assert len(sampled) == 1 and sampled[0]["temperature"] == 0.9 and sampled[0]["messages"] == pair["prompt"]


def test_no_pair_when_the_outcomes_are_within_the_gap(llm_settings):
    _, settings = llm_settings
    pairs, stats = run(settings, min_gap=5.0)
    assert pairs == [] and stats["no_gap"] == 1 and stats["rollouts"] == 2


def test_an_empty_candidate_is_never_part_of_a_pair(llm_settings):
    llm, settings = llm_settings
    llm.default = lambda r: {"choices": [SEARCH, {"content": None}]} if r.get("n", 1) > 1 else SEARCH
    pairs, stats = run(settings)
    assert pairs == [] and stats["empty"] == 1 and stats["no_gap"] == 1  # one candidate left: no pair


def test_a_failed_sample_skips_its_decision_and_is_counted(llm_settings):
    llm, settings = llm_settings
    llm.default = lambda r: FakeLLM.error(400, "n too large") if r.get("n", 1) > 1 else SEARCH
    pairs, stats = run(settings)
    assert pairs == [] and stats["sample_failed"] == 1 and stats["rollouts"] == 0
