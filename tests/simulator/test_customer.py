"""simulator/customer.py: the persona rules (accept, object, give up, hand off) on hand-made screens."""

from __future__ import annotations

import random

import pytest

from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, TextReply
from simulator.actions import Done, Pay, Say, Tap
from simulator.customer import Customer
from simulator.observe import read_screen
from tests.serve.factories import CAPINHA, LENCOL
from tests.simulator.examples import LENCOL_GOAL as GOAL
from tests.simulator.examples import goal

FALLBACK = [TextReply("Desculpe, tive um probleminha para responder agora. 😅 Pode repetir com outras palavras?")]


def product_list(catalogue, *ids):
    rows = tuple((f"product:{catalogue.get(i).ref}", catalogue.get(i).name[:24], "R$") for i in ids)
    return [ListReply("Encontrei estas opções:", "Ver opções", rows)]


def card(catalogue, product_id):
    ref = catalogue.get(product_id).ref
    return [
        ImageReply("card.png", "Jogo de Lençol — R$ 89,90", product_id),
        ButtonsReply("O que acha?", ((f"add_to_cart:{ref}", "Adicionar"), ("view_cart", "Ver carrinho"))),
    ]


def customer(catalogue, wanted=GOAL, seed=0) -> Customer:
    c = Customer(wanted, catalogue, random.Random(seed), noise=0.0)
    c.opening()
    return c


@pytest.mark.parametrize("seed", range(6))
def test_accepting_customer_picks_the_fitting_product_checks_out_and_pays(catalogue, seed):
    c = customer(catalogue, seed=seed)
    lencol = catalogue.get(LENCOL)
    act = c.react(read_screen(product_list(catalogue, CAPINHA, LENCOL), catalogue), {})
    assert (isinstance(act, Tap) and act.choice_id == f"product:{lencol.ref}") or (
        isinstance(act, Say) and act.act in ("pick_ordinal", "pick_name")
    )
    act = c.react(read_screen(card(catalogue, LENCOL), catalogue), {})
    assert (isinstance(act, Tap) and act.choice_id == f"add_to_cart:{lencol.ref}") or act.act == "add_this"
    act = c.react(read_screen([TextReply("Adicionei 1x Jogo de Lençol")], catalogue), {LENCOL: 1})
    assert isinstance(act, Say | Tap) and (getattr(act, "act", None) == "checkout" or act.choice_id == "checkout")
    pay_buttons = [ButtonsReply("Como prefere pagar?", (("checkout:pix", "PIX"), ("checkout:card", "Cartão")))]
    act = c.react(read_screen(pay_buttons, catalogue), {LENCOL: 1})
    assert (isinstance(act, Tap) and act.choice_id == "checkout:pix") or act.act == "pay_pix"
    link = [
        TextReply(
            "Pedido *ZV10001* criado! Total: R$ 105,80. Pague com PIX neste link: http://bot.test/pay/sbx_abcdefgh1234"
        )
    ]
    assert c.react(read_screen(link, catalogue), {}) == Pay("sbx_abcdefgh1234")


def test_products_outside_the_goal_are_not_picked(catalogue):
    c = customer(catalogue)
    act = c.react(read_screen(product_list(catalogue, CAPINHA), catalogue), {})
    assert isinstance(act, Say) and c.misses == 1  # says it again instead of taking a capinha


def test_products_of_the_kind_but_too_dear_make_the_customer_say_its_budget(catalogue):
    lencol = catalogue.get(LENCOL)
    c = customer(catalogue, goal(budget_cents=lencol.price_cents - 100), seed=3)
    while c.request[0] == "ask_product_budget":  # an opening that did not say the budget yet
        c = customer(catalogue, goal(budget_cents=lencol.price_cents - 100), seed=c.rng.randrange(1000))
    act = c.react(read_screen(product_list(catalogue, LENCOL), catalogue), {})
    assert act.act == "ask_product_budget" and c.misses == 1


