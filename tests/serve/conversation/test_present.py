"""serve/conversation/present.py: tool outcomes as WhatsApp replies within the Cloud API's limits, server wording."""

from serve.conversation.executor import ToolOutcome
from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, TextReply
from serve.conversation.present import BODY_MAX_CHARS, Presenter, fold_text, outcomes_text, product_list, server_text
from tests.serve.factories import fixture_catalogue


def test_lists_and_buttons_respect_cloud_api_limits():
    items = [
        {
            "id": f"r{i}",
            "name": "Jogo de Lençol Casal Queen 400 Fios Percal Branco " * 2,
            "price": "R$ 1.234,56",
            "score": 4.5,
        }
        for i in range(12)
    ]
    lst = product_list(items)  # ListReply validates ≤ 10 rows, ≤ 24 / 72 chars itself
    assert (
        len(lst.rows) == 10 and all(len(t) <= 24 for _, t, _ in lst.rows) and lst.rows[0][2] == "R$ 1.234,56 · ⭐ 4.5"
    )


def test_presenter_checkout_always_carries_the_link_and_pix_code():
    cat = fixture_catalogue()
    out = ToolOutcome(
        "checkout",
        {"order": "ZV12345", "total": "R$ 105,80", "pay": "pix", "link": "http://x/pay/1"},
        pix_code="000201...6304ABCD",
    )
    replies = Presenter(cat).replies([out], text="Pedido criado!")
    assert replies[0] == TextReply("Pedido criado!")
    assert "http://x/pay/1" in replies[1].body and "000201...6304ABCD" in replies[2].body
    assert "http://x/pay/1" in server_text(out)


def test_presenter_single_hit_gets_a_card_and_refused_calls_get_nothing_extra(tmp_path):
    cat = fixture_catalogue()
    p = cat.get("6c960ba6")
    out = ToolOutcome("search_products", {"items": [{"id": p.ref, "name": p.name, "price": "R$ 89,90", "reviews": 12}]})
    replies = Presenter(cat, card=lambda prod: str(tmp_path / f"{prod.ref}.png")).replies([out], text="Achei!")
    assert isinstance(replies[1], ImageReply) and replies[1].image_path.endswith("6c960ba6.png")
    assert isinstance(replies[2], ButtonsReply)
    refused = ToolOutcome("add_to_cart", {"error": "produto não encontrado"}, refused=True)
    assert Presenter(cat).replies([refused], text="Hmm") == [TextReply("Hmm")]
    assert not any(isinstance(r, ListReply) for r in replies)


def test_text_folds_into_the_following_interactive_message_only_when_it_fits():
    buttons = ButtonsReply("Como você prefere pagar?", (("checkout:pix", "PIX"),))
    assert fold_text([TextReply("Pedido quase pronto."), buttons]) == [
        ButtonsReply("Pedido quase pronto.\n\nComo você prefere pagar?", buttons.buttons)
    ]
    long = TextReply("x" * (BODY_MAX_CHARS - 5))  # with the buttons' body it would pass the Cloud API's 1024
    assert fold_text([long, buttons]) == [long, buttons]
    image = ImageReply("/tmp/card.png", "Lençol — R$ 89,90")
    assert fold_text([TextReply("a"), image, buttons]) == [TextReply("a"), image, buttons]  # never into a caption


def test_tool_error_is_worded_in_the_customer_language():
    out = ToolOutcome("add_to_cart", {"error": "só temos 2 unidades de Toalha Banhão"})
    assert server_text(out, "en") == "I couldn't do that: we only have 2 of Toalha Banhão."
    assert server_text(out, "pt") == "Não consegui fazer isso: só temos 2 unidades de Toalha Banhão."


def test_shipping_answer_states_the_freight_and_the_cart_rule():
    paid = ToolOutcome("get_product", {"id": "x", "name": "Panela", "price": "R$ 99,00", "freight": "R$ 18,50"})
    free = ToolOutcome("get_product", {"id": "x", "name": "Panela", "price": "R$ 99,00", "freight": "R$ 0,00"})
    assert server_text(paid, "pt", "shipping") == (
        "O frete de *Panela* fica R$ 18,50.\nPedidos a partir de R$ 199,00 têm frete grátis, e cada item extra no "
        "mesmo pedido paga só 25% do frete dele."
    )
    assert server_text(paid, "en", "shipping").startswith("Shipping for *Panela* is R$ 18,50.\nOrders of R$ 199,00")
    assert server_text(free, "pt", "shipping") == "O frete de *Panela* é grátis! 🎉"


def test_an_add_to_a_line_already_in_the_cart_states_how_many_it_holds_now():
    totals = {"subtotal": "R$ 100,00", "freight": "R$ 10,00", "total": "R$ 110,00", "units": 2}
    more = ToolOutcome("add_to_cart", {"added": {"id": "x", "name": "Barraca", "qty": 1, "in_cart": 2}} | totals)
    assert server_text(more, "pt").startswith("Adicionei mais 1x Barraca: agora são 2 no carrinho. ✅\nSubtotal")
    assert server_text(more, "en").startswith("Added 1 more Barraca: 2 in your cart now. ✅")
    first = ToolOutcome("add_to_cart", {"added": {"id": "x", "name": "Barraca", "qty": 2, "in_cart": 2}} | totals)
    assert server_text(first, "pt").startswith("Adicionei 2x Barraca ao carrinho. ✅")


def test_several_cart_changes_in_one_turn_state_the_totals_once_after_the_last():
    first = {"added": {"id": "a", "name": "Perfume", "qty": 2, "in_cart": 2}, "units": 2}
    first |= {"subtotal": "R$ 163,80", "freight": "R$ 13,49", "total": "R$ 177,29"}
    second = {"added": {"id": "b", "name": "Porta-Retrato", "qty": 2, "in_cart": 2}, "units": 4}
    second |= {"subtotal": "R$ 479,80", "freight": "R$ 0,00", "free_shipping": True, "total": "R$ 479,80"}
    text = outcomes_text([ToolOutcome("add_to_cart", first), ToolOutcome("add_to_cart", second)], "pt")
    assert text.startswith("Adicionei 2x Perfume ao carrinho. ✅\nAdicionei 2x Porta-Retrato ao carrinho. ✅\n")
    assert "R$ 177,29" not in text and text.count("Total:") == 1 and text.endswith("*Total: R$ 479,80*")
