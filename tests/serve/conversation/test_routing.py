"""serve/conversation/routing.py: button ids to contract tool calls, the product a follow-up is about."""

import json

from serve.conversation.routing import (
    Command,
    asks_about_orders,
    fallback_command,
    focus_command,
    focus_product,
    listed,
    order_code_command,
    parse_command,
)


def test_button_ids_map_to_contract_tool_calls():
    assert parse_command("add_to_cart:6c960ba6").calls == (("add_to_cart", {"product_id": "6c960ba6", "quantity": 1}),)
    assert parse_command("checkout:pix").calls == (("checkout", {"payment_method": "pix"}),)
    assert parse_command("checkout").navigation == "checkout" and parse_command("checkout").tool is None
    assert parse_command("recommend").calls == (("recommend", {}),)
    assert parse_command("reorder:aaaaaaaax2,bbbbbbbb").calls == (
        ("add_to_cart", {"product_id": "aaaaaaaa", "quantity": 2}),
        ("add_to_cart", {"product_id": "bbbbbbbb", "quantity": 1}),
    )
    assert parse_command("human").tool == "handoff_to_human"
    assert parse_command(None) is None and parse_command("something_else") is None and parse_command("product:") is None


def test_focus_product_is_the_one_product_of_the_latest_tool_result():
    def tool(result):
        return {"role": "tool", "name": "x", "tool_call_id": "c", "content": json.dumps(result)}

    one = {"items": [{"id": "aaaaaaaa", "name": "A", "price": "R$ 1,00"}]}
    two = {"items": [{"id": "aaaaaaaa"}, {"id": "bbbbbbbb"}]}
    shown = {"id": "cccccccc", "name": "C", "price": "R$ 3,00", "desc": "C.", "freight": "R$ 1,00"}
    added = {"added": {"id": "dddddddd", "name": "D", "qty": 1}, "total": "R$ 4,00"}
    said = {"role": "assistant", "content": "Separei estas opções"}
    assert [focus_product([tool(r), said]) for r in (one, two, shown, added)] == [
        "aaaaaaaa",
        None,
        "cccccccc",
        "dddddddd",
    ]
    assert focus_product([tool(shown), tool(two)]) is None  # the latest result decides: a list is ambiguous
    assert focus_product([tool(shown), tool({"order": "ZV1", "status": "shipped"})]) is None
    assert focus_product([said]) is None
    assert focus_command("objection_shipping", "e o frete?", [tool(shown), said]) == Command(
        calls=(("get_product", {"product_id": "cccccccc"}),), topic="shipping"
    )
    assert focus_command("objection_shipping", "qual o frete da panela de pressão?", [tool(shown)]) is None
    assert focus_command("objection_shipping", "e o frete?", [said]) is None
    assert focus_command("search_product", "e esse?", [tool(shown)]) is None


def test_a_quoted_order_code_asks_for_that_order_unless_it_is_a_complaint():
    status = (("order_status", {"order_id": "ZV56240"}),)
    for intent in ("search_product", "order_status", "greeting"):  # whatever the classifier guessed
        assert order_code_command(intent, "rastreio do ZV56240 pfv").calls == status
    assert order_code_command("complaint", "o ZV56240 veio quebrado") is None  # a person answers that
    assert order_code_command("order_status", "cadê meu pedido?") is None  # no code: the normal flow


def test_an_order_status_lists_no_products_and_puts_none_in_focus():
    status = {"order": "ZV1", "status": "shipped", "items": ["Jogo de Lençol Casal"]}  # names, not products
    message = {"role": "tool", "name": "order_status", "tool_call_id": "c", "content": json.dumps(status)}
    assert focus_product([message]) is None
    assert listed(status) == [] and listed({"items": [{"id": "a"}], "again": [{"id": "b"}]}) == [
        {"id": "b"},
        {"id": "a"},
    ]


def test_order_words_and_a_price_objection_guess_that_searches():
    assert [asks_about_orders(t) for t in ("cadê minha encomenda", "where is my package", "ZV12345?")] == [True] * 3
    assert not asks_about_orders("qual barraca mais em conta? tenho 50 pra gastar")
    (call,) = fallback_command("objection_price", "qual barraca mais em conta? tenho 50 pra gastar").calls
    assert call == ("search_products", {"query": "qual barraca mais em conta? tenho 50 pra gastar", "max_price": 50.0,
                                        "sort": "price_asc"})  # fmt: skip
