"""Payments: one interface (base.PaymentProvider), three gateways (sandbox, mercadopago, stripe),
and the two operations the bot needs.

    order, payment = payment_link(factory, order_id, settings)  # checkout: link / PIX code
    result = process_webhook(factory, "stripe", headers, body, query, settings, notify=notify)   # webhook route

The order moves only after (1) the webhook's signature was verified, (2) the event id was not
seen before (payment_events unique key: replays and duplicate deliveries are no-ops), (3) the
payment was fetched from the gateway (and, when paid, for exactly the amount and currency we
asked). Then, in the same transaction (serve/commerce/payments/ledger.py): payment rows and order
updated, event rows, and the caller's `notify(session, order, notice)` ("paid" |
"payment_failed"): the webhook route queues the customer's WhatsApp message there, so payments
never import messaging.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from serve.commerce import orders
from serve.commerce.payments.base import (
    CreatedPayment,
    GatewayEvent,
    GatewayPayment,
    PaymentError,
    PaymentProvider,
    WebhookVerificationError,
    idempotency_key,
)
from serve.commerce.payments.ledger import Notify, WebhookResult, apply_gateway_payment
from serve.commerce.payments.mercadopago import MercadoPagoProvider
from serve.commerce.payments.sandbox import SandboxProvider
from serve.commerce.payments.stripe import StripeProvider
from serve.core.refusal import Refusal
from serve.storage.db import run_in_transaction
from serve.storage.tables import Order, Payment, PaymentEvent, utcnow

log = logging.getLogger(__name__)
PROVIDERS = ("sandbox", "mercadopago", "stripe")


class UnknownProvider(LookupError):
    pass


class PaymentUnavailable(Refusal):
    """The gateway failed while creating the payment; pt-BR text for the model. The order stays
    pending with its stock held; asking for the link again retries with the same key."""


def get_provider(name: str, settings) -> PaymentProvider:
    """A provider configured from settings (built per call: cheap, and settings may differ per app)."""
    s = settings
    if name == "sandbox":
        return SandboxProvider(s.SANDBOX_WEBHOOK_SECRET, s.PUBLIC_BASE_URL, s.PAYMENT_WEBHOOK_TOLERANCE_S)
    if name == "mercadopago":
        return MercadoPagoProvider(
            s.MERCADOPAGO_ACCESS_TOKEN,
            s.MERCADOPAGO_WEBHOOK_SECRET,
            s.PUBLIC_BASE_URL,
            s.MERCADOPAGO_API_BASE_URL,
            s.PAYMENT_WEBHOOK_TOLERANCE_S,
        )
    if name == "stripe":
        return StripeProvider(
            s.STRIPE_API_KEY,
            s.STRIPE_WEBHOOK_SECRET,
            s.PUBLIC_BASE_URL,
            s.STRIPE_API_BASE_URL,
            s.PAYMENT_WEBHOOK_TOLERANCE_S,
        )
    raise UnknownProvider(f"unknown payment provider {name!r} (one of {', '.join(PROVIDERS)})")


def payment_attempt(session: Session, order: Order, provider_name: str) -> Payment:
    """Step 1, in the order's transaction: the payment row the gateway call will fill. An attempt
    still pending for this provider and the order's method is returned as is (asking twice gives
    the same link, and a retry of an interrupted call reuses its key); otherwise attempt n+1, key
    "<code>-<n+1>", with no link yet (checkout_url "")."""
    existing = session.scalars(
        select(Payment)
        .where(
            Payment.order_id == order.id,
            Payment.provider == provider_name,
            Payment.status == "pending",
            Payment.method == order.payment_method,
        )
        .order_by(Payment.id.desc())
    ).first()
    if existing is not None:
        return existing
    attempts = session.scalar(select(func.count()).select_from(Payment).where(Payment.order_id == order.id))
    payment = Payment(
        order_id=order.id,
        provider=provider_name,
        idempotency_key=idempotency_key(order, attempts + 1),
        method=order.payment_method,
        status="pending",
        amount_cents=order.total_cents,
        checkout_url="",
    )
    session.add(payment)
    session.flush()
    return payment


def _create_at_gateway(factory: sessionmaker, provider: PaymentProvider, order: Order, key: str) -> CreatedPayment:
    """Step 2, outside every transaction of ours (a gateway may take ~30 s). The sandbox keeps its
    ledger in our database, so it gets a short transaction of its own (never the order's)."""
    try:
        if provider.name == "sandbox":
            return run_in_transaction(factory, lambda s: provider.create_payment(order, key, session=s))
        return provider.create_payment(order, key)
    except PaymentError as exc:
        log.warning(
            "payment creation failed", extra={"order": order.code, "provider": provider.name, "error": str(exc)}
        )
        raise PaymentUnavailable("não consegui gerar o link de pagamento agora; tente de novo em instantes") from exc


def _attach(session: Session, payment_id: int, created: CreatedPayment) -> Payment:
    """Step 3: store what the gateway created. Conditional on the link being still empty, so of two
    twins (a retry, a replayed turn) the first stores it; both got the same gateway payment back,
    because both sent the same idempotency key."""
    t = Payment.__table__
    session.execute(
        update(t)
        .where(t.c.id == payment_id, t.c.checkout_url == "")
        .values(
            # a webhook may have adopted the attempt's first payment already: keep that id
            provider_payment_id=func.coalesce(t.c.provider_payment_id, created.provider_payment_id),
            checkout_url=created.checkout_url,
            pix_qr_code=created.pix_qr_code,
            updated_at=utcnow(),
        )
    )
    return session.get(Payment, payment_id, populate_existing=True)


def payment_link(
    factory: sessionmaker, order_id: int, settings, *, provider: PaymentProvider | None = None
) -> tuple[Order, Payment]:
    """The order's payment with its link: reuse the pending attempt's link, else create it at the
    gateway (steps 1-3 above: the order is committed before and no lock is held during the call).
    Safe to call again after any failure: the same attempt and key are used until one has a link.
    Raises PaymentUnavailable when the gateway fails (the order stays pending, its stock held)."""
    provider = provider or get_provider(settings.PAYMENT_PROVIDER, settings)

    def attempt(s: Session) -> tuple[Order, Payment]:
        order = s.get(Order, order_id)
        if order.status != "pending_payment":
            raise orders.OrderError(f"o pedido {order.code} não está aguardando pagamento")
        return order, payment_attempt(s, order, provider.name)

    order, payment = run_in_transaction(factory, attempt)
    if payment.checkout_url:
        return order, payment
    created = _create_at_gateway(factory, provider, order, payment.idempotency_key)
    return order, run_in_transaction(factory, lambda s: _attach(s, payment.id, created))


def process_webhook(
    factory: sessionmaker,
    provider_name: str,
    headers: Mapping[str, str],
    body: bytes,
    query: Mapping[str, str] | None,
    settings,
    *,
    provider: PaymentProvider | None = None,
    notify: Notify,
) -> WebhookResult:
    """Verify → dedupe → fetch from the gateway → apply. Raises WebhookVerificationError (answer 4xx,
    nothing stored), PaymentError (gateway unreachable: answer 5xx so the gateway retries)."""
    provider = provider or get_provider(provider_name, settings)
    event = provider.verify_webhook(headers, body, query)
    fetched: GatewayPayment | None = None
    if event.provider_payment_id and provider.name != "sandbox":
        fetched = provider.fetch_payment(event.provider_payment_id)  # network: outside the DB transaction

    def tx(session: Session) -> WebhookResult:
        seen = session.scalar(
            select(func.count())
            .select_from(PaymentEvent)
            .where(PaymentEvent.provider == event.provider, PaymentEvent.event_id == event.event_id)
        )
        if seen:
            return WebhookResult("duplicate")
        session.add(
            PaymentEvent(provider=event.provider, event_id=event.event_id, payload=event.payload, verified=True)
        )
        session.flush()  # a concurrent twin fails here (unique) and the retry sees it as duplicate
        if not event.provider_payment_id:
            return WebhookResult("ignored", detail=f"event type {event.type}")
        gp = fetched or provider.fetch_payment(event.provider_payment_id, session=session)
        return apply_gateway_payment(session, provider.name, gp, notify)

    result = run_in_transaction(factory, tx)
    log.info(
        "payment webhook",
        extra={
            "provider": provider.name,
            "event": event.event_id,
            "type": event.type,
            "result": result.status,
            "order": result.order_code,
        },
    )
    return result


__all__ = [
    "PROVIDERS",
    "CreatedPayment",
    "GatewayEvent",
    "GatewayPayment",
    "PaymentError",
    "PaymentProvider",
    "PaymentUnavailable",
    "UnknownProvider",
    "WebhookResult",
    "WebhookVerificationError",
    "Notify",
    "apply_gateway_payment",
    "get_provider",
    "idempotency_key",
    "payment_attempt",
    "payment_link",
    "process_webhook",
]
