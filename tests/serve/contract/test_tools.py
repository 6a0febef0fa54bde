import json

import pytest

from serve.contract import TOOL_ARGS, TOOLS, ToolCallError, parse_tool_arguments

REQUIRED_TOOLS = {
    "search_products",
    "get_product",
    "add_to_cart",
    "remove_from_cart",
    "view_cart",
    "recommend",
    "checkout",
    "order_status",
    "handoff_to_human",
}


def test_schema_lists_every_tool_in_openai_format():
    names = [t["function"]["name"] for t in TOOLS]
    assert set(names) == REQUIRED_TOOLS and len(names) == len(set(names))
    for tool in TOOLS:
        assert tool["type"] == "function"
        params = tool["function"]["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])
        assert tool["function"]["description"]
        json.dumps(tool)  # serialisable as the OpenAI API sends it


def test_no_tool_takes_a_price_or_customer_id():
    for tool in TOOLS:
        props = tool["function"]["parameters"]["properties"]
        assert not {"price", "price_cents", "total", "customer_id", "phone"} & set(props)


def test_search_products_schema_matches_the_issue():
    props = next(t for t in TOOLS if t["function"]["name"] == "search_products")["function"]["parameters"]
    assert set(props["properties"]) == {"query", "category", "max_price", "sort"}
    assert props["required"] == ["query"]
    assert props["properties"]["sort"]["enum"][0] == "relevance"
    checkout = next(t for t in TOOLS if t["function"]["name"] == "checkout")["function"]["parameters"]
    assert checkout["properties"]["payment_method"]["enum"] == ["pix", "card", "boleto"]


def test_valid_calls_parse_from_json_text_and_dict():
    args = parse_tool_arguments("search_products", '{"query": "fone", "max_price": 99.9}')
    assert args.max_price_cents == 9990
    assert parse_tool_arguments("add_to_cart", {"product_id": "abc"}).quantity == 1
    assert parse_tool_arguments("view_cart", "").model_dump() == {}


@pytest.mark.parametrize(
    ("name", "arguments", "fragment"),
    [
        ("buy_now", {}, "desconhecida"),
        ("add_to_cart", {"product_id": "abc", "quantity": -1}, "quantity"),
        ("add_to_cart", {"product_id": "abc", "quantity": 0}, "quantity"),
        ("add_to_cart", {"product_id": "abc", "price": 1.0}, "price"),
        ("checkout", {"payment_method": "bitcoin"}, "payment_method"),
        ("get_product", {}, "product_id"),
        ("search_products", "{not json", "JSON"),
        ("search_products", "[1, 2]", "objeto"),
        ("view_cart", {"customer_id": 7}, "customer_id"),
    ],
)
def test_bad_calls_are_refused_with_a_readable_reason(name, arguments, fragment):
    with pytest.raises(ToolCallError) as err:
        parse_tool_arguments(name, arguments)
    assert fragment in str(err.value)


def test_every_tool_model_forbids_extra_arguments():
    for name, model in TOOL_ARGS.items():
        assert model.model_config["extra"] == "forbid", name
