"""Faults under the worker with the REAL agent (fixture catalogue, local fake model, SQLite and PostgreSQL):
a database error is retried, never answered with an apology; a batch claimed again after its
worker died mid-turn repeats no tool effect; every message is answered once."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from serve.commerce import cart as carts
from serve.storage.db import session_scope
from serve.storage.events import EventName
from serve.storage.tables import ChatTurn, Event, Order, Payment
from serve.whatsapp import cloud_api as wa
from serve.whatsapp import inbox
from serve.whatsapp import worker as worker_mod
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import HASH_KEY, LENCOL, PHONE, PHONE_NUMBER_ID, agent_env, inbox_rows, message_rows
from tests.serve.whatsapp.test_worker import drain, store

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def env(llm, db, tmp_path):
    """(real Agent, session factory, customer id) on SQLite and on PostgreSQL."""
    return agent_env(llm, db, tmp_path)


def fail_once(factory, table: str) -> list[str]:
    """The next INSERT/UPDATE on `table` through `factory` fails like a dropped database connection;
    returns the list the failed statement is appended to (empty until it fired)."""
    fired: list[str] = []

    @event.listens_for(factory.kw["bind"], "before_cursor_execute")
    def drop_connection(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith(("INSERT", "UPDATE")) and table in statement:
            fired.append(statement)
            raise OperationalError(statement, parameters, Exception("server closed the connection unexpectedly"))

    return fired


def cart_quantities(factory, cid, agent) -> list[tuple[str, int]]:
    with session_scope(factory) as s:
        return [(line.product_id, line.quantity) for line in carts.view_cart(s, cid, agent.catalogue).lines]


def event_names(factory, cid) -> list[str]:
    with session_scope(factory) as s:
        return list(s.scalars(select(Event.name).where(Event.customer_id == cid)))


def test_a_database_error_in_a_tool_is_retried_and_answered_once(env, llm):
    """The model asks for add_to_cart; the cart write hits a dropped connection once. The agent must not
    answer the apology (which would consume the message): the worker backs off, retries, answers once."""
    agent, factory, cid = env
    for _ in range(2):  # one model call per attempt: it picks the tool, the server words the result
        llm.push(FakeLLM.call("add_to_cart", {"product_id": LENCOL[:8]}))
    store(factory, PHONE, "põe um lençol no carrinho")
    fired = fail_once(factory, "cart_items")
    worker = worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0, backoff_base_s=0.05, poll_s=0.01)

    asyncio.run(drain(factory, [worker]))
    assert fired, "the fault was never injected"
    (row,) = inbox_rows(factory)
    assert (row.status, row.attempts, row.error) == ("done", 2, None)  # retried once, then done
    (reply,) = message_rows(factory, "out")  # one answer, not an apology and then another
    assert "Adicionei 1x" in reply.payload["body"]
    assert cart_quantities(factory, cid, agent) == [(LENCOL, 1)]
    assert EventName.FALLBACK_REPLY not in event_names(factory, cid)


def tap(factory, title: str, choice_id: str) -> None:
    """What the webhook stores when the customer taps a reply button."""
    body = {"type": "button_reply", "button_reply": {"id": choice_id, "title": title}}
    msg = wa.inbound_message(PHONE, "interactive", body, wa_message_id=f"wamid.F{next(_ids):06d}")
    parsed = wa.parse_webhook(wa.webhook_payload(PHONE_NUMBER_ID, [msg], profile_names={PHONE: "Ana"}))
    assert inbox.store_webhook(factory, parsed, phone_hash_key=HASH_KEY, phone_number_id=PHONE_NUMBER_ID).stored == 1


async def die_after_the_effects_then_reclaim(factory, agent, worker) -> None:
    """A worker claims the batch, runs the whole turn (its tools commit) and dies before completing;
    its lease expires and the real worker claims the same rows again."""
    (dead,) = inbox.claim_batches(factory, limit=5, burst_window_s=0, max_wait_s=0, lease_s=0.05)
    await agent.answer(factory, dead.customer_id, dead.inbound, turn_key=dead.key)
    await asyncio.sleep(0.1)  # past the dead worker's lease
    assert await worker.run_once() == 1
    with session_scope(factory) as s:
        assert inbox.complete_batch(s, dead) is False  # the dead worker could not answer twice anyway


def test_a_reclaimed_batch_replays_its_tool_effects_instead_of_repeating_them(env):
    agent, factory, cid = env
    worker = worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0)

    tap(factory, "Adicionar", f"add_to_cart:{LENCOL[:8]}")
    asyncio.run(die_after_the_effects_then_reclaim(factory, agent, worker))
    assert cart_quantities(factory, cid, agent) == [(LENCOL, 1)]  # added once, not twice

    tap(factory, "PIX", "checkout:pix")
    asyncio.run(die_after_the_effects_then_reclaim(factory, agent, worker))
    with session_scope(factory) as s:
        (order,) = s.scalars(select(Order).where(Order.customer_id == cid)).all()  # one order
        (payment,) = s.scalars(select(Payment).where(Payment.order_id == order.id)).all()  # one payment
        user_said = [t.message["content"] for t in s.scalars(select(ChatTurn)) if t.message["role"] == "user"]
    assert order.total_cents == 8990 + 1590 and payment.checkout_url
    assert [r.status for r in inbox_rows(factory)] == ["done", "done"]
    bodies = [str(m.payload) for m in message_rows(factory, "out")]
    assert any(payment.checkout_url in b for b in bodies)  # the customer got the link
    assert not any("vazio" in b for b in bodies)
    assert sum("Adicionei 1x" in b for b in bodies) == 1
    assert user_said == ["Adicionar", "PIX"]  # the conversation log holds each turn once
    names = event_names(factory, cid)
    assert names.count(EventName.CART_ADD) == 1 and names.count(EventName.CHECKOUT_STARTED) == 1
