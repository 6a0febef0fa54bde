"""The agent contract: the one source of truth that training (`pipelines/`) and serving (`serve/`) import.

- tool schema and argument validation: `serve.contract.tools`
- system prompt and customer context: `serve.contract.prompt`
- chat template: `configs/chat_template.jinja` (`chat_template()`, `render_chat()`), and the
  tool-call text format it teaches (`extract_tool_calls()`, same as vLLM's hermes parser)
- conversation records (JSONL) and their validation: `serve.contract.records`
- money: integer cents inside, "R$ 1.234,56" at the edge: `serve.contract.money`
"""

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
from serve.contract.template import CHAT_TEMPLATE_PATH, chat_template, extract_tool_calls, render_chat
from serve.contract.tools import TOOL_ARGS, TOOL_NAMES, TOOLS, ToolCallError, parse_tool_arguments

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
    "extract_tool_calls",
    "render_chat",
    "format_brl",
    "parse_brl_cents",
    "parse_tool_arguments",
    "read_jsonl",
    "system_prompt",
    "tool_call",
    "validate_dialogue",
    "write_jsonl",
]