def test_objection_is_stated_and_purchase_waits_for_an_answer_with_data(catalogue):
    c = customer(catalogue, goal(objection="shipping"))
    act = c.react(read_screen(card(catalogue, LENCOL), catalogue), {})
    assert isinstance(act, Say) and act.act == "object_shipping"
    act = c.react(read_screen([TextReply("Chega rapidinho!")], catalogue), {})
    assert isinstance(act, Say) and act.act == "object_shipping"  # no figure: asks again
    answered = [TextReply("O frete do Jogo de Lençol sai por R$ 15,90."), *card(catalogue, LENCOL)[1:]]
    act = c.react(read_screen(answered, catalogue), {})
    assert (isinstance(act, Tap) and act.choice_id.startswith("add_to_cart:")) or act.act == "add_this"


def test_an_answered_objection_is_not_asked_again_and_which_one_gets_a_tap(catalogue):
    """Freight answered about a list, then "adiciona aí": to the bot's "qual deles?" buttons the
    customer taps the product its objection was about, without objecting again."""
    c = customer(catalogue, goal(objection="shipping"))
    lencol, capinha = catalogue.get(LENCOL), catalogue.get(CAPINHA)
    assert c.react(read_screen(card(catalogue, LENCOL), catalogue), {}).act == "object_shipping"
    freights = [TextReply(f"Frete de cada um:\n• {lencol.name} — R$ 15,90\n• {capinha.name} — R$ 8,90")]
    act = c.react(read_screen(freights, catalogue), {})
    assert act.act == "add_this" and c.objection_answered
    which = [ButtonsReply("Qual deles?", ((f"add_to_cart:{capinha.ref}", "1."), (f"add_to_cart:{lencol.ref}", "2.")))]
    assert c.react(read_screen(which, catalogue), {}) == Tap(f"add_to_cart:{lencol.ref}", "2.")
    assert c.objected == 1


def test_unanswered_objection_ends_without_buying(catalogue):
    c = customer(catalogue, goal(objection="quality"))
    c.react(read_screen(card(catalogue, LENCOL), catalogue), {})
    c.react(read_screen([TextReply("É ótimo!")], catalogue), {})
    assert c.react(read_screen([TextReply("Confia!")], catalogue), {}) == Done("objection_unanswered")


def test_price_objection_is_answered_only_by_a_cheaper_fitting_product(catalogue):
    c = customer(catalogue, goal(objection="price", category=None))
    c.react(read_screen(card(catalogue, LENCOL), catalogue), {})  # R$ 89,90: "tá caro"
    act = c.react(read_screen(product_list(catalogue, CAPINHA), catalogue), {})  # R$ 19,90
    assert (isinstance(act, Tap) and act.choice_id == f"product:{catalogue.get(CAPINHA).ref}") or act.act in (
        "pick_ordinal",
        "pick_name",
    )


def test_repeated_misunderstanding_leads_to_asking_for_a_person_then_leaving(catalogue):
    c = customer(catalogue)
    acts = [c.react(read_screen(FALLBACK, catalogue), {}) for _ in range(2)]
    assert all(isinstance(a, Say) for a in acts)
    act = c.react(
        read_screen(FALLBACK + [ButtonsReply("Posso ajudar?", (("human", "Falar c/ atendente"),))], catalogue), {}
    )
    assert act == Tap("human", "Falar c/ atendente")
    c.history.append("ask_human")
    assert c.react(read_screen(FALLBACK, catalogue), {}) == Done("asked_human")


def test_customer_gives_up_when_patience_runs_out(catalogue):
    c = customer(catalogue, goal(patience=2))
    c.react(read_screen(product_list(catalogue, LENCOL), catalogue), {})
    assert c.react(read_screen(FALLBACK, catalogue), {}) == Done("gave_up")


def test_a_decline_is_said_and_the_bots_answer_read_before_leaving(catalogue):
    c = customer(catalogue, goal(buy=False, expect="fact"))
    act = c.react(read_screen(card(catalogue, LENCOL), catalogue), {})
    assert isinstance(act, Say) and act.act == "decline"
    assert c.react(read_screen([TextReply("Tudo bem!")], catalogue), {}) == Done("looked")


