"""Small talk the server answers itself (serve/conversation/store_questions.py + knowledge.py):
acknowledgements, laughter around a request, a question with a preface ("uma dúvida: ..."), a
return question about a product that may not fit; and what must still reach the normal flow.

The phrasings below are written for these tests (not from the simulator's bank, not from training,
not from the fresh conversations)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from serve.commerce.customers import get_or_create_customer
from serve.conversation.agent import Agent
from serve.conversation.knowledge import StoreKnowledge
from serve.conversation.messages import Inbound, TextReply
from serve.conversation.store_questions import asked
from serve.storage.db import session_scope
from serve.storage.tables import Handoff
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import HASH_KEY, PHONE, fixture_catalogue, make_settings

ACKNOWLEDGEMENTS = [
    "ok",
    "Okk",
    "blz entao",
    "beleza!",
    "certo, obrigada",
    "entendii",
    "ah ta",
    "hum, tá certo",
    "tá bom então",
    "combinado, vou esperar o retorno",
    "pode deixar",
    "valeu, to aguardando",
    "perfeito, fico esperando a resposta de vcs",
    "ok thank you",
    "got it, thanks",
    "alright, I'll wait",
    "sounds good",
]
# A preface, laughter or a greeting does not hide what is asked.
PREFACED = {
    "returns": [
        "boa tarde! uma perguntinha: se ficar apertado eu posso trocar?",
        "duvida rapida, e se eu comprar e o tamanho nao servir, devolvo?",
        "olá, se eu receber e não gostar dá pra devolver?",
        "quick question: can I return it if the size doesn't fit?",
    ],
    "joke": ["kkkk me manda uma piada ai", "sabe alguma charada? rsrs", "tell me a joke haha"],
    "payment": ["hahaha ok, e aceitam boleto?"],
    "shipping": ["ah entendi, e o frete é gratis?"],
}
# Still the normal flow: a complaint about a received item (a person, through the intent router),
# a shopping request after a laugh, a yes under an offer (references), a thank-you (classifier).
NORMAL_FLOW = [
    "comprei a mochila e chegou rasgada, quero devolver",
    "o pedido veio errado, quero trocar",
    "kkkk quero ver mochilas",
    "rsrs tem caneca de cafe?",
    "ok, quero o primeiro",
    "blz, põe no carrinho",
    "sim",
    "pode ser",
    "obrigado!",
    "oi, bom dia",
]


@pytest.mark.parametrize("text", ACKNOWLEDGEMENTS)
def test_acknowledgements_are_recognised(text):
    assert asked(text) == ["ack"]


@pytest.mark.parametrize("topic, text", [(t, x) for t, texts in PREFACED.items() for x in texts])
def test_a_preface_or_a_laugh_does_not_hide_the_question(topic, text):
    assert asked(text) == [topic]


@pytest.mark.parametrize("text", NORMAL_FLOW)
def test_complaints_requests_and_yes_words_stay_with_the_normal_flow(text):
    assert asked(text) == []


@pytest.fixture(scope="module")
def knowledge(catalogue) -> StoreKnowledge:
    return StoreKnowledge.load(make_settings(), catalogue)


def test_an_acknowledgement_gets_a_short_note_and_says_a_person_will_answer_while_one_is_called(knowledge):
    plain, waiting = knowledge.answer("blz"), knowledge.answer("blz", handoff=True)
    assert plain.navigation == waiting.navigation == "note"
    assert plain.answer == knowledge.text("ack", "pt") and waiting.answer == knowledge.text("ack_handoff", "pt")
    assert plain.answer != waiting.answer
    assert knowledge.answer("ok, thanks", "en", handoff=True).answer == knowledge.text("ack_handoff", "en")


def test_a_question_after_an_acknowledgement_gets_the_answer_not_the_note(knowledge):
    command = knowledge.answer("certo, e demora quantos dias pra chegar?", handoff=True)
    assert command.topic == "delivery" and command.navigation == "answer"


_ids = itertools.count(1)
_loop = asyncio.new_event_loop()  # one loop for the module: the agent's HTTP client pool lives on it


@pytest.fixture
def agent_env(sqlite_db, tmp_path):
    with FakeLLM() as llm:
        settings = make_settings(
            LLM_BASE_URL=llm.base_url, LLM_MODEL=llm.model, LLM_TIMEOUT_S=5.0, AGENT_PREFILL_BETWEEN_TURNS=False
        )
        factory = sqlite_db.factory()
        with session_scope(factory) as s:
            cid = get_or_create_customer(s, PHONE, HASH_KEY, "Bia").id
        yield Agent(settings, fixture_catalogue()), factory, cid, llm


def _say(agent, factory, cid, text):
    inbound = [Inbound(f"wamid.S{next(_ids)}", PHONE, "text", 1_700_000_000, text=text)]
    return _loop.run_until_complete(agent.respond(factory, cid, inbound))


def test_the_agent_tells_a_waiting_customer_that_a_person_will_answer(agent_env):
    agent, factory, cid, llm = agent_env
    (before,) = _say(agent, factory, cid, "tá, entendi")
    assert isinstance(before, TextReply) and before.body == agent.knowledge.text("ack", "pt")
    with session_scope(factory) as s:
        s.add(Handoff(customer_id=cid, reason="reclamação do cliente", priority_score=3.0, status="waiting"))
    (waiting,) = _say(agent, factory, cid, "tá, entendi")
    assert waiting.body == agent.knowledge.text("ack_handoff", "pt")
    with session_scope(factory) as s:
        s.query(Handoff).filter_by(customer_id=cid).update({"status": "closed"})
    (after,) = _say(agent, factory, cid, "tá, entendi")
    assert after.body == agent.knowledge.text("ack", "pt")
    assert llm.requests == []  # no model call for any of them


def test_an_ok_under_the_bots_question_goes_to_the_model_with_the_note_as_its_fallback(agent_env):
    agent, factory, cid, llm = agent_env
    llm.push(FakeLLM.text("Temos sim! Quer que eu mostre as opções?"))
    _say(agent, factory, cid, "vcs trabalham com mochila de viagem e mais alguma coisa tipo mala")
    llm.push(FakeLLM.text("Ótimo! Aqui estão algumas mochilas."))
    (answer,) = _say(agent, factory, cid, "ok")  # may be a yes to "quer que eu mostre?": the model reads it
    assert answer.body == "Ótimo! Aqui estão algumas mochilas." and len(llm.requests) == 2
    llm.push(FakeLLM.text("Quer ver mais alguma?"), FakeLLM.error(500))
    _say(agent, factory, cid, "vcs trabalham com mochila de viagem e mais alguma coisa tipo mala")
    (fallback,) = _say(agent, factory, cid, "ok")  # the model fails: the note, never an apology
    assert fallback.body == agent.knowledge.text("ack", "pt")
