"""The one interface every payment gateway implements, and the types that cross it.

A provider never touches orders. It (1) creates a payment at the gateway for an order, with an
idempotency key derived from the order, (2) verifies a webhook's signature and says which
gateway payment it is about, (3) fetches that payment's true state from the gateway. Moving the
order is serve/commerce/payments/service.py's job, and it only does so on (2) followed by (3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session

from serve.storage.tables import Order

GatewayStatus = Literal["pending", "paid", "failed", "refunded", "disputed"]


class PaymentError(RuntimeError):
    """The gateway could not be reached or refused a request (retry later; nothing was changed)."""


class WebhookVerificationError(ValueError):
    """A webhook whose signature, timestamp or shape is not valid: answered 4xx, nothing stored."""


@dataclass(frozen=True)
class CreatedPayment:
    provider_payment_id: str  # what fetch_payment takes (MP: payment or preference id; Stripe: session id)
    checkout_url: str  # where the customer pays
    pix_qr_code: str | None = None  # PIX "copia e cola" (EMV BR Code) when the method is pix


@dataclass(frozen=True)
class GatewayEvent:
    provider: str
    event_id: str  # unique per provider: replay protection (payment_events)
    type: str  # the gateway's event type, e.g. "payment.updated", "checkout.session.completed"
    provider_payment_id: str | None  # what to fetch; None = nothing to do for this event
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayPayment:
    """A payment as the gateway reports it when we ask (the only source of truth for "paid")."""

    provider_payment_id: str
    status: GatewayStatus
    amount_cents: int | None
    currency: str | None
    reference: str | None  # our idempotency key, as we stored it at the gateway
    raw: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def create_payment(self, order: Order, idempotency_key: str, *, session: Session) -> CreatedPayment:
        """Create (or, for a repeated key, get back) the gateway payment for `order`."""
        ...

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> GatewayEvent:
        """Check the signature over the raw body (and timestamp); raise WebhookVerificationError."""
        ...

    def fetch_payment(self, provider_payment_id: str, *, session: Session | None = None) -> GatewayPayment:
        """The payment's state, asked from the gateway now. `session` is only for the sandbox,
        whose ledger lives in our database."""
        ...


def idempotency_key(order: Order, attempt: int) -> str:
    """ "ZV12345-1": one key per (order, payment attempt); a retried request reuses it."""
    return f"{order.code}-{attempt}"


def amount_reais(cents: int) -> float:
    """Gateways that take decimal reais (Mercado Pago): exact for cents, since cents/100 is
    rounded to 2 places in the JSON the SDK sends."""
    return round(cents / 100, 2)


def cents_from_reais(value) -> int:
    """125.5 → 12550, exact (via str, no binary float rounding surprises)."""
    from decimal import Decimal

    return int((Decimal(str(value)) * 100).quantize(Decimal(1)))
