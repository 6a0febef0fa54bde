"""Durable inbox: store webhook messages once, then hand them to workers one customer at a time.

Write path (`store_webhook`, called by POST /webhook before it answers 200):
  customer + contact upsert (serve/commerce/customers.py), `INSERT INTO inbox ... ON CONFLICT
  (wa_message_id) DO NOTHING`, and only when that row is new: the inbound `messages` row and
  `customers.last_inbound_at` (the 24-hour window). So a Meta retry, even one delivered
  concurrently or to another process, has exactly one effect: the unique index decides.
  Status callbacks move outbound `messages.status` forward only.

Read path (`claim_batches`, used by serve/whatsapp/worker.py): the unit of work is a CUSTOMER. A customer is
claimable when none of its pending/processing rows is leased or backing off (`locked_until` in
the future) and its burst is over: its newest pending row is `burst_window_s` old (or its oldest
waited `max_wait_s`). A greeting-only message ("oi", "bom dia") is stored already held for
INBOX_GREETING_HOLD_S, so the request typed after it is answered in the same turn. One
conditional UPDATE marks all its open rows `processing` with a lease; the `NOT EXISTS` in it is
what keeps two workers off one customer: on SQLite the single writer makes the statement atomic,
on PostgreSQL the customer row is first taken with `FOR UPDATE SKIP LOCKED`, so a second worker
skips the customer instead of waiting for it. A worker that dies leaves a lease that simply
expires; the rows are then claimed again, at most `max_attempts` times in all (each claim counts
one attempt): past that they are dead letters (serve/whatsapp/dead_letter.py), never claimed again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from serve.commerce.customers import get_or_create_customer
from serve.conversation.messages import Inbound
from serve.conversation.texts import is_greeting
from serve.storage.db import run_in_transaction, session_scope
from serve.storage.tables import Customer, InboxItem, Message, utcnow
from serve.whatsapp.cloud_api import ParsedWebhook
from serve.whatsapp.dead_letter import dead_letter

log = logging.getLogger(__name__)

OPEN = ("pending", "processing")
POISON_ERROR = "attempts exhausted without an answer (the process died or lost the lease every time)"
# Forward-only delivery states: a status may only replace the ones listed for it.
STATUS_FROM = {
    "sent": ("queued",),
    "delivered": ("queued", "sent"),
    "read": ("queued", "sent", "delivered"),
    "failed": ("queued", "sent", "delivered"),  # terminal; never overrides "read"
}


def inbound_to_dict(inbound: Inbound) -> dict:
    return asdict(inbound)


def inbound_from_dict(data: dict) -> Inbound:
    data = dict(data)
    if data.get("location") is not None:
        data["location"] = tuple(data["location"])  # JSON turned the (lat, lon) tuple into a list
    return Inbound(**data)


def insert_ignore(session: Session, table, values: dict, key: str) -> bool:
    """INSERT ... ON CONFLICT (key) DO NOTHING on SQLite and PostgreSQL; True if the row is new."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT that SQLAlchemy sends with RETURNING
    return session.execute(stmt.returning(table.c.id)).first() is not None


@dataclass
class StoreResult:
    stored: int = 0  # new inbox rows
    duplicates: int = 0  # already in the inbox (Meta retry)
    ignored: int = 0  # addressed to another business number
    statuses: int = 0  # status callbacks that moved a message forward
    customer_ids: set[int] = field(default_factory=set)


def is_greeting_only(msg: Inbound) -> bool:
    """A text message made only of greeting words (serve/conversation/texts.py: is_greeting)."""
    return msg.type == "text" and bool(msg.text) and is_greeting(msg.text)


