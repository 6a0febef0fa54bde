"""Every request the bot makes to vLLM's OpenAI-compatible API, and reading its tool calls back.

    model = ModelClient(settings, catalogue)
    choice = await model.complete(turn, deadline, prefix=tool_call_prefix("search_products"))
    content, calls = tool_calls(choice.message, prefix)

At most LLM_MAX_CONCURRENCY calls are in flight across customers. With AGENT_STRUCTURED_OUTPUTS
every call carries a grammar (serve/conversation/structured_outputs.py): the arguments the model
writes, and any call in a free answer, follow the contract's schema with the catalogue's categories
and the products the conversation has shown. `<tool_call>` text that slipped past vLLM's hermes
parser is parsed here with the same rules (`extract_tool_calls`).
"""

from __future__ import annotations

import asyncio
import logging
import time

import openai
from openai import AsyncOpenAI

from serve.contract import TOOLS, extract_tool_calls, system_prompt
from serve.conversation.model_text import STOP
from serve.conversation.structured_outputs import (
    ARGUMENTS_END,
    arguments_format,
    category_spellings,
    close_arguments,
    free_turn_format,
    response_format,
    shown_products,
)
from serve.conversation.turn import Turn
from serve.core.catalog import Catalogue
from serve.settings import Settings
from serve.storage.events import EventName

log = logging.getLogger(__name__)


class ModelClient:
    def __init__(self, settings: Settings, catalogue: Catalogue, client: AsyncOpenAI | None = None):
        self.settings = settings
        self.catalogue = catalogue
        self._categories: list[str] | None = None  # the catalogue's category spellings, read once
        # vLLM on a few CPU cores slows every call down when it batches many, so beyond
        # LLM_MAX_CONCURRENCY they queue here, while the worker keeps answering button turns
        # (which need no model) for other customers.
        self.slots = asyncio.Semaphore(settings.LLM_MAX_CONCURRENCY)
        # max_retries=0: a retried timeout doubles the customer's wait; the fallback is better.
        self.client = client or AsyncOpenAI(
            base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY, timeout=settings.LLM_TIMEOUT_S, max_retries=0
        )

    async def chat(self, messages: list[dict], max_tokens: int, temperature: float = 0.0, **kwargs):
        """One chat completion with the contract's tools."""
        return await self.client.chat.completions.create(
            model=self.settings.LLM_MODEL,
            messages=messages,
            tools=TOOLS,
            tool_choice="auto",
            max_tokens=max_tokens,
            temperature=temperature,
            **kwargs,
        )

    async def warm_up(self) -> bool:
        """One 1-token request with the system prompt and tools, so vLLM's prefix cache holds the
        ~700 tokens every conversation starts with before the first customer arrives (the first
        turn after a restart otherwise pays their prefill). False if vLLM is not reachable; the bot
        works without it. With AGENT_STRUCTURED_OUTPUTS it carries a free turn's grammar, so vLLM's
        grammar compiler pays its one-time start-up here, not on a customer's turn
        (bench/RESULTS.md, "Structured outputs")."""
        messages = [{"role": "system", "content": system_prompt()}, {"role": "user", "content": "oi"}]
        extra = {}
        if self.settings.AGENT_STRUCTURED_OUTPUTS:
            extra["response_format"] = self.output_format(Turn(0, messages), None)
        try:
            await self.chat(messages, 1, **extra)
        except (TimeoutError, openai.APIError, openai.APITimeoutError) as exc:
            log.warning("llm warm-up failed", extra={"error": type(exc).__name__})
            return False
        return True

    async def complete(self, turn: Turn, deadline: float, temperature: float = 0.0, prefix: str | None = None):
        """One model call on the turn's messages, or None (the error is the turn's event);
        `prefix` starts the assistant's answer (vLLM's continue_final_message: the model continues
        that text instead of starting its own)."""
        messages, extra, stop = turn.messages, {}, STOP
        if prefix:
            messages = turn.messages + [{"role": "assistant", "content": prefix}]
            extra = {"extra_body": {"continue_final_message": True, "add_generation_prompt": False}}
            stop = STOP + [ARGUMENTS_END]
        if self.settings.AGENT_STRUCTURED_OUTPUTS:
            extra["response_format"] = self.output_format(turn, prefix)
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            turn.events.append((EventName.LLM_ERROR, {"error": "turn_deadline"}))
            return None
        started = time.monotonic()
        try:
            async with asyncio.timeout(remaining), self.slots:  # waiting for a slot counts too
                response = await self.chat(
                    messages,
                    self.settings.AGENT_MAX_TOKENS,
                    temperature=temperature,
                    timeout=max(deadline - time.monotonic(), 0.05),
                    stop=stop,
                    **extra,
                )
        except (TimeoutError, openai.APIError, openai.APITimeoutError, ValueError) as exc:
            turn.events.append(
                (EventName.LLM_ERROR, {"error": type(exc).__name__, "status": getattr(exc, "status_code", None)})
            )
            log.warning("llm call failed", extra={"customer_id": turn.customer_id, "error": type(exc).__name__})
            return None
        finally:
            turn.llm_calls += 1
            turn.llm_ms += (time.monotonic() - started) * 1000
        if response.usage:
            turn.completion_tokens += response.usage.completion_tokens or 0
        if not response.choices:
            return None
        return response.choices[0]  # .message, and .finish_reason ("length": cut by max_tokens)

    def output_format(self, turn: Turn, prefix: str | None) -> dict:
        """What the model may write: the arguments of the call the server started (`prefix`: a
        call to turn.tool), else text or valid calls."""
        if self._categories is None:
            self._categories = category_spellings(self.catalogue)
        products = shown_products(turn.messages)
        if prefix:
            return response_format(arguments_format(turn.tool, self._categories, products))
        return response_format(free_turn_format(self._categories, products))


def tool_calls(message, prefix: str | None = None) -> tuple[str | None, list[dict]]:
    """(content, calls) from a response message: vLLM's parsed calls, else our hermes parse of the
    text (after `prefix`, the start of the answer the server wrote: vLLM sees only the continuation)."""
    text = message.content or ""
    if prefix:
        # stopped at ARGUMENTS_END, which vLLM leaves out (close_arguments adds it back)
        text = prefix + (text if "</tool_call>" in text else close_arguments(text))
    elif message.tool_calls:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments or "{}"},
            }
            for c in message.tool_calls
        ]
        return message.content, calls
    content, parsed = extract_tool_calls(text)
    calls = [
        {"id": f"call_{i}_{int(time.time() * 1000) % 10**8}", "type": "function", "function": c}
        for i, c in enumerate(parsed)
    ]
    return (content.strip() if content else None), calls
