"""The agent contract: the one source of truth that training (`pipelines/`) and serving (`serve/`) import.

- tool schema and argument validation: `serve.contract.tools`
- system prompt and customer context: `serve.contract.prompt`
- chat template: `configs/chat_template.jinja` (read by `chat_template()`)
- conversation records (JSONL) and their validation: `serve.contract.records`
- money: integer cents inside, "R$ 1.234,56" at the edge: `serve.contract.money`
"""

from pathlib import Path

from serve.contract.money import format_brl, parse_brl_cents
from serve.contract.prompt import SYSTEM_PROMPT, CustomerContext, system_prompt
from serve.contract.records import (
    Conversation,
    chat_messages,
    read_jsonl,
    tool_call,
    validate_dialogue,
    write_jsonl,
)
from serve.contract.tools import TOOL_ARGS, TOOL_NAMES, TOOLS, ToolCallError, parse_tool_arguments

CHAT_TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "configs" / "chat_template.jinja"


def chat_template() -> str:
    """The Jinja chat template text, exactly as training sets it and vLLM serves it."""
    return CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")


__all__ = [
    "CHAT_TEMPLATE_PATH",
    "SYSTEM_PROMPT",
    "TOOLS",
    "TOOL_ARGS",
    "TOOL_NAMES",
    "Conversation",
    "CustomerContext",
    "ToolCallError",
    "chat_messages",
    "chat_template",
    "format_brl",
    "parse_brl_cents",
    "parse_tool_arguments",
    "read_jsonl",
    "system_prompt",
    "tool_call",
    "validate_dialogue",
    "write_jsonl",
]
