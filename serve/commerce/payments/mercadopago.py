"""Mercado Pago through the official `mercadopago` SDK: PIX payments (QR "copia e cola" + ticket
link) and Checkout Pro preferences (card, boleto), webhook signature check with the SDK's
`WebhookSignatureValidator` (x-signature `ts=...,v1=...` over `id:<data.id>;request-id:<x-request-id>;ts:<ts>;`),
and payments fetched from the API before anything moves.

Base URL: the SDK hard-codes https://api.mercadopago.com in its Config; its documented extension
point is a custom `http_client`, so `_BaseURLClient` rewrites that prefix to
MERCADOPAGO_API_BASE_URL (the real API by default, a local fake speaking the same REST in tests).
Idempotency: the SDK sends a random `x-idempotency-key`; we pass ours (order code + attempt) in
`custom_headers`, which the SDK lets override it, and store it as `external_reference` too, so a
payment created from a preference is matched back to its order attempt.
"""

from __future__ import annotations

from collections.abc import Mapping

import mercadopago
from mercadopago.config import RequestOptions
from mercadopago.http import HttpClient
from mercadopago.webhook.validator import InvalidWebhookSignatureError, WebhookSignatureValidator

from serve.commerce.payments.base import (
    CreatedPayment,
    GatewayEvent,
    GatewayPayment,
    PaymentError,
    WebhookVerificationError,
    amount_reais,
    cents_from_reais,
)
from serve.storage.tables import Order

DEFAULT_API_BASE = "https://api.mercadopago.com"
# Mercado Pago payment status → ours. https://www.mercadopago.com.br/developers/pt/reference/payments/_payments_id/get
STATUS = {
    "approved": "paid",
    "pending": "pending",
    "in_process": "pending",
    "authorized": "pending",
    "in_mediation": "pending",
    "rejected": "failed",
    "cancelled": "failed",
    "refunded": "refunded",
    "charged_back": "refunded",
}
# Checkout Pro: keep only the payment types of the chosen method.
EXCLUDED_TYPES = {
    "card": ["ticket", "bank_transfer", "atm"],
    "boleto": ["credit_card", "debit_card", "prepaid_card", "bank_transfer", "atm"],
}


class _BaseURLClient(HttpClient):
    def __init__(self, base_url: str, timeout_s: float):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def request(self, method, url, maxretries=None, retry_on=None, backoff_factor=None, **kwargs):
        if url.startswith(DEFAULT_API_BASE):
            url = self.base_url + url[len(DEFAULT_API_BASE) :]
        kwargs["timeout"] = min(kwargs.get("timeout") or self.timeout_s, self.timeout_s)
        return super().request(
            method, url, maxretries=maxretries, retry_on=retry_on, backoff_factor=backoff_factor, **kwargs
        )


