"""The chat template and the tool-call text format it teaches the model.

`configs/chat_template.jinja` is the file; training sets it as `tokenizer.chat_template` and
vLLM serves it with `--chat-template`. `extract_tool_calls` reads model text exactly the way
vLLM's `hermes` tool parser does, so evaluation (and the agent's fallback for text that slipped
past the server-side parser) agree with serving.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from serve.contract.tools import TOOLS

CHAT_TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "configs" / "chat_template.jinja"
# Same regex as vllm/tool_parsers/hermes_tool_parser.py: closed blocks, or one left open at the end.
TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)


def chat_template() -> str:
    """The Jinja chat template text, exactly as training sets it and vLLM serves it."""
    return CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")


def render_chat(messages: list[dict], tools: list[dict] | None = None, add_generation_prompt: bool = False) -> str:
    """Render messages with the contract template, without loading a tokenizer (transformers' renderer)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        [messages],
        tools=TOOLS if tools is None else tools,
        chat_template=chat_template(),
        add_generation_prompt=add_generation_prompt,
    )
    return rendered[0]


def extract_tool_calls(text: str) -> tuple[str | None, list[dict]]:
    """Split model output into (content before the first call, [{"name", "arguments": json str}]).

    Mirrors vLLM's hermes parser: if any block is not valid JSON with `name` and `arguments`,
    nothing is a tool call and the whole text is content (vLLM returns it the same way).
    """
    if "<tool_call>" not in text:
        return text, []
    try:
        calls = []
        for closed, open_tail in TOOL_CALL_RE.findall(text):
            obj = json.loads(closed or open_tail)
            calls.append({"name": obj["name"], "arguments": json.dumps(obj["arguments"], ensure_ascii=False)})
    except (json.JSONDecodeError, KeyError, TypeError):
        return text, []
    content = text[: text.find("<tool_call>")]
    return (content or None), calls
