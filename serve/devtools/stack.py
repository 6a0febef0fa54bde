"""`make serve`: vLLM's OpenAI-compatible server on the exported model, then the bot, health-checked.

    python -m serve.devtools.stack [--model models/export] [--vllm-port 8000] [--port 8080]

vLLM is started by serve/core/engine.py (the same command line as the evaluate stage, the
simulator, the end-to-end test and the latency benchmark), served under the name in LLM_MODEL.
The bot (`python -m serve`) starts once `GET /v1/models` answers and gets LLM_BASE_URL/LLM_MODEL
pointing at it; we wait for its `/readyz`, then hold both processes until Ctrl-C (or one of them
dies), and stop both.

On CPU the bot runs on the core vLLM keeps for its front end (`keep_off_engine_cores`), never on
the engine's cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from serve.core.engine import keep_off_engine_cores, start_vllm, stop, wait_http
from serve.settings import get_settings


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
