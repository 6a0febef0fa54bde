"""`make serve`: vLLM's OpenAI-compatible server on the exported model, then the bot, supervised as a pair.

    python -m serve.devtools.stack [--model models/export] [--vllm-port 8000] [--port 8080]

vLLM is started by serve/core/engine.py (the same command line as the evaluate stage, the
simulator, the end-to-end test and the latency benchmark), served under the name in LLM_MODEL.
The bot (`python -m serve`) starts once `GET /v1/models` answers and gets LLM_BASE_URL/LLM_MODEL
pointing at it; we wait for its `/readyz`, then hold both.

Supervision (`supervise`): each child runs in its own process group (vLLM forks engine workers),
and stopping a child signals its whole group, even when the child itself has already died. SIGTERM, SIGINT (Ctrl-C) and SIGHUP (the terminal
closed) all stop the pair; without handlers SIGTERM and SIGHUP killed only the launcher and left
vLLM and the bot running, holding their ports. A child that dies (or never gets ready) stops the
other, with a line naming it and its exit code, and the launcher exits 1. The bot is stopped
first, while the model still answers, and given SHUTDOWN_WAIT_S + BOT_STOP_MARGIN_S to let its
turns in flight finish (serve/app.py) before its group is killed; vLLM after it.

On CPU the bot runs on the core vLLM keeps for its front end (`keep_off_engine_cores`), never on
the engine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from serve.core.engine import keep_off_engine_cores, start_vllm, stop, wait_http
from serve.settings import get_settings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
BOT_STOP_MARGIN_S = 10.0  # s beyond the app's own SHUTDOWN_WAIT_S: uvicorn closing connections, the engine


class Stopped(Exception):
    """A stop signal reached the launcher."""


def _raise_stopped(signum, _frame) -> None:
    raise Stopped(signal.Signals(signum).name)


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]  # must start the child in a new session (its own process group)
    ready_url: str
    ready_timeout_s: float
    stop_timeout_s: float = 20.0  # s between SIGTERM and SIGKILL to the child's group
    proc: subprocess.Popen | None = None


def stop_group(proc: subprocess.Popen | None, timeout_s: float) -> None:
    """engine.stop (SIGTERM the group, wait for its leader, SIGKILL if it lingers), then SIGKILL
    what is left of the group: a leader that died first (engine.stop then does nothing) leaves its
    members (vLLM's engine workers) holding memory and ports."""
    stop(proc, timeout_s)
    if proc is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def say(text: str) -> None:
    print(f"serve: {text}", flush=True)


def supervise(children: list[Child], *, poll_s: float = 0.5) -> int:
    """Start `children` in order, each once the one before answers its ready URL; hold them until a
    stop signal (returns 0) or until one exits (returns 1); then stop them all, last started first."""
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS}
    try:
        for child in children:
            say(f"starting {child.name} ...")
            child.proc = child.start()
            waited = wait_http(child.ready_url, child.ready_timeout_s, child.proc, child.name)
            say(f"{child.name} ready after {waited:.0f} s ({child.ready_url})")
        say("all ready (Ctrl-C stops all)")
        while True:
            dead = next((c for c in children if c.proc.poll() is not None), None)
            if dead is not None:
                say(f"{dead.name} exited with code {dead.proc.returncode}; stopping the others")
                return 1
            time.sleep(poll_s)
    except Stopped as sig:
        say(f"{sig} received; stopping")
        return 0
    except (RuntimeError, TimeoutError) as exc:  # a child exited or hung while starting
        say(f"{exc}; stopping the others")
        return 1
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the stopping short (and orphan a child)
            signal.signal(sig, signal.SIG_IGN)
        for child in reversed(children):
            if child.proc is not None and child.proc.poll() is None:
                say(f"stopping {child.name} (up to {child.stop_timeout_s:.0f} s)")
            stop_group(child.proc, child.stop_timeout_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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

    def start_bot() -> subprocess.Popen:
        env = dict(os.environ, LLM_BASE_URL=f"http://127.0.0.1:{args.vllm_port}/v1", LLM_MODEL=name)
        bot = subprocess.Popen(
            [sys.executable, "-m", "serve", "--host", args.host, "--port", str(args.port)],
            env=env,
            start_new_session=True,
        )
        keep_off_engine_cores(bot.pid)
        return bot

    vllm = Child(
        f"vLLM ({args.model} as {name!r})",
        lambda: start_vllm(args.model, args.vllm_port, name, max_model_len=args.max_model_len),
        f"http://127.0.0.1:{args.vllm_port}/v1/models",
        args.start_timeout,
    )
    bot = Child(
        f"bot on {args.host}:{args.port}",
        start_bot,
        f"http://127.0.0.1:{args.port}/readyz",
        120,
        stop_timeout_s=settings.SHUTDOWN_WAIT_S + BOT_STOP_MARGIN_S,
    )
    sys.exit(supervise([vllm, bot]))


if __name__ == "__main__":
    main()
