"""serve/whatsapp/worker.py + serve/whatsapp/inbox.py claims: per-customer order, bursts, retries, leases, several workers."""

import asyncio
import itertools
import time
from datetime import timedelta

from sqlalchemy import select

from serve.conversation.messages import Inbound
from serve.devtools.fake_graph import FakeGraphServer
from serve.storage.db import session_scope
from serve.storage.tables import Customer, utcnow
from serve.whatsapp import cloud_api as wa
from serve.whatsapp import inbox
from serve.whatsapp import worker as worker_mod
from tests.serve.factories import PHONE_NUMBER_ID, EchoAgent, inbox_rows, make_settings, message_rows

KEY = make_settings().PHONE_HASH_KEY
_ids = itertools.count(1)


def store(factory, phone: str, text: str, greeting_hold_s: float = 0.0) -> str:
    """What the webhook does with one Meta text message (real parser, real inbox write)."""
    wamid = f"wamid.T{next(_ids):06d}"
    msg = wa.inbound_message(phone, "text", {"body": text}, wa_message_id=wamid)
    parsed = wa.parse_webhook(wa.webhook_payload(PHONE_NUMBER_ID, [msg], profile_names={phone: "Cliente"}))
    assert (
        inbox.store_webhook(
            factory, parsed, phone_hash_key=KEY, phone_number_id=PHONE_NUMBER_ID, greeting_hold_s=greeting_hold_s
        ).stored
        == 1
    )
    return wamid


