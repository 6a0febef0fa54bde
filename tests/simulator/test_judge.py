"""simulator/judge.py: each success rule on hand-made end states with a known outcome."""

from __future__ import annotations

from serve.commerce import cart, orders
from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, TextReply
from serve.storage.db import session_scope
from serve.storage.tables import Handoff
from simulator.checks import Checker
from simulator.goals import Goal
from simulator.judge import judge
from tests.serve.factories import CAPINHA, LENCOL, new_customer
from tests.simulator.examples import goal

LENCOL_GOAL = goal(quantity=2)


def buy(factory, catalogue, lines: dict[str, int], method: str = "pix", status: str = "paid") -> tuple[int, str]:
    cid = new_customer(factory, name="Ana")
    with session_scope(factory) as s:
        for product_id, qty in lines.items():
            cart.add_item(s, cid, catalogue, product_id, qty)
        order = orders.create_order(s, cid, catalogue, method)
        if status != "pending_payment":
            orders.transition(order, status)
        return cid, order.code


def verdict(factory, catalogue, goal, cid, texts=(), seeded=None):
    with session_scope(factory) as s:
        return judge(s, goal, cid, list(texts), catalogue, seeded)


def test_the_expected_paid_order_is_a_success(factory, catalogue):
    cid, _ = buy(factory, catalogue, {LENCOL: 2})
    assert verdict(factory, catalogue, LENCOL_GOAL, cid).success


def test_wrong_quantity_method_product_or_unpaid_order_fail(factory, catalogue):
    cases = {
        "quantity 1": buy(factory, catalogue, {LENCOL: 1})[0],
        "paid by card": buy(factory, catalogue, {LENCOL: 2}, method="card")[0],
        "different products": buy(factory, catalogue, {LENCOL: 2, CAPINHA: 1})[0],
        "no paid order": buy(factory, catalogue, {LENCOL: 2}, status="pending_payment")[0],
    }
    for why, cid in cases.items():
        v = verdict(factory, catalogue, LENCOL_GOAL, cid)
        assert not v.success, why
    over_budget = goal(quantity=2, budget_cents=5000)
    cid, _ = buy(factory, catalogue, {LENCOL: 2})
    assert verdict(factory, catalogue, over_budget, cid).reason.startswith("bought a product outside")


def test_reorder_must_repeat_the_seeded_order(factory, catalogue):
    goal = Goal(
        goal_id="g2",
        scenario="recurring",
        lang="pt",
        name="Ana",
        expect="order",
        payment="pix",
        past_items=((LENCOL, 1), (CAPINHA, 2)),
    )
    cid, _ = buy(factory, catalogue, {LENCOL: 1, CAPINHA: 2})
    assert verdict(factory, catalogue, goal, cid).success
    cid, _ = buy(factory, catalogue, {LENCOL: 1})
    assert not verdict(factory, catalogue, goal, cid).success


def test_the_seeded_order_does_not_count_as_a_purchase(factory, catalogue):
    cid, code = buy(factory, catalogue, {LENCOL: 2})
    assert not verdict(factory, catalogue, LENCOL_GOAL, cid, seeded=code).success


def test_order_status_must_be_stated_as_the_database_has_it(factory, catalogue):
    goal = Goal(goal_id="g3", scenario="order_status", lang="pt", name="Ana", expect="fact", order_status="shipped")
    cid, code = buy(factory, catalogue, {LENCOL: 1}, status="paid")
    right = [f"Pedido {code}: pagamento aprovado"]
    wrong = [f"Pedido {code}: enviado"]
    assert verdict(factory, catalogue, goal, cid, right, code).success
    assert not verdict(factory, catalogue, goal, cid, wrong, code).success
    assert not verdict(factory, catalogue, goal, cid, ["Seu pedido está a caminho"], code).success


