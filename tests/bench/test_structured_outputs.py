"""bench/structured_outputs.py: both arms go through the agent's requests, and the rates are computed."""

import asyncio
import json
from types import SimpleNamespace

from bench.structured_outputs import measure, summary
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import fixture_catalogue

LENCOL = "6c960ba6"
SHOWN = json.dumps({"results": [{"id": LENCOL, "name": "Jogo de Lençol", "price": "R$ 89,90"}]})


def case(i: int, tool: str, arguments: dict) -> dict:
    prompt = [
        {"role": "system", "content": "S"},
        {"role": "tool", "content": SHOWN},
        {"role": "user", "content": "quero esse"},
    ]
    return {"id": f"c{i}", "prompt": prompt, "tool": tool, "arguments": arguments}


def scripted(body: dict) -> dict:
    """The fake model: a broken call without a grammar, the reference with one."""
    if body["max_tokens"] == 1:
        return FakeLLM.text("")
    constrained = "response_format" in body
    if body.get("continue_final_message"):
        return FakeLLM.raw_text(f' {{"product_id": "{LENCOL}"' if constrained else " <argumentos JSON>")
    return FakeLLM.call("add_to_cart", {"product_id": LENCOL} if constrained else {"product_id": "p1"})


def test_both_arms_are_measured_through_the_agents_requests(tmp_path):
    todo = [case(0, "add_to_cart", {"product_id": LENCOL}), case(1, "checkout", {"payment_method": "pix"})]
    args = SimpleNamespace(served_name="fake", timeout_s=5.0, modes=["prefix", "free"], out=str(tmp_path / "o.json"))
    with FakeLLM() as llm:
        llm.push(*[scripted] * 20)
        rows = asyncio.run(measure(args, llm.base_url, todo, fixture_catalogue()))
        sent = list(llm.requests)
    # checkout is no tool the classifier starts: free mode only
    assert [(r["id"], r["mode"], r["structured"]) for r in rows] == [
        ("c0", "prefix", False),
        ("c0", "prefix", True),
        ("c0", "free", False),
        ("c0", "free", True),
        ("c1", "free", True),  # odd cases run the constrained arm first
        ("c1", "free", False),
    ]
    assert sum(b["max_tokens"] == 1 for b in sent) == 2  # one prefix-cache warm-up per case
    by = {(r["id"], r["mode"], r["structured"]): r for r in rows}
    assert by["c0", "prefix", True]["exact"] and not by["c0", "prefix", False]["parsed"]
    assert by["c0", "free", False]["parsed"] and not by["c0", "free", False]["valid"]  # unknown product
    assert not by["c1", "free", True]["right_tool"]
    s = summary([r for r in rows if r["mode"] == "free" and r["structured"]])
    assert (s["n"], s["parsed"], s["valid"], s["right_tool"], s["exact"]) == (2, 1.0, 1.0, 0.5, 0.5)
    assert s["product_n"] == 1 and s["product"] == 1.0
