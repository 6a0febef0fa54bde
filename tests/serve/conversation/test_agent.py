"""Agent loop against a local OpenAI-compatible server (tests/fakes/fake_llm.py), real SQLite."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from serve.commerce import cart as carts
from serve.commerce.customers import get_or_create_customer
from serve.contract import TOOLS, chat_template
from serve.contract import system_prompt as agent_system_prompt
from serve.conversation.agent import Agent
from serve.conversation.messages import ButtonsReply, ImageReply, Inbound, ListReply, TextReply
from serve.conversation.model_text import looks_like_garbage
from serve.conversation.present import FALLBACK_TEXT
from serve.conversation.structured_outputs import tool_call_prefix
from serve.settings import Settings
from serve.storage.db import session_scope
from serve.storage.tables import ChatTurn, Customer, Event
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import HASH_KEY, PHONE, fixture_catalogue, fixture_frames

LENCOL = "6c960ba6"  # ref of "Jogo de Lençol Casal 4 Peças Algodão", R$ 89,90, stock 40
_ids = itertools.count(1)


def text(body: str, choice_id: str | None = None) -> Inbound:
    kind = "button_reply" if choice_id else "text"
    return Inbound(f"wamid.{next(_ids)}", PHONE, kind, 1_700_000_000, text=body, choice_id=choice_id)


@pytest.fixture
def env(request, tmp_path, llm, sqlite_db):
    """Agent, session factory, customer id, settings. The model words tool results here (the loop
    under test); tests of the default server wording ask for `server_env`."""
    llm.script.clear()
    llm.requests.clear()
    settings = Settings(
        ENV="test",
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL=llm.model,
        LLM_TIMEOUT_S=2.0,
        PHONE_HASH_KEY=HASH_KEY,
        MEDIA_DIR=str(tmp_path / "media"),
        AGENT_MAX_STEPS=3,
        AGENT_REPLY_AFTER_TOOLS=getattr(request, "param", "model"),
        AGENT_PREFILL_BETWEEN_TURNS=False,
    )  # its extra request would eat scripted steps
    factory = sqlite_db.factory()
    with session_scope(factory) as s:
        cid = get_or_create_customer(s, PHONE, HASH_KEY, "Ana").id
    agent = Agent(settings, fixture_catalogue())
    return agent, factory, cid, settings


server_env = pytest.mark.parametrize("env", ["server"], indirect=True)
_loop = asyncio.new_event_loop()  # one loop for the module: the agent's HTTP client pool lives on it


def run(agent, factory, cid, *msgs):
    return _loop.run_until_complete(agent.respond(factory, cid, list(msgs)))


def events(factory, cid, name):
    with session_scope(factory) as s:
        return [e.properties for e in s.scalars(select(Event).where(Event.customer_id == cid, Event.name == name))]


def cart_lines(factory, cid, agent):
    with session_scope(factory) as s:
        return [(line.product_id[:8], line.quantity) for line in carts.view_cart(s, cid, agent.catalogue).lines]


def tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize(
    "name, arguments, why",
    [
        ("add_to_cart", {"product_id": "ffffffff", "quantity": 1}, "produto não encontrado"),
        ("add_to_cart", {"product_id": LENCOL, "quantity": -2}, "quantity"),
        ("add_to_cart", {"product_id": LENCOL, "quantity": 1, "price": 1.0}, "price"),
        ("apply_discount", {"percent": 90}, "ferramenta desconhecida"),
        ("checkout", '{"payment_method": "pix"', "JSON"),
    ],
)
def test_invalid_tool_calls_are_refused_and_never_executed(env, llm, name, arguments, why):
    agent, factory, cid, _ = env
    llm.push(FakeLLM.call(name, arguments), FakeLLM.text("Não consegui adicionar, pode confirmar o produto?"))
    replies = run(agent, factory, cid, text("coloca o lençol no carrinho"))
    refused = tool_messages(llm.requests[1])[-1]
    assert why in json.loads(refused["content"])["error"]
    assert cart_lines(factory, cid, agent) == []
    assert [e["tool"] for e in events(factory, cid, "tool_refused")] == [name]
    assert replies == [TextReply("Não consegui adicionar, pode confirmar o produto?")]


def test_valid_call_runs_for_the_verified_customer_with_catalogue_price(env, llm):
    agent, factory, cid, _ = env
    with session_scope(factory) as s:  # another customer: must stay untouched
        other = get_or_create_customer(s, "5521999998888", HASH_KEY).id
    llm.push(
        FakeLLM.call("add_to_cart", {"product_id": LENCOL, "quantity": 2}),
        FakeLLM.text("Prontinho! Coloquei 2 jogos de lençol, total R$ 179,80."),
    )
    replies = run(agent, factory, cid, text("quero 2 lençóis"))
    assert cart_lines(factory, cid, agent) == [(LENCOL, 2)] and cart_lines(factory, other, agent) == []
    result = json.loads(tool_messages(llm.requests[1])[-1]["content"])
    assert result["added"] == {"id": LENCOL, "name": "Jogo de Lençol Casal 4 Peças Algodão", "qty": 2, "in_cart": 2}
    assert (result["subtotal"], result["total"]) == ("R$ 179,80", "R$ 199,68")  # + freight 15,90 + 25 % of 15,90
    assert (
        len(replies) == 1
        and isinstance(replies[0], ButtonsReply)
        and ("checkout", "Finalizar compra") in replies[0].buttons
    )
    assert replies[0].body == "Prontinho! Coloquei 2 jogos de lençol, total R$ 179,80.\n\nTotal do carrinho: R$ 199,68"
    assert llm.requests[0]["tools"][0]["function"]["name"] == "search_products"
    assert llm.requests[0]["tool_choice"] == "auto" and llm.requests[0]["max_tokens"] == agent.settings.AGENT_MAX_TOKENS
    assert events(factory, cid, "cart_add")[0]["value_cents"] == 2 * 8990


@server_env
def test_server_words_a_successful_tool_result_with_one_model_call(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False  # a request the server would search: the model's turn is under test
    llm.push(
        FakeLLM.call("search_products", {"query": "garrafa térmica"}),
        FakeLLM.text("never asked for: the server words search results"),
    )
    replies = run(agent, factory, cid, text("tem garrafa térmica?"))
    assert len(llm.requests) == 1  # the model only picked the tool
    assert len(replies) == 1 and isinstance(replies[0], ListReply)  # text folded into the list's body
    assert replies[0].body.startswith("Separei estas opções:\n• ") and "R$ 44,90" in replies[0].body
    assert [r[0] for r in replies[0].rows] == ["product:27668894", "product:831f33a1"]
    with session_scope(factory) as s:  # the history holds what the customer saw, for the next turn
        last = [t.message for t in s.scalars(select(ChatTurn).order_by(ChatTurn.id))][-1]
    assert last == {"role": "assistant", "content": replies[0].body.split("\n\nToque")[0]}


@server_env
def test_server_wording_still_lets_the_model_fix_a_refused_call(env, llm):
    agent, factory, cid, _ = env
    llm.push(
        FakeLLM.call("add_to_cart", {"product_id": LENCOL, "quantity": 1, "price": 1.0}),
        FakeLLM.call("add_to_cart", {"product_id": LENCOL, "quantity": 1}),
    )
    replies = run(agent, factory, cid, text("põe o lençol no carrinho"))
    assert len(llm.requests) == 2 and "price" in json.loads(tool_messages(llm.requests[1])[-1]["content"])["error"]
    assert cart_lines(factory, cid, agent) == [(LENCOL, 1)]
    assert len(replies) == 1 and replies[0].body.startswith("Adicionei 1x Jogo de Lençol Casal 4 Peças Algodão")


@server_env
def test_server_wording_leaves_plain_answers_to_the_model(env, llm):
    agent, factory, cid, _ = env
    llm.push(FakeLLM.text("Olá, Ana! Procura algo para casa ou para presente?"))
    assert run(agent, factory, cid, text("oi")) == [TextReply("Olá, Ana! Procura algo para casa ou para presente?")]


class FixedIntents:
    """Stands in for the nlu stage's classifier: one (intent, probability) for every text."""

    def __init__(self, intent: str, p: float):
        self.intent, self.p, self.texts = intent, p, []

    def predict_with_confidence(self, texts):
        self.texts += texts
        return [(self.intent, self.p) for _ in texts]