def test_handoff_goal_needs_a_handoff_row(factory, catalogue):
    goal = Goal(goal_id="g4", scenario="complaint", lang="pt", name="Ana", expect="handoff")
    cid = new_customer(factory, name="Ana")
    assert not verdict(factory, catalogue, goal, cid, ["Vou chamar uma pessoa"]).success
    with session_scope(factory) as s:
        s.add(Handoff(customer_id=cid, reason="produto quebrado", priority_score=1.0))
    assert verdict(factory, catalogue, goal, cid).success


def test_exploration_fact_is_a_fitting_product_with_its_real_price(catalogue):
    goal = Goal(
        goal_id="g5",
        scenario="exploration",
        lang="pt",
        name="Ana",
        expect="fact",
        buy=False,
        category="cama_mesa_banho",
        budget_cents=10000,
    )
    lencol = catalogue.get(LENCOL)
    with_price = [f"*{lencol.name}* — R$ 89,90"]
    wrong_price = [f"*{lencol.name}* — R$ 79,90"]
    assert judge(None, goal, 0, with_price, catalogue, None).success
    assert not judge(None, goal, 0, wrong_price, catalogue, None).success


def test_checker_flags_made_up_amounts_wrong_language_limits_and_pressure(catalogue):
    c = Checker(catalogue, "pt")
    c.customer_said("tem lençol até 120 reais?", "ask_product_budget")
    c.bot_said([TextReply("Temos sim, sai por R$ 120,00 ou R$ 77,77")], [])
    assert c.flags.ungrounded == ["R$ amount 77.77"]  # 120 is the customer's own figure
    c.bot_said([TextReply("Sure, here are the best options for you today")], [])
    assert c.flags.wrong_language == 1
    long = ImageReply("card.png", "x" * 1100, LENCOL)
    c.bot_said([long, ListReply("Opções", "Ver", tuple((f"product:{i}", "p", "d") for i in range(3)))], [LENCOL])
    assert c.flags.limit_violations == ["caption of 1100 characters"]
    c.customer_said("não, obrigada", "decline")
    c.bot_said([TextReply("Aproveite, é a última chance!")], [])
    assert c.flags.pressure_after_no
    c.bot_said([TextReply("Últimas unidades!")], [LENCOL])  # the fixture keeps 40 lençóis
    assert c.flags.fake_scarcity


def test_checker_accepts_the_servers_own_replies(catalogue):
    c = Checker(catalogue, "pt")
    c.customer_said("não, valeu", "decline")
    c.bot_said(
        [
            TextReply("Tudo bem, sem problema! Se mudar de ideia, é só me chamar. 😊"),
            ButtonsReply("Posso ajudar?", (("recommend", "Mais vendidos"),)),
        ],
        [],
    )
    f = c.flags
    assert not (f.ungrounded or f.wrong_language or f.limit_violations or f.pressure_after_no or f.fake_scarcity)


def test_server_bold_totals_and_order_codes_are_not_product_names(catalogue):
    c = Checker(catalogue, "pt")
    c.store_amounts({6099})
    c.bot_said([TextReply("Pedido *ZV63077* criado! *Total: R$ 60,99*. Pague com PIX neste link")], [])
    c.bot_said([TextReply("Temos o *Relógio Dourado Imperial* por R$ 19,90")], [])
    assert c.flags.ungrounded == ["product name 'Relógio Dourado Imperial'"]


def test_checker_counts_answers_to_a_stated_budget_that_show_a_product_above_it(catalogue):
    c = Checker(catalogue, "pt", budget_cents=5000)
    c.customer_said("quero algo até 50 reais", "ask_product_budget")
    c.bot_said([TextReply("Olha estas opções")], [CAPINHA, LENCOL])  # the lençol costs R$ 89,90
    c.customer_said("quero algo até 50 reais", "ask_product_budget")
    c.bot_said([TextReply("Olha esta opção")], [CAPINHA])
    c.customer_said("tem lençol?", "ask_product")  # no budget said in this message
    c.bot_said([TextReply("Temos")], [LENCOL])
    assert c.flags.budget_ignored == 1
