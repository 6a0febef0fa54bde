"""After checkout: "manda o link de novo" sends the same link again, "quero pagar no cartão" changes
the method and sends a new link, both answered by the server (no model call) for the order awaiting
payment; no second order, the stock held once."""

import asyncio
import itertools

import pytest
from sqlalchemy import select

from serve.commerce import stock
from serve.commerce.customers import get_or_create_customer
from serve.conversation.agent import Agent
from serve.conversation.messages import Inbound
from serve.conversation.payment_requests import payment_request_command
from serve.storage.db import session_scope
from serve.storage.tables import Event, Order, Payment
from tests.serve.factories import HASH_KEY, LENCOL, PHONE, fixture_catalogue, make_settings

_ids = itertools.count(1)


@pytest.mark.parametrize(
    "text, method",
    [
        ("manda o link de novo", "pix"),
        ("nao recebi o link", "pix"),
        ("o boleto venceu, gera outro?", "boleto"),
        ("quero pagar no cartão", "card"),
        ("pode ser no crédito?", "card"),
        ("prefiro boleto", "boleto"),
        ("manda o pix de novo", "pix"),
        ("can you send the payment link again?", "pix"),
        ("I'd rather pay by card", "card"),
        ("quero ver capinha", None),
        ("tem cartão de memória?", None),
        ("obrigada!", None),
        ("pix ou cartão, tanto faz, manda o link", None),  # two ways named: the model asks which
    ],
)
def test_which_texts_are_payment_requests(text, method):
    command = payment_request_command(text, "pix", has_cart=False)
    assert (command.calls[0][1]["payment_method"] if command else None) == method
    assert payment_request_command(text, None, has_cart=False) is None  # no order awaiting payment
    assert payment_request_command(text, "pix", has_cart=True) is None  # a cart: a new checkout


def _text(body: str, choice_id: str | None = None) -> Inbound:
    kind = "button_reply" if choice_id else "text"
    return Inbound(f"wamid.pay{next(_ids)}", PHONE, kind, 1_700_000_000, text=body, choice_id=choice_id)


def _body(replies) -> str:
    return "\n".join(getattr(r, "body", None) or getattr(r, "caption", "") for r in replies)


def test_link_again_and_another_method_after_checkout_without_the_model(sqlite_db, llm, tmp_path):
    llm.requests.clear()
    settings = make_settings(
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL=llm.model,
        MEDIA_DIR=str(tmp_path / "media"),
        AGENT_REPLY_AFTER_TOOLS="server",
        AGENT_PREFILL_BETWEEN_TURNS=False,
    )
    agent, factory = Agent(settings, fixture_catalogue()), sqlite_db.factory()
    with session_scope(factory) as s:
        cid = get_or_create_customer(s, PHONE, HASH_KEY, "Ana").id
    loop = asyncio.new_event_loop()

    def say(*msgs):
        return loop.run_until_complete(agent.respond(factory, cid, list(msgs)))

    say(_text("Adicionar", f"add_to_cart:{LENCOL}"))
    first = _body(say(_text("PIX", "checkout:pix")))
    with factory() as s:
        order = s.scalars(select(Order)).one()
        pix_link = s.scalars(select(Payment.checkout_url)).one()
    assert pix_link in first

    again = _body(say(_text("oi, manda o link de novo pfv")))
    assert pix_link in again and order.code in again
    card = _body(say(_text("na verdade quero pagar no cartão")))
    loop.close()

    with factory() as s:
        orders = s.scalars(select(Order)).all()
        rows = s.scalars(select(Payment).order_by(Payment.id)).all()
        resent = [e.properties for e in s.scalars(select(Event).where(Event.name == "payment_link_resent"))]
        held = stock.levels(s)[LENCOL][1]
    assert [(o.code, o.payment_method, o.status) for o in orders] == [(order.code, "card", "pending_payment")]
    assert [(p.method, p.idempotency_key) for p in rows] == [("pix", f"{order.code}-1"), ("card", f"{order.code}-2")]
    assert rows[1].checkout_url in card and rows[1].checkout_url != pix_link
    assert [(e["method"], e["method_changed"]) for e in resent] == [("pix", False), ("card", True)]
    assert held == 1  # one order, one hold
    assert llm.requests == []  # the server answered every turn