@pytest.mark.parametrize(
    "intent, expect",
    [
        ("greeting", "Olá, Ana! 👋"),
        ("thanks_goodbye", "Eu que agradeço!"),
        ("view_cart", "Seu carrinho está vazio."),
        ("order_status", "Não encontrei pedidos feitos por este número"),
        ("human_request", "Vou chamar uma pessoa"),
        ("complaint", "Vou chamar uma pessoa"),
        ("checkout", "Como você prefere pagar?"),
        ("decline", "Tudo bem, sem problema!"),
    ],
)
def test_confident_simple_intents_are_answered_without_the_model(env, llm, intent, expect):
    agent, factory, cid, _ = env
    agent.intents = FixedIntents(intent, 0.95)
    replies = run(agent, factory, cid, text("oi"))
    assert llm.requests == [] and expect in replies[0].body
    assert events(factory, cid, "intent") == [{"intent": intent, "p": 0.95, "routed": True}]
    if intent in ("human_request", "complaint"):
        assert events(factory, cid, "handoff")


def test_unsure_or_argument_needing_intents_go_to_the_model(env, llm):
    agent, factory, cid, _ = env
    for intent, p in (("greeting", 0.6), ("objection_price", 0.99)):
        agent.intents = FixedIntents(intent, p)
        llm.push(FakeLLM.text("Olá! Procura algo para casa?"))
        assert (
            run(agent, factory, cid, text("oi, tudo bem? queria ver umas coisas"))[0].body
            == "Olá! Procura algo para casa?"
        )
    assert len(llm.requests) == 2
    agent.intents = FixedIntents("greeting", 0.99)  # an image is not a greeting, whatever its caption says
    llm.push(FakeLLM.text("Que foto bonita! Quer que eu procure algo parecido?"))
    run(agent, factory, cid, Inbound("wamid.img", PHONE, "image", 1_700_000_000, text="oi"))
    assert len(llm.requests) == 3 and agent.intents.texts == []


