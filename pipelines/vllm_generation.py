"""Greedy completions from a vLLM server: a model, and optionally its LoRA adapters (evaluate).

The server is the serving engine (serve/core/engine.py: the same command line as `make serve`),
an adapter served as a LoRA module is requested by its name in the `model` field; requests go out at most
`concurrency` at a time, and vLLM batches them.

Prompts go out as token ids rendered by the training tokenizer, so the model sees exactly the
prompt training rendered; whether vLLM's own chat template renders the same tokens is the parity
gate's question (pipelines/template_parity.py), asked before any completion. Replies come back as
generated token ids (greedy: temperature 0; stopped at <|im_end|>, which is dropped) and are
decoded by the caller with the same tokenizer as the transformers path, special tokens kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

REQUEST_TIMEOUT_S = 3600  # a request may queue behind all the others on a 2-core machine


def completion_request(model: str, prompt: list[int], max_new_tokens: int, eos_id: int) -> dict:
    """One greedy completion of a token-id prompt, as /v1/completions takes it."""
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_new_tokens,
        "temperature": 0.0,
        "stop_token_ids": [eos_id],
        "skip_special_tokens": False,  # the text keeps <tool_call> and any special token the model wrote
        "spaces_between_special_tokens": False,
        "return_token_ids": True,
    }


def completion_tokens(response: dict, eos_id: int) -> list[int]:
    """The generated ids of a /v1/completions answer, without the closing <|im_end|>."""
    choice = response["choices"][0]
    ids = choice.get("token_ids")
    if ids is None:
        raise RuntimeError(f"vLLM returned no token_ids (return_token_ids unsupported?): {str(response)[:300]}")
    return ids[:-1] if ids and ids[-1] == eos_id else list(ids)


def complete(
    base_url: str,
    jobs: list[tuple[str, list[int]]],
    max_new_tokens: int,
    eos_id: int,
    concurrency: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[list[int]], list[float]]:
    """Generated ids for every (served model name, prompt ids) job, in order; and when each job
    finished (seconds since the first request went out)."""
    tokens: list[list[int]] = [[] for _ in jobs]
    finished = [0.0] * len(jobs)
    done, lock = [0], threading.Lock()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    start = time.perf_counter()
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=REQUEST_TIMEOUT_S, limits=limits) as client:

        def run(i: int) -> None:
            model, prompt = jobs[i]
            response = client.post("/v1/completions", json=completion_request(model, prompt, max_new_tokens, eos_id))
            if response.status_code != 200:
                raise RuntimeError(f"vLLM /v1/completions ({model}) answered {response.status_code}: {response.text}")
            tokens[i] = completion_tokens(response.json(), eos_id)
            finished[i] = time.perf_counter() - start
            with lock:
                done[0] += 1
                if progress:
                    progress(done[0], len(jobs))

        pool = ThreadPoolExecutor(max_workers=concurrency)
        try:
            for future in [pool.submit(run, i) for i in range(len(jobs))]:
                future.result()  # the first failure raises here ...
        finally:
            pool.shutdown(cancel_futures=True)  # ... and the jobs not yet sent are dropped
    return tokens, finished