class MercadoPagoProvider:
    name = "mercadopago"

    def __init__(
        self,
        access_token: str,
        webhook_secret: str,
        public_base_url: str,
        api_base_url: str = DEFAULT_API_BASE,
        tolerance_s: int = 300,
        timeout_s: float = 15.0,
    ):
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self.public_base_url = public_base_url.rstrip("/")
        self.tolerance_s = tolerance_s
        self.sdk = mercadopago.SDK(
            access_token,
            http_client=_BaseURLClient(api_base_url, timeout_s),
            request_options=RequestOptions(max_retries=1),
        )

    def _options(self, idempotency_key: str | None = None) -> RequestOptions:
        headers = {"x-idempotency-key": idempotency_key} if idempotency_key else None
        return RequestOptions(access_token=self.access_token, custom_headers=headers, max_retries=1)

    @staticmethod
    def _ok(result, what: str) -> dict:
        if not (200 <= result.get("status", 0) < 300) or not isinstance(result.get("response"), dict):
            body = result.get("response") or {}
            msg = body.get("message", "") if isinstance(body, dict) else ""
            raise PaymentError(f"mercadopago {what}: HTTP {result.get('status')} {msg}".strip())
        return result["response"]

    def create_payment(self, order: Order, idempotency_key: str, *, session=None) -> CreatedPayment:
        notify = f"{self.public_base_url}/payments/mercadopago/webhook"
        description = f"Pedido {order.code}"
        try:
            if order.payment_method == "pix":
                body = self._ok(
                    self.sdk.payment().create(
                        {
                            "transaction_amount": amount_reais(order.total_cents),
                            "description": description,
                            "payment_method_id": "pix",
                            "external_reference": idempotency_key,
                            "notification_url": notify,
                            # WhatsApp gives us no e-mail; MP requires one for PIX. A per-order address on our domain.
                            "payer": {"email": f"pedido.{order.code.lower()}@zapvendas.com.br"},
                        },
                        self._options(idempotency_key),
                    ),
                    "create pix payment",
                )
                tx = (body.get("point_of_interaction") or {}).get("transaction_data") or {}
                if not tx.get("qr_code"):
                    raise PaymentError("mercadopago create pix payment: no qr_code in the answer")
                return CreatedPayment(str(body["id"]), tx.get("ticket_url") or "", tx["qr_code"])
            body = self._ok(
                self.sdk.preference().create(
                    {
                        "items": [
                            {
                                "id": order.code,
                                "title": description,
                                "quantity": 1,
                                "currency_id": "BRL",
                                "unit_price": amount_reais(order.total_cents),
                            }
                        ],
                        "external_reference": idempotency_key,
                        "notification_url": notify,
                        "payment_methods": {
                            "excluded_payment_types": [{"id": t} for t in EXCLUDED_TYPES[order.payment_method]]
                        },
                    },
                    self._options(idempotency_key),
                ),
                "create preference",
            )
            return CreatedPayment(f"pref:{body['id']}", body["init_point"])
        except PaymentError:
            raise
        except Exception as exc:  # network errors from requests, bad JSON (MPServerError), ...
            raise PaymentError(f"mercadopago create: {type(exc).__name__}: {exc}") from exc

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> GatewayEvent:
        h = {k.lower(): v for k, v in headers.items()}
        query = query or {}
        data_id = query.get("data.id") or query.get("id")  # the signed id is the query string's
        try:
            WebhookSignatureValidator.validate(
                h.get("x-signature"),
                h.get("x-request-id"),
                data_id,
                self.webhook_secret,
                tolerance_seconds=self.tolerance_s,
            )
        except InvalidWebhookSignatureError as exc:
            raise WebhookVerificationError(f"mercadopago: {exc.reason.value}") from exc
        if not h.get("x-request-id") or not data_id:
            raise WebhookVerificationError("mercadopago: x-request-id and data.id are required")
        try:
            import json

            payload = json.loads(body or b"{}")
        except ValueError as exc:
            raise WebhookVerificationError(f"mercadopago: body is not JSON: {exc}") from exc
        kind = str(query.get("type") or payload.get("type") or payload.get("topic") or "")
        # Only the query's data.id is signed: the payment to fetch is that one, whatever the body says.
        target = str(data_id) if kind == "payment" else None
        return GatewayEvent(
            self.name, str(h["x-request-id"]), f"{kind}.{payload.get('action', '')}".rstrip("."), target, payload
        )

    def fetch_payment(self, provider_payment_id: str, *, session=None) -> GatewayPayment:
        try:
            body = self._ok(self.sdk.payment().get(provider_payment_id), "get payment")
        except PaymentError:
            raise
        except Exception as exc:
            raise PaymentError(f"mercadopago get payment: {type(exc).__name__}: {exc}") from exc
        amount = body.get("transaction_amount")
        return GatewayPayment(
            str(body["id"]),
            STATUS.get(body.get("status"), "pending"),
            cents_from_reais(amount) if amount is not None else None,
            body.get("currency_id"),
            body.get("external_reference"),
            body,
        )
