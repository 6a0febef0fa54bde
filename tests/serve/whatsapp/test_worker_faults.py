"""Faults under the worker with the REAL agent (fixture catalogue, local fake model, SQLite and PostgreSQL):
a database error is retried, never answered with an apology; every message is answered once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from serve.commerce import cart as carts
from serve.storage.db import session_scope
from serve.storage.events import EventName
from serve.storage.tables import Event
from serve.whatsapp import worker as worker_mod
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import LENCOL, PHONE, agent_env, inbox_rows, message_rows
from tests.serve.whatsapp.test_worker import drain, store


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
