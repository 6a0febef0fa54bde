"""vLLM's tokenizer and completions endpoints on a local socket, backed by a transformers tokenizer.

For the tests of the parity gate and of evaluate's requests, where starting a real vLLM server
costs more than the test is worth (the real-server tests are marked `slow`):

- POST /tokenize, chat form ({"model", "messages", "tools", "add_generation_prompt"}): the
  messages rendered with `chat_template` (the one "served") the way vLLM renders them: tool-call
  arguments parsed from JSON text into dicts first (vllm/renderers/chat_utils.py), then the
  tokenizer's `apply_chat_template`. Prompt form ({"model", "prompt", "add_special_tokens"}): the
  tokenizer's encoding.
- POST /v1/completions with token-id prompts: the scripted reply of the requested model
  (`replies[model]`, a callable(prompt ids) -> text) as `token_ids` and `text`, cut at the first
  stop token as vLLM cuts it (token_ids end with the stop token, the text does not). Every
  request body is kept in `.requests`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from transformers import AutoTokenizer

from tests.fakes.local_server import LocalServer


class FakeVLLM:
    def __init__(
        self,
        tokenizer_dir: str | Path,
        chat_template: str | None = None,
        models: tuple[str, ...] = ("zapvendas",),
        replies: dict[str, Callable[[list[int]], str]] | None = None,
    ):
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.chat_template = chat_template or self.tokenizer.chat_template
        self.models = models
        self.replies = replies or {}
        self.requests: list[dict] = []
        self._local: LocalServer | None = None
        self.app = self._build_app()

    @property
    def base_url(self) -> str:
        return self._local.url

    def _unknown(self, model: str | None) -> JSONResponse | None:
        if model not in self.models:
            message = f"The model `{model}` does not exist."
            return JSONResponse({"error": {"message": message, "code": 404}}, status_code=404)
        return None

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/tokenize")
        async def tokenize(request: Request):
            body = await request.json()
            self.requests.append(body)
            if error := self._unknown(body.get("model")):
                return error
            if "messages" in body:
                tokens = self.tokenizer.apply_chat_template(
                    with_dict_arguments(body["messages"]),
                    tools=body.get("tools"),
                    chat_template=self.chat_template,
                    add_generation_prompt=body.get("add_generation_prompt", True),
                    return_dict=True,
                )["input_ids"]
            else:
                tokens = self.tokenizer(
                    body["prompt"], add_special_tokens=body.get("add_special_tokens", True)
                ).input_ids
            return {"count": len(tokens), "max_model_len": 4096, "tokens": tokens}

        @app.post("/v1/completions")
        async def completions(request: Request):
            body = await request.json()
            self.requests.append(body)
            if error := self._unknown(body.get("model")):
                return error
            text = self.replies[body["model"]](body["prompt"])
            ids = self.tokenizer(text, add_special_tokens=False).input_ids
            stops = set(body.get("stop_token_ids") or [])
            ids = ids[: body["max_tokens"]]
            cut = next((i for i, t in enumerate(ids) if t in stops), None)
            if cut is None:
                text, finish = self.tokenizer.decode(ids), "length"
            else:  # like vLLM: the stop token ends token_ids, and is not in the text
                ids, text, finish = ids[: cut + 1], self.tokenizer.decode(ids[:cut]), "stop"
            choice = {"index": 0, "text": text, "finish_reason": finish, "token_ids": ids}
            return {"id": "cmpl-fake", "object": "text_completion", "model": body["model"], "choices": [choice]}

        return app

    def start(self) -> FakeVLLM:
        self._local = LocalServer(self.app, "fake-vllm").start()
        return self

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()

    def __enter__(self) -> FakeVLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def with_dict_arguments(messages: list[dict]) -> list[dict]:
    """What vLLM hands the template: assistant tool-call arguments parsed from JSON text into dicts."""
    messages = copy.deepcopy(messages)
    for m in messages:
        for call in m.get("tool_calls") or []:
            if isinstance(call["function"].get("arguments"), str):
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return messages
