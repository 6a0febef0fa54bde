"""The chat template renders what vLLM's hermes parser reads, and masks exactly the assistant turns."""

import json

from serve.contract import TOOLS, chat_messages, chat_template, extract_tool_calls, render_chat, tool_call

RECORD = {
    "id": "c1",
    "scenario": "quick_purchase",
    "language": "pt",
    "messages": [
        {"role": "user", "content": "quero 2 toalhas até R$ 50"},
        {
            "role": "assistant",
            "content": "Vou procurar!",
            "tool_calls": [
                tool_call("call_1", "search_products", {"query": "toalha", "max_price": 50}),
                tool_call("call_2", "view_cart", {}),
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "search_products", "content": '{"r": [{"id": "p1"}]}'},
        {"role": "tool", "tool_call_id": "call_2", "name": "view_cart", "content": '{"itens": []}'},
        {"role": "assistant", "content": "Achei a Toalha Felpuda por R$ 39,90. Quer?"},
    ],
}


def _assistant_span(rendered: str, index: int) -> str:
    return rendered.split("<|im_start|>assistant\n")[index].split("<|im_end|>")[0]


def test_tool_calls_render_in_hermes_format_and_parse_back():
    rendered = render_chat(chat_messages(RECORD))
    first_reply = _assistant_span(rendered, 1)
    content, calls = extract_tool_calls(first_reply)
    assert content == "Vou procurar!\n"
    assert [c["name"] for c in calls] == ["search_products", "view_cart"]
    assert json.loads(calls[0]["arguments"]) == {"query": "toalha", "max_price": 50}
    assert (
        '<tool_call>\n{"name": "search_products", "arguments": {"query": "toalha", "max_price": 50}}\n</tool_call>'
        in first_reply
    )


def test_json_string_and_dict_arguments_render_identically():
    # Our JSONL carries arguments as JSON text; vLLM hands the template dicts. Same bytes either way.
    as_dicts = chat_messages(RECORD)
    for call in as_dicts[2]["tool_calls"]:
        call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    assert render_chat(as_dicts) == render_chat(chat_messages(RECORD))


def test_every_tool_is_listed_and_tool_results_use_the_tool_role():
    rendered = render_chat(chat_messages(RECORD))
    for tool in TOOLS:
        assert f"- {tool['function']['name']}(" in rendered
    assert "<|im_start|>tool\n<tool_response>\n" in rendered
    assert render_chat([{"role": "user", "content": "oi"}], add_generation_prompt=True).endswith(
        "<|im_start|>assistant\n"
    )


def test_extract_tool_calls_matches_vllm_on_malformed_text():
    assert extract_tool_calls("só texto") == ("só texto", [])
    broken = "<tool_call>\n{not json}\n</tool_call>"
    assert extract_tool_calls(broken) == (broken, [])
    _, calls = extract_tool_calls('<tool_call>\n{"name": "view_cart", "arguments": {}}')  # unclosed at the end
    assert calls == [{"name": "view_cart", "arguments": "{}"}]


def test_assistant_mask_covers_exactly_replies_and_tool_calls(smollm2_tokenizer):
    out = smollm2_tokenizer.apply_chat_template(
        chat_messages(RECORD),
        tools=TOOLS,
        chat_template=chat_template(),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    trained = smollm2_tokenizer.decode([t for t, m in zip(ids, mask) if m])
    assert trained == (
        'Vou procurar!\n<tool_call>\n{"name": "search_products", "arguments": {"query": "toalha", "max_price": 50}}\n</tool_call>'
        '\n<tool_call>\n{"name": "view_cart", "arguments": {}}\n</tool_call><|im_end|>'
        "Achei a Toalha Felpuda por R$ 39,90. Quer?<|im_end|>"
    )
    assert "<|im_end|>" in smollm2_tokenizer.convert_ids_to_tokens(ids)  # ChatML markers are single tokens