@server_env
def test_a_sure_tool_intent_starts_the_call_and_the_model_writes_the_arguments(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False  # a request the server would search: the model's turn is under test
    agent.intents = FixedIntents("search_product", 0.97)
    llm.push(FakeLLM.raw_text(' {"query": "garrafa térmica"'))  # vLLM returns the continuation, without the stop string
    replies = run(agent, factory, cid, text("tem garrafa térmica?"))
    (request,) = llm.requests
    assert request["continue_final_message"] is True and request["add_generation_prompt"] is False
    assert request["stop"] == ["<tool_response>", "<|im_start|>", "}}"]
    assert request["messages"][-1] == {
        "role": "assistant",
        "content": '<tool_call>\n{"name": "search_products", "arguments":',
    }
    assert [r[0] for r in replies[-1].rows] == ["product:27668894", "product:831f33a1"]
    with session_scope(factory) as s:  # stored as the whole call: the next turn's context reads as in training
        stored = [t.message for t in s.scalars(select(ChatTurn)) if t.message.get("tool_calls")]
    assert [m["tool_calls"][0]["function"]["name"] for m in stored] == ["search_products"] and stored[0][
        "content"
    ] is None
    assert json.loads(stored[0]["tool_calls"][0]["function"]["arguments"]) == {"query": "garrafa térmica"}
    # arguments that do not parse: the classifier's guess (a search with the customer's words) answers
    llm.push(FakeLLM.raw_text("Olá! Posso ajudar?"))
    replies = run(agent, factory, cid, text("tem garrafa térmica?"))
    assert events(factory, cid, "tool_arguments_unparsed") == [{"tool": "search_products"}]
    assert [r[0] for r in replies[-1].rows] == ["product:27668894", "product:831f33a1"] and len(llm.requests) == 2
    agent.settings.AGENT_TOOL_FROM_INTENT = False  # off: the model picks the tool itself
    llm.push(FakeLLM.call("search_products", {"query": "garrafa térmica"}))
    run(agent, factory, cid, text("tem garrafa térmica?"))
    assert "continue_final_message" not in llm.requests[-1] and llm.requests[-1]["messages"][-1]["role"] == "user"


@server_env
def test_model_calls_carry_the_contract_schema_with_the_catalogue_and_the_products_shown(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False  # a request the server would search: the model's turn is under test
    categories = [c.name_pt for c in agent.catalogue.categories()]
    agent.intents = FixedIntents("search_product", 0.97)
    llm.push(FakeLLM.raw_text(' {"query": "garrafa térmica"'))
    run(agent, factory, cid, text("tem garrafa térmica?"))
    fmt = llm.requests[-1]["response_format"]
    assert fmt["type"] == "structural_tag" and fmt["format"]["type"] == "sequence"
    space, arguments, end = fmt["format"]["elements"]
    assert (space["value"], end["value"]) == (" ", "}")  # ' {"' and '}}' as trained
    schema = arguments["json_schema"]
    assert set(schema["properties"]) == {"query", "category", "max_price", "sort"} and schema["required"] == ["query"]
    assert set(categories) <= set(schema["properties"]["category"]["enum"])
    assert schema["properties"]["sort"]["enum"] == TOOLS[0]["function"]["parameters"]["properties"]["sort"]["enum"]
    # the search showed two products: the next call may name those, and only those
    agent.intents = FixedIntents("add_to_cart", 0.97)
    llm.push(FakeLLM.raw_text(' {"product_id": "831f33a1", "quantity": 2}'))  # a whole object: ended by the grammar
    run(agent, factory, cid, text("acho que vou querer aquele azul"))  # no reference the server resolves
    schema = llm.requests[-1]["response_format"]["format"]["elements"][1]["json_schema"]
    assert set(schema["properties"]["product_id"]["enum"]) == {"27668894", "831f33a1"}
    assert schema["properties"]["quantity"] == {"type": "integer", "minimum": 1, "maximum": 99}
    assert cart_lines(factory, cid, agent) == [("831f33a1", 2)]
    # a free turn: text, or calls in the hermes format to contract tools with valid arguments
    agent.intents = None
    llm.push(FakeLLM.text("Posso ajudar em algo mais?"))
    run(agent, factory, cid, text("hmm"))
    fmt = llm.requests[-1]["response_format"]["format"]
    assert fmt["type"] == "triggered_tags" and fmt["triggers"] == ["<tool_call>"]
    assert [t["begin"] for t in fmt["tags"]] == [tool_call_prefix(t["function"]["name"]) + " " for t in TOOLS]
    assert llm.requests[-1]["tools"] == TOOLS  # the rendered prompt (and vLLM's prefix cache) unchanged
    agent.settings.AGENT_STRUCTURED_OUTPUTS = False
    run(agent, factory, cid, text("hmm"))
    assert "response_format" not in llm.requests[-1]


def test_the_forced_call_start_is_the_template_rendering(smollm2_tokenizer):
    """What vLLM renders for continue_final_message is the trained rendering of a whole call, cut."""
    history = [{"role": "system", "content": "S"}, {"role": "user", "content": "quero toalha"}]
    whole = smollm2_tokenizer.apply_chat_template(
        history
        + [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "recommend", "arguments": {"category": "cama"}},
                    }
                ],
            }
        ],
        tools=TOOLS,
        chat_template=chat_template(),
        tokenize=False,
    )
    started = smollm2_tokenizer.apply_chat_template(
        history + [{"role": "assistant", "content": tool_call_prefix("recommend")}],
        tools=TOOLS,
        chat_template=chat_template(),
        continue_final_message=True,
        add_generation_prompt=False,
        tokenize=False,
    )
    assert whole.startswith(started) and started.endswith(
        '<|im_start|>assistant\n<tool_call>\n{"name": "recommend", "arguments":'
    )
    # ...and ends on a token boundary of the trained text (else the model continues a spelling it never saw)
    assert (
        smollm2_tokenizer(whole)["input_ids"][: len(smollm2_tokenizer(started)["input_ids"])]
        == smollm2_tokenizer(started)["input_ids"]
    )