def store_messages(
    session: Session,
    parsed: ParsedWebhook,
    *,
    phone_hash_key: str,
    phone_number_id: str | None = None,
    greeting_hold_s: float = 0.0,
) -> StoreResult:
    """Everything a webhook carried, in the caller's transaction (commit before answering 200).

    greeting_hold_s: a greeting-only message is stored with `locked_until` that far ahead (the same
    "not claimable before" a retry backoff uses), so the request that usually follows joins its
    burst, while a message that already says what the customer wants waits only the short burst
    window (INBOX_BURST_WINDOW_S).
    """
    result = StoreResult()
    now = utcnow()
    for msg in parsed.messages:
        to_number = parsed.phone_number_ids.get(msg.wa_message_id)
        if phone_number_id and to_number and to_number != phone_number_id:
            result.ignored += 1  # one Meta app can serve several numbers; this one is not ours
            log.warning("ignoring message for phone_number_id=%s (ours is %s)", to_number, phone_number_id)
            continue
        try:
            customer = get_or_create_customer(session, msg.phone, phone_hash_key, msg.profile_name)
        except ValueError as exc:  # not a phone number: answering 500 would make Meta retry for days
            result.ignored += 1
            log.warning("ignoring message with an invalid sender: %s", exc)
            continue
        session.flush()
        payload = inbound_to_dict(msg)
        new = insert_ignore(
            session,
            InboxItem.__table__,
            dict(
                wa_message_id=msg.wa_message_id,
                customer_id=customer.id,
                type=msg.type,
                payload=payload,
                received_at=now,
                status="pending",
                attempts=0,
                locked_until=now + timedelta(seconds=greeting_hold_s)
                if greeting_hold_s and is_greeting_only(msg)
                else None,
            ),
            key="wa_message_id",
        )
        if not new:
            result.duplicates += 1
            continue
        result.stored += 1
        result.customer_ids.add(customer.id)
        insert_ignore(
            session,
            Message.__table__,
            dict(
                customer_id=customer.id,
                direction="in",
                wa_message_id=msg.wa_message_id,
                kind=msg.type,
                payload=payload,
                status="received",
                attempts=0,
                created_at=now,
                updated_at=now,
            ),
            key="wa_message_id",
        )
        # The window opens at the customer's message time (Meta's clock), never in the future.
        sent_at = min(datetime.fromtimestamp(msg.timestamp, now.tzinfo), now) if msg.timestamp else now
        if customer.last_inbound_at is None or customer.last_inbound_at < sent_at:
            customer.last_inbound_at = sent_at
    for st in parsed.statuses:
        result.statuses += apply_status(session, st.wa_message_id, st.status, st.error_text)
    return result


def apply_status(session: Session, wa_message_id: str, status: str, error: str | None = None) -> int:
    """Move one outbound message forward (sent < delivered < read; failed terminal). 1 if it moved."""
    t = Message.__table__
    values: dict = {"status": status, "updated_at": utcnow()}
    if status == "failed":
        values["error"] = error or "failed (no error detail from Meta)"
    stmt = (
        update(t)
        .where(t.c.wa_message_id == wa_message_id, t.c.direction == "out", t.c.status.in_(STATUS_FROM[status]))
        .values(**values)
    )
    return session.execute(stmt).rowcount


def store_webhook(
    factory: sessionmaker,
    parsed: ParsedWebhook,
    *,
    phone_hash_key: str,
    phone_number_id: str | None = None,
    greeting_hold_s: float = 0.0,
) -> StoreResult:
    """`store_messages` in its own transaction, retried on lost races (deadlock, locked SQLite)."""
    if not parsed.messages and not parsed.statuses:
        return StoreResult()
    return run_in_transaction(
        factory,
        lambda s: store_messages(
            s, parsed, phone_hash_key=phone_hash_key, phone_number_id=phone_number_id, greeting_hold_s=greeting_hold_s
        ),
    )


# ------------------------------------------------------------------------------- claiming
@dataclass
class Batch:
    """One customer's open inbox rows, claimed together; `lease_until` is this claim's token."""

    customer_id: int
    ids: list[int]
    inbound: list[Inbound]  # ordered by the customer's send time, then arrival
    attempts: int  # the highest attempt number among the rows (this one included)
    lease_until: datetime

    @property
    def key(self) -> str:
        """The same on every claim of these rows (the oldest stays open until they are done): the
        turn key under which the turn's tool effects are recorded (serve/conversation/effects.py)."""
        return f"inbox:{min(self.ids)}"


def claimable_customers(
    session: Session, now: datetime, *, limit: int, burst_window_s: float, max_wait_s: float
) -> list[int]:
    t = InboxItem.__table__
    busy = func.max(case((t.c.locked_until > now, 1), else_=0))
    q = (
        select(t.c.customer_id)
        .where(t.c.status.in_(OPEN))
        .group_by(t.c.customer_id)
        .having(busy == 0)
        .having(
            or_(
                func.max(t.c.received_at) <= now - timedelta(seconds=burst_window_s),
                func.min(t.c.received_at) <= now - timedelta(seconds=max_wait_s),
            )
        )
        .order_by(func.min(t.c.id))
        .limit(limit)
    )
    return list(session.scalars(q))


