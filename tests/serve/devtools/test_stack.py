"""serve/devtools/stack.py: the vLLM command line `make serve`, the e2e test and the benchmark share."""

from pathlib import Path

import pytest

from serve.contract import chat_template
from serve.devtools import stack


@pytest.mark.parametrize(
    "cuda, native_bf16, eager, fp32",
    [
        (False, False, True, True),
        (False, True, True, False),
        (True, False, False, False),
    ],
)
def test_vllm_command_fits_the_machine(monkeypatch, cuda, native_bf16, eager, fp32):
    monkeypatch.setattr(stack, "cuda_available", lambda: cuda)
    monkeypatch.setattr(stack, "cpu_has_native_bf16", lambda: native_bf16)
    cmd = stack.vllm_command("models/export", 8000, "zapvendas", max_model_len=4096)
    assert cmd[cmd.index("--tool-call-parser") + 1] == "hermes"
    template = Path(cmd[cmd.index("--chat-template") + 1])
    assert template.is_file() and template.read_text(encoding="utf-8") == chat_template()  # the contract's template
    assert ("--enforce-eager" in cmd) is eager
    assert (cmd[-2:] == ["--dtype", "float32"]) is fp32 and ("--dtype" in cmd) is fp32