def test_an_unsure_intent_answers_when_the_model_text_fails(env, llm):
    agent, factory, cid, _ = env
    agent.intents = FixedIntents("thanks_goodbye", 0.48)
    llm.push(FakeLLM.raw_text(""))  # what vLLM returns when the model starts a "<tool_response>" (a stop string)
    replies = run(agent, factory, cid, text("thanks, that's all"))
    assert llm.requests[0]["stop"] == ["<tool_response>", "<|im_start|>"]
    assert replies == [TextReply("Thank you! If you need anything, just message me here. 😊")]
    assert events(factory, cid, "intent_fallback") == [{"reason": "model_error"}] and not events(
        factory, cid, "fallback_reply"
    )


def test_a_search_guess_runs_the_customers_words_when_the_model_gives_nothing(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False  # a request the server would search: the model's turn is under test
    agent.intents = FixedIntents("search_product", 0.96)  # sure, but a search needs the model's arguments
    llm.push(FakeLLM.raw_text(""))
    replies = run(agent, factory, cid, text("tem garrafa térmica?"))
    assert len(llm.requests) == 1 and events(factory, cid, "intent_fallback")
    assert [r[0] for r in replies[-1].rows] == ["product:27668894", "product:831f33a1"]


def test_an_order_status_call_for_words_about_no_order_is_refused_and_the_guess_searches(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False
    agent.intents = FixedIntents("objection_price", 0.6)  # unsure: the model answers
    llm.push(FakeLLM.call("order_status", {}))
    replies = run(agent, factory, cid, text("qual garrafa mais em conta? tenho 50 pra gastar"))
    assert events(factory, cid, "tool_refused")[0]["tool"] == "order_status"
    assert "Garrafa" in replies[0].body and "pedido" not in replies[0].body, replies  # a search, not "no orders"
    llm.push(FakeLLM.call("order_status", {}), FakeLLM.text("Seu pedido ainda não existe."))
    run(agent, factory, cid, text("e o meu pedido, já saiu?"))  # an order question: the call runs
    assert not events(factory, cid, "tool_refused")[1:]


def test_a_follow_up_about_the_product_shown_is_answered_for_that_product(env, llm):
    agent, factory, cid, _ = env
    run(agent, factory, cid, text("Jogo de Lençol", choice_id=f"product:{LENCOL}"))  # its card was shown
    agent.intents = FixedIntents("objection_shipping", 0.93)
    (answer,) = run(agent, factory, cid, text("e o frete?"))
    assert llm.requests == [] and answer.body.startswith(
        "O frete de *Jogo de Lençol Casal 4 Peças Algodão* fica R$ 15,90."
    )
    assert "R$ 199,00" in answer.body and answer.buttons[0] == (f"add_to_cart:{LENCOL}", "Adicionar")
    agent.intents = FixedIntents("product_details", 0.9)
    details = run(agent, factory, cid, text("me fala mais dele"))
    assert llm.requests == [] and "Jogo de lençol casal em algodão, 4 peças, 150 fios." in details[0].caption
    # a question that names another product is the model's: the focus would answer the wrong one
    agent.intents = FixedIntents("objection_shipping", 0.93)
    llm.push(FakeLLM.text("Qual toalha você quer ver?"))
    assert run(agent, factory, cid, text("e o frete da toalha?"))[0].body == "Qual toalha você quer ver?"
    assert len(llm.requests) == 1
    # "e o frete?" is a store question about the product in focus: answered before the classifier;
    # "me fala mais dele" points at the product shown: resolved before it too
    assert [e["routed"] for e in events(factory, cid, "intent")] == [False]
    assert events(factory, cid, "knowledge_answer") == [{"topic": "shipping"}]
    assert events(factory, cid, "reference_resolved") == [{"tools": ["get_product"], "navigation": None}]


def test_order_code_in_the_text_reaches_order_status(env, llm):
    agent, factory, cid, _ = env
    agent.intents = FixedIntents("order_status", 0.9)
    replies = run(agent, factory, cid, text("e o pedido ZV12345?"))
    with session_scope(factory) as s:
        calls = [
            m["tool_calls"][0]["function"]
            for m in (t.message for t in s.scalars(select(ChatTurn)))
            if m.get("tool_calls")
        ]
    assert calls == [{"name": "order_status", "arguments": '{"order_id": "ZV12345"}'}] and replies


@server_env
def test_an_order_code_nobody_wrote_is_dropped(env, llm):
    agent, factory, cid, _ = env
    llm.push(FakeLLM.call("order_status", {"order_id": "1"}))
    replies = run(agent, factory, cid, text("cadê meu pedido?"))
    assert events(factory, cid, "order_id_ignored") == [{"order_id": "1"}]
    assert len(llm.requests) == 1 and replies[0].body.startswith("Não encontrei pedidos feitos por este número")


@server_env
def test_an_english_speaking_customer_gets_server_texts_in_english(env, llm):
    agent, factory, cid, _ = env
    llm.push(FakeLLM.call("search_products", {"query": "garrafa térmica"}))
    (found,) = run(agent, factory, cid, text("hi! do you have a thermal bottle?"))
    assert found.body.startswith("Here are some options:\n• ") and found.button == "See options"
    tapped = run(agent, factory, cid, text("Add to cart", choice_id=f"add_to_cart:{LENCOL}"))  # keeps English
    assert tapped[0].body.startswith("Added 1x Jogo de Lençol") and ("checkout", "Checkout") in tapped[0].buttons
    agent.intents = FixedIntents("greeting", 0.99)
    assert run(agent, factory, cid, text("oi, boa tarde"))[0].body.startswith("Olá, Ana! 👋")  # back to Portuguese


@server_env
def test_a_search_query_sharing_no_word_with_the_customer_is_replaced_by_the_message(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False  # a request the server would search: the model's turn is under test
    llm.push(FakeLLM.call("search_products", {"query": "2"}))
    (found,) = run(agent, factory, cid, text("tem garrafa térmica?"))
    assert events(factory, cid, "search_query_replaced") == [{"query": "2"}]
    assert [r[0] for r in found.rows] == ["product:27668894", "product:831f33a1"]  # the two garrafas
    llm.push(FakeLLM.call("search_products", {"query": "garrafa"}))  # a query from the message: kept
    run(agent, factory, cid, text("e garrafa de inox?"))
    assert len(events(factory, cid, "search_query_replaced")) == 1


def test_steps_per_turn_are_bounded(env, llm):
    agent, factory, cid, settings = env
    llm.push(*[FakeLLM.call("search_products", {"query": "lençol"})] * 10)
    replies = run(agent, factory, cid, text("lençol"))
    assert len(llm.requests) == settings.AGENT_MAX_STEPS
    assert events(factory, cid, "agent_steps_exhausted")
    assert replies and not any(isinstance(r, TextReply) and r.body == "" for r in replies)


@pytest.mark.parametrize("step", [FakeLLM.error(500), FakeLLM.delay(3.0), FakeLLM.error(400, "bad request")])
def test_fallback_reply_on_model_error_or_timeout(env, llm, step):
    agent, factory, cid, _ = env
    llm.push(step)
    replies = run(agent, factory, cid, text("oi"))
    assert replies[0] == TextReply(FALLBACK_TEXT) and isinstance(replies[1], ButtonsReply)
    assert len(events(factory, cid, "fallback_reply")) == 1
    assert events(factory, cid, "turn_latency_ms")[0]["ms"] < 3000  # bounded by LLM_TIMEOUT_S = 2 s


def test_garbage_text_gets_the_fallback(env, llm):
    agent, factory, cid, _ = env
    llm.push(FakeLLM.text("ĠorphismOutside Directive quantum Zealand chromosome hydraulic crypt vendors Bols"))
    assert run(agent, factory, cid, text("oi"))[0] == TextReply(FALLBACK_TEXT)
    assert looks_like_garbage("<|im_start|>assistant") and not looks_like_garbage(
        "Olá! Posso te ajudar a escolher um lençol?"
    )


def test_tool_call_left_in_text_is_parsed_like_hermes(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False  # a request the server would search: the model's turn is under test
    llm.push(
        FakeLLM.raw_text(
            '<tool_call>\n{"name": "search_products", "arguments": {"query": "garrafa térmica"}}\n</tool_call>'
        ),
        FakeLLM.text("Achei duas garrafas térmicas para você!"),
    )
    replies = run(agent, factory, cid, text("tem garrafa térmica?"))
    items = json.loads(tool_messages(llm.requests[1])[-1]["content"])["items"]
    assert [i["id"] for i in items] == ["27668894", "831f33a1"]
    assert len(replies) == 1 and replies[0].body.startswith("Achei duas garrafas térmicas para você!\n\n")
    assert isinstance(replies[-1], ListReply) and [r[0] for r in replies[-1].rows] == [
        "product:27668894",
        "product:831f33a1",
    ]
    assert replies[-1].rows[0][2].startswith("R$ 44,90")


def test_ungrounded_price_is_regenerated_then_rewritten(env, llm):
    agent, factory, cid, _ = env
    agent.settings.AGENT_SERVER_SEARCH = False  # a request the server would search: the model's turn is under test
    llm.push(
        FakeLLM.call("get_product", {"product_id": LENCOL}),
        FakeLLM.text("O Jogo de Lençol Casal sai por R$ 49,90! Quer levar?"),
        FakeLLM.text("O Jogo de Lençol Casal sai por R$ 39,90. Frete grátis de R$ 10,00 hoje."),
    )
    replies = run(agent, factory, cid, text("quanto custa o lençol casal?"))
    assert replies[0] == TextReply("O Jogo de Lençol Casal sai por R$ 89,90! Quer levar?")
    assert llm.requests[2]["temperature"] > 0  # one regeneration, then the rewrite
    assert any(isinstance(r, ButtonsReply) for r in replies)
    llm.push(FakeLLM.text("Ele custa R$ 12,00."), FakeLLM.text("Ele custa R$ 89,90, com frete de R$ 15,90."))
    assert run(agent, factory, cid, text("e o preço mesmo?"))[0] == TextReply(
        "Ele custa R$ 89,90, com frete de R$ 15,90."
    )


def test_button_commands_run_without_the_model(env, llm):
    agent, factory, cid, _ = env
    replies = run(agent, factory, cid, text("Adicionar", choice_id=f"add_to_cart:{LENCOL}"))
    assert llm.requests == [] and cart_lines(factory, cid, agent) == [(LENCOL, 1)]
    assert len(replies) == 1 and isinstance(replies[0], ButtonsReply)  # the cart text is the buttons' body
    assert "Adicionei 1x Jogo de Lençol" in replies[0].body and "R$ 89,90" in replies[0].body
    pay = run(agent, factory, cid, text("Finalizar compra", choice_id="checkout"))
    assert [b[0] for b in pay[0].buttons] == ["checkout:pix", "checkout:card", "checkout:boleto"]
    card = run(agent, factory, cid, text("Jogo de Lençol", choice_id=f"product:{LENCOL}"))
    image = next(r for r in card if isinstance(r, ImageReply))
    assert image.caption.startswith("*Jogo de Lençol Casal 4 Peças Algodão* — R$ 89,90")  # the server text
    assert Path(image.image_path).read_bytes()[:4] == b"\x89PNG" and not any(isinstance(r, TextReply) for r in card)
    assert isinstance(card[-1], ButtonsReply) and card[-1].buttons[0] == (f"add_to_cart:{LENCOL}", "Adicionar")
    assert events(factory, cid, "product_viewed") == [{"product_id": "6c960ba67062c4e0ec86082740d58be2"}]
    with session_scope(factory) as s:  # logged as the tool calls the model would have made
        calls = [
            m["tool_calls"][0]["function"]["name"]
            for m in (t.message for t in s.scalars(select(ChatTurn)))
            if m.get("tool_calls")
        ]
    assert calls == ["add_to_cart", "get_product"]


def test_context_survives_a_restart(env, llm, sqlite_db):
    agent, factory, cid, settings = env
    llm.push(FakeLLM.call("add_to_cart", {"product_id": LENCOL}), FakeLLM.text("Coloquei o lençol no carrinho."))
    run(agent, factory, cid, text("põe um lençol no carrinho"))
    # "restart": new engine, new session factory, new agent; same database file
    agent2 = Agent(settings, fixture_catalogue())
    llm.push(FakeLLM.text("Seu carrinho tem 1 lençol."))
    run(agent2, sqlite_db.factory(), cid, text("o que tem no meu carrinho?"))
    sent = llm.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "Ana" in sent[0]["content"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "põe um lençol no carrinho",
        "o que tem no meu carrinho?",
    ]
    assert any(m["role"] == "assistant" and m.get("content") == "Coloquei o lençol no carrinho." for m in sent)


def test_recurring_customer_gets_reorder_and_novelties(env, llm):
    agent, factory, cid, _ = env
    with session_scope(factory) as s:
        s.get(Customer, cid).olist_customer_unique_id = "c1a10000000000000000000000000000"
    from serve.commerce.customers import OlistHistory

    agent.olist = agent.tools.olist = OlistHistory(fixture_frames()["histories"])
    llm.push(FakeLLM.text("Oi, Ana! Que bom te ver de novo."))
    replies = run(agent, factory, cid, text("oi"))
    assert "cliente recorrente" in llm.requests[0]["messages"][0]["content"]
    offer = replies[-1]
    assert isinstance(offer, ButtonsReply) and offer.body.startswith("Ana")
    assert offer.buttons[0][0] == "reorder:92cb7c29x1"
    run(agent, factory, cid, text("Repetir pedido", choice_id=offer.buttons[0][0]))
    assert cart_lines(factory, cid, agent) == [("92cb7c29", 1)]
    with session_scope(factory) as s:  # next conversation, a routed "oi": the offer alone, not offer + menu
        for t in s.scalars(select(ChatTurn).where(ChatTurn.customer_id == cid)):
            t.created_at -= timedelta(days=2)
    agent.intents = FixedIntents("greeting", 0.99)
    again = run(agent, factory, cid, text("oi"))
    assert len(again) == 1 and again[0].body.startswith("Ana") and again[0].buttons[0][0].startswith("reorder:")
    with session_scope(factory) as s:  # and in English for a customer who writes English
        for t in s.scalars(select(ChatTurn).where(ChatTurn.customer_id == cid)):
            t.created_at -= timedelta(days=2)
    agent.intents = None
    llm.push(FakeLLM.text("Hi Ana!"))
    offer = run(agent, factory, cid, text("hi, good morning! do you have new things?"))[-1]
    assert (
        offer.body.startswith("Ana, would you like to repeat your last order") and offer.buttons[0][1] == "Order again"
    )


def test_repeated_lines_and_cut_sentences_are_tidied(env, llm):
    agent, factory, cid, _ = env
    from serve.conversation.model_text import tidy

    assert tidy("Olá!\nOlá!\nPosso ajudar?\nposso ajudar?") == "Olá!\nPosso ajudar?"
    assert tidy("Temos lençóis ótimos. Eles são de algodão e vêm com", truncated=True) == "Temos lençóis ótimos."
    llm.push(FakeLLM.text("Oi! Tudo bem?\nOi! Tudo bem?\nComo posso ajudar?"))
    assert run(agent, factory, cid, text("oi"))[0] == TextReply("Oi! Tudo bem?\nComo posso ajudar?")


def test_returning_after_a_long_silence_starts_a_new_conversation(env, llm):
    agent, factory, cid, _ = env

    llm.push(FakeLLM.text("Oi!"))
    run(agent, factory, cid, text("oi"))
    with session_scope(factory) as s:
        for t in s.scalars(select(ChatTurn)):
            t.created_at = t.created_at - timedelta(days=2)
    llm.push(FakeLLM.text("Oi de novo!"))
    run(agent, factory, cid, text("oi de novo"))
    assert [e["returning"] for e in events(factory, cid, "conversation_started")] == [False, True]


def test_history_window_moves_in_half_steps_and_starts_at_a_user_message(env, llm):
    agent, factory, cid, settings = env
    agent.settings = settings.model_copy(update={"AGENT_HISTORY_TURNS": 8})
    sent = []
    for i in range(7):  # each turn stores 2 rows (user + assistant)
        llm.push(FakeLLM.text(f"resposta {i}"))
        run(agent, factory, cid, text(f"pergunta {i}"))
        sent.append(llm.requests[-1]["messages"])
    users = [[m["content"] for m in msgs if m["role"] == "user"] for msgs in sent]
    # before turn k there are 2k rows; the window is rows[start:start+8], start = ceil((2k-8)/4)*4
    assert users[4] == [f"pergunta {i}" for i in range(5)]  # 8 rows, start 0
    assert users[5] == [f"pergunta {i}" for i in range(2, 6)]  # 10 rows, start 4
    assert sent[6][: len(sent[5]) - 1] == sent[5][:-1]  # 12 rows, start 4 again: turn 5's prompt is a prefix
    assert all(msgs[1]["role"] == "user" for msgs in sent)


def test_warm_up_sends_the_shared_prefix_once_and_survives_a_dead_llm(env, llm):
    agent, *_ = env
    assert _loop.run_until_complete(agent.warm_up())
    (request,) = llm.requests
    assert request["max_tokens"] == 1 and request["messages"][0]["content"] == agent_system_prompt()
    assert request["tools"][0]["function"]["name"] == "search_products"
    assert request["response_format"]["format"]["type"] == "triggered_tags"  # the grammar compiler starts too
    dead = Agent(agent.settings.model_copy(update={"LLM_BASE_URL": "http://127.0.0.1:9/v1"}), agent.catalogue)
    assert _loop.run_until_complete(dead.warm_up()) is False


def test_prefill_between_turns_sends_the_next_turns_prefix(env, llm):
    agent, factory, cid, settings = env
    agent.settings = settings.model_copy(update={"AGENT_PREFILL_BETWEEN_TURNS": True})
    run(agent, factory, cid, text("Adicionar", choice_id=f"add_to_cart:{LENCOL}"))  # a button: no model call
    _loop.run_until_complete(asyncio.gather(*agent._background))
    (prefill,) = llm.requests
    assert prefill["max_tokens"] == 1 and prefill["messages"][-1]["role"] == "assistant"  # the server's cart text
    llm.push(FakeLLM.text("Quer ver mais alguma coisa?"))
    agent.settings = settings  # no prefill after this turn, so the request below is the turn's own
    run(agent, factory, cid, text("e agora?"))
    assert llm.requests[-1]["messages"][:-1] == prefill["messages"]  # same prefix: vLLM's cache holds it


def test_model_calls_beyond_the_cap_queue_while_button_turns_go_on(env, llm):
    agent, factory, cid, settings = env
    agent = Agent(settings.model_copy(update={"LLM_MAX_CONCURRENCY": 1}), agent.catalogue)
    with session_scope(factory) as s:
        other = get_or_create_customer(s, "5521999997777", HASH_KEY).id
        third = get_or_create_customer(s, "5531999996666", HASH_KEY).id
    llm.push(FakeLLM.delay(0.6), FakeLLM.delay(0.6))  # each call takes 0.6 s, then says the default text

    async def timed(customer, msg):
        started = time.monotonic()
        await agent.respond(factory, customer, [msg])
        return time.monotonic() - started

    async def scenario():
        return await asyncio.gather(
            timed(cid, text("oi")), timed(other, text("olá")), timed(third, text("Ver carrinho", choice_id="view_cart"))
        )

    first, second, button = _loop.run_until_complete(scenario())
    assert button < 0.4  # no model: it never waits for a slot
    assert min(first, second) >= 0.6 and max(first, second) >= 1.2  # one slot: the calls ran one after the other


def test_a_forced_call_is_completed_from_the_continuation():
    from types import SimpleNamespace

    from serve.conversation.llm_client import tool_calls

    def parse(tool, continuation):
        _, calls = tool_calls(SimpleNamespace(tool_calls=None, content=continuation), tool_call_prefix(tool))
        return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]

    assert parse("recommend", " {") == [("recommend", {})]  # ' {}' + '}' stopped at "}}"
    assert parse("search_products", ' {"query": "toalha", "max_price": 50') == [
        ("search_products", {"query": "toalha", "max_price": 50})
    ]
    assert parse("add_to_cart", ' {"product_id": "6c960ba6"}}\n</tool_call>') == [
        ("add_to_cart", {"product_id": "6c960ba6"})
    ]
    assert parse("search_products", " <argumentos JSON>") == []  # not JSON: no call


def test_the_servers_own_search_keeps_its_words_when_the_customer_says_none_of_them(env, llm):
    """ "consegue um desconto?" after a list of relógios: the cheaper search is the server's command,
    built from what was shown; only the model's arguments are held to the customer's words."""
    agent, factory, cid, _ = env
    run(agent, factory, cid, text("tem relógio?"))
    dearest = max(agent.catalogue.search("relogio", limit=5), key=lambda p: p.price_cents)
    replies = run(agent, factory, cid, text("consegue um desconto?"))
    assert llm.requests == [] and not events(factory, cid, "search_query_replaced")
    assert events(factory, cid, "objection_answered") == [{"topic": "price"}]
    assert "Relógio" in replies[0].body and dearest.name not in replies[0].body, replies[0].body
