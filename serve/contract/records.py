"""Conversation records: OpenAI-style messages with `tool_calls`, one conversation per JSONL line.

A record never holds the system message: `chat_messages(record)` prepends it from the contract,
so training data and the serving agent build the exact same prefix.

    {"id": "c000042", "scenario": "quick_purchase", "language": "pt",
     "context": {"name": "Ana", "recurring": false, ...} | null,
     "messages": [
       {"role": "user", "content": "oi, tem fone bluetooth?"},
       {"role": "assistant", "content": null, "technique": "consultiva:pergunta",
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "search_products", "arguments": "{\"query\": \"fone\"}"}}]},
       {"role": "tool", "tool_call_id": "call_1", "name": "search_products", "content": "{...}"},
       {"role": "assistant", "content": "Achei 3 opções ...", "technique": "cialdini:prova_social"}]}

`technique` tags the persuasion technique of an assistant turn (analysis and preference data) and
`intent` labels a user turn (NLU training data); `chat_messages` drops both.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve.contract.prompt import CustomerContext, system_prompt
from serve.contract.tools import ToolCallError, parse_tool_arguments

SCENARIOS = (
    "exploration",  # seed scenario 1
    "quick_purchase",  # seed scenario 2
    "undecided",  # seed scenario 3: objections
    "recurring",  # seed scenario 4
    "cart_edit",
    "support",
    "handoff",
    "off_topic",
    "lgpd",
    "order_status",
)
# Intent of a customer turn: labels for the NLU classifier (nlu stage) and dataset statistics.
INTENTS = (
    "greeting",
    "browse_categories",
    "search_product",
    "product_details",
    "add_to_cart",
    "remove_from_cart",
    "view_cart",
    "checkout",
    "payment_question",
    "order_status",
    "recommendation",
    "objection_price",
    "objection_quality",
    "objection_shipping",
    "complaint",
    "human_request",
    "off_topic",
    "lgpd",
    "thanks_goodbye",
    "decline",
)
TECHNIQUES = (
    "cialdini:reciprocidade",
    "cialdini:compromisso",
    "cialdini:prova_social",
    "cialdini:autoridade",
    "cialdini:afinidade",
    "cialdini:escassez",
    "aida:atencao",
    "aida:interesse",
    "aida:desejo",
    "aida:acao",
    "consultiva:pergunta",
    "suporte",
    "nenhuma",
)


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: str  # a JSON object as text, exactly as the OpenAI API carries it


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    technique: Literal[TECHNIQUES] | None = None  # type: ignore[valid-type]
    intent: Literal[INTENTS] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _shape(self) -> Message:
        if self.role == "tool" and not (self.tool_call_id and self.content is not None):
            raise ValueError("tool message needs tool_call_id and content")
        if self.role == "user" and not self.content:
            raise ValueError("user message needs content")
        if self.role == "assistant" and not (self.content or self.tool_calls):
            raise ValueError("assistant message needs content or tool_calls")
        if self.role != "assistant" and (self.tool_calls or self.technique):
            raise ValueError(f"{self.role} message cannot carry tool_calls or technique")
        if self.role != "user" and self.intent:
            raise ValueError(f"{self.role} message cannot carry an intent")
        return self


class Conversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    scenario: Literal[SCENARIOS]  # type: ignore[valid-type]
    language: Literal["pt", "en"]
    context: CustomerContext | None = None
    messages: list[Message] = Field(min_length=2)

    @model_validator(mode="after")
    def _dialogue(self) -> Conversation:
        validate_dialogue([m.model_dump(exclude_none=True) for m in self.messages])
        return self


def validate_dialogue(messages: list[dict]) -> None:
    """Check turn order and every tool call against the tool schema; raise ValueError on the first problem.

    Rules: starts with a user turn, ends with an assistant turn; every tool call names a known
    tool with arguments the server would accept; every call is answered by exactly one tool
    message (same id, same name) before the next assistant or user turn.
    """
    if not messages or messages[0]["role"] != "user":
        raise ValueError("a conversation starts with a user message")
    if messages[-1]["role"] != "assistant":
        raise ValueError("a conversation ends with an assistant message")
    pending: dict[str, str] = {}
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role == "tool":
            name = pending.pop(msg.get("tool_call_id", ""), None)
            if name is None:
                raise ValueError(f"message {i}: tool result answers no pending call")
            if msg.get("name") not in (None, name):
                raise ValueError(f"message {i}: tool result named {msg['name']!r}, call was {name!r}")
            continue
        if pending:
            raise ValueError(f"message {i}: calls {sorted(pending)} were never answered")
        for call in msg.get("tool_calls") or []:
            fn = call["function"]
            try:
                parse_tool_arguments(fn["name"], fn["arguments"])
            except ToolCallError as exc:
                raise ValueError(f"message {i}: {exc}") from exc
            if call["id"] in pending:
                raise ValueError(f"message {i}: duplicate tool call id {call['id']!r}")
            pending[call["id"]] = fn["name"]
    if pending:
        raise ValueError(f"calls {sorted(pending)} were never answered")


def chat_messages(record: dict | Conversation) -> list[dict]:
    """System message + the record's messages, in the shape `apply_chat_template` and vLLM take."""
    conv = record if isinstance(record, Conversation) else Conversation.model_validate(record)
    system = {"role": "system", "content": system_prompt(conv.context)}
    return [system] + [m.model_dump(exclude_none=True, exclude={"technique", "intent"}) for m in conv.messages]


def tool_call(call_id: str, name: str, arguments: dict) -> dict:
    """One OpenAI-format tool call; arguments serialised the way the chat template renders them."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
    }


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