async def wait_until(condition, within_s: float = 10.0) -> None:
    """Poll `condition()` until it holds (or `within_s` passes): a loaded CI machine can be seconds
    late, so tests wait for what they need instead of sleeping a fixed time."""
    deadline = time.monotonic() + within_s
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def drain(factory, workers, until_done: float = 15.0):
    """Run the workers' loops until every inbox row is final."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    deadline = time.monotonic() + until_done
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(inbox_rows, factory)
        if rows and all(r.status in ("done", "failed") for r in rows):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*tasks)


def test_per_customer_order_one_batch_at_a_time_with_three_workers(db):
    """Two customers type 6 messages each while three workers (separate pools, like processes) run."""
    factories = [db.factory() for _ in range(3)]
    agent = EchoAgent(delay_s=0.08)
    workers = [worker_mod.Worker(f, agent, burst_window_s=0, max_wait_s=0, poll_s=0.01) for f in factories]
    sent = {"5511900000001": [], "5511900000002": []}

    async def scenario():
        stop = asyncio.Event()
        loops = [asyncio.create_task(w.run(stop)) for w in workers]
        for i in range(6):
            for phone in sent:
                sent[phone].append(await asyncio.to_thread(store, factories[0], phone, f"{phone[-1]}-{i}"))
            await asyncio.sleep(0.03)
        stop.set()
        await asyncio.gather(*loops)
        await drain(factories[0], workers)

    asyncio.run(scenario())
    rows = inbox_rows(factories[0])
    assert len(rows) == 12 and all(r.status == "done" for r in rows)
    by_customer = {}
    for call in agent.calls:
        by_customer.setdefault(call["customer_id"], []).append(call)
    assert len(by_customer) == 2
    for calls in by_customer.values():
        for before, after in zip(calls, calls[1:]):
            assert before["end"] <= after["start"]  # never two batches of one customer at once
        processed = [i for c in calls for i in c["ids"]]
        assert processed in sent.values()  # every message once, in the order the customer sent them
    a, b = by_customer.values()
    assert any(x["start"] < y["end"] and y["start"] < x["end"] for x in a for y in b)  # customers in parallel
    assert len(message_rows(factories[0], "out")) == len(agent.calls)


def test_burst_is_answered_together(sqlite_db):
    factory = sqlite_db.factory()
    agent = EchoAgent()
    worker = worker_mod.Worker(factory, agent, burst_window_s=0.6, max_wait_s=5, poll_s=0.01)

    async def scenario():
        stop = asyncio.Event()
        loop = asyncio.create_task(worker.run(stop))
        for text in ("oi", "quero um jogo de cama", "até 200 reais"):
            await asyncio.to_thread(store, factory, "5511900000003", text)
            await asyncio.sleep(0.05)  # typing fast: well inside the burst window
        await wait_until(lambda: len(agent.calls) >= 1)  # quiet: the burst is answered
        await asyncio.to_thread(store, factory, "5511900000003", "e toalhas?")
        stop.set()
        await loop
        await drain(factory, [worker])

    asyncio.run(scenario())
    assert [c["texts"] for c in agent.calls] == [["oi", "quero um jogo de cama", "até 200 reais"], ["e toalhas?"]]
    assert [m.payload["body"] for m in message_rows(factory, "out")] == [
        "eco: oi | quero um jogo de cama | até 200 reais",
        "eco: e toalhas?",
    ]


def test_a_greeting_waits_for_the_request_that_follows_it(sqlite_db):
    """ "oi", then the request 1 s later: answered together although the burst window is 0.3 s;
    a message that already holds a request is answered after the short window."""
    factory = sqlite_db.factory()
    agent = EchoAgent()
    worker = worker_mod.Worker(factory, agent, burst_window_s=0.3, max_wait_s=5, poll_s=0.01)
    phone = "5511900000005"

    async def scenario():
        stop = asyncio.Event()
        loop = asyncio.create_task(worker.run(stop))
        await asyncio.to_thread(store, factory, phone, "Oi, boa tarde!", 1.5)
        await asyncio.sleep(1.0)  # typing the request: longer than the burst window
        await asyncio.to_thread(store, factory, phone, "tem toalha de banho?", 1.5)
        await wait_until(lambda: len(agent.calls) >= 1)
        assert [c["texts"] for c in agent.calls] == [["Oi, boa tarde!", "tem toalha de banho?"]]
        started = time.monotonic()
        await asyncio.to_thread(store, factory, phone, "e de rosto?", 1.5)
        await wait_until(lambda: len(agent.calls) >= 2)
        assert time.monotonic() - started < 1.3  # not held 1.5 s: only the 0.3 s window (+ polling)
        stop.set()
        await loop

    asyncio.run(scenario())
    assert [c["texts"] for c in agent.calls] == [["Oi, boa tarde!", "tem toalha de banho?"], ["e de rosto?"]]
    assert [
        inbox.is_greeting_only(Inbound("w", phone, "text", 0, text=t))
        for t in ("oi", "Olá, tudo bem?", "bom dia!!", "hi there", "oi, tem toalha?", "1")
    ] == [True, True, True, False, False, False]


def test_max_wait_caps_a_customer_who_never_pauses(sqlite_db):
    factory = sqlite_db.factory()
    agent = EchoAgent()
    worker = worker_mod.Worker(factory, agent, burst_window_s=0.3, max_wait_s=0.35, poll_s=0.01)

    async def scenario():
        stop = asyncio.Event()
        loop = asyncio.create_task(worker.run(stop))
        for i in range(8):
            await asyncio.to_thread(store, factory, "5511900000004", f"m{i}")
            await asyncio.sleep(0.1)
        stop.set()
        await loop
        await drain(factory, [worker])

    asyncio.run(scenario())
    assert len(agent.calls) >= 2 and agent.calls[0]["texts"][0] == "m0"
    assert [t for c in agent.calls for t in c["texts"]] == [f"m{i}" for i in range(8)]


def test_failures_are_retried_with_backoff_then_succeed(db):
    factory = db.factory()
    agent = EchoAgent(fail_times=2)
    store(factory, "5511900000005", "oi")
    worker = worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0, backoff_base_s=0.05, poll_s=0.01)
    asyncio.run(drain(factory, [worker]))
    (row,) = inbox_rows(factory)
    assert (row.status, row.attempts, row.error) == ("done", 3, None)
    assert len(agent.calls) == 3 and agent.calls[1]["start"] - agent.calls[0]["end"] >= 0.025  # backed off
    assert [m.payload["body"] for m in message_rows(factory, "out")] == ["eco: oi"]  # one reply, not three


def test_permanent_failure_is_kept_and_customer_told(sqlite_db):
    factory = sqlite_db.factory()
    agent = EchoAgent(always_fail=True)
    store(factory, "5511900000006", "oi")
    worker = worker_mod.Worker(
        factory, agent, burst_window_s=0, max_wait_s=0, max_attempts=3, backoff_base_s=0.02, poll_s=0.01
    )
    asyncio.run(drain(factory, [worker]))
    (row,) = inbox_rows(factory)
    assert (row.status, row.attempts) == ("failed", 3) and "agent exploded" in row.error
    assert row.payload["text"] == "oi"  # never lost: an operator can requeue it
    assert len(agent.calls) == 3
    assert [m.payload["body"] for m in message_rows(factory, "out")] == [worker_mod.APOLOGY.body]


def test_expired_lease_is_reclaimed_and_late_worker_cannot_double_answer(db):
    factory = db.factory()
    store(factory, "5511900000007", "oi")
    (dead,) = inbox.claim_batches(factory, limit=5, burst_window_s=0, max_wait_s=0, lease_s=0.1)  # then "crashes"
    assert inbox.claim_batches(factory, limit=5, burst_window_s=0, max_wait_s=0, lease_s=0.1) == []  # leased
    time.sleep(0.15)
    agent = EchoAgent()
    asyncio.run(worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0).run_once())
    assert len(agent.calls) == 1 and inbox_rows(factory)[0].attempts == 2
    with session_scope(factory) as s:
        assert inbox.complete_batch(s, dead) is False  # the crashed worker wakes up: lease lost
    assert len(message_rows(factory, "out")) == 1


def test_heartbeat_keeps_a_slow_turn_leased(sqlite_db):
    factory = sqlite_db.factory()
    store(factory, "5511900000008", "oi")
    slow = EchoAgent(delay_s=1.0)
    w1 = worker_mod.Worker(factory, slow, burst_window_s=0, max_wait_s=0, lease_s=0.5)
    w2 = worker_mod.Worker(sqlite_db.factory(), slow, burst_window_s=0, max_wait_s=0, lease_s=0.5)

    async def scenario():
        first = asyncio.create_task(w1.run_once())
        for _ in range(10):  # another worker keeps trying while the lease would have expired twice
            await asyncio.sleep(0.1)
            await w2.run_once()
        await first

    asyncio.run(scenario())
    assert len(slow.calls) == 1 and inbox_rows(factory)[0].status == "done"


def test_marks_read_with_typing_indicator(sqlite_db, tmp_path):
    factory = sqlite_db.factory()
    first, last = store(factory, "5511900000009", "oi"), store(factory, "5511900000009", "tudo bem?")
    with FakeGraphServer(tmp_path / "media") as fake:

        async def scenario():
            graph = wa.GraphClient(
                base_url=fake.base_url, api_version="23.0", phone_number_id=PHONE_NUMBER_ID, access_token="t"
            )
            await worker_mod.Worker(factory, EchoAgent(), graph=graph, burst_window_s=0, max_wait_s=0).run_once()
            await wait_until(lambda: fake.state.reads)  # mark-as-read runs in the background
            await graph.aclose()

        asyncio.run(scenario())
        assert fake.state.reads == [{"message_id": last, "typing": True}] and first != last


def test_claim_is_exclusive_per_customer(db):
    """The claim itself (not only the candidate query) refuses a customer whose batch is in flight."""
    factory = db.factory()
    store(factory, "5511900000010", "primeira")
    (held,) = inbox.claim_batches(factory, limit=5, burst_window_s=0, max_wait_s=0, lease_s=30)
    store(factory, "5511900000010", "segunda")
    with session_scope(factory) as s:
        now = utcnow()
        assert inbox.claim_customer(s, held.customer_id, now, now + timedelta(seconds=30)) is None
    with session_scope(factory) as s:
        assert inbox.complete_batch(s, held)
    (nxt,) = inbox.claim_batches(factory, limit=5, burst_window_s=0, max_wait_s=0, lease_s=30)
    assert [m.text for m in nxt.inbound] == ["segunda"] and nxt.customer_id == held.customer_id
    if db.kind == "postgres":  # a worker in the middle of claiming holds the customer row: others skip it
        with session_scope(factory) as s:
            assert inbox.complete_batch(s, nxt)
        store(factory, "5511900000010", "terceira")
        other = db.factory()
        with session_scope(factory) as locker:
            locker.execute(select(Customer).where(Customer.id == held.customer_id).with_for_update())
            started = time.monotonic()
            assert inbox.claim_batches(other, limit=5, burst_window_s=0, max_wait_s=0, lease_s=30) == []
            assert time.monotonic() - started < 1.0  # skipped, not waited for


class PerTextDelayAgent(EchoAgent):
    async def respond(self, session_factory, customer_id, inbound):
        self.delay_s = 0.6 if inbound[0].text == "devagar" else 0.0
        return await super().respond(session_factory, customer_id, inbound)


def test_slow_turn_does_not_hold_up_other_customers(sqlite_db):
    factory = sqlite_db.factory()
    agent = PerTextDelayAgent()
    worker = worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0, poll_s=0.01, concurrency=4)

    async def scenario():
        await asyncio.to_thread(store, factory, "5511900000011", "devagar")
        runner = asyncio.create_task(drain(factory, [worker]))  # until every row is final
        await asyncio.sleep(0.15)  # the slow turn is in flight now
        await asyncio.to_thread(store, factory, "5511900000012", "rápido")
        await runner

    asyncio.run(scenario())
    slow, fast = agent.calls
    assert slow["texts"] == ["devagar"] and fast["end"] < slow["end"]
