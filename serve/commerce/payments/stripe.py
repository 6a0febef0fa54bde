"""Stripe through the official `stripe` SDK: a hosted Checkout Session per order attempt (card, PIX
or boleto), webhooks verified with `stripe.Webhook.construct_event` (Stripe-Signature, signed
timestamp, tolerance), and the session (plus its PaymentIntent for async methods) retrieved from
the API before anything moves.

`StripeClient(base_addresses={"api": STRIPE_API_BASE_URL})` is the SDK's base URL setting (the
real API by default, a local fake speaking the same REST in tests); no global `stripe.*` state is
touched, so several providers/tests can coexist. Idempotency: `options={"idempotency_key": ...}`
(the Idempotency-Key header) with our order code + attempt, also stored as client_reference_id.

After the money: `charge.refunded` and `charge.dispute.created` are about a Charge, not a Checkout
Session. Their target is "charge:<id>" / "dispute:<id>"; fetching it retrieves the dispute and the
charge from the API, finds the session through the charge's PaymentIntent, and reports that
session as refunded (a full refund, or a dispute the store lost) or disputed (a chargeback open).
A partial refund reports the session still paid (the order does not move; the event is stored).
"""

from __future__ import annotations

from collections.abc import Mapping

import stripe

from serve.commerce.payments.base import (
    CreatedPayment,
    GatewayEvent,
    GatewayPayment,
    PaymentError,
    WebhookVerificationError,
)
from serve.storage.tables import Order

METHOD_TYPES = {"card": ["card"], "pix": ["pix"], "boleto": ["boleto"]}
SESSION_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
)
CHARGE_EVENTS = {"charge.refunded": "charge", "charge.dispute.created": "dispute", "charge.dispute.closed": "dispute"}
OPEN_DISPUTE = {"warning_needs_response", "warning_under_review", "needs_response", "under_review"}


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        public_base_url: str,
        api_base_url: str = "https://api.stripe.com",
        tolerance_s: int = 300,
        timeout_s: float = 15.0,
    ):
        self.webhook_secret = webhook_secret
        self.public_base_url = public_base_url.rstrip("/")
        self.tolerance_s = tolerance_s
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base_url.rstrip("/")},
            max_network_retries=1,
            http_client=stripe.RequestsClient(timeout=timeout_s),
        )

    def create_payment(self, order: Order, idempotency_key: str, *, session=None) -> CreatedPayment:
        params = {
            "mode": "payment",
            "payment_method_types": METHOD_TYPES[order.payment_method],
            # One line with the order total: freight and coupon are already in it, computed once by us.
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "brl",
                        "unit_amount": order.total_cents,
                        "product_data": {"name": f"Pedido {order.code}"},
                    },
                }
            ],
            "client_reference_id": idempotency_key,
            "metadata": {"order_code": order.code, "idempotency_key": idempotency_key},
            "success_url": f"{self.public_base_url}/pay/done?order={order.code}",
            "cancel_url": f"{self.public_base_url}/pay/done?order={order.code}&canceled=1",
        }
        try:
            s = self.client.v1.checkout.sessions.create(params, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise PaymentError(
                f"stripe create checkout session: {exc.__class__.__name__}: {exc.user_message or exc}"
            ) from exc
        if not s.url:
            raise PaymentError("stripe create checkout session: no url in the answer")
        return CreatedPayment(s.id, s.url)

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> GatewayEvent:
        sig = {k.lower(): v for k, v in headers.items()}.get("stripe-signature")
        try:
            event = stripe.Webhook.construct_event(body.decode("utf-8"), sig, self.webhook_secret, self.tolerance_s)
        except stripe.SignatureVerificationError as exc:
            raise WebhookVerificationError(f"stripe: {exc}") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookVerificationError(f"stripe: body is not a JSON event: {exc}") from exc
        payload = event.to_dict()
        obj_id = payload["data"]["object"].get("id")
        target = None
        if event.type in SESSION_EVENTS:
            target = obj_id
        elif event.type in CHARGE_EVENTS and obj_id:
            target = f"{CHARGE_EVENTS[event.type]}:{obj_id}"
        return GatewayEvent(self.name, event.id, event.type, target, payload)

    def _after_payment(self, target: str) -> GatewayPayment:
        """A charge's refund or dispute, reported as the state of its Checkout Session."""
        kind, _, object_id = target.partition(":")
        dispute = self.client.v1.disputes.retrieve(object_id) if kind == "dispute" else None
        charge_id = object_id if dispute is None else _id(dispute.charge)
        charge = self.client.v1.charges.retrieve(charge_id)
        found = self.client.v1.checkout.sessions.list({"payment_intent": _id(charge.payment_intent), "limit": 1})
        if not found.data:
            raise PaymentError(f"stripe: no checkout session for charge {charge_id}")
        s = found.data[0]
        status = "paid"
        if dispute is not None and dispute.status in OPEN_DISPUTE:
            status = "disputed"
        elif (dispute is not None and dispute.status == "lost") or charge.refunded:
            status = "refunded"
        currency = (s.currency or "").upper() or None
        raw = {"session": s.id, "charge": charge_id, "dispute": dispute.id if dispute else None}
        return GatewayPayment(s.id, status, s.amount_total, currency, s.client_reference_id, raw)

    def fetch_payment(self, provider_payment_id: str, *, session=None) -> GatewayPayment:
        if provider_payment_id.startswith(("charge:", "dispute:")):
            try:
                return self._after_payment(provider_payment_id)
            except stripe.StripeError as exc:
                raise PaymentError(f"stripe retrieve {provider_payment_id}: {exc.__class__.__name__}: {exc}") from exc
        try:
            s = self.client.v1.checkout.sessions.retrieve(provider_payment_id)
            status = "pending"
            if s.payment_status == "paid":
                status = "paid"
            elif s.status == "expired":
                status = "failed"
            elif s.status == "complete" and s.payment_intent:
                # Async methods (boleto, PIX): the session completes first; the PaymentIntent says
                # whether the money arrived or the attempt failed.
                pi_id = s.payment_intent if isinstance(s.payment_intent, str) else s.payment_intent.id
                pi = self.client.v1.payment_intents.retrieve(pi_id)
                if pi.status == "succeeded":
                    status = "paid"
                elif pi.status == "canceled" or (pi.status == "requires_payment_method" and pi.last_payment_error):
                    status = "failed"
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe retrieve session: {exc.__class__.__name__}: {exc}") from exc
        currency = (s.currency or "").upper() or None
        return GatewayPayment(s.id, status, s.amount_total, currency, s.client_reference_id, s.to_dict())


def _id(value) -> str:
    """An expandable field: the id string, or the expanded object's id."""
    return value if isinstance(value, str) else value.id
