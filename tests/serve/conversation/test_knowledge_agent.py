"""The agent with store knowledge and media: answered by the server (no model call), KPI-logged,
recorded; a reaction gets no outbound message at all, down to the outbox (real worker)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import select

from serve.conversation.knowledge import LGPD_REASON
from serve.conversation.messages import ButtonsReply, Inbound, TextReply
from serve.storage.db import session_scope
from serve.storage.tables import ChatTurn, Event, Handoff, Order
from serve.whatsapp import cloud_api as wa
from serve.whatsapp import inbox
from serve.whatsapp.worker import Worker
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import (
    HASH_KEY,
    LENCOL,
    PHONE,
    PHONE_NUMBER_ID,
    agent_env,
    inbox_rows,
    message_rows,
    new_order,
)

_ids = itertools.count(1)
_loop = asyncio.new_event_loop()  # one loop for the module: the agent's HTTP client pool lives on it


def msg(kind: str, **fields) -> Inbound:
    return Inbound(f"wamid.K{next(_ids)}", PHONE, kind, 1_700_000_000, **fields)


@pytest.fixture
def env(llm, sqlite_db, tmp_path):
    # generous timeout: only the mixed-message test calls the model, and it must not time out
    return agent_env(llm, sqlite_db, tmp_path, LLM_TIMEOUT_S=10.0)


def respond(agent, factory, cid, *inbound):
    return _loop.run_until_complete(agent.respond(factory, cid, list(inbound)))


def history(factory, cid) -> list[dict]:
    with session_scope(factory) as s:
        return [t.message for t in s.scalars(select(ChatTurn).where(ChatTurn.customer_id == cid).order_by(ChatTurn.id))]


def knowledge_events(factory, cid) -> list[str]:
    with session_scope(factory) as s:
        rows = s.scalars(select(Event).where(Event.customer_id == cid, Event.name == "knowledge_answer"))
        return [e.properties["topic"] for e in rows]


def test_a_store_question_is_answered_by_the_server_and_counted(env, llm):
    agent, factory, cid = env
    replies = respond(agent, factory, cid, msg("text", text="vcs aceitam pix?"))
    assert llm.requests == []  # no model call
    assert isinstance(replies[0], ButtonsReply) and replies[0].body.startswith(agent.knowledge.text("payment", "pt"))
    assert knowledge_events(factory, cid) == ["payment"]
    assert history(factory, cid) == [
        {"role": "user", "content": "vcs aceitam pix?"},
        {"role": "assistant", "content": replies[0].body},
    ]


def test_a_question_mixed_with_a_shopping_request_goes_to_the_model_whole(env, llm):
    agent, factory, cid = env
    llm.push(FakeLLM.text("Temos relógios sim! Quer ver algum modelo?"))
    respond(agent, factory, cid, msg("text", text="aceita pix? quero um relogio"))
    assert len(llm.requests) == 1 and llm.requests[0]["messages"][-1]["content"] == "aceita pix? quero um relogio"
    assert knowledge_events(factory, cid) == []


def test_an_audio_gets_an_honest_text_without_the_model(env, llm):
    agent, factory, cid = env
    replies = respond(agent, factory, cid, msg("audio", media_id="m1"))
    assert llm.requests == []
    assert "ouvir áudios" in replies[0].body and knowledge_events(factory, cid) == ["audio"]
    assert history(factory, cid)[0] == {"role": "user", "content": msg("audio").as_agent_text()}


def test_a_reaction_gets_no_reply_but_the_turn_is_recorded(env, llm):
    agent, factory, cid = env
    assert respond(agent, factory, cid, msg("reaction", emoji="👍", reaction_to="wamid.x")) == []
    assert llm.requests == []
    assert history(factory, cid) == [{"role": "user", "content": "[reagiu com 👍]"}]
    assert knowledge_events(factory, cid) == ["reaction"]


def test_a_recurring_customer_reacting_after_a_long_silence_gets_no_offer_either(env, llm):
    agent, factory, _ = env
    cid, code = new_order(factory, agent.catalogue)
    with session_scope(factory) as s:
        s.scalars(select(Order).where(Order.code == code)).one().status = "paid"
    assert respond(agent, factory, cid, msg("sticker", media_id="s1")) == []
    replies = respond(agent, factory, cid, msg("text", text="tudo certo?"))  # the same conversation: no offer
    assert replies[0].body.startswith("Olá, Ana! 👋 Tudo ótimo")


def test_a_data_deletion_request_reaches_a_person(env, llm):
    agent, factory, cid = env
    replies = respond(agent, factory, cid, msg("text", text="apaguem meus dados por favor"))
    assert llm.requests == []
    with session_scope(factory) as s:
        assert [h.reason for h in s.scalars(select(Handoff).where(Handoff.customer_id == cid))] == [LGPD_REASON]
    assert isinstance(replies[0], TextReply) and knowledge_events(factory, cid) == ["privacy_delete"]


def test_freight_and_delivery_questions_about_a_shown_product_answer_for_it(env, llm):
    agent, factory, cid = env
    respond(agent, factory, cid, msg("button_reply", text="Jogo de Lençol", choice_id=f"product:{LENCOL[:8]}"))
    (freight,) = respond(agent, factory, cid, msg("text", text="frete sai quanto?"))
    assert "R$ 15,90" in freight.body and "R$ 199,00" in freight.body  # its freight, the cart's rule
    (delivery,) = respond(agent, factory, cid, msg("text", text="demora quanto pra chegar?"))
    assert "R$ 15,90" in delivery.body and agent.knowledge.text("delivery", "pt") in delivery.body
    assert llm.requests == [] and knowledge_events(factory, cid) == ["shipping", "shipping"]


def test_a_payment_question_with_items_in_the_cart_offers_the_methods(env, llm):
    agent, factory, cid = env
    respond(agent, factory, cid, msg("button_reply", text="Adicionar", choice_id=f"add_to_cart:{LENCOL[:8]}"))
    (reply,) = respond(agent, factory, cid, msg("text", text="consigo pagar no pix?"))
    assert reply.body.startswith(agent.knowledge.text("payment", "pt")) and reply.buttons[0][0] == "checkout:pix"
    assert llm.requests == []


def _webhook(factory, kind: str, body: dict) -> None:
    message = wa.inbound_message(PHONE, kind, body, wa_message_id=f"wamid.W{next(_ids)}")
    parsed = wa.parse_webhook(wa.webhook_payload(PHONE_NUMBER_ID, [message], profile_names={PHONE: "Ana"}))
    stored = inbox.store_webhook(factory, parsed, phone_hash_key=HASH_KEY, phone_number_id=PHONE_NUMBER_ID)
    assert stored.stored == 1


def test_through_the_worker_a_reaction_sends_nothing_and_an_audio_one_text(env, llm):
    agent, factory, _ = env
    worker = Worker(factory, agent, burst_window_s=0, max_wait_s=0)
    _webhook(factory, "reaction", {"message_id": "wamid.earlier", "emoji": "❤️"})
    _loop.run_until_complete(worker.run_once())
    assert [r.status for r in inbox_rows(factory)] == ["done"] and message_rows(factory, "out") == []
    _webhook(factory, "audio", {"id": "media-1", "mime_type": "audio/ogg; codecs=opus", "voice": True})
    _loop.run_until_complete(worker.run_once())
    assert [r.status for r in inbox_rows(factory)] == ["done", "done"]
    (out,) = message_rows(factory, "out")
    assert "ouvir áudios" in out.payload["body"] and llm.requests == []
