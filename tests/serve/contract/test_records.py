import json

import pytest
from pydantic import ValidationError

from serve.contract import (
    SYSTEM_PROMPT,
    Conversation,
    CustomerContext,
    chat_messages,
    system_prompt,
    tool_call,
)


def _record(**overrides):
    record = {
        "id": "c1",
        "scenario": "quick_purchase",
        "language": "pt",
        "messages": [
            {"role": "user", "content": "oi, tem fone bluetooth?", "intent": "search_product"},
            {
                "role": "assistant",
                "content": None,
                "technique": "consultiva:pergunta",
                "tool_calls": [tool_call("call_1", "search_products", {"query": "fone bluetooth"})],
            },
            {"role": "tool", "tool_call_id": "call_1", "name": "search_products", "content": '{"r": []}'},
            {"role": "assistant", "content": "Não achei esse, quer ver outro?", "technique": "consultiva:pergunta"},
        ],
    }
    record.update(overrides)
    return record


def test_valid_record_round_trips_to_chat_messages():
    msgs = chat_messages(_record())
    assert msgs[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert all("technique" not in m and "intent" not in m for m in msgs)
    assert json.loads(msgs[2]["tool_calls"][0]["function"]["arguments"]) == {"query": "fone bluetooth"}


def _with_messages(messages):
    return _record(messages=messages)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda m: m[:2] + m[3:], "never answered"),
        (lambda m: m[:3], "ends with an assistant"),
        (lambda m: m[1:], "starts with a user"),
        (
            lambda m: [
                m[0],
                {**m[1], "tool_calls": [tool_call("x", "add_to_cart", {"product_id": "p", "quantity": -2})]},
                *m[2:],
            ],
            "quantity",
        ),
        (
            lambda m: [
                m[0],
                {**m[1], "tool_calls": [tool_call("call_1", "add_to_cart", {"product_id": "p", "price": 10})]},
                *m[2:],
            ],
            "price",
        ),
        (lambda m: [m[0], m[1], {**m[2], "tool_call_id": "nope"}, m[3]], "no pending call"),
        (lambda m: [m[0], m[1], {**m[2], "name": "view_cart"}, m[3]], "call was"),
        (lambda m: [{**m[0], "intent": "flirting"}, *m[1:]], "intent"),
        (lambda m: [{**m[0], "technique": "aida:acao"}, *m[1:]], "technique"),
    ],
)
def test_invalid_records_are_refused_with_the_reason(mutate, fragment):
    with pytest.raises(ValidationError) as err:
        Conversation.model_validate(_with_messages(mutate(_record()["messages"])))
    assert fragment in str(err.value)


def test_unknown_scenario_and_extra_keys_are_refused():
    with pytest.raises(ValidationError):
        Conversation.model_validate(_record(scenario="teleshopping"))
    with pytest.raises(ValidationError):
        Conversation.model_validate(_record(price=10))


def test_customer_context_goes_into_the_system_prompt():
    ctx = CustomerContext(
        name="Ana", recurring=True, last_order="2x Toalha de Banho", preferred_categories=["cama_mesa_banho"]
    )
    prompt = system_prompt(ctx)
    assert prompt.startswith(SYSTEM_PROMPT) and "Ana" in prompt and "recorrente" in prompt and "Toalha" in prompt
    assert system_prompt(CustomerContext()) == SYSTEM_PROMPT
    assert chat_messages(_record(context=ctx.model_dump()))[0]["content"] == prompt
