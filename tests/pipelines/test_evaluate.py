"""Stage evaluate: the scoring row functions, and that its parse agrees with vLLM's hermes parser."""

from __future__ import annotations

import json

import pytest

from pipelines.evaluate import cases, known_amounts, language_of, parse_reply, score, summarise
from serve.contract import TOOLS, tool_call

CALL = '<tool_call>\n{"name": "search_products", "arguments": {"query": "fone", "max_price": 100.0}}\n</tool_call>'
TEXTS = [
    CALL,
    "Vou buscar!\n" + CALL,
    '<tool_call>\n{"name": "view_cart", "arguments": {}}',  # left open: generation stopped at <|im_end|>
    '<tool_call>\n{"name": "view_cart", "arguments": {}\n</tool_call>',  # broken JSON
    "<tool_call>",
    "Oi! Como posso ajudar?",
    CALL + "\n" + '<tool_call>\n{"name": "view_cart", "arguments": {}}\n</tool_call>',
]


@pytest.mark.parametrize("text", TEXTS)
def test_parse_agrees_with_vllm_hermes(text, tmp_path_factory):
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.tool_parsers import ToolParserManager

    class Tok:  # the hermes parser only needs a tokenizer object to exist for non-streaming parses
        def get_vocab(self):
            return {}

    request = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "oi"}], tools=TOOLS)
    parser = ToolParserManager.get_tool_parser("hermes")(Tok(), request.tools)
    info = parser.extract_tool_calls(text, request)
    content, calls = parse_reply(text)
    assert info.tools_called == (calls is not None)
    assert info.content == content
    if calls:
        assert [(c.function.name, json.loads(c.function.arguments)) for c in info.tool_calls] == [
            (c["name"], c["arguments"]) for c in calls
        ]


def _case(expected, language="pt", prompt=None):
    return {
        "id": "c#1",
        "language": language,
        "prompt": prompt or [{"role": "user", "content": "oi"}],
        "expected": expected,
    }


def test_tool_turn_scores():
    expected = {
        "role": "assistant",
        "content": None,
        "tool_calls": [tool_call("c", "search_products", {"query": "fone", "max_price": 100.0})],
    }
    assert score(_case(expected), CALL) | {"output": ""} == {
        "id": "c#1",
        "language": "pt",
        "output": "",
        "valid_tool_call": True,
        "correct_tool": True,
        "exact_call": True,
    }
    wrong_args = CALL.replace('"query": "fone", ', '"price": 5, ')
    assert score(_case(expected), wrong_args)["valid_tool_call"] is False  # extra=forbid: a price is refused
    other = '<tool_call>\n{"name": "recommend", "arguments": {}}\n</tool_call>'
    s = score(_case(expected), other)
    assert (s["valid_tool_call"], s["correct_tool"], s["exact_call"]) == (True, False, False)
    assert score(_case(expected), "Temos sim!")["valid_tool_call"] is False


def test_text_turn_scores_language_and_price_grounding():
    prompt = [
        {"role": "user", "content": "tem fone até 100 reais?"},
        {"role": "tool", "tool_call_id": "c", "name": "search_products", "content": '{"price": "R$ 89,90"}'},
    ]
    expected = {"role": "assistant", "content": "Achei um por R$ 89,90."}
    good = score(_case(expected, prompt=prompt), "Achei um fone por R$ 89,90, você quer?")
    assert good["language_match"] is True and good["price_grounded"] is True
    assert (
        score(_case(expected, prompt=prompt), "Custa R$ 100, você quer?")["price_grounded"] is True
    )  # the customer's budget
    assert score(_case(expected, prompt=prompt), "Custa só R$ 9,90 pra você!")["price_grounded"] is False
    assert score(_case(expected, prompt=prompt), "I found one for you, do you want it?")["language_match"] is False
    assert "price_grounded" not in score(_case(expected, prompt=prompt), "Quer ver outras opções?")
    assert known_amounts(prompt) == {8990, 10000}
    assert language_of("Hi! Do you want the blue one?") == "en" and language_of("12345") is None


def test_cases_and_summary():
    rows = [
        {
            "id": "a",
            "language": "pt",
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "oi"},
                {"role": "assistant", "content": None, "tool_calls": [tool_call("c", "view_cart", {})]},
                {"role": "tool", "tool_call_id": "c", "name": "view_cart", "content": "{}"},
                {"role": "assistant", "content": "Seu carrinho está vazio."},
            ],
        }
    ]
    found = cases(rows, None, 0)
    assert [c["id"] for c in found] == ["a#2", "a#4"] and len(found[1]["prompt"]) == 4
    scored = [
        score(found[0], '<tool_call>\n{"name": "view_cart", "arguments": {}}\n</tool_call>'),
        score(found[1], "ok"),
    ]
    summary = summarise(scored)
    assert summary["valid_tool_call_rate"] == 1.0 and summary["pt_valid_tool_call_rate"] == 1.0
    assert summary["language_match_rate"] == 0.0 and summary["price_grounding_rate"] is None and summary["cases"] == 2
