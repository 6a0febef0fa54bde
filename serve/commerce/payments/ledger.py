"""Bring our payment rows and the order in line with what the gateway reported (already fetched).

One row per gateway payment: the row is found by the gateway's payment id, else by our
idempotency key (the gateway's `reference`). An attempt with no gateway payment yet (a Mercado Pago
preference, a link not stored yet) adopts the first payment; a SECOND payment of the same attempt
(a preference paid twice) gets a row of its own, never overwrites the first.

Rules, all under the customer's lock, in the webhook's transaction:
- paid, order awaiting payment → order paid (stock sold), `order_paid`, the customer notified;
- paid, order not awaiting payment (a second payment of a paid order, a payment after expiry)
  → the order does not move (a paid order is never canceled by it), `payment_needs_review` and an
  ERROR log line with `alert: true`; /admin/alerts lists them;
- failed, order awaiting payment → the customer is told, a new link may be asked for;
- refunded → the order becomes refunded, unless another payment still holds money for it (the
  refund of a duplicate leaves the paid order alone);
- disputed (a chargeback opened) → the order becomes disputed, `order_disputed`, alert; a lost
  dispute comes as refunded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from serve.commerce import orders
from serve.commerce.payments.base import GatewayPayment
from serve.storage.db import lock_customer
from serve.storage.events import EventName
from serve.storage.tables import Event, Order, Payment, utcnow

log = logging.getLogger(__name__)

PREFERENCE_PREFIX = "pref:"  # a Mercado Pago preference: a link many payments can come from
# payment row: status → the statuses the gateway may move it to
ALLOWED = {
    "pending": {"paid", "failed", "refunded"},
    "failed": {"paid"},
    "paid": {"refunded", "disputed"},
    "disputed": {"refunded"},
    "refunded": set(),
}
HOLDS_MONEY = ("paid", "disputed")
SOLD = ("paid", "shipped", "delivered", "disputed")


@dataclass(frozen=True)
class WebhookResult:
    status: str  # processed | duplicate | ignored | rejected
    order_code: str | None = None
    detail: str = ""


Notify = Callable[[Session, Order, str], None]  # (session, order, notice: serve/whatsapp/order_notices.py)


def _by_gateway_id(session: Session, provider: str, gp: GatewayPayment) -> Payment | None:
    q = select(Payment).where(Payment.provider == provider, Payment.provider_payment_id == gp.provider_payment_id)
    return session.scalars(q.execution_options(populate_existing=True)).first()


def _by_reference(session: Session, provider: str, gp: GatewayPayment) -> Payment | None:
    if not gp.reference:
        return None
    q = select(Payment).where(Payment.provider == provider, Payment.idempotency_key == gp.reference)
    return session.scalars(q.execution_options(populate_existing=True)).first()


def _row_for(session: Session, provider: str, gp: GatewayPayment) -> Payment | None:
    """This gateway payment's row (under the customer's lock): found, adopted, or made."""
    row = _by_gateway_id(session, provider, gp)
    if row is not None:
        return row
    attempt = _by_reference(session, provider, gp)
    if attempt is None:
        return None
    if attempt.provider_payment_id is None or attempt.provider_payment_id.startswith(PREFERENCE_PREFIX):
        attempt.provider_payment_id = gp.provider_payment_id  # the attempt's first payment
        return attempt
    twin = Payment(
        order_id=attempt.order_id,
        provider=provider,
        provider_payment_id=gp.provider_payment_id,
        idempotency_key=f"{attempt.idempotency_key}/{gp.provider_payment_id}"[:64],
        method=attempt.method,
        status="pending",
        amount_cents=attempt.amount_cents,
        checkout_url=attempt.checkout_url,
    )
    session.add(twin)
    session.flush()
    log.warning(
        "a second gateway payment for one payment attempt",
        extra={"provider": provider, "attempt": attempt.idempotency_key, "payment": gp.provider_payment_id},
    )
    return twin


def _alert(session: Session, order: Order, name: str, message: str, **properties) -> None:
    """An event operators list (/admin/alerts) and an ERROR log line that pages (`alert: true`)."""
    props = {"order": order.code, "order_status": order.status, **properties}
    session.add(Event(customer_id=order.customer_id, name=name, properties=props))
    log.error(message, extra={"alert": True, **props})


def apply_gateway_payment(session: Session, provider: str, gp: GatewayPayment, notify: Notify) -> WebhookResult:
    """Apply one fetched gateway payment (see the module's rules)."""
    hint = _by_gateway_id(session, provider, gp) or _by_reference(session, provider, gp)
    if hint is None:
        log.warning("webhook for an unknown payment", extra={"provider": provider, "payment": gp.provider_payment_id})
        return WebhookResult("ignored", detail="unknown payment")
    order = session.get(Order, hint.order_id)
    lock_customer(session, order.customer_id)  # serialise with checkout and other events of this customer
    session.refresh(order)
    payment = _row_for(session, provider, gp)
    if gp.status == "paid" and (gp.amount_cents != payment.amount_cents or (gp.currency or "BRL").upper() != "BRL"):
        log.error(
            "paid amount differs from the order",
            extra={
                "order": order.code,
                "expected": payment.amount_cents,
                "got": gp.amount_cents,
                "currency": gp.currency,
            },
        )
        return WebhookResult("rejected", order.code, "amount or currency mismatch")
    if gp.status == payment.status or gp.status not in ALLOWED[payment.status]:
        session.flush()
        return WebhookResult("ignored", order.code, f"payment already {payment.status}")
    payment.status = gp.status
    payment.updated_at = utcnow()
    ids = {"provider": provider, "payment": gp.provider_payment_id, "amount_cents": gp.amount_cents}
    if gp.status == "paid":
        if order.status != "pending_payment":
            _alert(
                session,
                order,
                EventName.PAYMENT_NEEDS_REVIEW,
                "payment for an order that is not awaiting payment",
                reason="second payment" if order.status in SOLD else f"order {order.status}",
                **ids,
            )
            session.flush()
            return WebhookResult("processed", order.code, "paid; order not awaiting payment: needs review")
        orders.move(session, order, "paid")
        props = {"order": order.code, "total_cents": order.total_cents, "provider": provider}
        props["method"] = order.payment_method
        session.add(Event(customer_id=order.customer_id, name=EventName.ORDER_PAID, properties=props))
        notify(session, order, "paid")
    elif gp.status == "failed" and order.status == "pending_payment":
        notify(session, order, "payment_failed")
    elif gp.status == "refunded":
        _refunded(session, order, payment, ids)
    elif gp.status == "disputed" and order.status in ("paid", "shipped", "delivered"):
        orders.move(session, order, "disputed")
        _alert(session, order, EventName.ORDER_DISPUTED, "chargeback opened on a paid order", **ids)
    session.flush()
    return WebhookResult("processed", order.code, f"payment {gp.status}")


def _refunded(session: Session, order: Order, payment: Payment, ids: dict) -> None:
    others = session.scalars(
        select(Payment.id).where(
            Payment.order_id == order.id, Payment.id != payment.id, Payment.status.in_(HOLDS_MONEY)
        )
    ).first()
    if order.status in SOLD and others is None:
        orders.move(session, order, "refunded")
        session.add(
            Event(customer_id=order.customer_id, name=EventName.ORDER_REFUNDED, properties={"order": order.code, **ids})
        )
    else:  # a duplicate given back, or money back on an order that never counted it: order unchanged
        session.add(
            Event(
                customer_id=order.customer_id,
                name=EventName.PAYMENT_REFUNDED,
                properties={"order": order.code, "order_status": order.status, **ids},
            )
        )
