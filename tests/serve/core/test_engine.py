"""serve/core/engine.py: the vLLM command line `make serve`, the evaluate stage, the e2e test and the benchmark share."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from serve.contract import chat_template
from serve.core import engine


@pytest.mark.parametrize(
    "cuda, native_bf16, eager, fp32",
    [
        (False, False, True, True),
        (False, True, True, False),
        (True, False, False, False),
    ],
)
def test_vllm_command_fits_the_machine(monkeypatch, cuda, native_bf16, eager, fp32):
    monkeypatch.setattr(engine, "cuda_available", lambda: cuda)
    monkeypatch.setattr(engine, "cpu_has_native_bf16", lambda: native_bf16)
    cmd = engine.vllm_command("models/export", 8000, "zapvendas", max_model_len=4096)
    assert cmd[cmd.index("--tool-call-parser") + 1] == "hermes"
    template = Path(cmd[cmd.index("--chat-template") + 1])
    assert template.is_file() and template.read_text(encoding="utf-8") == chat_template()  # the contract's template
    assert ("--enforce-eager" in cmd) is eager
    assert (cmd[-2:] == ["--dtype", "float32"]) is fp32 and ("--dtype" in cmd) is fp32
    assert "--enable-lora" not in cmd


def _adapter(path: Path, r: int) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"r": r, "peft_type": "LORA"}), encoding="utf-8")
    return path


@pytest.mark.parametrize("cuda, slots", [(True, "2"), (False, "3")])
def test_lora_modules_are_served_next_to_the_base(tmp_path, monkeypatch, cuda, slots):
    monkeypatch.setattr(engine, "cuda_available", lambda: cuda)
    sft, dpo = _adapter(tmp_path / "sft", 4), _adapter(tmp_path / "dpo", 12)
    cmd = engine.vllm_command("models/base", 8000, "base", lora_modules={"sft": sft, "dpo": dpo})
    assert cmd[cmd.index("--served-model-name") + 1] == "base"
    at = cmd.index("--lora-modules")
    assert "--enable-lora" in cmd and cmd[at + 1 : at + 3] == [f"sft={sft}", f"dpo={dpo}"]
    assert cmd[cmd.index("--max-lora-rank") + 1] == "16"  # the largest r (12), rounded up to a rank vLLM takes
    # both adapters in one batch; on CPU a spare, empty last slot for base requests
    assert cmd[cmd.index("--max-loras") + 1] == slots


def test_lora_rank(tmp_path):
    assert engine.lora_rank([_adapter(tmp_path / "a", 8)]) == 8
    assert engine.lora_rank([_adapter(tmp_path / "b", 2)]) == 8
    assert engine.lora_rank([_adapter(tmp_path / "c", 1)]) == 1
    with pytest.raises(SystemExit, match="rank 1000"):
        engine.lora_rank([_adapter(tmp_path / "d", 1000)])
    with pytest.raises(SystemExit, match="adapter_config.json missing"):
        engine.lora_rank([tmp_path])


def test_start_vllm_refuses_a_directory_without_a_model(tmp_path):
    with pytest.raises(SystemExit, match="config.json missing"):
        engine.start_vllm(tmp_path, engine.free_port())


def test_free_port_is_free():
    port = engine.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # would raise if something held it


def test_wait_http_fails_fast_when_the_server_exits():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(RuntimeError, match="exited with code 3"):
        engine.wait_http(f"http://127.0.0.1:{engine.free_port()}/health", 5, proc, "vLLM")
    with pytest.raises(TimeoutError, match="did not answer"):
        engine.wait_http(f"http://127.0.0.1:{engine.free_port()}/health", 1)


def test_free_ports_are_different_and_free():
    ports = engine.free_ports(8)
    assert len(set(ports)) == 8
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_vllm_servers_start_all_at_once_and_stop_every_one(tmp_path, monkeypatch):
    """Every server is launched before the caller waits for any; leaving the block stops them all,
    also after a failure; a server that dies while starting is reported with its log's tail."""
    started = []

    def fake_start(model, port, name, *, log_path, **kwargs):
        log_path.write_text(f"{name} log line\nTraceback: no model in {model}\n")
        # `name` exits at once when it is "broken", else it sleeps until stopped
        code = "raise SystemExit(1)" if name == "broken" else "import time; time.sleep(60)"
        proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        started.append((name, port, kwargs, proc))
        return proc

    monkeypatch.setattr(engine, "start_vllm", fake_start)
    with pytest.raises(SystemExit, match=r"vLLM \(broken\) exited with code 1(.|\n)*no model in /m/broken"):
        with engine.vllm_servers({"ok": "/m/ok", "broken": "/m/broken"}, tmp_path, frontend_core=False) as servers:
            assert [s[0] for s in started] == ["ok", "broken"]  # both launched before anyone waits
            assert servers["ok"].url == f"http://127.0.0.1:{started[0][1]}" and started[0][1] != started[1][1]
            assert started[0][2] == {"frontend_core": False}
            servers["broken"].ready(30)
    assert all(proc.poll() is not None for *_, proc in started)  # the sleeping one was stopped too
    assert (tmp_path / "vllm-ok.log").is_file()
