"""Poison messages: a batch claimed `max_attempts` times without an answer is never claimed again;
it becomes a dead letter with exactly one apology and an operator-visible event."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from serve.ops import kpis
from serve.storage.db import session_scope
from serve.storage.events import EventName
from serve.storage.tables import Event, utcnow
from serve.whatsapp import inbox
from serve.whatsapp import worker as worker_mod
from tests.serve.factories import EchoAgent, inbox_rows, message_rows
from tests.serve.whatsapp.test_worker import store

PHONE = "5511900000077"
CAP = 3


def crash_after_claim(factory, times: int) -> None:
    """`times` workers claim the batch and die before answering (their leases expire)."""
    for _ in range(times):
        (batch,) = inbox.claim_batches(factory, limit=5, burst_window_s=0, max_wait_s=0, lease_s=0.05, max_attempts=CAP)
        time.sleep(0.08)  # > lease_s: the lease has expired
        assert batch.attempts <= CAP


def test_a_batch_that_reached_the_attempt_cap_is_dead_lettered_at_claim_with_one_apology(db):
    factory = db.factory()
    store(factory, PHONE, "a mensagem que derruba o processo")
    crash_after_claim(factory, CAP)
    agent = EchoAgent()
    worker = worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0, max_attempts=CAP)
    for _ in range(3):  # more claims: nothing left to claim, nothing more said
        asyncio.run(worker.run_once())
    assert agent.calls == []  # never processed again
    (row,) = inbox_rows(factory)
    assert (row.status, row.attempts, row.error) == ("failed", CAP, inbox.POISON_ERROR)
    assert row.payload["text"] == "a mensagem que derruba o processo"  # kept for the operator
    assert [m.payload["body"] for m in message_rows(factory, "out")] == [worker_mod.APOLOGY.body]
    with session_scope(factory) as s:
        (alert,) = s.scalars(select(Event).where(Event.name == EventName.INBOX_DEAD_LETTER)).all()
        assert alert.properties["inbox_ids"] == [row.id] and alert.properties["attempts"] == CAP
        assert kpis.agent(s, utcnow().replace(year=2000))["dead_letters"] == 1

    store(factory, PHONE, "oi de novo")  # the customer is not stuck behind the dead letter
    asyncio.run(worker.run_once())
    assert [c["texts"] for c in agent.calls] == [["oi de novo"]]
    assert [m.payload["body"] for m in message_rows(factory, "out")][-1] == "eco: oi de novo"


def test_a_batch_below_the_cap_is_still_retried(sqlite_db):
    factory = sqlite_db.factory()
    store(factory, PHONE, "quase")
    crash_after_claim(factory, CAP - 1)
    agent = EchoAgent()
    asyncio.run(worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0, max_attempts=CAP).run_once())
    (row,) = inbox_rows(factory)
    assert (row.status, row.attempts) == ("done", CAP) and len(agent.calls) == 1
    assert [m.payload["body"] for m in message_rows(factory, "out")] == ["eco: quase"]
