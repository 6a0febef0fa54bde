"""A local OpenAI-compatible server (vLLM's API surface) with scripted answers, for fast agent tests.

The agent talks to it through the real `openai` client and a real HTTP socket, exactly as it
talks to vLLM; only the model is replaced by a script. Each POST /v1/chat/completions pops the
next scripted step:

    FakeLLM.text("Olá!")                                  → assistant text
    FakeLLM.call("add_to_cart", {"product_id": "p1"})     → one tool call (server-parsed, like
                                                            vLLM's hermes parser)
    FakeLLM.raw_text('<tool_call>\\n{...}\\n</tool_call>') → text the server did NOT parse
    FakeLLM.error(500) / FakeLLM.delay(5.0, step)          → HTTP error / slow answer (timeouts)
    a callable(request_json) -> step                       → computed answers
    {"choices": [step, step, ...]}                          → several choices (a request with `n`)

When the script is empty the server answers with `default` (a plain text, or a callable like a
script step) so a test that scripts too little fails on its assertions, not on a hang. Every
request body is recorded in `.requests` for assertions (messages, tools, max_tokens).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.local_server import LocalServer

MODEL_ID = "fake-zapvendas"


class FakeLLM:
    def __init__(self, model: str = MODEL_ID, default: str | Callable[[dict], dict] = "Posso ajudar em algo mais?"):
        self.model = model
        self.default = default
        self.script: deque = deque()
        self.requests: list[dict] = []
        self.models_status = 200  # set to 500/503 to make /v1/models fail (readiness tests)
        self._ids = itertools.count(1)
        self._local: LocalServer | None = None
        self.port: int | None = None
        self.app = self._build_app()

    # ---- script steps -------------------------------------------------------------------
    @staticmethod
    def text(content: str) -> dict:
        return {"content": content}

    @staticmethod
    def call(name: str, arguments: dict | str, content: str | None = None) -> dict:
        return {"content": content, "tool_calls": [(name, arguments)]}

    @staticmethod
    def calls(*calls: tuple[str, dict | str], content: str | None = None) -> dict:
        return {"content": content, "tool_calls": list(calls)}

    @staticmethod
    def raw_text(content: str) -> dict:
        """Model text returned as content (e.g. a `<tool_call>` block the server failed to parse)."""
        return {"content": content}

    @staticmethod
    def error(status: int = 500, message: str = "internal error") -> dict:
        return {"status": status, "message": message}

    @staticmethod
    def delay(seconds: float, step: dict | None = None) -> dict:
        return {"delay": seconds, **(step or {"content": "tarde demais"})}

    def push(self, *steps: dict | Callable[[dict], dict]) -> FakeLLM:
        self.script.extend(steps)
        return self

    # ---- server ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models():
            if self.models_status != 200:
                return JSONResponse({"error": {"message": "down"}}, status_code=self.models_status)
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "fake"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body)
            step: Any = self.script.popleft() if self.script else self.default
            if isinstance(step, str):
                step = {"content": step}
            if callable(step):
                step = step(body)
            if step.get("delay"):
                await asyncio.sleep(step["delay"])
            if step.get("status"):
                return JSONResponse(
                    {"error": {"message": step["message"], "type": "server_error", "code": step["status"]}},
                    status_code=step["status"],
                )
            return self._completion(body, step)

        return app

    def _completion(self, body: dict, step: dict) -> dict:
        """One choice, or one per sub-step of a {"choices": [step, ...]} step (a request with `n`)."""
        choices = [self._choice(i, sub) for i, sub in enumerate(step.get("choices") or [step])]
        n_prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        n_completion = sum(
            len(c["message"]["content"] or "") // 4 + 20 * len(c["message"]["tool_calls"] or []) for c in choices
        )
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": choices,
            "usage": {
                "prompt_tokens": n_prompt,
                "completion_tokens": n_completion,
                "total_tokens": n_prompt + n_completion,
            },
        }

    def _choice(self, index: int, step: dict) -> dict:
        tool_calls = []
        for name, args in step.get("tool_calls") or []:
            arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            tool_calls.append(
                {
                    "id": f"chatcmpl-tool-{next(self._ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            )
        message = {"role": "assistant", "content": step.get("content"), "tool_calls": tool_calls or None}
        finish = "tool_calls" if tool_calls else "stop"
        return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}

    def start(self) -> FakeLLM:
        self._local = LocalServer(self.app, "fake-llm").start()
        self.port = self._local.port
        return self

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
