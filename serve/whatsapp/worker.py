"""Inbox worker: one customer at a time, in order, bursts answered together, failures retried.

    claim (serve/whatsapp/inbox.py) → mark read + typing → agent.answer(all texts of the burst)
      → one transaction: inbox rows done + the turn's log + replies enqueued (serve/whatsapp/outbox.py)
      → wake the sender

Tool effects commit during the turn, each with its outcome under (batch key, call index)
(serve/conversation/effects.py): a batch claimed again after a crash or a lost lease replays the
stored outcomes, so no effect repeats and the customer still gets the checkout link.

Per customer: `claim_batches` leases ALL of a customer's open rows at once, and nobody can claim
that customer again until the lease is released or expires, so its messages are processed in
order and never two batches at a time, with any number of workers or processes. A heartbeat
renews the lease while the agent thinks (INBOX_LOCK_S is the crash-recovery delay, not a turn
time limit). Replies are written in the same transaction that marks the rows done, and only if
the lease is still ours: a message is answered once, or not at all and then retried.

Bursts: a customer is claimed only when its newest pending message is `burst_window_s` old
(INBOX_BURST_WINDOW_S), so "oi" + "quero um tênis" + "até 200 reais" typed in a row become ONE
agent call with three `Inbound`s. `max_wait_s` caps the wait for a customer who never pauses.
This window adds directly to turn latency: lower it when latency matters more than coalescing.

Failures: an exception from the agent (it answers model and tool errors itself, so this means a
database failure or a bug) puts the rows back to `pending` with exponential backoff. Each claim
counts one attempt; after `max_attempts` (raised, or claimed that often without an answer because
the process died) the rows are dead letters (serve/whatsapp/dead_letter.py): `failed` with the
error kept, one apology to the customer instead of silence, and an operator alert.

Run in the app (serve/app.py lifespan: `Worker(...).run(stop)`) or as extra processes:
`python -m serve.whatsapp.worker` (with PostgreSQL: rows are claimed with FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.orm import sessionmaker

from serve.conversation.messages import Answer
from serve.conversation.resources import build_agent
from serve.logs import configure_logging
from serve.settings import get_settings
from serve.storage.db import get_session_factory, session_scope
from serve.storage.tables import utcnow
from serve.whatsapp import inbox, outbox
from serve.whatsapp.cloud_api import GraphClient, GraphError
from serve.whatsapp.dead_letter import APOLOGY, dead_letter  # APOLOGY: re-exported for callers

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        session_factory: sessionmaker,
        agent,
        *,
        graph: GraphClient | None = None,
        sender: outbox.Sender | None = None,
        burst_window_s: float = 2.0,
        max_wait_s: float | None = None,
        lease_s: float = 120.0,
        concurrency: int = 4,
        max_attempts: int = 5,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 300.0,
        poll_s: float = 0.1,
    ):
        self.factory, self.agent, self.graph, self.sender = session_factory, agent, graph, sender
        self.burst_window_s = burst_window_s
        self.max_wait_s = max_wait_s if max_wait_s is not None else max(4 * burst_window_s, 5.0)
        self.lease_s, self.concurrency, self.max_attempts = lease_s, concurrency, max_attempts
        self.backoff_base_s, self.backoff_max_s, self.poll_s = backoff_base_s, backoff_max_s, poll_s
        self._side_tasks: set[asyncio.Task] = set()

    @classmethod
    def from_settings(cls, settings, session_factory, agent, **kwargs) -> Worker:
        return cls(
            session_factory,
            agent,
            burst_window_s=settings.INBOX_BURST_WINDOW_S,
            lease_s=settings.INBOX_LOCK_S,
            concurrency=settings.WORKER_CONCURRENCY,
            **kwargs,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Keep up to `concurrency` customers in flight; a slow turn never holds up other customers."""
        inflight: set[asyncio.Task] = set()
        while not stop.is_set():
            batches = []
            if len(inflight) < self.concurrency:
                try:
                    batches = await asyncio.to_thread(
                        inbox.claim_batches,
                        self.factory,
                        limit=self.concurrency - len(inflight),
                        burst_window_s=self.burst_window_s,
                        max_wait_s=self.max_wait_s,
                        lease_s=self.lease_s,
                        max_attempts=self.max_attempts,
                    )
                except Exception:  # a DB hiccup must not kill the loop
                    log.exception("claiming inbox batches failed")
            for batch in batches:
                task = asyncio.create_task(self.process(batch))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            if not batches:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
        await asyncio.gather(*inflight, return_exceptions=True)

    async def run_once(self) -> int:
        """Claim up to `concurrency` customers and process their batches (tests, one-shot jobs)."""
        batches = await asyncio.to_thread(
            inbox.claim_batches,
            self.factory,
            limit=self.concurrency,
            burst_window_s=self.burst_window_s,
            max_wait_s=self.max_wait_s,
            lease_s=self.lease_s,
            max_attempts=self.max_attempts,
        )
        await asyncio.gather(*(self.process(b) for b in batches))
        return len(batches)

    async def process(self, batch: inbox.Batch) -> None:
        """One customer's batch; never raises (an unexpected error leaves the lease to expire)."""
        try:
            await self._process(batch)
        except Exception:
            log.exception("processing customer %s failed", batch.customer_id)

    async def _process(self, batch: inbox.Batch) -> None:
        self._mark_read(batch)
        heartbeat = asyncio.create_task(self._heartbeat(batch))
        try:
            answer = await self.agent.answer(self.factory, batch.customer_id, batch.inbound, turn_key=batch.key)
            completed = await asyncio.to_thread(self._complete, batch, answer)
        except Exception as exc:
            log.exception("turn failed for customer %s (attempt %d)", batch.customer_id, batch.attempts)
            await asyncio.to_thread(self._fail, batch, f"{type(exc).__name__}: {exc}")
            return
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        if completed:
            answer.committed()
            if self.sender is not None:
                self.sender.notify()

    def _complete(self, batch: inbox.Batch, answer: Answer) -> bool:
        """Rows done, the turn's log and its replies queued: one transaction, only while the lease is ours."""
        with session_scope(self.factory) as session:
            if not inbox.complete_batch(session, batch):
                session.rollback()  # the lease moved on: another worker owns (and answers) these rows
                log.warning("lease lost for customer %s; dropping this turn's replies", batch.customer_id)
                return False
            answer.record(session)
            outbox.enqueue_replies(session, batch.customer_id, list(answer.replies))
        return True

    def _fail(self, batch: inbox.Batch, error: str) -> None:
        final = batch.attempts >= self.max_attempts
        retry_at = (
            None
            if final
            else utcnow() + timedelta(seconds=outbox.backoff_s(batch.attempts, self.backoff_base_s, self.backoff_max_s))
        )
        with session_scope(self.factory) as session:
            if inbox.release_batch(session, batch, error, retry_at=retry_at) and final:
                dead_letter(session, batch.customer_id, batch.ids, attempts=batch.attempts, reason=error)
        if final and self.sender is not None:
            self.sender.notify()

    async def _heartbeat(self, batch: inbox.Batch) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not await asyncio.to_thread(inbox.renew_lease, self.factory, batch, self.lease_s):
                log.warning("could not renew the lease of customer %s", batch.customer_id)
                return

    def _mark_read(self, batch: inbox.Batch) -> None:
        """Blue ticks + "digitando…" on the newest message, in the background: a failure is harmless."""
        if self.graph is None:
            return

        async def go():
            try:
                await self.graph.mark_read(batch.inbound[-1].wa_message_id, typing=True)
            except GraphError as exc:
                log.info("mark-as-read failed: %s", exc)

        task = asyncio.create_task(go())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)


async def run_forever(settings, agent, session_factory, *, with_sender: bool = True) -> None:
    """Worker (+ sender) loops until SIGINT/SIGTERM; used by `python -m serve.whatsapp.worker`."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    graph = GraphClient.from_settings(settings)
    sender = outbox.Sender.from_settings(settings, session_factory, graph) if with_sender else None
    worker = Worker.from_settings(settings, session_factory, agent, graph=graph, sender=sender)
    try:
        await asyncio.gather(worker.run(stop), *([sender.run(stop)] if sender else []))
    finally:
        await graph.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Inbox worker (and outbox sender) as a separate process.")
    parser.add_argument("--no-sender", action="store_true", help="only process the inbox; another process sends")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.LOG_LEVEL)
    agent = build_agent(settings)  # the same agent the app builds
    asyncio.run(run_forever(settings, agent, get_session_factory(), with_sender=not args.no_sender))


__all__ = ["APOLOGY", "Worker", "run_forever"]


if __name__ == "__main__":
    main()
