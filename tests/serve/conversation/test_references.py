"""References to what the bot showed ("o segundo", "esse", "o de 59,90", "2 unidades", "tira o lençol"),
resolved by the server: on hand-made conversation histories, then through the agent (no model)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from serve.conversation.messages import ButtonsReply
from serve.conversation.references import resolve_reference
from serve.conversation.said import read_said
from serve.conversation.shown import read_shown
from serve.storage.db import session_scope
from serve.storage.tables import Order
from tests.fakes.fake_llm import FakeLLM
from tests.serve.conversation import test_agent as agent_tests
from tests.serve.conversation.test_agent import FixedIntents, cart_lines, events, run, text

env = agent_tests.env  # the agent tests' agent on SQLite (the fake model server: conftest.py)

LENCOL = {"id": "aa11", "name": "Jogo de Lençol Casal 4 Peças Algodão", "price": "R$ 89,90", "score": 4.5}
TOALHA = {"id": "bb22", "name": "Toalha de Banho Felpuda Azul", "price": "R$ 34,90", "score": 4.1}
TRAVESSEIRO = {"id": "cc33", "name": "Travesseiro Fibra Siliconada", "price": "R$ 45,90", "score": 3.8}
CAFE = {"id": "dd44", "name": "Garrafa Térmica Café 1 L", "price": "R$ 44,90", "score": 4.3}
ESPORTE = {"id": "ee55", "name": "Garrafa Térmica Esportiva 750 ml", "price": "R$ 54,90", "score": 5.0}


def tool(name: str, result: dict) -> dict:
    return {"role": "tool", "tool_call_id": "c", "name": name, "content": json.dumps(result, ensure_ascii=False)}


def listed(*items) -> list[dict]:
    return [{"role": "user", "content": "..."}, tool("search_products", {"items": list(items)})]


def card(item) -> list[dict]:
    return [tool("get_product", item | {"desc": "…", "freight": "R$ 15,90"})]


def added(item, qty: int = 1) -> list[dict]:
    return [tool("add_to_cart", {"added": {"id": item["id"], "name": item["name"], "qty": qty}, "units": qty})]


def removed(item, qty: int = 1) -> list[dict]:
    return [tool("remove_from_cart", {"removed": {"id": item["id"], "name": item["name"], "qty": qty}, "units": qty})]


def cart(*lines) -> dict:
    """A view_cart result: (item, qty) lines."""
    items = [{"id": i["id"], "name": i["name"], "qty": q, "price": i["price"]} for i, q in lines]
    return {"items": items, "units": sum(q for _, q in lines), "subtotal": "x", "freight": "x", "total": "x"}


THREE = listed(LENCOL, TOALHA, TRAVESSEIRO)
QA = [{"role": "user", "content": "tem garantia?"}, {"role": "assistant", "content": "Tem sim, 3 meses. Algo mais?"}]
TWO = listed(CAFE, ESPORTE)


def add(item, qty=1):
    return ("add_to_cart", {"product_id": item["id"], "quantity": qty})


def remove(item, qty=None):
    return ("remove_from_cart", {"product_id": item["id"]} | ({"quantity": qty} if qty else {}))


def details(item):
    return ("get_product", {"product_id": item["id"]})


def calls(said: str, history: list[dict], in_cart: dict | None = None):
    command = resolve_reference(said, history, in_cart)
    return None if command is None else list(command.calls)


@pytest.mark.parametrize(
    "said, expected",
    [
        ("o primeiro", [details(LENCOL)]),
        ("a segunda", [details(TOALHA)]),
        ("o terceiro", [details(TRAVESSEIRO)]),
        ("o último", [details(TRAVESSEIRO)]),
        ("ultimo", [details(TRAVESSEIRO)]),
        ("o 2", [details(TOALHA)]),
        ("2", [details(TOALHA)]),  # a number alone under a list: which one
        ("opção 3", [details(TRAVESSEIRO)]),
        ("o 3º", [details(TRAVESSEIRO)]),
        ("the first one", [details(LENCOL)]),
        ("the 2nd", [details(TOALHA)]),
        ("o mais barato", [details(TOALHA)]),
        ("o mais caro", [details(LENCOL)]),
        ("o mais bem avaliado", [details(LENCOL)]),
        ("the cheapest one", [details(TOALHA)]),
        ("o de 45,90", [details(TRAVESSEIRO)]),
        ("aquele de 45", [details(TRAVESSEIRO)]),
        ("o de R$ 89,90", [details(LENCOL)]),
        ("the one for 34.90", [details(TOALHA)]),
        ("me conta mais sobre o primeiro", [details(LENCOL)]),
        ("fala do segundo", [details(TOALHA)]),
        ("me mostra a foto do terceiro pfv", [details(TRAVESSEIRO)]),
        ("tell me more about the last one", [details(TRAVESSEIRO)]),
        ("o primeiro e o terceiro", [details(LENCOL), details(TRAVESSEIRO)]),
        ("compara o segundo com o terceiro", [details(TOALHA), details(TRAVESSEIRO)]),
        ("todos", [details(LENCOL), details(TOALHA), details(TRAVESSEIRO)]),
        ("me fala da toalha", [details(TOALHA)]),
        ("toalha de banho felpuda", [details(TOALHA)]),  # a shown name said back
        ("quero o segundo", [add(TOALHA)]),
        ("qro o segudo", [add(TOALHA)]),  # typos
        ("vou levar o mais barato", [add(TOALHA)]),
        ("manda o de 89,90 pra mim, vou levar", [add(LENCOL)]),
        ("adiciona o primeiro e o terceiro", [add(LENCOL), add(TRAVESSEIRO)]),
        ("põe o tercero no carrinho", [add(TRAVESSEIRO)]),
        ("qeuro o segundo", [add(TOALHA)]),  # two letters swapped in the verb
        ("queor 2 do primeiro", [add(LENCOL, 2)]),
        ("quero o segunddo", [add(TOALHA)]),  # a doubled letter
        ("vou lvar o segundo", [add(TOALHA)]),  # a letter missed in the verb
        ("adicona o primeiro", [add(LENCOL)]),
        ("qdiciona o primeiro", [add(LENCOL)]),  # a neighbouring key in a long word
        ("númreo 2", [details(TOALHA)]),  # two letters swapped in "número"
        ("poe o travesseiro no carrinho", [add(TRAVESSEIRO)]),
        ("quero o lencol", [add(LENCOL)]),
        ("add the cheapest", [add(TOALHA)]),
        ("I'll take the second one", [add(TOALHA)]),
        ("quero o segundo, 3 unidades", [add(TOALHA, 3)]),
        ("quero 2 do primeiro", [add(LENCOL, 2)]),
        ("me vê duas do último", [add(TRAVESSEIRO, 2)]),
        ("a terceira, 2 unidades", [add(TRAVESSEIRO, 2)]),
        ("2x o primeiro", [add(LENCOL, 2)]),
        ("two of the first one", [add(LENCOL, 2)]),
        ("o segundo, tres unidades", [add(TOALHA, 3)]),
        ("me vê o primeiro", [add(LENCOL)]),
        ("pode ser o último", [add(TRAVESSEIRO)]),
        ("quero o lençol e o travesseiro", [add(LENCOL), add(TRAVESSEIRO)]),
        ("quero os 3", [add(LENCOL), add(TOALHA), add(TRAVESSEIRO)]),
        ("and the third?", [details(TRAVESSEIRO)]),
        ("quero 2 lençóis de casal", [add(LENCOL, 2)]),  # the whole name of one shown
        ("esse travesseiro de fibra", [details(TRAVESSEIRO)]),
        ("number 2", [details(TOALHA)]),
        ("can I see the travesseiro fibra siliconada?", [details(TRAVESSEIRO)]),
        ("a opção 2 parece boa", [details(TOALHA)]),
    ],
)
def test_a_reference_into_the_last_list_resolves(said, expected):
    assert calls(said, THREE) == expected


@pytest.mark.parametrize(
    "said",
    [
        "oi, tudo bem?",
        "tem toalha de rosto?",
        "tem algo até 60 reais?",  # a budget, not a price reference
        "menos de 50",
        "quero ver outras opções",
        "tem mais barato?",  # a cheaper one that was not shown: a search
        "tem algum mais barato que esse?",
        "esse",  # a list on screen, no product in focus: which one?
        "o quinto",  # past the end of the list
        "os dois",  # three were shown
        "o de 10 reais",  # no product at that price
        "não quero o segundo",
        "um segundo, já volto",
        "primeiro quero saber o frete",
        "chega na segunda?",
        "quero a 2a via do boleto",
        "quero um relógio de parede",  # a name that matches nothing shown
        "vou pensar",
        "quanto custa o frete?",
        "that's all, thanks",
        "how long does it take?",
        "obrigada!",
        "pode fechar",  # checkout alone: the intent classifier's
        "pix",  # a payment method nobody asked for
        "jogo de panelas",
        "quero ver lençol de solteiro",
        "quero uma toalha maior",  # another towel, maybe: the model searches
        "quero uma toalha",
        "quero ver toalhas",
        "dá pra parcelar em 3 vezes?",
        "preciso de 3 toalhas brancas",
        "segunda eu compro",
        "the second day works for me",
        "quero o mais barato de todos os relógios",  # none was shown
        "I need eight",
        "quero finalizar a compra",
        "not the travesseiro fibra siliconada",  # a product's whole name, negated: no pick
        "nunca vi toalha de banho felpuda tão cara",
    ],
)
def test_words_that_point_at_nothing_for_sure_are_left_to_the_model(said):
    assert calls(said, THREE) is None


@pytest.mark.parametrize(
    "said, expected",
    [
        ("põe no carrinho", [add(TOALHA)]),
        ("pode colocar no carrinho", [add(TOALHA)]),
        ("quero esse", [add(TOALHA)]),
        ("esse aí", [add(TOALHA)]),
        ("esse mesmo", [add(TOALHA)]),
        ("sim", [add(TOALHA)]),  # the card asked "...: quer levar?"
        ("vou levar", [add(TOALHA)]),
        ("add it", [add(TOALHA)]),
        ("quero 3 unidades", [add(TOALHA, 3)]),
        ("2 unidades", [add(TOALHA, 2)]),
        ("duas", [add(TOALHA, 2)]),  # a number alone under a card: how many
        ("3", [add(TOALHA, 3)]),
        ("quero duas dessa", [add(TOALHA, 2)]),
        ("me fala mais dela", [details(TOALHA)]),
        ("qual o frete desse?", [details(TOALHA)]),
        ("the first one", [details(LENCOL)]),  # the list is still on screen above the card
        ("obrigado, era só isso", None),
        ("quero finalizar a compra", None),  # the cart, not this product
        ("pode adicionar e fechar", [add(TOALHA)]),
        ("sounds good, I'll take it", [add(TOALHA)]),
        ("fechou, manda pro carrinho", [add(TOALHA)]),
        ("I'd like three", [add(TOALHA, 3)]),
        ("is it any good?", None),  # a question about it: the classifier's follow-up, or the model
        ("o que combina com isso?", None),
    ],
)
def test_the_product_in_focus_is_the_one_the_card_showed(said, expected):
    assert calls(said, THREE + card(TOALHA)) == expected


def test_the_topic_follows_the_question():
    assert resolve_reference("qual o frete do segundo?", THREE).topic == "shipping"
    assert resolve_reference("fala do segundo", THREE).topic == "details"


@pytest.mark.parametrize(
    "history, in_cart, said, expected",
    [
        # quantities: "mais" adds on top; "N unidades" asks for N in all
        (THREE + added(TOALHA), cart((TOALHA, 1)), "mais um", [add(TOALHA)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "mais duas", [add(TOALHA, 2)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "+1", [add(TOALHA)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "quero 3 toalhas", [add(TOALHA, 2)]),  # the one in hand
        (THREE + added(TOALHA), cart((TOALHA, 1)), "change the quantity to 3", [add(TOALHA, 2)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "3 of those", [add(TOALHA, 2)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "corrige pra 3 por favor", [add(TOALHA, 2)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "em vez de 1, quero 3", [add(TOALHA, 2)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "make that 3", [add(TOALHA, 2)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "quero trocar um produto", None),  # an exchange, not a quantity
        (THREE + added(TOALHA), cart((TOALHA, 1)), "one more", [add(TOALHA)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "quero 3 unidades", [add(TOALHA, 2)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "adiciona 2", [add(TOALHA, 2)]),
        (THREE + added(TOALHA, 3), cart((TOALHA, 3)), "na verdade só 1", [remove(TOALHA, 2)]),
        (THREE + added(TOALHA, 3), cart((TOALHA, 3)), "muda pra 2", [remove(TOALHA, 1)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "quero o segundo, 3 unidades", [add(TOALHA, 2)]),
        # after the other product was taken out, a bare quantity is for the one line left, not the old list
        (
            THREE + added(TOALHA) + added(LENCOL) + removed(LENCOL),
            cart((TOALHA, 1)),
            "bota 2 unidades ai",
            [add(TOALHA)],
        ),
        (
            THREE + added(TOALHA) + added(LENCOL) + removed(LENCOL),
            cart((TOALHA, 1)),
            "duas unidades pfv",
            [add(TOALHA)],
        ),
        (THREE + added(TOALHA) + added(LENCOL) + removed(LENCOL), cart((TOALHA, 1)), "preciso de 2", [add(TOALHA)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "make toalha 3 instead", [add(TOALHA, 2)]),
        (THREE + card(TOALHA), None, "into the cart please", [add(TOALHA)]),
        # a cart line named with its new quantity after other talk, typos included ("manad", "queor")
        (THREE + added(TOALHA) + QA, cart((TOALHA, 1)), "troca a quantidade da toalha pra 3", [add(TOALHA, 2)]),
        (THREE + added(TOALHA) + QA, cart((TOALHA, 1)), "na vdd queor 2 de toalha", [add(TOALHA, 1)]),
        (THREE + added(TOALHA), cart((TOALHA, 1)), "manad 2", [add(TOALHA, 1)]),  # 2 in all
        (THREE + added(TOALHA), cart((TOALHA, 1)), "põe no carrinho", None),  # already did: which one?
        (THREE, None, "vou querer esse", []),  # "esse" under a list of three: which one? (asked, no calls)
        # "não, o outro": two shown, one in focus
        (TWO + card(CAFE), None, "não, o outro", [details(ESPORTE)]),
        (TWO + added(CAFE), cart((CAFE, 1)), "não, o outro", [remove(CAFE, 1), add(ESPORTE)]),
        (TWO + added(CAFE, 2), cart((CAFE, 2)), "no, the other one", [remove(CAFE, 2), add(ESPORTE, 2)]),
        (TWO + added(CAFE), cart((CAFE, 1)), "n, o segundo", [remove(CAFE, 1), add(ESPORTE)]),
        (THREE + card(TOALHA), None, "não, o outro", None),  # three were shown: which other?
        (TWO + added(CAFE), cart((CAFE, 1)), "não sei, o segundo é bom?", [details(ESPORTE)]),  # no correction
        # "sim" and a bare number answer the card only right after it, not after another exchange
        (THREE + card(TOALHA) + QA, None, "sim", None),
        (THREE + card(TOALHA) + QA, None, "2", None),
        (THREE + QA, None, "2", None),
        (TWO, None, "os dois", [details(CAFE), details(ESPORTE)]),
        (TWO, None, "quero as duas", [add(CAFE), add(ESPORTE)]),
        (TWO, None, "add both", [add(CAFE), add(ESPORTE)]),
        (TWO, None, "a de café", [details(CAFE)]),
        (TWO, None, "quero a esportiva", [add(ESPORTE)]),
    ],
)
def test_quantities_and_corrections(history, in_cart, said, expected):
    assert calls(said, history, in_cart) == expected


def test_a_pick_above_a_budget_said_with_it_is_left_to_a_new_search():
    """ "o mais barato? até 30" under a list whose cheapest is R$ 34,90: not that product (a search
    with the budget answers)."""
    assert calls("quero o mais barato", THREE) == [add(TOALHA)]
    assert calls("qual a toalha mais barata? no máximo 30 reais", THREE) is None
    assert calls("cheapest toalha you have? max 30", THREE) is None


IN_CART = cart((LENCOL, 1), (TOALHA, 2))


@pytest.mark.parametrize(
    "said, expected",
    [
        ("tira o segundo", [remove(TOALHA)]),
        ("remove o primeiro", [remove(LENCOL)]),
        ("pode excluir o lençol", [remove(LENCOL)]),
        ("tira a toalha", [remove(TOALHA)]),
        ("retira uma unidade da toalha", [remove(TOALHA, 1)]),
        ("não quero mais o lencol", [remove(LENCOL)]),
        ("take out the towel", None),  # names are matched in the catalogue's language only
        ("remove the second one", [remove(TOALHA)]),
        ("tira tudo", [remove(LENCOL), remove(TOALHA)]),
        ("limpa o carrinho", [remove(LENCOL), remove(TOALHA)]),
        ("tira 1 toalha", [remove(TOALHA, 1)]),
        ("tira o de 89,90", [remove(LENCOL)]),
        ("deixa só uma toalha", [remove(TOALHA, 1)]),
        ("esquece a toalha", [remove(TOALHA)]),
        ("get rid of the lençol", [remove(LENCOL)]),
        ("actually I don't need the toalha", [remove(TOALHA)]),
        ("I no longer want the lençol", [remove(LENCOL)]),
        ("não quero o travesseiro", None),  # declined, and it is not in the cart
        ("cancela o pedido", None),  # an order, not a line of the cart
        ("quero uma toalha sem bordado", None),
        ("tira", None),  # two lines, no product in focus
        ("esquece", None),
        ("não quero mais nada, obrigado", None),
    ],
)
def test_removal_points_into_the_cart(said, expected):
    history = THREE + [tool("view_cart", IN_CART)]
    assert calls(said, history, IN_CART) == expected


def test_checkout_after_the_calls_or_with_the_method_named():
    command = resolve_reference("quero o segundo, 3 unidades, pode fechar", THREE)
    assert command.calls == (add(TOALHA, 3),) and command.navigation == "checkout"
    command = resolve_reference("add the cheapest and check out", THREE)
    assert command.calls == (add(TOALHA),) and command.navigation == "checkout"
    command = resolve_reference("a terceira, 2 unidades, já fecha no pix", THREE)
    pix = ("checkout", {"payment_method": "pix"})
    assert command.calls == (add(TRAVESSEIRO, 2), pix) and command.navigation is None
    asked = THREE + added(TOALHA) + [{"role": "assistant", "content": "Como você prefere pagar?"}]
    assert calls("pix", asked, cart((TOALHA, 1))) == [pix]
    assert calls("no cartão, por favor", asked, cart((TOALHA, 1))) == [("checkout", {"payment_method": "card"})]
    boleto = [("checkout", {"payment_method": "boleto"})]
    for answer in ("boleto", "pode ser no boleto", "boleto bancário, por favor", "bank slip", "vou de boleto"):
        assert calls(answer, asked, cart((TOALHA, 1))) == boleto, answer
    assert calls("credit card", asked, cart((TOALHA, 1))) == [("checkout", {"payment_method": "card"})]
    assert calls("paying with pix", THREE + added(TOALHA), cart((TOALHA, 1))) == [pix]
    command = resolve_reference("complete my order please", THREE + added(TOALHA), cart((TOALHA, 1)))
    assert command.navigation == "checkout" and not command.calls  # the payment choice, not an order lookup
    assert calls("prefiro pagar com boleto", THREE + added(TOALHA), cart((TOALHA, 1))) == boleto
    assert calls("boleto", THREE + added(TOALHA), cart((TOALHA, 1))) is None  # nobody asked
    assert calls("fecha no pix", THREE + added(TOALHA), cart((TOALHA, 1))) == [pix]
    assert calls("aceita cartão?", asked, cart((TOALHA, 1))) is None  # a question, not a choice
    assert calls("pode ser boleto? vence em quantos dias?", asked, cart((TOALHA, 1))) == boleto  # the choice, asked
    assert calls("fecha no pix", THREE, cart()) is None  # nothing in the cart
    in_cart = THREE + added(TOALHA)
    assert calls("quero boleto", in_cart, cart((TOALHA, 1))) == boleto  # with a cart: paying, not "which one?"
    assert calls("quero bboleto", in_cart, cart((TOALHA, 1))) == boleto  # a doubled letter
    assert calls("quero boleo", in_cart, cart((TOALHA, 1))) == boleto  # a dropped letter
    assert calls("tem como tirar um boleto?", in_cart, cart((TOALHA, 1))) is None  # a question, no removal
    for done in ("tá tudo certo, finaliza aí", "é só isso, pode fechar o pedido", "já podr gerar o pedido"):
        command = resolve_reference(done, in_cart, cart((TOALHA, 1)))
        assert command.navigation == "checkout" and not command.calls, done  # the payment choice
    assert resolve_reference("finaliza aí", THREE, cart()) is None  # an empty cart: nothing to close


def test_put_in_the_cart_under_a_list_of_several_asks_which_one():
    command = resolve_reference("põe no carrinho", THREE)
    assert command.navigation == "which" and [o[0] for o in command.options] == [
        "add_to_cart:aa11",
        "add_to_cart:bb22",
        "add_to_cart:cc33",
    ]
    assert command.options[1][1:] == ("Toalha de Banho Felpuda Azul", "R$ 34,90")
    # talk about the list may come between ("tem garantia?"): which one is still the question, not an apology
    assert resolve_reference("põe no carrinho", THREE + QA).navigation == "which"
    for said in ("esse msm, pode adicionar", "quero eses aí sim", "vou lvar esse"):  # as typed
        assert resolve_reference(said, THREE + QA).navigation == "which", said


def test_that_is_all_then_checkout_adds_nothing():
    command = resolve_reference("that's all, checkout with pix", THREE + added(TOALHA), cart((TOALHA, 1)))
    assert command.calls == (("checkout", {"payment_method": "pix"}),)


def test_the_screen_is_read_from_tool_results_only():
    history = THREE + card(TOALHA) + added(TOALHA, 2) + [{"role": "assistant", "content": "Adicionei 2x"}]
    shown = read_shown(history)
    assert [i.id for i in shown.listed] == ["aa11", "bb22", "cc33"] and shown.focus.id == "bb22"
    assert shown.focus_added == 2 and [(i.id, i.qty) for i in shown.cart] == [("bb22", 2)]
    assert shown.focus.price_cents == 3490  # the add result has no price: the list had it
    assert read_shown(history, cart((LENCOL, 1))).cart[0].id == "aa11"  # the database's cart wins
    errors = history + [tool("add_to_cart", {"error": "sem estoque"})]
    assert read_shown(errors).focus.id == "bb22"


@pytest.mark.parametrize(
    "said, quantity, refs",
    [
        ("o de 59", None, [("price", 5900)]),
        ("o 2", None, [("position", 2)]),
        ("2 unidades", 2, []),
        ("garrafa de 750 ml", None, []),
        ("o quadro 60x40", None, []),
        ("jogo de 4 peças", None, []),
        ("quero 2 do de 59,90", 2, [("price", 5990)]),
        ("mais um pouco de informação", None, []),
    ],
)
def test_numbers_are_read_by_their_neighbours(said, quantity, refs):
    parsed = read_said(said)
    assert parsed.quantity == quantity and [(r.kind, r.value) for r in parsed.refs] == refs


# ------------------------------------------------------------------------------ through the agent
# The bestsellers the "recommend" button lists for a new customer (fixture catalogue, in this order).
PERFUME, CAPINHA, FONE = "9af20387", "92cb7c29", "317ae923"


def shown_bestsellers(agent, factory, cid):
    replies = run(agent, factory, cid, text("Mais vendidos", choice_id="recommend"))
    assert [r[0] for r in replies[-1].rows] == [f"product:{p}" for p in (PERFUME, CAPINHA, FONE)]


def test_the_second_with_two_units_reaches_the_cart_without_the_model(env, llm):
    agent, factory, cid, _ = env
    agent.intents = FixedIntents("greeting", 0.99)  # a sure but wrong intent: the reference wins
    shown_bestsellers(agent, factory, cid)
    llm.push(FakeLLM.text("ĠorphismOutside Directive quantum"))  # garbage, if it were ever asked
    replies = run(agent, factory, cid, text("quero o segundo, 2 unidades"))
    assert llm.requests == [] and cart_lines(factory, cid, agent) == [(CAPINHA, 2)]
    assert "Adicionei 2x Capinha Celular Silicone" in replies[0].body
    assert events(factory, cid, "reference_resolved") == [{"tools": ["add_to_cart"], "navigation": None}]
    run(agent, factory, cid, text("mais um"))  # on top of the two
    run(agent, factory, cid, text("adiciona o primeiro e o terceiro"))
    assert cart_lines(factory, cid, agent) == [(CAPINHA, 3), (PERFUME, 1), (FONE, 1)]
    run(agent, factory, cid, text("tira o segundo"))  # the cart's second line
    assert cart_lines(factory, cid, agent) == [(CAPINHA, 3), (FONE, 1)] and llm.requests == []


def test_the_cheapest_and_checkout_shows_the_payment_choice(env, llm):
    agent, factory, cid, _ = env
    shown_bestsellers(agent, factory, cid)
    (reply,) = run(agent, factory, cid, text("add the cheapest and check out"))
    assert cart_lines(factory, cid, agent) == [(CAPINHA, 1)] and llm.requests == []
    assert isinstance(reply, ButtonsReply) and "Added 1x Capinha" in reply.body
    assert reply.body.endswith("How would you like to pay?")
    assert [b[0] for b in reply.buttons] == ["checkout:pix", "checkout:card", "checkout:boleto"]
    run(agent, factory, cid, text("pix"))  # the answer to that question
    with session_scope(factory) as s:
        (order,) = s.scalars(select(Order).where(Order.customer_id == cid)).all()
        assert order.status == "pending_payment" and order.payment_method == "pix"


def test_a_combined_request_adds_then_orders_with_the_method_named(env, llm):
    agent, factory, cid, _ = env
    shown_bestsellers(agent, factory, cid)
    replies = run(agent, factory, cid, text("o terceiro, 2 unidades, já fecha no pix"))
    assert llm.requests == []
    with session_scope(factory) as s:
        (order,) = s.scalars(select(Order).where(Order.customer_id == cid)).all()
        assert [(i.product_id[:8], i.quantity) for i in order.items] == [(FONE, 2)]
        code = order.code
    assert code in replies[0].body and any("pix" in r.body.lower() for r in replies[1:])


def test_a_refused_add_never_reaches_checkout(env, llm):
    agent, factory, cid, _ = env
    shown_bestsellers(agent, factory, cid)
    replies = run(agent, factory, cid, text("quero o primeiro, 90 unidades, fecha no pix"))  # stock is 30
    assert cart_lines(factory, cid, agent) == [] and llm.requests == []
    with session_scope(factory) as s:
        assert s.scalars(select(Order).where(Order.customer_id == cid)).all() == []
    assert "Não consegui" in replies[0].body and "checkout:pix" not in str(replies)


def test_two_products_named_at_once_are_listed_side_by_side(env, llm):
    agent, factory, cid, _ = env
    shown_bestsellers(agent, factory, cid)
    (reply,) = run(agent, factory, cid, text("compara o primeiro com o terceiro"))
    assert [r[0] for r in reply.rows] == [f"product:{PERFUME}", f"product:{FONE}"] and llm.requests == []
    assert "*Perfume Floral Feminino 100 ml* — R$ 129,90" in reply.body and "*Fone de Ouvido" in reply.body


def test_put_it_in_the_cart_under_a_list_asks_which_and_a_tap_adds_it(env, llm):
    agent, factory, cid, _ = env
    shown_bestsellers(agent, factory, cid)
    (which,) = run(agent, factory, cid, text("põe no carrinho"))
    assert which.body.startswith("Qual deles você quer?") and "2. Capinha Celular Silicone — R$ 19,90" in which.body
    assert [b[0] for b in which.buttons] == [f"add_to_cart:{p}" for p in (PERFUME, CAPINHA, FONE)]
    assert all(len(title) <= 20 for _, title in which.buttons) and cart_lines(factory, cid, agent) == []
    run(agent, factory, cid, text(which.buttons[1][1], choice_id=which.buttons[1][0]))
    assert cart_lines(factory, cid, agent) == [(CAPINHA, 1)] and llm.requests == []
    shown_bestsellers(agent, factory, cid)
    run(agent, factory, cid, text("coloca no carrinho"))
    run(agent, factory, cid, text("o terceiro"))  # the answer to "qual deles?": added, not described
    assert cart_lines(factory, cid, agent) == [(CAPINHA, 1), (FONE, 1)] and llm.requests == []


def test_put_it_in_the_cart_right_after_its_card(env, llm):
    agent, factory, cid, _ = env
    run(agent, factory, cid, text("Capinha", choice_id=f"product:{CAPINHA}"))
    run(agent, factory, cid, text("põe no carrinho"))
    assert cart_lines(factory, cid, agent) == [(CAPINHA, 1)]
    run(agent, factory, cid, text("quero 3 unidades"))  # three in all
    assert cart_lines(factory, cid, agent) == [(CAPINHA, 3)] and llm.requests == []


def test_text_that_points_at_nothing_goes_on_to_the_model(env, llm):
    agent, factory, cid, _ = env
    shown_bestsellers(agent, factory, cid)
    llm.push(FakeLLM.text("O perfume é o mais vendido."))
    assert run(agent, factory, cid, text("qual a diferença entre eles?"))[0].body == "O perfume é o mais vendido."
    assert len(llm.requests) == 1 and events(factory, cid, "reference_resolved") == []
    which = run(agent, factory, cid, text("quero esse"))  # under a list of three: the server asks which
    assert which[0].body.startswith("Qual deles você quer?") and len(llm.requests) == 1


def test_a_quantity_with_one_product_in_the_cart_and_none_in_view_is_about_that_product():
    cart = {"units": 1, "items": [{"id": "6c960ba6", "name": "Jogo de Lençol Casal", "qty": 1, "price": "R$ 89,90"}]}
    removed = {"removed": {"id": "d3a40340", "name": "Toalha de Banho", "qty": 1, "price": "R$ 34,90"}, **cart}
    messages = [
        {"role": "user", "content": "tira a toalha"},
        {"role": "tool", "name": "remove_from_cart", "content": removed},
    ]
    command = resolve_reference("deixa 3 unidades entao", messages, cart)
    assert command is not None and command.calls == (("add_to_cart", {"product_id": "6c960ba6", "quantity": 2}),)


def test_an_order_status_on_screen_lists_nothing_to_point_at():
    status = [tool("order_status", {"order": "ZV1", "status": "shipped", "items": ["Jogo de Lençol Casal"]})]
    shown = read_shown(status)
    assert shown.listed == [] and shown.focus is None  # its items are names: this raised before
    assert resolve_reference("cansei do robô, quero gente", status) is None  # the person's request goes on


def test_a_name_that_fits_several_shown_products_asks_which_and_a_number_in_it_narrows():
    """ "quero a garrafa" under two garrafas: which one (buttons of those two); "a garrafa 750 ml": that one."""
    which = resolve_reference("quero a garrafa", TWO)
    assert which.navigation == "which" and [o[0] for o in which.options] == ["add_to_cart:dd44", "add_to_cart:ee55"]
    assert calls("escolhi garrafa termica", TWO) == []  # the question, no call
    assert calls("a garrafa termica 750 ml", TWO) == [details(ESPORTE)]
    assert calls("tem garrafa maior?", TWO) is None  # a question: the search or the model answers


def test_asking_for_the_payment_link_with_a_cart_is_the_payment_choice():
    in_cart = THREE + added(TOALHA)
    for said in ("send me the payment link", "me manda o link pra pagar"):
        command = resolve_reference(said, in_cart, cart((TOALHA, 1)))
        assert command.navigation == "checkout" and not command.calls, said


def test_a_yes_word_before_add_to_cart_is_no_product_name():
    for said in ("yep, add to cart", "yeah sure, add it"):
        assert calls(said, THREE + card(TOALHA)) == [add(TOALHA)], said


def test_taking_out_a_name_that_fits_several_cart_lines_asks_which():
    """ "tira a garrafa térmica" with both garrafas in the cart: which one, as remove buttons."""
    in_cart = TWO + added(CAFE) + added(ESPORTE)
    for said in (
        "tira a garrafa termica",
        "cancela garrafa termica",
        "garrafa termica nao quero mais",
        "desiti da garrafa",
    ):
        which = resolve_reference(said, in_cart, cart((CAFE, 1), (ESPORTE, 1)))
        assert which.navigation == "which" and which.topic == "remove", said
        assert [o[0] for o in which.options] == ["remove_from_cart:dd44", "remove_from_cart:ee55"]
    assert calls("tira a garrafa de cafe", in_cart, cart((CAFE, 1), (ESPORTE, 1))) == [remove(CAFE)]