def claim_customer(
    session: Session, customer_id: int, now: datetime, lease_until: datetime, *, max_attempts: int | None = None
) -> Batch | None:
    """Lease every open row of one customer, or None if another worker holds it (or nothing is left).

    max_attempts: rows already claimed that many times without an answer are not claimed again:
    they go to `failed` in this transaction, with one apology and an operator alert
    (serve/whatsapp/dead_letter.py), so a message that kills the process cannot loop forever."""
    if session.get_bind().dialect.name == "postgresql":
        got = session.execute(
            select(Customer.id).where(Customer.id == customer_id).with_for_update(skip_locked=True)
        ).first()
        if got is None:
            return None  # another worker is claiming this customer right now
    t, other = InboxItem.__table__, InboxItem.__table__.alias("other")
    leased = exists().where(other.c.customer_id == customer_id, other.c.status.in_(OPEN), other.c.locked_until > now)
    claimable = (
        t.c.customer_id == customer_id,
        t.c.status.in_(OPEN),
        or_(t.c.locked_until.is_(None), t.c.locked_until <= now),
        ~leased,
    )
    if max_attempts is not None:
        spent = t.c.attempts >= max_attempts
        dead = session.execute(
            update(t)
            .where(*claimable, spent)
            .values(status="failed", locked_until=None, processed_at=now, error=POISON_ERROR)
            .returning(t.c.id, t.c.attempts)
        ).all()
        if dead:
            ids = sorted(r.id for r in dead)
            dead_letter(session, customer_id, ids, attempts=max(r.attempts for r in dead), reason=POISON_ERROR)
        claimable += (~spent,)
    stmt = (
        update(t)
        .where(*claimable)
        .values(status="processing", locked_until=lease_until, attempts=t.c.attempts + 1)
        .returning(t.c.id, t.c.payload, t.c.attempts)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return None
    items = sorted(
        ((inbound_from_dict(r.payload), r.id, r.attempts) for r in rows), key=lambda x: (x[0].timestamp, x[1])
    )
    return Batch(
        customer_id, [i for _, i, _ in items], [m for m, _, _ in items], max(a for _, _, a in items), lease_until
    )


def claim_batches(
    factory: sessionmaker,
    *,
    limit: int,
    burst_window_s: float,
    max_wait_s: float,
    lease_s: float,
    max_attempts: int | None = None,
) -> list[Batch]:
    """Up to `limit` customers' batches, each claimed in its own short transaction
    (`max_attempts`: see claim_customer)."""
    now = utcnow()
    with session_scope(factory) as session:
        candidates = claimable_customers(
            session, now, limit=limit, burst_window_s=burst_window_s, max_wait_s=max_wait_s
        )
    batches = []
    for customer_id in candidates:
        with session_scope(factory) as session:
            batch = claim_customer(
                session, customer_id, now, now + timedelta(seconds=lease_s), max_attempts=max_attempts
            )
        if batch is not None:
            batches.append(batch)
    return batches


def renew_lease(factory: sessionmaker, batch: Batch, lease_s: float) -> bool:
    """Extend a claim still held (heartbeat during a slow agent turn); False if it was lost."""
    t = InboxItem.__table__
    new_until = utcnow() + timedelta(seconds=lease_s)
    with session_scope(factory) as session:
        moved = session.execute(
            update(t)
            .where(t.c.id.in_(batch.ids), t.c.status == "processing", t.c.locked_until == batch.lease_until)
            .values(locked_until=new_until)
        ).rowcount
    if moved == len(batch.ids):
        batch.lease_until = new_until
        return True
    return False


def complete_batch(session: Session, batch: Batch) -> bool:
    """Mark the rows done in the caller's transaction (which also enqueues the replies).
    False if the lease was lost (another worker took over): the caller must roll back."""
    t = InboxItem.__table__
    now = utcnow()
    done = session.execute(
        update(t)
        .where(t.c.id.in_(batch.ids), t.c.status == "processing", t.c.locked_until == batch.lease_until)
        .values(status="done", processed_at=now, locked_until=None, error=None)
    ).rowcount
    return done == len(batch.ids)


def release_batch(session: Session, batch: Batch, error: str, *, retry_at: datetime | None) -> int:
    """After a failure: back to pending until `retry_at` (backoff), or `failed` when None."""
    t = InboxItem.__table__
    values = (
        {"status": "pending", "locked_until": retry_at}
        if retry_at is not None
        else {"status": "failed", "locked_until": None, "processed_at": utcnow()}
    )
    return session.execute(
        update(t)
        .where(t.c.id.in_(batch.ids), t.c.status == "processing", t.c.locked_until == batch.lease_until)
        .values(error=error[:2000], **values)
    ).rowcount
