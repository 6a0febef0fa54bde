"""Outbox: replies are rows first (`enqueue_replies`), then a sender loop delivers them.

Why a table and not a direct send: the worker enqueues in the same transaction that marks the
inbox rows done, so a crash can never lose a reply or answer a message twice; and sending can
be paced and retried without holding the customer's turn.

`Sender` rules:
- Order per recipient: only the oldest queued message of a customer may go; a message backing
  off holds the ones after it. Each customer's queue is drained by one task at a time (a lease
  in `next_attempt_at`, taken by a conditional UPDATE, so several sender processes are safe).
  The pacing waits below (a throttled number pauses up to backoff_max_s, 300 s) can outlast the
  lease (lease_s, 60 s), so the lease is taken afresh right before each send (`_renew`): a sender
  whose lease ran out while it waited leaves the message to the sender that took it over. Only
  the send itself then runs under the lease; lease_s must stay above the Graph client's timeout
  (15 s).
- Pacing: a token bucket for the whole business number (OUTBOUND_MSGS_PER_SECOND, Cloud API
  default 80/s; it is per process, so with N sender processes give each 1/N) and a minimum gap
  between two messages to the same recipient (OUTBOUND_PER_RECIPIENT_INTERVAL_S): replies made of
  several messages then arrive in order and stay under the pair rate limit (131056).
- Errors (serve/whatsapp/cloud_api.py GraphError.kind): throttling (4, 80007, 130429, 131048, 131056) →
  exponential backoff with jitter; throughput codes also pause the WHOLE number for that long,
  131056 only that recipient. Transient (network, 5xx) → same backoff. Other errors → `failed`
  with Meta's code and details. After OUTBOUND_MAX_ATTEMPTS tries → `failed`. Never dropped silently.
- 24-hour customer-service window (`customers.last_inbound_at`): outside it only `TemplateReply`
  goes out. Our choice for a free-form reply there: it is marked `failed` with the error
  "outside the 24-hour customer-service window", and — if a re-engagement template is configured
  (`fallback_template`) — that template is queued ONCE per closed window (no other template since
  the customer's last message), inviting the customer to write again. Holding free-form replies
  for days would deliver stale prices/stock; a template is what Meta allows. A synchronous 131047
  from the API is treated the same way. A `NoticeReply` (order paid, shipped, delivered) carries
  its own approved utility template: outside the window that template is sent instead.
- Images: the card PNG is uploaded to `/media` once per file (media ids are cached in memory, they
  live 30 days at Meta), then sent by id with its caption.

Status `sent` is set when the Graph API accepts the message (it returns the wamid); `delivered`,
`read` and `failed` come later from status callbacks (serve/whatsapp/inbox.py: apply_status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from serve.conversation.messages import (
    ImageReply,
    NoticeReply,
    Reply,
    TemplateReply,
    reply_from_dict,
    reply_to_dict,
)
from serve.storage.db import session_scope
from serve.storage.tables import Contact, Customer, Message, utcnow
from serve.whatsapp.cloud_api import GraphClient, GraphError, reply_payload

log = logging.getLogger(__name__)

GLOBAL_THROTTLING = frozenset({4, 80007, 130429, 131048})  # the number's limits, not one recipient's
WINDOW_ERROR = (
    "outside the 24-hour customer-service window: the customer has not written in the last "
    "{hours} h, so WhatsApp only accepts template messages"
)


def enqueue_replies(session: Session, customer_id: int, replies: list[Reply]) -> list[Message]:
    """Persist replies as queued outbound messages, in order (the sender keeps that order)."""
    now = utcnow()
    rows = [
        Message(
            customer_id=customer_id,
            direction="out",
            kind=r.kind,
            payload=reply_to_dict(r),
            status="queued",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        for r in replies
    ]
    session.add_all(rows)
    session.flush()  # ids now: they are the send order
    return rows


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": base·2^(attempt-1), capped, then ×[0.5, 1)."""
    delay = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return delay * (0.5 + 0.5 * (rng or random).random())


