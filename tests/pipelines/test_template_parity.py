"""The chat-template parity gate: training tokenizer vs the served template, token by token.

Default suite: a local server speaking vLLM's /tokenize (tests/fakes/fake_vllm.py) renders with the
contract template or with one that differs by a single space. `slow`: the same against real
vLLM-CPU servers started by serve/core/engine.py on the smoke profile's tiny model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from pipelines import template_parity
from pipelines.template_parity import TemplateParityError, check_parity, first_difference
from serve.contract import TOOLS, chat_template
from serve.core.engine import free_port, start_vllm, stop, wait_http
from tests.fakes.fake_vllm import FakeVLLM

# The contract template with one extra space before the system turn's <|im_end|>.
GOOD_SYSTEM_END = "{{- system_content + '<|im_end|>\\n' -}}"
BAD_SYSTEM_END = "{{- system_content + ' <|im_end|>\\n' -}}"


def off_by_a_space() -> str:
    assert GOOD_SYSTEM_END in chat_template()
    return chat_template().replace(GOOD_SYSTEM_END, BAD_SYSTEM_END)


def system_turn_end(tokenizer_dir: Path) -> int:
    """Where the first <|im_end|> sits in the training render of the first conversation: the token
    the extra space displaces."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    label, messages, add_generation_prompt = template_parity.renders()[0]
    ids = tokenizer.apply_chat_template(
        messages, tools=TOOLS, add_generation_prompt=add_generation_prompt, return_dict=True
    )["input_ids"]
    return ids.index(tokenizer.convert_tokens_to_ids("<|im_end|>"))


def test_the_conversations_cover_what_training_renders():
    convs = template_parity.conversations()
    roles = {m["role"] for msgs in convs.values() for m in msgs}
    assert roles == {"system", "user", "assistant", "tool"}
    calls = [m["tool_calls"] for msgs in convs.values() for m in msgs if m.get("tool_calls")]
    assert any(len(c) == 2 for c in calls)  # two calls in one turn
    assert any(m.get("content") and m.get("tool_calls") for msgs in convs.values() for m in msgs)  # text + call
    assert {name[:2] for name in convs} == {"pt", "en"}
    assert any("Cliente:" in msgs[0]["content"] for msgs in convs.values())  # the customer block
    flags = [add for _, _, add in template_parity.renders()]
    assert True in flags and False in flags


def test_first_difference():
    assert first_difference([1, 2, 3], [1, 2, 3]) is None
    assert first_difference([1, 2, 3], [1, 9, 3]) == 1
    assert first_difference([1, 2], [1, 2, 3]) == 2
    assert template_parity.server_root("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000"


def test_parity_holds_when_the_server_renders_the_contract_template(tiny_base):
    with FakeVLLM(tiny_base) as server:
        summary = check_parity(server.base_url + "/v1", "zapvendas", tiny_base)
    assert summary["conversations"] == 4 and summary["renders"] == len(template_parity.renders())
    assert summary["tokens_compared"] > 4 * 600  # every render carries the ~600-token system prompt + tools
    assert summary["eos"] == {
        "im_end_id": 2,
        "tokenizer_eos_id": 2,
        "generation_config_eos_ids": [2],
        "served_im_end_tokens": [2],
    }
    chat = [r for r in server.requests if "messages" in r]
    assert all(r["tools"] == TOOLS and r["model"] == "zapvendas" for r in chat)


def test_parity_fails_on_a_template_one_space_off(tiny_base):
    with FakeVLLM(tiny_base, chat_template=off_by_a_space()) as server:
        with pytest.raises(TemplateParityError) as failure:
            check_parity(server.base_url, "zapvendas", tiny_base)
    message = str(failure.value)
    label = template_parity.renders()[0][0]
    assert f"{label}: first difference at token {system_turn_end(tiny_base)} " in message
    assert "training: " in message and "served:   " in message and "' <|im_end|>" in message


def test_stop_tokens_must_agree(tiny_base, tmp_path):
    model = shutil.copytree(tiny_base, tmp_path / "base")
    config = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps(config | {"eos_token_id": 0}))
    with FakeVLLM(model) as server:
        with pytest.raises(TemplateParityError, match=r"eos_token_id \[0\] does not stop at <\|im_end\|> \(id 2\)"):
            check_parity(server.base_url, "zapvendas", model)


def test_an_unknown_served_name_is_an_error(tiny_base):
    with FakeVLLM(tiny_base) as server:
        with pytest.raises(TemplateParityError, match="answered 404"):
            check_parity(server.base_url, "sft", tiny_base)


def test_cli(tiny_base, capsys):
    with FakeVLLM(tiny_base) as server:
        template_parity.main(["--base-url", server.base_url, "--model", "zapvendas", "--tokenizer", str(tiny_base)])
    assert json.loads(capsys.readouterr().out)["eos"]["im_end_id"] == 2
    with FakeVLLM(tiny_base, chat_template=off_by_a_space()) as server:
        args = ["--base-url", server.base_url, "--model", "zapvendas", "--tokenizer", str(tiny_base)]
        with pytest.raises(SystemExit, match="first difference at token"):
            template_parity.main(args)


def _real_vllm(model: Path, log: Path, chat_template: Path | None = None):
    port = free_port()
    extra = {"chat_template": chat_template} if chat_template else {}
    proc = start_vllm(model, port, "zapvendas", log_path=log, max_model_len=2048, **extra)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 300, proc, "vLLM")
    except Exception:
        stop(proc)
        raise AssertionError(f"vLLM did not start: {log.read_text()[-3000:]}") from None
    return proc, f"http://127.0.0.1:{port}/v1"


@pytest.mark.slow
def test_parity_against_real_vllm_servers(tiny_base, tmp_path):
    proc, url = _real_vllm(tiny_base, tmp_path / "vllm.log")
    try:
        summary = check_parity(url, "zapvendas", tiny_base)
    finally:
        stop(proc)
    assert summary["eos"]["served_im_end_tokens"] == [2]
    bad = tmp_path / "bad_template.jinja"
    bad.write_text(off_by_a_space(), encoding="utf-8")
    proc, url = _real_vllm(tiny_base, tmp_path / "vllm_bad.log", chat_template=bad)
    try:
        with pytest.raises(TemplateParityError, match=f"first difference at token {system_turn_end(tiny_base)} "):
            check_parity(url, "zapvendas", tiny_base)
    finally:
        stop(proc)
