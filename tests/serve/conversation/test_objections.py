"""Objections about what was just shown, answered with the catalogue's data (serve/conversation/objections.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from serve.conversation.objections import objection_command, objection_kind
from serve.conversation.shown import Item, Shown, last_search_arguments

RELOGIO_M, RELOGIO_F, EDREDOM, TOALHA = "675d8d83", "6d14fe44", "8f7837b2", "d3a40340"


def items(catalogue, *refs):
    return [Item(id=r, name=catalogue.get(r).name, price_cents=catalogue.get(r).price_cents) for r in refs]


@pytest.mark.parametrize(
    "text, kind",
    [
        ("nossa, ta bem salgado", "price"),
        ("achei caro demais pra mim", "price"),
        ("tem algum mais em conta?", "price"),
        ("hmm that's a bit pricey", "price"),
        ("consegue um desconto?", "price"),
        ("esperava pagar menos", "price"),
        ("dura bastante", "quality"),
        ("tem desconto no pix?", None),  # a payment question: store knowledge answers it
        ("achei caro, parcela no cartão?", "price"),
        ("any cheaper ones?", "price"),
        ("mas presta mesmo? nao conheco essa marca", "quality"),
        ("o pessoal que comprou gostou?", "quality"),
        ("is it any good tho", "quality"),
        ("quanto fica pra mandar pra bahia? demora?", "shipping"),
        ("how long does delivery take", "shipping"),
        ("meu pedido ta demorando", None),  # about an order, not the products on screen
        ("chegou quebrado", None),
        ("quero um relogio", None),
        # as people type them: everyday phrases, misspellings, a message sent in two lines
        ("faz um precinho?", "price"),
        ("puts, passou do meu orçamento", "price"),
        ("esperava paga menos", "price"),
        ("nossa, tá crao hein", "price"),
        ("muitk caro isso aí", "price"),
        ("tá puxao pra mim", "price"),
        ("nao tem uma opcao mais barrata?", "price"),
        ("cobra frete?", "shipping"),
        ("corba frete?", "shipping"),
        ("vcs entregm no interior?", "shipping"),
        ("qual a nota desse produto?", "quality"),
        ("é origial?", "quality"),
        ("durs bastante?", "quality"),
        ("o pessoal q comprou gostou?", "quality"),
        ("vale\na pena?", "quality"),
        ("é confiágel essa marca", "quality"),
        # words one letter from a keyword that are words of their own
        ("vou deixar pra frente", None),
        ("tem a versão nova?", None),
        ("quero duas", None),
        ("prato fundo", None),
    ],
)
def test_the_kind_of_objection_is_read_from_the_words(text, kind):
    assert objection_kind(text) == kind


def test_too_dear_searches_the_same_words_below_the_dearest_price_cheapest_first(catalogue):
    shown = Shown(listed=items(catalogue, RELOGIO_M, RELOGIO_F))
    command = objection_command("ta caro isso ai", shown, catalogue, "pt", {"query": "relogio", "max_price": 300})
    ((tool, args),) = command.calls
    assert tool == "search_products" and args["query"] == "relogio" and args["sort"] == "price_asc"
    assert args["max_price"] == (19990 - 1) / 100  # strictly below the dearest shown
    assert args["category"] == "relogios_presentes"


def test_a_budget_said_with_too_dear_caps_the_cheaper_search(catalogue):
    shown = Shown(listed=items(catalogue, RELOGIO_M, RELOGIO_F))
    command = objection_command("tem mais barato? até 50 reais", shown, catalogue, "pt", {"query": "relogio"})
    assert command.calls[0][1]["max_price"] == 50.0


def test_the_quality_of_one_product_in_focus_is_its_card_and_its_freight_is_left_to_store_knowledge(catalogue):
    shown = Shown(focus=items(catalogue, TOALHA)[0])
    quality = objection_command("e a qualidade?", shown, catalogue, "pt")
    assert quality.calls == (("get_product", {"product_id": TOALHA}),) and quality.topic == "details"
    assert objection_command("e o frete pra sp?", shown, catalogue, "pt") is None


def test_another_product_named_is_not_an_objection_about_the_one_shown(catalogue):
    shown = Shown(focus=items(catalogue, RELOGIO_M)[0])
    assert objection_command("qual o frete do travesseiro? e presta?", shown, catalogue, "pt") is None
    assert objection_command("o relogio presta?", shown, catalogue, "pt") is not None


def test_for_a_list_every_shown_product_gets_its_rating_or_freight(catalogue):
    shown = Shown(listed=items(catalogue, RELOGIO_M, EDREDOM))
    quality = objection_command("sao bons?", shown, catalogue, "pt")
    assert "⭐ 4.4 (16 avaliações)" in quality.answer and "ainda sem avaliações" in quality.answer
    shipping = objection_command("how long to arrive?", shown, catalogue, "en")
    assert "R$ 14,90" in shipping.answer and "R$ 22,90" in shipping.answer and shipping.answer.startswith("Shipping")


def test_how_soon_is_part_of_a_shipping_question_even_in_words_product_names_use(catalogue, monkeypatch):
    """ "chega rápido?" about a list is its freights, though a "Carregador Rápido" exists."""
    shown = Shown(listed=items(catalogue, RELOGIO_M, EDREDOM))
    fast = SimpleNamespace(name="Carregador Rapido Hoje 20W")
    search = catalogue.search
    monkeypatch.setattr(
        catalogue, "search", lambda q, limit=3: [fast] if q in ("rapido", "hoje") else search(q, limit=limit)
    )
    for text in ("chega rapido?", "da pra receber hoje? demora?"):
        command = objection_command(text, shown, catalogue, "pt")
        assert command is not None and "R$ 14,90" in command.answer and "R$ 22,90" in command.answer
    assert objection_command("e o frete do carregador rapido?", shown, catalogue, "pt") is None  # another product


def test_nothing_shown_or_the_cart_shown_is_left_to_the_rest_of_the_turn(catalogue):
    assert objection_command("ta caro", Shown(), catalogue, "pt") is None
    cart = Shown(listed=items(catalogue, TOALHA), listed_is_cart=True)
    assert objection_command("ta caro", cart, catalogue, "pt") is None


def test_the_latest_search_arguments_are_read_from_the_tool_calls():
    call = {"function": {"name": "search_products", "arguments": '{"query": "toalha", "max_price": 50}'}}
    messages = [{"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "content": "{}"}]
    assert last_search_arguments(messages) == {"query": "toalha", "max_price": 50}
    assert last_search_arguments([]) is None


@pytest.mark.parametrize(
    "text", ["é original?", "val a pena", "é de qualidade ou quebra fácil", "é confiável essa marca"]
)
def test_doubts_about_worth_are_quality_objections_about_what_is_shown(catalogue, text):
    shown = Shown(listed=items(catalogue, RELOGIO_M, RELOGIO_F))
    command = objection_command(text, shown, catalogue, "pt")
    assert command is not None and command.topic == "objection_quality"  # "quebra", "marca": no other product


def test_a_quality_doubt_about_products_nobody_rated_gets_the_best_rated_alike(catalogue):
    for shown in (Shown(focus=items(catalogue, EDREDOM)[0]), Shown(listed=items(catalogue, EDREDOM))):
        command = objection_command("presta?", shown, catalogue, "pt", {"query": "edredom", "max_price": 300})
        assert command.calls == (("search_products", {"query": "edredom", "max_price": 300, "sort": "rating"}),)
        assert command.topic == "quality"


def test_a_shipping_doubt_about_unrated_products_still_gets_their_freight(catalogue):
    shown = Shown(listed=items(catalogue, EDREDOM, "3fe8a386"))  # the edredom and the yoga mat: nobody rated them
    for text in ("chega rápido?", "qnto sai o frte pra cá"):
        command = objection_command(text, shown, catalogue, "pt")
        assert command.topic == "objection_shipping" and "R$ 22,90" in command.answer, text


def test_a_cheaper_search_names_the_kind_all_shown_products_share_not_a_noisy_query(catalogue):
    shown = Shown(listed=items(catalogue, RELOGIO_M, RELOGIO_F))
    noisy = {"query": "relogio na faixa de 200 reas, rola"}  # the customer's whole message, searched as it was
    ((_, args),) = objection_command("ta caro", shown, catalogue, "pt", noisy).calls
    assert args["query"] == "relogio"


def test_a_shipping_or_quality_question_is_about_the_shown_products_whatever_words_it_adds(catalogue):
    """ "cobra frete?", "qual a nota desse produto?": "cobra" and "produto" are words of product
    names too, but here they are part of the question."""
    shown = Shown(listed=items(catalogue, RELOGIO_M, RELOGIO_F))
    assert objection_command("cobra frete?", shown, catalogue, "pt").topic == "objection_shipping"
    assert objection_command("qual a nota desse produto?", shown, catalogue, "pt").topic == "objection_quality"