class TokenBucket:
    """`rate` tokens per second, at most `capacity` saved up; `pause()` stops everyone for a while."""

    def __init__(self, rate: float, capacity: float | None = None):
        self.rate, self.capacity = rate, capacity if capacity is not None else max(1.0, rate)
        self.tokens, self.updated = self.capacity, time.monotonic()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                now = time.monotonic()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class _Claimed:
    id: int
    customer_id: int
    reply: Reply
    attempts: int
    phone: str | None
    window_open: bool
    lease: object  # the next_attempt_at value we wrote: our claim token


class Sender:
    def __init__(
        self,
        session_factory: sessionmaker,
        graph: GraphClient,
        *,
        rate_per_s: float = 80.0,
        burst: float | None = None,
        per_recipient_interval_s: float = 0.25,
        max_attempts: int = 8,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
        window_hours: float = 24,
        fallback_template: TemplateReply | None = None,
        lease_s: float = 60.0,
        concurrency: int = 16,
        poll_s: float = 0.2,
    ):
        self.factory, self.graph = session_factory, graph
        self.bucket = TokenBucket(rate_per_s, burst)
        self.per_recipient_interval_s, self.max_attempts = per_recipient_interval_s, max_attempts
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.window = timedelta(hours=window_hours)
        self.fallback_template, self.lease_s = fallback_template, lease_s
        self.concurrency, self.poll_s = concurrency, poll_s
        self._last_sent: dict[int, float] = {}  # customer id -> monotonic time of the last accepted send
        self._media: dict[tuple[str, float], str] = {}  # (path, mtime) -> media id
        self._wake = asyncio.Event()

    @classmethod
    def from_settings(cls, settings, session_factory, graph, **overrides) -> Sender:
        kwargs = dict(
            rate_per_s=settings.OUTBOUND_MSGS_PER_SECOND,
            per_recipient_interval_s=settings.OUTBOUND_PER_RECIPIENT_INTERVAL_S,
            max_attempts=settings.OUTBOUND_MAX_ATTEMPTS,
            backoff_base_s=settings.OUTBOUND_BACKOFF_BASE_S,
            window_hours=settings.SERVICE_WINDOW_HOURS,
        )
        if settings.WHATSAPP_REENGAGEMENT_TEMPLATE:
            kwargs["fallback_template"] = TemplateReply(
                settings.WHATSAPP_REENGAGEMENT_TEMPLATE, settings.WHATSAPP_TEMPLATE_LANGUAGE
            )
        return cls(session_factory, graph, **(kwargs | overrides))

    def notify(self) -> None:
        """Wake the loop now (the worker calls this after enqueueing)."""
        self._wake.set()

    # ------------------------------------------------------------------------------ loop
    async def run(self, stop: asyncio.Event) -> None:
        """Drain up to `concurrency` recipients at once; a long queue never holds up other recipients."""
        active: dict[int, asyncio.Task] = {}
        while not stop.is_set():
            started = 0
            if len(active) < self.concurrency:
                try:
                    due = await asyncio.to_thread(self._due_customers, self.concurrency + len(active))
                except Exception:  # a DB hiccup must not kill the loop
                    log.exception("reading the outbox failed")
                    due = []
                for customer_id in due:
                    if customer_id in active or len(active) >= self.concurrency:
                        continue
                    task = active[customer_id] = asyncio.create_task(self._drain_safely(customer_id))
                    task.add_done_callback(lambda _t, c=customer_id: active.pop(c, None))
                    started += 1
            if not started:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
        await asyncio.gather(*active.values(), return_exceptions=True)

    async def run_once(self) -> int:
        """Drain every customer whose head message is due; returns how many sends were attempted."""
        customers = await asyncio.to_thread(self._due_customers, self.concurrency)
        counts = await asyncio.gather(*(self._drain(c) for c in customers))
        return sum(counts)

    async def _drain_safely(self, customer_id: int) -> None:
        try:
            await self._drain(customer_id)
        except Exception:  # the lease expires and another pass retries this message
            log.exception("sending to customer %s failed", customer_id)

    def _due_customers(self, limit: int) -> list[int]:
        m, now = Message.__table__, utcnow()
        heads = select(func.min(m.c.id)).where(m.c.direction == "out", m.c.status == "queued").group_by(m.c.customer_id)
        q = (
            select(m.c.customer_id)
            .where(m.c.id.in_(heads), or_(m.c.next_attempt_at.is_(None), m.c.next_attempt_at <= now))
            .order_by(m.c.id)
            .limit(limit)
        )
        with session_scope(self.factory) as s:
            return list(s.scalars(q))

    async def _drain(self, customer_id: int) -> int:
        """Send this customer's queue in order until it is empty, backing off or claimed elsewhere."""
        attempted = 0
        while (item := await asyncio.to_thread(self._claim_head, customer_id)) is not None:
            attempted += 1
            if not item.window_open and isinstance(item.reply, NoticeReply):
                item.reply = item.reply.template  # a transactional notice goes as its approved template
            if not item.window_open and not isinstance(item.reply, TemplateReply):
                await asyncio.to_thread(self._window_closed, item)
                continue
            if item.phone is None:
                await asyncio.to_thread(self._finish, item, None, "no contact number (deleted on request)")
                continue
            wait = self._last_sent.get(customer_id, -1e9) + self.per_recipient_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.bucket.acquire()
            if not await asyncio.to_thread(self._renew, item):
                break  # the lease ran out while we waited our turn: another sender owns the message now
            try:
                wamid = await self._send(item)
            except GraphError as exc:
                if not await asyncio.to_thread(self._failed_send, item, exc):
                    break  # backing off: the rest of this customer's queue waits behind it
                continue
            except (OSError, ValueError) as exc:  # e.g. the card PNG is missing: not retryable
                await asyncio.to_thread(self._finish, item, None, f"{type(exc).__name__}: {exc}")
                continue
            self._remember_send(customer_id)
            await asyncio.to_thread(self._finish, item, wamid, None)
        return attempted

    def _remember_send(self, customer_id: int) -> None:
        now = time.monotonic()
        if len(self._last_sent) > 10_000:  # forget recipients whose spacing no longer matters
            self._last_sent = {c: t for c, t in self._last_sent.items() if now - t < self.per_recipient_interval_s}
        self._last_sent[customer_id] = now

    async def _send(self, item: _Claimed) -> str:
        media_id = None
        if isinstance(item.reply, ImageReply):
            path = Path(item.reply.image_path)
            key = (str(path.resolve()), path.stat().st_mtime)
            if key not in self._media:
                self._media[key] = await self.graph.upload_media(path, "image/png")
            media_id = self._media[key]
        return await self.graph.send(reply_payload(item.phone, item.reply, media_id=media_id))

    # ------------------------------------------------------------------------------ DB steps
    def _claim_head(self, customer_id: int) -> _Claimed | None:
        m, now = Message.__table__, utcnow()
        lease = now + timedelta(seconds=self.lease_s)
        with session_scope(self.factory) as s:
            head = s.execute(
                select(m.c.id, m.c.payload, m.c.attempts, m.c.next_attempt_at)
                .where(m.c.customer_id == customer_id, m.c.direction == "out", m.c.status == "queued")
                .order_by(m.c.id)
                .limit(1)
            ).first()
            if head is None or (head.next_attempt_at is not None and head.next_attempt_at > now):
                return None
            # The lease: only one sender (task or process) wins this conditional UPDATE.
            won = s.execute(
                update(m)
                .where(
                    m.c.id == head.id,
                    m.c.status == "queued",
                    or_(m.c.next_attempt_at.is_(None), m.c.next_attempt_at <= now),
                )
                .values(next_attempt_at=lease)
            ).rowcount
            if not won:
                return None
            customer = s.get(Customer, customer_id)
            contact = s.get(Contact, customer_id)
            window_open = customer.last_inbound_at is not None and now - customer.last_inbound_at < self.window
            return _Claimed(
                head.id,
                customer_id,
                reply_from_dict(head.payload),
                head.attempts,
                contact.phone if contact else None,
                window_open,
                lease,
            )

    def _renew(self, item: _Claimed) -> bool:
        """Take the lease afresh right before the send; False if it expired and another sender took
        the message (then it is theirs to send: sending it here too would deliver it twice)."""
        m = Message.__table__
        lease = utcnow() + timedelta(seconds=self.lease_s)
        with session_scope(self.factory) as s:
            won = s.execute(
                update(m)
                .where(m.c.id == item.id, m.c.status == "queued", m.c.next_attempt_at == item.lease)
                .values(next_attempt_at=lease)
            ).rowcount
        if won:
            item.lease = lease
        return bool(won)

    def _finish(self, item: _Claimed, wamid: str | None, error: str | None) -> None:
        m = Message.__table__
        values = (
            {"status": "sent", "wa_message_id": wamid, "error": None} if wamid else {"status": "failed", "error": error}
        )
        with session_scope(self.factory) as s:
            s.execute(
                update(m)
                .where(m.c.id == item.id, m.c.status == "queued", m.c.next_attempt_at == item.lease)
                .values(attempts=item.attempts + 1, next_attempt_at=None, updated_at=utcnow(), **values)
            )
        if error:
            log.warning("outbound message %s failed: %s", item.id, error)

    def _failed_send(self, item: _Claimed, exc: GraphError) -> bool:
        """Record a Graph API failure. True if the message is now final (failed), False if it will retry."""
        if exc.kind == "reengagement":
            self._window_closed(item, detail=str(exc))
            return True
        attempts = item.attempts + 1
        if not exc.retryable or attempts >= self.max_attempts:
            self._finish(item, None, f"{exc} (attempt {attempts})")
            return True
        delay = backoff_s(attempts, self.backoff_base_s, self.backoff_max_s)
        if exc.code in GLOBAL_THROTTLING:
            self.bucket.pause(delay)  # the number is over its limit: everyone waits
        m = Message.__table__
        with session_scope(self.factory) as s:
            s.execute(
                update(m)
                .where(m.c.id == item.id, m.c.status == "queued", m.c.next_attempt_at == item.lease)
                .values(
                    attempts=attempts,
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                    error=f"retrying: {exc}",
                    updated_at=utcnow(),
                )
            )
        log.info("outbound message %s: %s, retry %d in %.2fs", item.id, exc.kind, attempts, delay)
        return False

    def _window_closed(self, item: _Claimed, detail: str | None = None) -> None:
        """Free-form reply outside the 24-h window: fail it; queue the re-engagement template once."""
        hours = self.window.total_seconds() / 3600
        error = WINDOW_ERROR.format(hours=f"{hours:g}") + (f" [{detail}]" if detail else "")
        m = Message.__table__
        with session_scope(self.factory) as s:
            s.execute(
                update(m)
                .where(m.c.id == item.id, m.c.status == "queued", m.c.next_attempt_at == item.lease)
                .values(
                    status="failed", error=error, attempts=item.attempts + 1, next_attempt_at=None, updated_at=utcnow()
                )
            )
            if isinstance(item.reply, NoticeReply):  # Meta says closed while our clock said open
                enqueue_replies(s, item.customer_id, [item.reply.template])
                return
            if self.fallback_template is None or isinstance(item.reply, TemplateReply):
                return  # a refused template never queues another one (no retry loop)
            since = s.get(Customer, item.customer_id).last_inbound_at
            already = s.scalar(
                select(func.count())
                .select_from(m)
                .where(
                    m.c.customer_id == item.customer_id,
                    m.c.direction == "out",
                    m.c.kind == "template",
                    m.c.status != "failed",
                    *([m.c.created_at >= since] if since is not None else []),
                )
            )
            if not already:
                enqueue_replies(s, item.customer_id, [self.fallback_template])