def test_a_payment_link_is_paid_even_when_patience_is_spent(catalogue):
    c = customer(catalogue, goal(patience=1))
    c.phase = "checkout"
    link = [TextReply("Pague com PIX neste link: http://bot.test/pay/sbx_abcdefgh1234")]
    assert c.react(read_screen(link, catalogue), {}) == Pay("sbx_abcdefgh1234")


def test_a_typed_payment_choice_not_taken_up_is_a_misunderstanding_then_a_tap(catalogue):
    c = customer(catalogue)
    c.chosen = catalogue.get(LENCOL)
    c.history.append("pay_pix")
    pay_buttons = [ButtonsReply("Como prefere pagar?", (("checkout:pix", "PIX"), ("checkout:card", "Cartão")))]
    assert c.react(read_screen(pay_buttons, catalogue), {LENCOL: 1}) == Tap("checkout:pix", "PIX")
    assert c.misunderstood == [(len(c.history) - 2, "pay_pix → a text without what was asked")]


@pytest.mark.parametrize("shown", ["⭐ 4.5 (12 avaliações)", "nota 4,5 de 5"])
def test_quality_objection_is_answered_by_the_products_real_rating(catalogue, shown):
    lencol = catalogue.get(LENCOL)  # the fixture rates it 4.5
    c = customer(catalogue, goal(objection="quality"))
    c.react(read_screen(card(catalogue, LENCOL), catalogue), {})
    act = c.react(
        read_screen([TextReply(f"O {lencol.name} tem {shown}."), *card(catalogue, LENCOL)[1:]], catalogue), {}
    )
    assert (isinstance(act, Tap) and act.choice_id.startswith("add_to_cart:")) or act.act == "add_this"


def test_a_quality_doubt_about_an_unrated_product_is_answered_by_saying_so_or_by_a_rated_one(catalogue):
    edredom = next(p for p in catalogue.products if p.name.startswith("Edredom"))
    toalha = next(p for p in catalogue.products if p.name.startswith("Toalha"))
    wanted = goal(objection="quality", query="edredom", budget_cents=20000, anchor=edredom.product_id)
    told = customer(catalogue, wanted)
    told.react(read_screen(card(catalogue, edredom.product_id), catalogue), {})  # "presta?"
    act = told.react(read_screen([TextReply(f"O {edredom.name} ainda está sem avaliações.")], catalogue), {})
    assert told.objection_answered and told.chosen == edredom and act != Done("objection_unanswered")
    shown = customer(catalogue, wanted)
    shown.react(read_screen(card(catalogue, edredom.product_id), catalogue), {})
    rated = [TextReply(f"Os mais bem avaliados parecidos:\n• {toalha.name} — R$ 34,90 · ⭐ 4.1")]
    shown.react(read_screen(rated + product_list(catalogue, toalha.product_id), catalogue), {})
    assert shown.objection_answered and shown.chosen == toalha  # it takes the rated one
    silent = customer(catalogue, wanted)
    silent.react(read_screen(card(catalogue, edredom.product_id), catalogue), {})
    silent.react(read_screen([TextReply("É ótimo!")], catalogue), {})
    assert silent.react(read_screen([TextReply("Confia!")], catalogue), {}) == Done("objection_unanswered")


def test_a_cart_line_is_named_by_the_goals_words_only_when_the_product_has_them(catalogue):
    c = customer(catalogue)  # the lençol goal
    toalha = next(p for p in catalogue.products if p.name.startswith("Toalha"))
    assert c.named(catalogue.get(LENCOL)) == "lençol" and c.named(toalha) == "toalha banho"


def test_shown_the_wrong_kind_it_names_its_product_precisely_next_time(catalogue):
    esportiva = next(p for p in catalogue.products if p.name.startswith("Garrafa Térmica Esportiva"))
    cafe = next(p for p in catalogue.products if p.name.startswith("Garrafa Térmica Café"))
    wanted = goal(query="garrafa", category=esportiva.category, budget_cents=6000, anchor=esportiva.product_id)
    c = customer(catalogue, wanted)
    assert c.query == ""
    act = c.react(read_screen(product_list(catalogue, cafe.product_id), catalogue), {})  # a coffee flask: wrong kind
    assert c.query == "garrafa térmica esportiva" and any("esportiva" in t.lower() for t in act.texts)
