"""Searches built from the customer's words: the budget, category and order they state are hard
filters on the server's own searches and on the model's (serve/conversation/shopping.py)."""

import asyncio
import itertools
import json

import pytest
from sqlalchemy import select

from serve.contract.tools import SearchProducts
from serve.conversation.messages import Inbound
from serve.conversation.routing import fallback_command, search_command
from serve.conversation.shopping import with_customer_constraints
from serve.storage.db import session_scope
from serve.storage.tables import ChatTurn
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import PHONE

_ids = itertools.count(1)
_loop = asyncio.new_event_loop()  # one loop for the module: the agent's HTTP client pool lives on it


class FixedIntents:
    """Stands in for the nlu stage's classifier: one (intent, probability) for every text."""

    def __init__(self, intent: str, p: float):
        self.intent, self.p = intent, p

    def predict_with_confidence(self, texts):
        return [(self.intent, self.p) for _ in texts]


@pytest.mark.parametrize(
    "intent, text, args",
    [
        ("search_product", "relógio até 150 reais", {"query": "relogio", "category": "relogio", "max_price": 150.0}),
        (
            "browse_categories",
            "coisas de cozinha baratinhas, no máximo 50 conto",
            {"query": "cozinha", "category": "cozinha", "max_price": 50.0, "sort": "price_asc"},
        ),
        ("search_product", "quero devolver o relógio de 150 reais", None),  # not a search
        ("search_product", "meu pedido de 80 reais com a toalha não chegou", None),
        ("search_product", "queria ver uns relógios", None),  # no budget: the model answers
        ("search_product", "perfume até 100 reais", None),  # perfumaria: no such aisle in the fixture
        ("add_to_cart", "põe o relógio de até 200 reais no carrinho", None),
    ],
)
def test_search_command_needs_a_category_of_this_catalogue_and_a_budget(catalogue, intent, text, args):
    command = search_command(intent, text, catalogue)
    assert (command.calls if command else None) == (None if args is None else (("search_products", args),))


def test_fallback_search_carries_the_budget_and_the_order():
    command = fallback_command("search_product", "toalha até 40 reais, a mais barata")
    assert command.calls == (
        ("search_products", {"query": "toalha até 40 reais, a mais barata", "max_price": 40.0, "sort": "price_asc"}),
    )


@pytest.mark.parametrize(
    "model, said, expect",
    [
        ({"query": "relogio"}, "relógio até 190 reais", {"max_price": 190.0, "category": "relogio"}),
        ({"query": "relogio", "max_price": 500}, "relógio até 190 reais", {"max_price": 190.0, "category": "relogio"}),
        ({"query": "relogio", "max_price": 100, "category": "relógios e presentes"}, "relógio até 190 reais", {}),
        ({"query": "panela", "category": "móveis e decoração"}, "coisas de cozinha", {"category": "cozinha"}),
        ({"query": "panela", "category": "utilidades domésticas"}, "coisas de cozinha", {}),  # agrees: kept
        ({"query": "fone", "category": "telefonia"}, "qual o fone mais barato?", {"sort": "price_asc"}),
        ({"query": "garrafa", "sort": "rating"}, "garrafa barata", {}),  # the model's explicit order stays
        ({"query": "relogio"}, "", {}),
    ],
)
def test_the_models_search_gets_the_customers_constraints(catalogue, model, said, expect):
    args = SearchProducts(**model)
    out = with_customer_constraints(args, said, catalogue)
    changed = {k: v for k, v in out.model_dump().items() if v != args.model_dump()[k]}
    assert {k: changed[k] for k in expect} == expect and set(changed) <= set(expect)


def say(agent, factory, cid, body):
    msg = Inbound(f"wamid.s{next(_ids)}", PHONE, "text", 1_700_000_000, text=body)
    return _loop.run_until_complete(agent.respond(factory, cid, [msg]))


def test_a_search_with_category_and_budget_is_answered_without_the_model(env, llm):
    agent, factory, cid = env
    agent.intents = FixedIntents("search_product", 0.4)  # even an unsure guess: the words say it all
    replies = say(agent, factory, cid, "oi! relógio até 190 reais?")
    assert llm.requests == []
    shown = " ".join(str(r) for r in replies)
    assert "Relógio Feminino Dourado" in shown and "Relógio Masculino" not in shown  # R$ 179,90 in, R$ 199,90 out
    assert "Não encontrei" in say(agent, factory, cid, "relógio até 150 reais")[0].body  # none: said so


def test_the_models_search_never_lists_a_product_over_the_customers_budget(env, llm):
    agent, factory, cid = env
    agent.intents = None
    agent.settings.AGENT_SERVER_SEARCH = False  # the model's own search is under test
    llm.push(FakeLLM.call("search_products", {"query": "relógio"}), FakeLLM.text("Achei este relógio pra você!"))
    say(agent, factory, cid, "queria um relógio, no máximo 190 reais")
    with session_scope(factory) as s:
        turns = [t.message for t in s.scalars(select(ChatTurn).order_by(ChatTurn.id))]
    call = next(m for m in turns if m.get("tool_calls"))["tool_calls"][0]["function"]
    assert json.loads(call["arguments"]) == {"query": "relógio"}  # what the model proposed
    tool = next(m for m in turns if m["role"] == "tool")
    assert [i["name"] for i in json.loads(tool["content"])["items"]] == ["Relógio Feminino Dourado"]
